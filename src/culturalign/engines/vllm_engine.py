"""vLLM backend: batched greedy generation and one-token scoring requests on token ids.

CPU defaults (``device: cpu``), each overridable through ``engine_options``:
``enforce_eager=True`` (start-up ~20 s instead of 60-90 s of torch compilation),
``block_size=16`` (see :func:`allow_16_token_blocks`; 32 where this vLLM cannot), a 1 GiB
KV cache (``kv_cache_memory_bytes``), prefix caching on, a prompt's unfinished KV block shared
between its scoring requests where that is exact (``share_unfinished_blocks: true``;
``with_prefill`` and ``false`` on request: :func:`block_sharing_mode`), and, for eager
engines, RMSNorm in vLLM's CPU C kernels in bfloat16 and float16 (``ir_op_priority``,
:func:`cpu_norm_priority`).
Environment set before vLLM is imported:
``VLLM_CPU_OMP_THREADS_BIND`` = the first ``threads`` CPUs this process may use (vLLM
otherwise uses one core), ``OMP_NUM_THREADS`` = how many those are (Snakemake sets it to
the job's ``threads``, and vLLM then leaves torch that many threads even where fewer CPUs are
bound: they spin against each other, and a float32 sum split over another number of threads
rounds differently, so a shard would depend on where its job ran),
``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (engine in-process, as a
Snakemake ``script:`` needs), ``TMPDIR`` under ``cache_dir``, ``VLLM_CACHE_ROOT`` there too
unless set (a root shared by several checkouts spares each first start the ~20 s subprocess
in which vLLM inspects the model class, then caches what it found), and
``TORCHDYNAMO_DISABLE=1`` unless set, for eager engines: with ``enforce_eager`` the only
thing left for ``torch.compile`` is the sampler's logprob-rank helper, whose compilation cost
~5 s of every start-up for no measurable gain on the CPU (same tokens, same logprobs and
ranks). ``enforce_eager: false`` compiles the model, so there ``torch.compile`` stays on
(:func:`cpu_environment`; asking for it with ``TORCHDYNAMO_DISABLE=1`` set is an error). On
the CPU glibc's malloc also keeps freed memory for the next tensors
(:func:`keep_freed_memory`). On every device ``VLLM_CONFIGURE_LOGGING=0`` (unless set):
vLLM logs through the caller's handlers.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from culturalign.engines.base import (
    Engine,
    EngineError,
    GenerationRequest,
    GenerationResult,
    MassRequest,
    ModelSpec,
    ScoreRequest,
    candidate_logprobs,
    cpu_threads,
    log_mass,
    top_logprobs_from_positions,
    usable_cpus,
)
from culturalign.engines.registry import register_engine
from culturalign.errors import ConfigError

log = logging.getLogger(__name__)

CPU_DEFAULTS: dict[str, Any] = {
    "enforce_eager": True,
    "block_size": 16,
    "kv_cache_memory_bytes": 1 << 30,
}
"""vLLM arguments for ``device: cpu`` unless ``engine_options`` says otherwise."""

BLOCK_SHARING: dict[str, Any] = {
    "kv_connector": "UnfinishedBlockConnector",
    "kv_connector_module_path": "culturalign.engines.vllm_block_sharing",
    "kv_role": "kv_both",
}
"""``kv_transfer_config`` that shares a prompt's unfinished KV block between requests
(:mod:`culturalign.engines.vllm_block_sharing`), with ``kv_connector_extra_config``
``{"share": "exact" | "with_prefill"}`` from :func:`block_sharing_mode`."""


def block_sharing_mode(spec: ModelSpec) -> str | None:
    """The connector's ``share`` mode for a model, or None for no connector.

    On the CPU the default is ``exact`` (copies that a recompute of the block would give:
    :mod:`culturalign.engines.vllm_block_sharing`), unless the user configured a KV
    connector of their own; ``with_prefill`` is opt-in. On other devices
    there is none, and asking for one is an error (the copies follow the CPU attention's block
    layout).
    """
    options = spec.engine_options
    value = options.get("share_unfinished_blocks", "kv_transfer_config" not in options)
    where = f"models.{spec.key}.engine_options.share_unfinished_blocks"
    if not (value is True or value is False or value == "with_prefill"):  # not 1 or 0
        raise ConfigError(f"{where}: {value!r} is not true, false or with_prefill")
    if value is False:
        return None
    if spec.device != "cpu":
        if "share_unfinished_blocks" not in options:
            return None
        raise ConfigError(f"{where}: for device cpu only (it copies blocks in the CPU "
                          "attention's layout)")  # fmt: skip
    if "kv_transfer_config" in options:
        raise ConfigError(f"{where}: engine_options also sets kv_transfer_config (one KV "
                          "connector per engine); set share_unfinished_blocks: false")  # fmt: skip
    return "exact" if value is True else "with_prefill"


NATIVE_CPU_BLOCK = 32
"""vLLM's CPU attention backend declares block sizes that are multiples of this only."""


