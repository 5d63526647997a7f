"""transformers backend: the same interface as vLLM, for machines without vLLM, for GPUs
without vLLM, and for cross-checks. Batches are left-padded with explicit position ids and
formed shortest first, no row much longer than the batch's first (little padding).

Exact option scoring goes through :meth:`HfEngine.tree_logprobs`: one forward pass per
prompt over the prompt followed by every token of its option tree (each tree token placed
at its depth's position and allowed by the attention mask to see the prompt and its own
ancestors only), so a prompt's root, inner nodes and end-of-label positions all come from
one pass; only the positions read are projected onto the vocabulary. The prefix a batch's
prompts share is computed once and given to its rows.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from typing import Any

from culturalign.engines.base import (
    Engine,
    GenerationRequest,
    GenerationResult,
    MassRequest,
    ModelSpec,
    ScoreRequest,
    TokenLogprob,
    TreeRequest,
    TreeResult,
    cpu_threads,
    log_mass,
)
from culturalign.engines.registry import register_engine

log = logging.getLogger(__name__)

_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


@register_engine("hf")
class HfEngine(Engine):
    """``AutoModelForCausalLM`` in this process (CPU, or CUDA when ``device: gpu``)."""

    name = "hf"
    max_candidates = None

    def __init__(
        self,
        spec: ModelSpec,
        *,
        threads: int = 1,
        seed: int = 0,
        batch_size: int = 16,
        cache_dir: object = None,
    ) -> None:
        super().__init__(spec)
        started = time.perf_counter()
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        self._transformers = transformers
        torch.manual_seed(seed)
        if spec.device == "cpu":
            torch.set_num_threads(cpu_threads(threads))
        self.device = "cuda" if spec.device == "gpu" and torch.cuda.is_available() else "cpu"
        dtype = getattr(torch, _DTYPES[spec.dtype]) if spec.dtype in _DTYPES else "auto"
        self.batch_size = int(spec.engine_options.get("batch_size", batch_size))
        self._last_prefix: tuple[tuple[int, ...], Any] | None = None
        self.tokenizer = AutoTokenizer.from_pretrained(spec.path, revision=spec.revision)
        self.model = AutoModelForCausalLM.from_pretrained(
            spec.path, revision=spec.revision, dtype=dtype
        ).to(self.device)
        self.model.eval()
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id or 0
        self.startup_seconds = time.perf_counter() - started

    @property
    def version(self) -> str:
        return str(self._transformers.__version__)

    def effective_options(self) -> dict[str, Any]:
        return {
            "model": self.spec.path,
            "dtype": str(self.model.dtype),
            "device": self.device,
            "batch_size": self.batch_size,
        }

    def _batch(self, prompts: Sequence[Sequence[int]]) -> tuple[Any, Any, Any]:
        """Left-padded input ids, attention mask and position ids."""
        torch = self._torch
        width = max(len(prompt) for prompt in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return ids.to(self.device), mask.to(self.device), positions.to(self.device)

    def _next_token_logprobs(self, prompts: Sequence[Sequence[int]]):
        """Yield ``(request index, full next-token log-softmax row)`` in batches."""
        torch = self._torch
        for chunk in _length_batches([len(prompt) for prompt in prompts], self.batch_size):
            ids, mask, positions = self._batch([prompts[i] for i in chunk])
            with torch.no_grad():
                logits = self.model(
                    input_ids=ids, attention_mask=mask, position_ids=positions
                ).logits[:, -1, :]
            logprobs = torch.log_softmax(logits.float(), dim=-1).cpu()
            for row, index in enumerate(chunk):
                yield index, logprobs[row]

    def next_token_logprobs(self, requests: Sequence[ScoreRequest]) -> list[dict[int, float]]:
        results: list[dict[int, float]] = [{} for _ in requests]
        for index, row in self._next_token_logprobs([r.prompt_ids for r in requests]):
            wanted = list(requests[index].candidate_ids)
            results[index] = dict(zip(wanted, row[wanted].tolist(), strict=True))
        return results

    def next_token_mass(self, requests: Sequence[MassRequest]) -> list[float]:
        results = [0.0] * len(requests)
        for index, row in self._next_token_logprobs([r.prompt_ids for r in requests]):
            values = row.double().numpy()
            results[index] = log_mass(range(len(values)), values, requests[index])
        return results

    def tree_logprobs(self, requests: Sequence[TreeRequest]) -> list[TreeResult]:
        """Every node's candidate logprobs and masses, one forward pass per prompt, batched
        shortest first. The prefix a batch's prompts share (a chat template's system turn)
        is computed once and its keys and values given to every row; each row holds the
        rest of its prompt and its tree, left-padded so that every row's tree ends in the
        last column."""
        torch = self._torch
        layouts = [(request, request.tree_tokens()) for request in requests]
        lengths = [len(request.prompt_ids) + len(nodes) for request, nodes in layouts]
        results: list[TreeResult | None] = [None] * len(requests)
        lowest = torch.finfo(self.model.dtype).min
        for chunk in _length_batches(lengths, self.batch_size):
            shared = _shared_prefix([requests[i].prompt_ids for i in chunk])
            width = max(len(requests[i].prompt_ids) - shared + len(layouts[i][1]) for i in chunk)
            keep = 1 + max(len(layouts[i][1]) for i in chunk)
            ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            positions = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.full((len(chunk), 1, width, shared + width), lowest,
                              dtype=self.model.dtype)  # fmt: skip
            mask[..., :shared] = 0.0  # every row sees the shared prefix
            for row, index in enumerate(chunk):
                request, nodes = layouts[index]
                _tree_row(torch, ids[row], positions[row], mask[row, 0, :, shared:],
                          request.prompt_ids[shared:], nodes)  # fmt: skip
            cache = self._prefix_cache(requests[chunk[0]].prompt_ids[:shared], len(chunk))
            with torch.no_grad():
                logits = self.model(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                    position_ids=(positions + shared).to(self.device), past_key_values=cache,
                    logits_to_keep=keep,
                ).logits  # fmt: skip
            for row, index in enumerate(chunk):
                request, nodes = layouts[index]
                column = {node: keep - len(nodes) + j for j, node in enumerate(nodes)}
                column[()] = keep - len(nodes) - 1
                wanted = sorted({*request.candidates, *request.masses}, key=column.__getitem__)
                rows = torch.log_softmax(
                    logits[row, [column[node] for node in wanted]].float(), dim=-1
                ).cpu()
                found: dict[tuple[int, ...], dict[int, float]] = {}
                masses: dict[tuple[int, ...], float] = {}
                for node, values in zip(wanted, rows, strict=True):
                    candidates = list(request.candidates.get(node, ()))
                    if candidates:
                        found[node] = dict(zip(candidates, values[candidates].tolist(),
                                               strict=True))  # fmt: skip
                    if node in request.masses:
                        tokens, complement = request.masses[node]
                        array = values.double().numpy()
                        masses[node] = log_mass(range(len(array)), array,
                                                MassRequest((), tokens, complement))  # fmt: skip
                results[index] = TreeResult(found, masses)
        return [result for result in results if result is not None]

    def _prefix_cache(self, prefix: Sequence[int], rows: int) -> Any:
        """The keys and values of ``prefix``, repeated for ``rows`` batch rows (a copy: the
        forward pass appends to it); None for an empty prefix. The last prefix's keys and
        values are kept, since every batch of a cell usually shares the same system turn."""
        if not prefix:
            return None
        if self._last_prefix is None or self._last_prefix[0] != tuple(prefix):
            torch = self._torch
            with torch.no_grad():
                out = self.model(
                    input_ids=torch.tensor([list(prefix)], device=self.device), use_cache=True,
                    logits_to_keep=1,
                )  # fmt: skip
            self._last_prefix = (tuple(prefix), out.past_key_values)
        cache = copy.deepcopy(self._last_prefix[1])
        cache.batch_repeat_interleave(rows)
        return cache

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        *,
        logprobs: int,
        logprob_positions: int,
        seed: int,
    ) -> list[GenerationResult]:
        from tqdm.auto import tqdm

        torch = self._torch
        torch.manual_seed(seed)
        stop_ids = set(_as_list(self.model.generation_config.eos_token_id))
        if self.tokenizer.eos_token_id is not None:
            stop_ids.add(self.tokenizer.eos_token_id)
        results: list[GenerationResult | None] = [None] * len(requests)
        greedy = [i for i, request in enumerate(requests) if request.temperature <= 0]
        chunks = [[greedy[j] for j in chunk] for chunk in _length_batches(
            [len(requests[i].prompt_ids) for i in greedy], self.batch_size)]  # fmt: skip
        # a sampled request alone, after seeding torch with its own seed: its answer then
        # does not depend on which other requests share its batch
        chunks += [[i] for i, request in enumerate(requests) if request.temperature > 0]
        progress = tqdm(total=len(requests), desc="hf generate")
        for chunk in chunks:
            ids, mask, _ = self._batch([requests[i].prompt_ids for i in chunk])
            max_tokens = max(requests[i].max_tokens for i in chunk)
            first = requests[chunk[0]]
            if first.temperature > 0:
                torch.manual_seed(seed if first.seed is None else first.seed)
                how = {"do_sample": True, "temperature": first.temperature, "top_k": 0,
                       "top_p": 1.0}  # fmt: skip
            else:
                how = {"do_sample": False}
            with torch.no_grad():
                output = self.model.generate(
                    input_ids=ids,
                    attention_mask=mask,
                    **how,
                    max_new_tokens=max_tokens,
                    output_logits=True,
                    return_dict_in_generate=True,
                    pad_token_id=self.pad_id,
                    eos_token_id=sorted(stop_ids),
                )
            new = output.sequences[:, ids.shape[1] :].cpu().tolist()
            steps = [torch.log_softmax(step.float(), dim=-1).cpu() for step in output.logits]
            for row, index in enumerate(chunk):
                tokens = new[row][: requests[index].max_tokens]
                finish = "length"
                for position, token in enumerate(tokens):
                    if token in stop_ids:
                        tokens, finish = tokens[: position + 1], "stop"
                        break
                top = []
                for position in range(min(len(tokens), logprob_positions)):
                    if logprobs <= 0:
                        break
                    values, indices = steps[position][row].topk(logprobs)
                    top.append(
                        tuple(
                            TokenLogprob(int(i), self.tokenizer.decode([int(i)]), float(v))
                            for v, i in zip(values.tolist(), indices.tolist(), strict=True)
                        )
                    )
                request = requests[index]
                candidates = list(request.candidate_ids)
                asked = tuple(
                    dict(zip(candidates, steps[position][row][candidates].tolist(), strict=True))
                    for position in range(min(len(tokens), request.candidate_positions))
                )
                results[index] = GenerationResult(
                    token_ids=tuple(tokens),
                    text=self.tokenizer.decode(tokens, skip_special_tokens=True),
                    finish_reason=finish,
                    top_logprobs=tuple(top),
                    position_logprobs=asked if candidates else (),
                )
            progress.update(len(chunk))
        progress.close()
        return [result for result in results if result is not None]


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value]


LONGEST_IN_BATCH = 1.25
"""A batch's rows are at most this many times as long as its shortest row (see
:func:`_length_batches`)."""


def _length_batches(lengths: Sequence[int], size: int) -> list[list[int]]:
    """Indices of ``lengths``, shortest first, cut into batches of at most ``size`` rows.

    A batch also ends before a row over :data:`LONGEST_IN_BATCH` times as long as its first
    row, so padding stays under a fifth of a batch's positions; otherwise a long prompt (a
    36-option scale) among short ones pads every row of its batch to its own length (on the
    bench prompts: 128.6 forward positions per prompt with fixed batches of 16, 108.2 so).
    """
    batches: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        batch = batches[-1] if batches else None
        if (batch is None or len(batch) >= size
                or lengths[index] > LONGEST_IN_BATCH * lengths[batch[0]]):  # fmt: skip
            batches.append([index])
        else:
            batch.append(index)
    return batches


def _shared_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every prompt shares, leaving each at least its last token
    (whose logits are the tree's root)."""
    shortest = min(len(prompt) for prompt in prompts)
    shared = 0
    while shared < shortest - 1 and len({prompt[shared] for prompt in prompts}) == 1:
        shared += 1
    return shared


