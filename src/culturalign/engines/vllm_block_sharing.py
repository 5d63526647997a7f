"""Sharing a prompt's unfinished KV block between vLLM requests (CPU engine, on by default:
``engine_options: {share_unfinished_blocks: ...}``).

vLLM's prefix cache keeps *full* blocks only, so every exact-scoring request (a prompt, then
one node of its option tree) recomputes the prompt's last, unfinished block before its own
tokens: 7.9 of its ~9 tokens on the generation bench, nearly two thirds of scoring's time
(``bench/partial_block_cost.py``). :class:`UnfinishedBlockConnector` is a KV connector
(vLLM's public ``KVConnectorBase_V1`` interface) that keeps a copy of that block once a
request has computed it, and copies it into the first new block of a later request whose
tokens start the same way; the scheduler then counts the shared tokens as computed, and the
request computes only what follows.

Which copies are kept and used decides whether sharing is exact. By default (``true``) a
block is kept only from a forward pass that began at the block's first token, with the blocks
before it read from the prefix cache: what every request that recomputes the block does. And
a copy serves only a request whose tokens end inside that block (a scoring request: the
prompt's tail, then a node's few tokens), which then computes the rest of the block: a
forward pass that began inside a block and went on past it was seen to round differently
(a prompt whose first token came from another prompt's copy: 2.8e-6). The copy is then the
recompute bit for bit where vLLM's CPU attention does not depend on the batch
(``VLLM_CPU_ATTN_SPLIT_KV=0``); with vLLM's default split, which divides a long sequence's
keys between threads when a batch is small, the values move with the batches as they did
before, by rounding (the default run: at most 7e-7; docs/speed.md). Exact scoring asks for
one node of each prompt first (:func:`culturalign.scoring.exact.first_of_each_item`) so
that its siblings find the block. ``with_prefill`` (opt-in) also keeps the blocks that a
prompt's prefill computed from an earlier token (its generation, a root request) and
serves any request: one recompute fewer per prompt, but those keys and values come from
another forward pass over the same tokens and differ by rounding (float32 option
probabilities moved by up to 8.7e-6 on the default run).

Whole blocks are copied (the CPU attention kernels keep a block in their own layout); the
slots after the shared tokens are overwritten by the request's own tokens or never read.
Keys are exact token sequences. A request that reused a block keeps none of its own (its
block holds one option's tokens, which its siblings do not share); the copies kept are
bounded by :data:`KEPT_BYTES`, least recently used first out.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from vllm.distributed.kv_transfer.kv_connector.v1.base import (
    KVConnectorBase_V1,
    KVConnectorMetadata,
    KVConnectorRole,
    SupportsHMA,
)
from vllm.v1.request import RequestStatus

from culturalign.engines.base import common_prefix_length

MODES = ("exact", "with_prefill")
"""``kv_connector_extra_config["share"]``: which computed blocks are kept (module docstring)."""

KEPT_BYTES = 256 << 20
"""The most bytes of kept blocks (all layers' keys and values of one block each)."""

Tokens = tuple[int, ...]


def plain_tokens(request: Any) -> bool:
    """Whether a request's keys and values follow from its token ids alone: no images or
    embeddings in the prompt, no LoRA adapter, no cache salt."""
    return not (
        getattr(request, "mm_features", None)
        or getattr(request, "prompt_embeds", None) is not None
        or getattr(request, "lora_request", None) is not None
        or getattr(request, "cache_salt", None)
    )


@dataclass
class BlockCopies(KVConnectorMetadata):
    """One step's work for the worker: blocks to keep, to fill, and kept copies to drop."""

    keep: list[tuple[int, int]] = field(default_factory=list)  # (copy, block)
    fill: list[tuple[int, int]] = field(default_factory=list)  # (copy, block)
    drop: list[int] = field(default_factory=list)


class UnfinishedBlockConnector(KVConnectorBase_V1, SupportsHMA):
    """Scheduler side: which prompt tails are kept, and which request reuses which. Worker
    side: the copies themselves. vLLM makes one instance per side.

    It declares support for vLLM's hybrid KV cache manager, which vLLM otherwise turns off
    beside a connector (hybrid SSM models then fail to start; sliding-window models keep
    full-length caches): with more than one KV cache group it shares nothing, and it never
    holds a request's blocks."""

    def __init__(self, vllm_config: Any, role: KVConnectorRole, kv_cache_config: Any = None):
        super().__init__(vllm_config=vllm_config, role=role, kv_cache_config=kv_cache_config)
        self.block = int(vllm_config.cache_config.block_size)
        extra = getattr(vllm_config.kv_transfer_config, "kv_connector_extra_config", None) or {}
        self.mode = extra.get("share", "exact")
        if self.mode not in MODES:
            raise ValueError(f"kv_connector_extra_config share: {self.mode!r} not in {MODES}")
        groups = list(getattr(kv_cache_config, "kv_cache_groups", None) or ())
        # one group of attention layers sharing block ids (not a hybrid or sliding-window
        # model, whose groups have blocks of their own): otherwise nothing is shared
        self.enabled = len(groups) == 1
        block_bytes = sum(g.kv_cache_spec.page_size_bytes * len(g.layer_names) for g in groups)
        self.capacity = max(1, KEPT_BYTES // block_bytes) if block_bytes else 256
        # scheduler side: full-block prefix -> {tail tokens: copy id}, in use order
        self._tails: dict[Tokens, dict[Tokens, int]] = {}
        self._order: OrderedDict[int, tuple[Tokens, Tokens]] = OrderedDict()
        self._next_copy = 0
        self._reuse: dict[str, tuple[int, int]] = {}  # request id -> (copy, first token)
        self._drop: list[int] = []
        # worker side
        self._caches: list[Any] = []
        self._copies: dict[int, list[Any]] = {}

    # scheduler side

    def get_num_new_matched_tokens(self, request: Any, num_computed_tokens: int):
        start = num_computed_tokens
        if not (self.enabled and plain_tokens(request)) or start % self.block:
            return 0, False
        if request.status != RequestStatus.WAITING:  # a preempted one: vLLM recomputes it
            return 0, False
        tokens = tuple(request.prompt_token_ids or ())
        if self.mode == "exact" and len(tokens) > start + self.block:
            return 0, False  # what it would compute after the copy starts mid-block, then crosses
        limit = len(tokens) - 1 - start  # vLLM computes at least the last token
        tails = self._tails.get(tokens[:start]) if limit > 0 else None
        if not tails:
            return 0, False
        wanted = tokens[start : start + self.block]
        best, best_copy = 0, -1
        for tail, copy in tails.items():
            length = min(common_prefix_length(tail, wanted), limit)
            if length > best:
                best, best_copy = length, copy
        if not best:
            return 0, False
        self._reuse[request.request_id] = (best_copy, start)
        self._order.move_to_end(best_copy)
        return best, False

    def request_finished_all_groups(self, request: Any, block_ids: Any):
        return False, None  # kept blocks are copies: vLLM may free the request's blocks

    def update_state_after_alloc(self, request: Any, blocks: Any, num_external_tokens: int):
        if not num_external_tokens:
            self._reuse.pop(request.request_id, None)

    def build_connector_meta(self, scheduler_output: Any) -> BlockCopies:
        work = BlockCopies(drop=self._drop)
        self._drop = []
        for new in scheduler_output.scheduled_new_reqs:
            blocks = new.block_ids[0]
            reused = self._reuse.pop(new.req_id, None)
            if reused is not None:
                copy, start = reused
                work.fill.append((copy, blocks[start // self.block]))
                continue
            if not (self.enabled and plain_tokens(new)):
                continue
            tokens = tuple(new.prompt_token_ids or ())
            start = len(tokens) // self.block * self.block
            computed = new.num_computed_tokens + scheduler_output.num_scheduled_tokens[new.req_id]
            if start == len(tokens) or computed < len(tokens):
                continue  # no unfinished block, or one that a later step finishes
            if self.mode == "exact" and new.num_computed_tokens != start:
                continue  # computed from an earlier token: a recompute would round otherwise
            prefix, tail = tokens[:start], tokens[start:]
            tails = self._tails.setdefault(prefix, {})
            if tail in tails:
                continue
            tails[tail] = self._next_copy
            self._order[self._next_copy] = (prefix, tail)
            work.keep.append((self._next_copy, blocks[start // self.block]))
            self._next_copy += 1
            while len(self._order) > self.capacity:
                old, (old_prefix, old_tail) = self._order.popitem(last=False)
                del self._tails[old_prefix][old_tail]
                if not self._tails[old_prefix]:
                    del self._tails[old_prefix]
                work.drop.append(old)
        return work

    def reset_cache(self) -> bool:
        if self._role == KVConnectorRole.SCHEDULER:
            self._drop.extend(self._order)
            self._tails.clear()
            self._order.clear()
        return True

    # worker side

    def register_kv_caches(self, kv_caches: dict[str, Any]) -> None:
        self._caches = list(kv_caches.values())

    def start_load_kv(self, forward_context: Any, **kwargs: Any) -> None:
        work = self._get_connector_metadata()
        for copy in work.drop:
            self._copies.pop(copy, None)
        for copy, block in work.fill:
            for cache, kept in zip(self._caches, self._copies[copy], strict=True):
                cache[block].copy_(kept)

    def wait_for_layer_load(self, layer_name: str) -> None:
        return

    def save_kv_layer(self, layer_name: str, kv_layer: Any, attn_metadata: Any, **kwargs: Any):
        return

    def wait_for_save(self) -> None:
        """After the step's forward pass: keep the blocks it finished computing."""
        for copy, block in self._get_connector_metadata().keep:
            self._copies[copy] = [cache[block].clone() for cache in self._caches]
