"""vLLM backend: batched greedy generation and one-token scoring requests on token ids.

CPU defaults (``device: cpu``), each overridable through ``engine_options``:
``enforce_eager=True`` (start-up ~20 s instead of 60-90 s of torch compilation),
``block_size=32`` (vLLM's CPU backend needs a multiple of 32), a 1 GiB KV cache
(``kv_cache_memory_bytes``), prefix caching on. Environment set before vLLM is imported:
``VLLM_CPU_OMP_THREADS_BIND`` = the first ``threads`` CPUs this process may use (vLLM
otherwise uses one core), ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (engine in-process, as a
Snakemake ``script:`` needs), ``VLLM_CACHE_ROOT`` and ``TMPDIR`` under ``cache_dir``. On every
device ``VLLM_CONFIGURE_LOGGING=0`` (unless set): vLLM logs through the caller's handlers.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from culturalign.engines.base import (
    Engine,
    GenerationRequest,
    GenerationResult,
    ModelSpec,
    ScoreRequest,
    candidate_logprobs,
    top_logprobs_from_positions,
)
from culturalign.errors import ConfigError

log = logging.getLogger(__name__)

CPU_DEFAULTS: dict[str, Any] = {
    "enforce_eager": True,
    "block_size": 32,
    "kv_cache_memory_bytes": 1 << 30,
}
"""vLLM arguments for ``device: cpu`` unless ``engine_options`` says otherwise."""


def cpu_environment(threads: int, cache_dir: str | Path) -> dict[str, str]:
    """Environment variables for a CPU run bound to ``threads`` cores (pure function)."""
    try:
        available = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        available = list(range(os.cpu_count() or 1))
    cpus = available[: max(1, min(threads, len(available)))]
    cache = Path(cache_dir).resolve()
    return {
        "VLLM_CPU_OMP_THREADS_BIND": ",".join(str(cpu) for cpu in cpus),
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "VLLM_CACHE_ROOT": str(cache / "vllm"),
        "TMPDIR": str(cache / "tmp"),
    }


def engine_arguments(spec: ModelSpec, seed: int) -> dict[str, Any]:
    """Keyword arguments for ``vllm.LLM`` (pure function; CPU defaults applied)."""
    arguments: dict[str, Any] = {
        "model": spec.path,
        "tokenizer": spec.path,
        "dtype": spec.dtype,
        "seed": seed,
        "tensor_parallel_size": spec.tensor_parallel_size,
        "enable_prefix_caching": True,
    }
    if spec.revision:
        arguments["revision"] = spec.revision
    if spec.max_model_len:
        arguments["max_model_len"] = spec.max_model_len
    if spec.device == "cpu":
        arguments.update(CPU_DEFAULTS)
    arguments.update(spec.engine_options)
    block = arguments.get("block_size")
    if spec.device == "cpu" and block is not None and int(block) % 32:
        raise ConfigError(
            f"models.{spec.key}.engine_options.block_size: {block} is not a multiple of 32 "
            "(required by vLLM on CPU)"
        )
    return arguments


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
        if spec.device == "cpu":
            environment = cpu_environment(threads, cache_dir)
            for key in ("VLLM_CACHE_ROOT", "TMPDIR"):
                Path(environment[key]).mkdir(parents=True, exist_ok=True)
            os.environ.update(environment)
            tempfile.tempdir = None  # pick up the new TMPDIR
            log.info("vLLM CPU environment: %s", environment)
        # vLLM's own logging set-up (logging.config.dictConfig) closes every existing handler,
        # so the rule's log file would stop receiving records: let vLLM's records propagate to
        # the handlers the workflow script configured instead.
        os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")
        started = time.perf_counter()
        import vllm
        from transformers import AutoTokenizer

        self._vllm = vllm
        self._arguments = engine_arguments(spec, seed)
        log.info("starting vLLM %s with %s", vllm.__version__, self._arguments)
        self.llm = vllm.LLM(**self._arguments)
        self.tokenizer = AutoTokenizer.from_pretrained(spec.path, revision=spec.revision)
        self.startup_seconds = time.perf_counter() - started
        log.info("vLLM started in %.1f s", self.startup_seconds)

    @property
    def version(self) -> str:
        return str(self._vllm.__version__)

    def effective_options(self) -> dict[str, Any]:
        options = dict(self._arguments)
        if self.spec.device == "cpu":
            options["env"] = {
                key: os.environ.get(key)
                for key in ("VLLM_CPU_OMP_THREADS_BIND", "VLLM_ENABLE_V1_MULTIPROCESSING")
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
        sampling = [
            self._vllm.SamplingParams(
                temperature=0.0,
                max_tokens=request.max_tokens,
                logprobs=logprobs if logprobs > 0 else None,
                seed=seed,
            )
            for request in requests
        ]
        outputs = self.llm.generate(
            self._prompts([request.prompt_ids for request in requests]), sampling, use_tqdm=True
        )
        results = []
        for output in outputs:
            completion = output.outputs[0]
            results.append(
                GenerationResult(
                    token_ids=tuple(int(i) for i in completion.token_ids),
                    text=completion.text,
                    finish_reason=str(completion.finish_reason),
                    top_logprobs=top_logprobs_from_positions(
                        completion.logprobs, logprobs, logprob_positions
                    ),
                )
            )
        return results

    def next_token_logprobs(self, requests: Sequence[ScoreRequest]) -> list[dict[int, float]]:
        if not requests:
            return []
        sampling = [
            self._vllm.SamplingParams(
                temperature=0.0, max_tokens=1, logprob_token_ids=list(request.candidate_ids)
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