def cpu_environment(threads: int, cache_dir: str | Path, *, eager: bool = True) -> dict[str, str]:
    """Environment variables for a CPU run bound to ``threads`` cores, for an engine that runs
    its model eagerly (``enforce_eager``) or compiles it; reads the user's settings only."""
    cpus = usable_cpus()[: cpu_threads(threads)]
    cache = Path(cache_dir).resolve()
    dynamo = _users_setting("TORCHDYNAMO_DISABLE")
    return {
        "VLLM_CPU_OMP_THREADS_BIND": ",".join(str(cpu) for cpu in cpus),
        "OMP_NUM_THREADS": str(len(cpus)),
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "VLLM_CACHE_ROOT": os.environ.get("VLLM_CACHE_ROOT") or str(cache / "vllm"),
        "TMPDIR": str(cache / "tmp"),
        # a compiled model needs torch.compile, which this variable turns off
        "TORCHDYNAMO_DISABLE": dynamo if dynamo is not None else "1" if eager else "0",
    }


_SET_BY_ENGINE: dict[str, str] = {}
"""Environment values an engine of this process wrote (a later engine may want others)."""


def _users_setting(name: str) -> str | None:
    """``name``'s value in the environment unless an engine of this process put it there."""
    value = os.environ.get(name)
    return None if value is not None and _SET_BY_ENGINE.get(name) == value else value


MALLOC_MMAP_THRESHOLD = 1 << 30
"""Allocations below this come from the heap once :func:`keep_freed_memory` has run."""

