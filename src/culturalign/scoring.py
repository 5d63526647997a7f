"""Exact option distributions, independent of the engine.

For a question with options ``scale_min..scale_max`` (written in Western digits) and a
scored prefix ``x`` (token ids after which the answer would start), each option ``o`` is
the token sequence ``t_1..t_n`` its digits tokenise to, and

    P(o | x) = prod_j P(t_j | x, t_<j) * P(end | x, t_1..t_n)

where ``P(end | ·) = 1 - sum of P(c | ·)`` over the *continuation tokens* ``c``: every
vocabulary token whose text starts with a Western digit 0-9 (byte-fallback pieces
``<0x30>``..``<0x39>`` included), i.e. every token that would make the number longer. The
end factor matters because ``1`` is a prefix of ``10``: without it option 1 would also
collect the mass of 10..19. The distribution is then renormalised over the valid options.
It is exact for the tokenisation the tokenizer produces for the option text (other
tokenisations of the same digits are not summed).

The probabilities needed are next-token logprobs at each node of the tree of option-token
prefixes: the root (the prefix itself) needs the first tokens of all options; an inner node
needs its children; a node that completes an option also needs the continuation tokens.
:func:`score_items` sends all root requests first and the deeper nodes second, so that the
deeper requests find the prefix in the engine's prefix cache.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from culturalign.engines.base import Engine, EngineError, ScoreRequest

END_FACTOR_DEFINITION = (
    "P(option) = prod_j P(tok_j | prefix, tok_<j) * P(end | prefix, option tokens), "
    "P(end) = 1 - sum of P(t) over vocabulary tokens t whose text starts with a Western "
    "digit 0-9 (byte pieces <0x30>..<0x39> included); renormalised over the valid options"
)
"""Recorded in shard metadata (``scoring_method``)."""

_BYTE_DIGIT = re.compile(r"<0x3[0-9]>")

Node = tuple[int, ...]


def continuation_token_ids(tokenizer: Any) -> frozenset[int]:
    """Vocabulary ids whose raw piece starts with a Western digit (they continue a number).

    Raw pieces keep the tokenizers' space markers (``Ġ`` in byte-level BPE, ``▁`` in
    SentencePiece), so a token such as `` 5`` does not count: it starts a new word.
    """
    ids = {
        index
        for piece, index in tokenizer.get_vocab().items()
        if piece[:1] in "0123456789" or _BYTE_DIGIT.fullmatch(piece)
    }
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    return frozenset(ids - special)


def _encode(tokenizer: Any, text: str) -> list[int]:
    return [int(i) for i in tokenizer.encode(text, add_special_tokens=False)]


def option_token_ids(
    tokenizer: Any, options: Sequence[int], anchor_text: str = ""
) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """Tokenise each option as it would follow ``anchor_text``.

    Returns ``(anchor_ids, option_ids)``: ``anchor_ids`` is the longest prefix of
    ``encode(anchor_text)`` that every ``encode(anchor_text + str(option))`` starts with, and
    each option's ids are the rest. A cue ending in a space that the tokenizer merges into the
    digit (`` 7``) thus keeps the space in the option tokens, never tokenised twice.
    """
    anchor = _encode(tokenizer, anchor_text) if anchor_text else []
    full = [_encode(tokenizer, anchor_text + str(option)) for option in options]
    keep = 0
    while keep < len(anchor) and all(len(ids) > keep and ids[keep] == anchor[keep] for ids in full):
        keep += 1
    option_ids = tuple(tuple(ids[keep:]) for ids in full)
    for option, ids in zip(options, option_ids, strict=True):
        if not ids:
            raise EngineError(f"option {option} tokenises to nothing after {anchor_text!r}")
    if len(set(option_ids)) != len(option_ids):
        raise EngineError(f"options {list(options)} do not tokenise to distinct token sequences")
    return tuple(anchor[:keep]), option_ids


def tree_nodes(
    option_ids: Sequence[Sequence[int]], continuation_ids: Iterable[int]
) -> dict[Node, tuple[int, ...]]:
    """Every node of the option-prefix tree with the candidate ids it must be scored for.

    Keys are token prefixes relative to the scored prefix (``()`` is the root), ordered by
    depth; values are sorted candidate ids: children, plus the continuation tokens at nodes
    that complete an option.
    """
    continuation = set(continuation_ids)
    nodes: dict[Node, set[int]] = {}
    for ids in option_ids:
        ids = tuple(ids)
        for depth in range(len(ids)):
            nodes.setdefault(ids[:depth], set()).add(ids[depth])
        nodes.setdefault(ids, set()).update(continuation)
    ordered = sorted(nodes, key=lambda node: (len(node), node))
    return {node: tuple(sorted(nodes[node])) for node in ordered}


def option_logprobs(
    option_ids: Sequence[Sequence[int]],
    node_logprobs: Mapping[Node, Mapping[int, float]],
    continuation_ids: Iterable[int],
) -> list[float]:
    """Unnormalised log P(option) (chain of token logprobs plus log of the end factor)."""
    continuation = tuple(continuation_ids)
    result = []
    for ids in option_ids:
        ids = tuple(ids)
        total = sum(node_logprobs[ids[:depth]][ids[depth]] for depth in range(len(ids)))
        at_end = node_logprobs[ids]
        more = math.fsum(math.exp(at_end[token]) for token in continuation)
        end = 1.0 - more
        result.append(total + math.log(end) if end > 0.0 else -math.inf)
    return result


def normalise(logprobs: Sequence[float]) -> list[float]:
    """Softmax of unnormalised log-probabilities (raises if every option has probability 0)."""
    top = max(logprobs)
    if top == -math.inf:
        raise EngineError("every option has probability 0 at the scored position")
    weights = [math.exp(value - top) for value in logprobs]
    total = math.fsum(weights)
    return [weight / total for weight in weights]


@dataclass(frozen=True)
class ScoringItem:
    """One prompt to score: the prefix ids and each option's continuation ids."""

    prefix_ids: tuple[int, ...]
    option_ids: tuple[tuple[int, ...], ...]