def _tree_row(torch: Any, ids: Any, positions: Any, mask: Any, prompt_ids: Sequence[int],
              nodes: Sequence[tuple[int, ...]]) -> None:  # fmt: skip
    """Fill one left-padded row: the prompt (after any shared prefix), then one token per
    tree node at position ``len(prompt) + depth - 1``, attending to the prompt and the node's
    ancestors (itself included); pad positions attend to themselves only (no row of the
    mask is empty). Positions count from the row's first token."""
    prompt = list(prompt_ids)
    width, size = ids.shape[0], len(prompt) + len(nodes)
    offset = width - size
    ids[offset:] = torch.tensor(prompt + [node[-1] for node in nodes], dtype=torch.long)
    positions[offset:] = torch.tensor(
        list(range(len(prompt))) + [len(prompt) + len(node) - 1 for node in nodes],
        dtype=torch.long,
    )
    start = offset + len(prompt)
    causal = torch.ones((len(prompt), len(prompt)), dtype=torch.bool).tril()
    mask[offset:start, offset:start].masked_fill_(causal, 0.0)
    slot = {node: start + j for j, node in enumerate(nodes)}
    for node in nodes:
        row = slot[node]
        mask[row, offset:start] = 0.0
        for depth in range(1, len(node) + 1):
            mask[row, slot[node[:depth]]] = 0.0
    for pad in range(offset):
        mask[pad, pad] = 0.0