_MALLOPT = {"M_TRIM_THRESHOLD": -1, "M_MMAP_THRESHOLD": -3}  # glibc's malloc.h
_MALLOC_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "LD_PRELOAD")


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep the memory of freed tensors for the next ones.

    vLLM's CPU forward pass allocates and frees tensors of tens of megabytes at every layer.
    glibc serves an allocation that large with a fresh ``mmap`` and unmaps it when freed, so
    the next tensor page-faults its memory in again (the kernel zeroing every page); glibc
    raises that threshold by itself only as it sees large blocks freed. Serving everything
    under :data:`MALLOC_MMAP_THRESHOLD` from the heap and never trimming it keeps the pages.
    Measured on the generation bench's cell (256 prompts, bfloat16, 2 cores): generation and
    scoring 14.2 s -> 12.3 s, peak memory 3.00 -> 3.23 GB; the default run (float32) 10 min
    19 s -> 9 min 14 s. The transformers engine's scoring did not move (8.9 s either way), so
    it does not call this. The process keeps its peak memory until it exits, as a generate
    job does after its cell. Not applied where the user tuned the allocator (``MALLOC_*_``
    variables, an ``LD_PRELOAD``) or the C library is not glibc. Returns whether it applied.
    """
    if any(os.environ.get(name) for name in _MALLOC_ENVIRONMENT):
        return False
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(
        libc.mallopt(_MALLOPT["M_MMAP_THRESHOLD"], MALLOC_MMAP_THRESHOLD)
        and libc.mallopt(_MALLOPT["M_TRIM_THRESHOLD"], 2**31 - 1)
    )


def engine_arguments(spec: ModelSpec, seed: int) -> dict[str, Any]:
    """Keyword arguments for ``vllm.LLM`` (pure function; CPU defaults applied)."""
    arguments: dict[str, Any] = {
        "model": spec.path,
        "tokenizer": spec.path,
        "dtype": spec.dtype,
        "seed": seed,
        "tensor_parallel_size": spec.tensor_parallel_size,
        "enable_prefix_caching": True,
        # letter labels' end factor sums the whole next-token distribution (logprobs=-1);
        # the limit only gates what a request may ask for
        "max_logprobs": -1,
    }
    if spec.revision:
        arguments["revision"] = spec.revision
    if spec.max_model_len:
        arguments["max_model_len"] = spec.max_model_len
    if spec.device == "cpu":
        arguments.update(CPU_DEFAULTS)
    arguments.update(spec.engine_options)
    arguments.pop("share_unfinished_blocks", None)
    mode = block_sharing_mode(spec)
    if mode is not None:
        arguments["kv_transfer_config"] = {
            **BLOCK_SHARING,
            "kv_connector_extra_config": {"share": mode},
        }
    block = arguments.get("block_size")
    if spec.device == "cpu" and block is not None and int(block) % 16:
        raise ConfigError(
            f"models.{spec.key}.engine_options.block_size: {block} is not a multiple of 16 "
            "(vLLM's CPU attention kernels take multiples of 16; 16 is the default)"
        )
    return arguments


def allow_16_token_blocks() -> bool:
    """Let vLLM's CPU attention backend accept 16-token KV blocks; False if it cannot.

    The backend declares multiples of 32 only, but its attention kernel has a 16-token path
    (ISA ``vec16``, which it picks for any block size that is not a multiple of 32). Why it
    matters here: the prefix cache reuses *full* blocks only, so every option-scoring request
    recomputes the unfinished last block of its scored prefix; 16-token blocks halve that
    work. Measured on SmolLM2 (256 prompts, bf16, 2 cores): scoring 24 s -> 12 s, option_probs
    equal to 5e-7 and identical responses. The change widens the backend's declaration in
    this process only (the CPU engine runs in-process, ``VLLM_ENABLE_V1_MULTIPROCESSING=0``).
    """
    try:
        import torch
        from vllm.v1.attention.backends import cpu_attn
    except ImportError:
        return False
    backend = getattr(cpu_attn, "CPUAttentionBackend", None)
    choose_isa = getattr(cpu_attn, "_get_attn_isa", None)
    multiple_of = getattr(cpu_attn, "MultipleOf", None)
    if backend is None or choose_isa is None or multiple_of is None:
        return False
    try:
        if choose_isa(torch.bfloat16, 16) != "vec16" or choose_isa(torch.float32, 16) != "vec16":
            return False
    except Exception:  # noqa: BLE001 - any failure means this vLLM has no 16-token kernel
        return False
    backend.get_supported_kernel_block_sizes = staticmethod(
        lambda kv_cache_spec=None: [multiple_of(16)]
    )
    return True


def usable_cpu_block_size(spec: ModelSpec, block: int, version: str) -> int:
    """``block``, or 32 where this vLLM has no 16-token CPU kernel and the user did not ask."""
    if block % NATIVE_CPU_BLOCK == 0 or allow_16_token_blocks():
        return block
    if "block_size" in spec.engine_options:
        raise ConfigError(
            f"models.{spec.key}.engine_options.block_size: vLLM {version} has no 16-token "
            f"CPU attention kernel; use a multiple of {NATIVE_CPU_BLOCK}"
        )
    log.warning("vLLM %s has no 16-token CPU attention kernel: block_size 32", version)
    return NATIVE_CPU_BLOCK


def cpu_norm_priority(arguments: dict[str, Any]) -> dict[str, list[str]] | None:
    """``ir_op_priority`` putting vLLM's CPU RMSNorm kernels first (see
    :func:`~culturalign.engines.vllm_cpu_kernels.register_cpu_norm_kernels`), or None to
    leave vLLM's own.

    Only for eager engines whose caller did not set a priority: compiled, Inductor fuses the
    native ops itself.
    """
    if "ir_op_priority" in arguments or not arguments.get("enforce_eager"):
        return None
    from culturalign.engines.vllm_cpu_kernels import (
        CPU_NORM_PROVIDER,
        NORM_OPS,
        register_cpu_norm_kernels,
    )

    if not register_cpu_norm_kernels():
        return None
    return {op: [CPU_NORM_PROVIDER, "native"] for op in NORM_OPS}


def cpu_arguments(arguments: dict[str, Any], spec: ModelSpec, version: str) -> dict[str, Any]:
    """``arguments`` (for ``vllm.LLM``) as the CPU engine runs them: a block size this vLLM's
    CPU attention takes (:func:`usable_cpu_block_size`) and the RMSNorm kernels first
    (:func:`cpu_norm_priority`). The peer bench gives lm-eval's vLLM backend the same."""
    arguments = dict(arguments)
    if arguments.get("block_size") is not None:
        arguments["block_size"] = usable_cpu_block_size(spec, int(arguments["block_size"]), version)
    priority = cpu_norm_priority(arguments)
    if priority is not None:
        arguments["ir_op_priority"] = priority
    return arguments


