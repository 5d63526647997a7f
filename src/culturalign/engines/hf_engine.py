"""transformers backend: the same interface as vLLM, for machines without vLLM, for GPUs
without vLLM, and for cross-checks. Batches are left-padded with explicit position ids and
formed shortest first, no row much longer than the batch's first (little padding).

Exact option scoring goes through :meth:`HfEngine.tree_logprobs`: one forward pass per
prompt over the prompt followed by every token of its option tree (each tree token placed
at its depth's position and allowed by the attention mask to see the prompt and its own
ancestors only), so a prompt's root, inner nodes and end-of-label positions all come from
one pass; only the positions read are projected onto the vocabulary. A prompt prefix that
many prompts share (the system turn; a persona's country and framing) is computed once and
its keys and values given to the rows that start with it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
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
    common_prefix_length,
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

    @classmethod
    def around_model(cls, model: Any, *, batch_size: int = 16, pad_id: int = 0) -> HfEngine:
        """An engine around a model already in memory, without a tokenizer: scoring by token
        ids (``tree_logprobs``) only. For benchmarks on a model built from its configuration
        (``bench/gpu_tree_scoring.py``), where there are no files to load."""
        import torch
        import transformers

        device = "cuda" if model.device.type == "cuda" else "cpu"
        dtype = str(model.dtype).removeprefix("torch.")
        engine = cls.__new__(cls)
        Engine.__init__(engine, ModelSpec(key="in-memory", path="", engine="hf",
                                          device="gpu" if device == "cuda" else "cpu",
                                          dtype=dtype))  # fmt: skip
        engine._torch, engine._transformers = torch, transformers
        engine.model, engine.device = model.eval(), device
        engine.batch_size, engine.pad_id = batch_size, pad_id
        engine._last_prefix = None
        return engine

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
        shortest first. Prompt prefixes that many prompts share (the chat template's system
        turn; a persona's framing) are computed once, and each row starts from its prefix's
        keys and values (:meth:`_prefix_states`); a row holds the rest of its prompt and its
        tree, left-padded so that every row's tree ends in the last column."""
        torch = self._torch
        layouts = [(request, request.tree_tokens()) for request in requests]
        prefixes = self._prefix_states([request.prompt_ids for request in requests])
        lengths = [
            len(request.prompt_ids) - len(prefix) + len(nodes)
            for (request, nodes), (prefix, _) in zip(layouts, prefixes, strict=True)
        ]
        results: list[TreeResult | None] = [None] * len(requests)
        lowest = torch.finfo(self.model.dtype).min
        for chunk in _length_batches(lengths, self.batch_size):
            cached = max(len(prefixes[i][0]) for i in chunk)
            width = max(lengths[i] for i in chunk)
            keep = 1 + max(len(layouts[i][1]) for i in chunk)
            ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            positions = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.full((len(chunk), 1, width, cached + width), lowest,
                              dtype=self.model.dtype)  # fmt: skip
            for row, index in enumerate(chunk):
                request, nodes = layouts[index]
                prefix = len(prefixes[index][0])
                mask[row, 0, :, cached - prefix : cached] = 0.0  # the row's own prefix
                _tree_row(torch, ids[row], positions[row], mask[row, 0, :, cached:],
                          request.prompt_ids[prefix:], nodes)  # fmt: skip
                positions[row] += prefix
            cache = self._batch_cache([prefixes[i][1] for i in chunk], cached)
            with torch.no_grad():
                logits = self.model(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                    position_ids=positions.to(self.device), past_key_values=cache,
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

    def _prefix_states(self, prompts: Sequence[Sequence[int]]) -> list[tuple[tuple[int, ...], Any]]:
        """Per prompt, the prefix its row starts from and that prefix's keys and values (per
        layer, batch 1; None for an empty prefix).

        The prefix every prompt shares is computed once and kept for the next call (a cell's
        calls share the system turn). A longer prefix shared by at least :data:`PREFIX_GROUP`
        prompts (:func:`_group_prefix_lengths`: a persona's country and framing) is computed
        once after it, for the :data:`MAX_PREFIX_GROUPS` such prefixes that save the most
        positions; other prompts start from the common prefix.
        """
        if not prompts:
            return []
        root = tuple(prompts[0][: _shared_prefix(prompts)])
        if self._last_prefix is None or self._last_prefix[0] != root:
            self._last_prefix = (root, self._extend(None, [root])[0] if root else None)
        states = {root: self._last_prefix[1]}
        lengths = _group_prefix_lengths(prompts, PREFIX_GROUP)
        wanted = [tuple(prompt[:length]) for prompt, length in zip(prompts, lengths, strict=True)]
        members = Counter(group for group in wanted if len(group) > len(root))
        saving = {group: (len(group) - len(root)) * (count - 1) for group, count in members.items()}
        groups = sorted(saving, key=saving.__getitem__, reverse=True)[:MAX_PREFIX_GROUPS]
        extended = self._extend(states[root], [group[len(root) :] for group in groups])
        states.update(zip(groups, extended, strict=True))
        return [(group, states[group]) if group in states else (root, states[root])
                for group in wanted]  # fmt: skip

    def _extend(self, past: Any, suffixes: Sequence[Sequence[int]]) -> list[tuple[Any, ...]]:
        """Keys and values (per layer, batch 1) of ``past`` followed by each suffix, computed
        in batches (``past``: per-layer keys and values of a prefix, or None)."""
        torch = self._torch
        start = past[0][0].shape[2] if past else 0
        lowest = torch.finfo(self.model.dtype).min
        extended: list[tuple[Any, ...]] = [()] * len(suffixes)
        for chunk in _length_batches([len(suffix) for suffix in suffixes], self.batch_size):
            width = max(len(suffixes[i]) for i in chunk)
            ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            positions = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.full((len(chunk), 1, width, start + width), lowest,
                              dtype=self.model.dtype)  # fmt: skip
            mask[..., :start] = 0.0
            for row, index in enumerate(chunk):
                _tree_row(torch, ids[row], positions[row], mask[row, 0, :, start:],
                          suffixes[index], ())  # fmt: skip
            cache = self._batch_cache([past] * len(chunk), start)
            with torch.no_grad():
                out = self.model(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                    position_ids=(positions + start).to(self.device), past_key_values=cache,
                    use_cache=True, logits_to_keep=1,
                )  # fmt: skip
            layers = [(keys, values) for keys, values, *_ in out.past_key_values]
            for row, index in enumerate(chunk):
                first = start + width - len(suffixes[index])
                extended[index] = tuple(
                    (_unpadded(torch, keys, row, start, first),
                     _unpadded(torch, values, row, start, first))
                    for keys, values in layers
                )  # fmt: skip
        return extended

    def _batch_cache(self, states: Sequence[Any], length: int) -> Any:
        """One cache for a batch whose rows start from ``states`` (per-layer keys and values
        of each row's prefix, or None): left-padded to ``length`` positions, the padding hidden
        by the attention mask; a new cache, since the forward pass appends to it."""
        if not length:
            return None
        from transformers import DynamicCache

        reference = next(state for state in states if state)
        layers = []
        for layer, (key, value) in enumerate(reference):
            shape = (len(states), key.shape[1], length, key.shape[3])
            keys, values = key.new_zeros(shape), value.new_zeros(shape)
            for row, state in enumerate(states):
                if state:
                    row_keys, row_values = state[layer]
                    keys[row, :, length - row_keys.shape[2] :] = row_keys[0]
                    values[row, :, length - row_values.shape[2] :] = row_values[0]
            layers.append((keys, values))
        return DynamicCache(ddp_cache_data=layers, config=self.model.config)

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


def _unpadded(torch: Any, states: Any, row: int, start: int, first: int) -> Any:
    """One row of a batch's keys or values (batch 1): its first ``start`` positions (the
    past every row shares) and those from ``first`` on (its own tokens), not the padding."""
    return torch.cat([states[row : row + 1, :, :start], states[row : row + 1, :, first:]], dim=2)


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


PREFIX_GROUP = 8
"""A prompt prefix shared by at least this many prompts of a scoring call is computed once
for them (a persona's country and framing); see :meth:`HfEngine._prefix_states`."""

MAX_PREFIX_GROUPS = 64
"""At most this many such prefixes are computed and held during one call."""


def _group_prefix_lengths(prompts: Sequence[Sequence[int]], least: int) -> list[int]:
    """Per prompt, the length of the longest prefix it shares with at least ``least - 1``
    other prompts, leaving it at least its last token (whose logits are the tree's root).

    Sorted, the prompts that share a prefix are consecutive, and ``least`` consecutive
    prompts share the shortest of their neighbours' common prefixes; a prompt's answer is the
    best window of ``least`` that holds it. 0 for every prompt when there are fewer than
    ``least``.
    """
    count = len(prompts)
    if count < max(least, 2):
        return [0] * count
    order = sorted(range(count), key=lambda index: tuple(prompts[index]))
    common = [
        common_prefix_length(prompts[order[j]], prompts[order[j + 1]]) for j in range(count - 1)
    ]
    windows = [min(common[start : start + least - 1]) for start in range(count - least + 1)]
    lengths = [0] * count
    for place, index in enumerate(order):
        best = max(windows[max(0, place - least + 1) : min(place, count - least) + 1])
        lengths[index] = min(best, len(prompts[index]) - 1)
    return lengths


def _shared_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every prompt shares, leaving each at least its last token
    (whose logits are the tree's root)."""
    shared = min(
        min(common_prefix_length(prompts[0], prompt), len(prompt) - 1) for prompt in prompts
    )
    return max(shared, 0)


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