def _chunks(values: tuple[int, ...], size: int | None) -> list[tuple[int, ...]]:
    if not size or len(values) <= size:
        return [values]
    return [values[start : start + size] for start in range(0, len(values), size)]


def build_requests(
    items: Sequence[ScoringItem], continuation_ids: Iterable[int], max_candidates: int | None
) -> tuple[list[tuple[int, Node, ScoreRequest]], list[tuple[int, Node, ScoreRequest]]]:
    """Root requests and deeper-node requests: ``(item index, node, request)`` triples."""
    continuation = tuple(sorted(set(continuation_ids)))
    roots: list[tuple[int, Node, ScoreRequest]] = []
    deeper: list[tuple[int, Node, ScoreRequest]] = []
    for index, item in enumerate(items):
        for node, candidates in tree_nodes(item.option_ids, continuation).items():
            for chunk in _chunks(candidates, max_candidates):
                request = ScoreRequest(tuple(item.prefix_ids) + node, chunk)
                (roots if not node else deeper).append((index, node, request))
    return roots, deeper


def score_items(
    next_token_logprobs: Callable[[Sequence[ScoreRequest]], list[dict[int, float]]],
    items: Sequence[ScoringItem],
    continuation_ids: Iterable[int],
    max_candidates: int | None = None,
) -> list[list[float]]:
    """Exact option probabilities (in option order, summing to 1) for every item.

    ``next_token_logprobs`` is an engine's batched method (see
    :meth:`culturalign.engines.base.Engine.next_token_logprobs`); it is called twice, for the
    roots and then for the deeper nodes.
    """
    continuation = tuple(sorted(set(continuation_ids)))
    roots, deeper = build_requests(items, continuation, max_candidates)
    node_logprobs: list[dict[Node, dict[int, float]]] = [{} for _ in items]
    for batch in (roots, deeper):
        if not batch:
            continue
        answers = next_token_logprobs([request for _, _, request in batch])
        if len(answers) != len(batch):
            raise EngineError(f"engine answered {len(answers)} of {len(batch)} score requests")
        for (index, node, request), answer in zip(batch, answers, strict=True):
            missing = set(request.candidate_ids) - set(answer)
            if missing:
                raise EngineError(f"engine did not return logprobs for ids {sorted(missing)}")
            node_logprobs[index].setdefault(node, {}).update(answer)
    return [
        normalise(option_logprobs(item.option_ids, node_logprobs[index], continuation))
        for index, item in enumerate(items)
    ]


def score_with_engine(
    engine: Engine, items: Sequence[ScoringItem], continuation_ids: Iterable[int]
) -> list[list[float]]:
    """:func:`score_items` with an engine's ``next_token_logprobs`` and candidate limit."""
    return score_items(engine.next_token_logprobs, items, continuation_ids, engine.max_candidates)