CANDIDATE_TOP_K = 128
"""Logprobs a generation request asks for when its caller wants candidate ids back as well
as the top-k (vLLM returns either a top-k or given ids, not both): the candidates found among
them are exact; the caller requests the others. On the generation bench's 256 prompts the
generation requests returned 380 tree nodes (the roots and nodes on the greedy path)."""


def generation_sampling(
    request: GenerationRequest, logprobs: int, seed: int, by_ids: bool
) -> dict[str, Any]:
    """``SamplingParams`` keyword arguments for one generation request (pure function).

    ``by_ids`` (every request of the batch has candidates and no top-k is wanted): vLLM's
    ``logprob_token_ids`` returns exactly the candidates at every position. Otherwise a
    request with candidates asks for the top ``max(logprobs, CANDIDATE_TOP_K)``; the top-k
    kept in the shard is cut back to ``logprobs`` (:func:`top_logprobs_from_positions`).
    """
    arguments: dict[str, Any] = {
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "seed": seed if request.seed is None else request.seed,
        # decoded by the engine from the ids, as the hf engine does: vLLM would also decode
        # every top-k alternative of every position
        "detokenize": False,
    }
    if request.temperature > 0:  # sampled from the full distribution (vLLM's defaults, said)
        arguments.update(top_p=1.0, top_k=-1)
    if by_ids:
        arguments["logprob_token_ids"] = list(request.candidate_ids)
        return arguments
    wanted = max(logprobs, CANDIDATE_TOP_K) if request.candidate_positions else logprobs
    arguments["logprobs"] = wanted if wanted > 0 else None
    return arguments


def candidate_positions(
    positions: Sequence[Any] | None, request: GenerationRequest
) -> tuple[dict[int, float], ...]:
    """The request's candidates found in each of its first ``candidate_positions`` logprob
    maps (vLLM's ``CompletionOutput.logprobs``), as ``{id: logprob}``."""
    if not positions or not request.candidate_positions:
        return ()
    kept = []
    for position in list(positions)[: request.candidate_positions]:
        found = {}
        for token_id in request.candidate_ids:
            value = position.get(token_id)
            if value is not None:
                found[int(token_id)] = float(getattr(value, "logprob", value))
        kept.append(found)
    return tuple(kept)


def release_previous_engine() -> None:
    """Let an earlier engine of this process go before a new one starts.

    vLLM keeps its KV connector and its parallel groups in module globals: an engine that is
    garbage-collected while the next one starts tears down the groups the new one is setting
    up, and a connector left behind makes an engine without one expect connector metadata.
    """
    import gc

    gc.collect()
    try:
        from vllm.distributed.kv_transfer.kv_transfer_state import ensure_kv_transfer_shutdown
    except ImportError:
        return
    ensure_kv_transfer_shutdown()


@register_engine("vllm")
class VllmEngine(Engine):
    """A ``vllm.LLM`` in this process."""

    name = "vllm"
    max_candidates = 128  # vllm.sampling_params.MAX_LOGPROB_TOKEN_IDS

    def __init__(
        self,
        spec: ModelSpec,
        *,
        threads: int = 1,
        cache_dir: str | Path = "resources/.cache",
        seed: int = 0,
    ) -> None:
        super().__init__(spec)
        if not spec.path:
            raise ConfigError(f"config key models.{spec.key}.path: the vllm engine needs a path")
        # checked before the environment is touched: a bad option changes nothing
        self._arguments = engine_arguments(spec, seed)
        if spec.device == "cpu":
            eager = bool(self._arguments.get("enforce_eager"))
            environment = cpu_environment(threads, cache_dir, eager=eager)
            if not eager and environment["TORCHDYNAMO_DISABLE"] == "1":
                raise ConfigError(
                    f"models.{spec.key}.engine_options.enforce_eager: false compiles the model "
                    "with torch.compile, which TORCHDYNAMO_DISABLE=1 in the environment turns "
                    "off (unset it, or leave enforce_eager on)"
                )
            for key in ("VLLM_CACHE_ROOT", "TMPDIR"):
                Path(environment[key]).mkdir(parents=True, exist_ok=True)
            os.environ.update(environment)
            _SET_BY_ENGINE["TORCHDYNAMO_DISABLE"] = environment["TORCHDYNAMO_DISABLE"]
            # OpenMP read OMP_NUM_THREADS when torch loaded, and vLLM keeps that count
            import torch

            torch.set_num_threads(int(environment["OMP_NUM_THREADS"]))
            tempfile.tempdir = None  # pick up the new TMPDIR
            if "torch._dynamo" in sys.modules:  # it read the variable at its import
                disable = environment["TORCHDYNAMO_DISABLE"] == "1"
                sys.modules["torch._dynamo"].config.disable = disable
            log.info("vLLM CPU environment: %s", environment)
            if keep_freed_memory():
                log.info("glibc malloc keeps freed memory for the next tensors")
        # vLLM's own logging set-up (logging.config.dictConfig) closes every existing handler,
        # so the rule's log file would stop receiving records: let vLLM's records propagate to
        # the handlers the workflow script configured instead.
        os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")
        started = time.perf_counter()
        import vllm
        from transformers import AutoTokenizer

        self._vllm = vllm
        if spec.device == "cpu":
            self._arguments = cpu_arguments(self._arguments, spec, vllm.__version__)
        log.info("starting vLLM %s with %s", vllm.__version__, self._arguments)
        release_previous_engine()
        self.llm = vllm.LLM(**self._arguments)
        self.tokenizer = AutoTokenizer.from_pretrained(spec.path, revision=spec.revision)
        self._warm_up()
        self.startup_seconds = time.perf_counter() - started
        log.info("vLLM started in %.1f s", self.startup_seconds)

    def _warm_up(self) -> None:
        """Run two tiny requests with logprobs so one-time work counts as start-up.

        Unless ``TORCHDYNAMO_DISABLE=1`` (the CPU default), vLLM compiles its logprob-rank
        kernel (``torch.compile``) on first use and again for a second batch shape; without
        this the first cell's generation time would include it.
        """
        token = self.tokenizer.bos_token_id or self.tokenizer.eos_token_id or 0
        sampling = self._vllm.SamplingParams(
            temperature=0.0, max_tokens=2, logprobs=1, detokenize=False
        )
        for batch in (1, 2):
            self.llm.generate(self._prompts([[int(token)]] * batch), sampling, use_tqdm=False)
        # a cell's prompts begin with that token too: none may start from the warm-up's copy
        self.llm.reset_prefix_cache(reset_connector=True)

    @property
    def version(self) -> str:
        return str(self._vllm.__version__)

    def prefix_cache_tokens(self) -> int | None:
        # set in this process by the engine core (or its client) once the KV cache is sized
        cache = self.llm.llm_engine.vllm_config.cache_config
        if not cache.num_gpu_blocks or not cache.block_size:
            return None
        return int(cache.num_gpu_blocks) * int(cache.block_size)

    def clear_prefix_cache(self) -> None:
        # the block-sharing connector's kept copies are cached prefixes too
        if not self.llm.reset_prefix_cache(reset_connector=True):
            raise EngineError(
                f"{self.spec.key}: vLLM did not clear its prefix cache (requests still hold "
                "blocks); the next cell would start from the previous one's cache"
            )

    def effective_options(self) -> dict[str, Any]:
        options = dict(self._arguments)
        if self.spec.device == "cpu":
            options["env"] = {
                key: os.environ.get(key)
                for key in (
                    "VLLM_CPU_OMP_THREADS_BIND",
                    "OMP_NUM_THREADS",
                    "VLLM_ENABLE_V1_MULTIPROCESSING",
                    "VLLM_CPU_ATTN_SPLIT_KV",
                )
            }
        return options

    def _prompts(self, ids: Sequence[Sequence[int]]) -> list[Any]:
        from vllm.inputs import TokensPrompt

        return [TokensPrompt(prompt_token_ids=list(prompt)) for prompt in ids]

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        logprobs: int,
        logprob_positions: int,
        seed: int,
    ) -> list[GenerationResult]:
        # vLLM gives a whole batch either top-k or given ids: ids only when all want them
        by_ids = logprobs <= 0 and all(
            request.candidate_positions and 0 < len(request.candidate_ids) <= self.max_candidates
            for request in requests
        )
        sampling = [
            self._vllm.SamplingParams(**generation_sampling(request, logprobs, seed, by_ids))
            for request in requests
        ]
        outputs = self.llm.generate(
            self._prompts([request.prompt_ids for request in requests]), sampling, use_tqdm=True
        )
        token_text = functools.lru_cache(maxsize=None)(
            lambda token_id: self.tokenizer.decode([token_id])
        )
        results = []
        for output, request in zip(outputs, requests, strict=True):
            completion = output.outputs[0]
            token_ids = tuple(int(i) for i in completion.token_ids)
            results.append(
                GenerationResult(
                    token_ids=token_ids,
                    text=self.tokenizer.decode(token_ids, skip_special_tokens=True),
                    finish_reason=str(completion.finish_reason),
                    top_logprobs=top_logprobs_from_positions(
                        completion.logprobs, logprobs, logprob_positions, token_text
                    ),
                    position_logprobs=candidate_positions(completion.logprobs, request),
                )
            )
        return results

    def next_token_logprobs(self, requests: Sequence[ScoreRequest]) -> list[dict[int, float]]:
        if not requests:
            return []
        sampling = [
            self._vllm.SamplingParams(
                temperature=0.0,
                max_tokens=1,
                logprob_token_ids=list(request.candidate_ids),
                detokenize=False,  # only the ids' logprobs are read
            )
            for request in requests
        ]
        outputs = self.llm.generate(
            self._prompts([request.prompt_ids for request in requests]), sampling, use_tqdm=True
        )
        return [
            candidate_logprobs(output.outputs[0].logprobs[0], request.candidate_ids)
            for output, request in zip(outputs, requests, strict=True)
        ]

    def next_token_mass(self, requests: Sequence[MassRequest]) -> list[float]:
        if not requests:
            return []
        sampling = self._vllm.SamplingParams(
            temperature=0.0, max_tokens=1, logprobs=-1, flat_logprobs=True, detokenize=False
        )
        outputs = self.llm.generate(
            self._prompts([request.prompt_ids for request in requests]), sampling, use_tqdm=True
        )
        results = []
        for output, request in zip(outputs, requests, strict=True):
            flat = output.outputs[0].logprobs
            start, end = flat.start_indices[0], flat.end_indices[0]
            results.append(log_mass(flat.token_ids[start:end], flat.logprobs[start:end], request))
        return results
