"""Exact option distributions, independent of the engine and of the benchmark.

For a question whose options are shown with labels (``1`` .. ``36``, ``A`` .. ``D``,
``أ`` .. ``ج``) and a scored prefix ``x`` (token ids after which the answer would start),
each option ``o`` is the token sequence ``t_1..t_n`` its label tokenises to, and

    P(o | x) = prod_j P(t_j | x, t_<j) * P(end | x, t_1..t_n)

where ``P(end | ·)`` is the probability that the label ends there: that the next token
does not extend it into a longer label of its own kind. For **numbers**, ``P(end) = 1 -
sum of P(c)`` over the tokens ``c`` whose text starts with a Western digit 0-9 (byte pieces
``<0x30>``..``<0x39>`` included), so ``1`` does not collect the mass of ``10``..``19``. For
**letters**, ``P(end)`` is the total probability of every token that does *not* start with a
letter (Unicode category L), a combining mark (M) or an incomplete UTF-8 sequence, so ``A``
followed by ``pple`` is not option A; a token that starts with a space never extends a
label. The distribution is then renormalised over the valid options. It is exact for the
tokenisation the tokenizer produces for the label (other tokenisations are not summed).

The probabilities needed are next-token logprobs at each node of the tree of label-token
prefixes: the root (the prefix itself) needs the first tokens of all labels; an inner node
needs its children; a node that completes a label also needs its end probability (numbers:
the logprobs of the continuation tokens, a few hundred ids; letters: the summed probability
of the non-continuation tokens, over the whole vocabulary). :func:`score_items` sends all
root requests first and the deeper nodes second, so that the deeper requests find the
prefix in the engine's prefix cache.

Nodes already known need no request: in ``zero`` cells the scored prefix is the prompt
itself, so the root is the position of the first generated token, and each further node on
the greedy path (the generated tokens ``g_1..g_d`` when they spell a node) is the position of
the generated token ``d + 1``. :func:`nodes_from_generation` reads those nodes' candidate
logprobs from what the generation request returned (:attr:`GenerationResult.position_logprobs`)
and :func:`score_items` asks only for the rest. The values are the same model's logprobs at
the same positions, so the distribution is unchanged.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

from culturalign.engines.base import (
    EngineError,
    MassRequest,
    ScoreRequest,
    TreeRequest,
    TreeResult,
)

END_FACTOR_DEFINITIONS: Mapping[str, str] = {
    "number": (
        "P(option) = prod_j P(tok_j | prefix, tok_<j) * P(end | prefix, option tokens), "
        "P(end) = 1 - sum of P(t) over vocabulary tokens t whose text starts with a Western "
        "digit 0-9 (byte pieces <0x30>..<0x39> included); renormalised over the valid options"
    ),
    "letter": (
        "P(option) = prod_j P(tok_j | prefix, tok_<j) * P(end | prefix, option tokens), "
        "P(end) = sum of P(t) over vocabulary tokens t whose text does not start with a "
        "letter (Unicode L), a combining mark (M) or an incomplete UTF-8 sequence (a leading "
        "space ends the label); renormalised over the valid options"
    ),
}
"""Recorded in shard metadata (``scoring_method``), per label kind."""

_BYTE_DIGIT = re.compile(r"<0x3[0-9]>")
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")
_SPACE_MARKERS = ("Ġ", "▁", "Ċ", "ĉ")

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


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, character -> byte (the inverse of bytes_to_unicode)."""
    printable = list(range(ord("!"), ord("~") + 1))
    printable += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes, strict=True)}


def _is_byte_level(tokenizer: Any) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        try:
            return "ByteLevel" in backend.to_str()[:200_000].split('"decoder"', 1)[-1][:2000]
        except Exception:  # noqa: BLE001 - fall back to the vocabulary
            pass
    alphabet = _byte_decoder()
    pieces = list(tokenizer.get_vocab())[:2000]
    return sum(all(ch in alphabet for ch in piece) for piece in pieces) > 0.98 * len(pieces)


def token_bytes(tokenizer: Any) -> dict[int, bytes]:
    """The bytes each vocabulary token contributes to the text (space markers as spaces)."""
    vocab = tokenizer.get_vocab()
    out: dict[int, bytes] = {}
    if _is_byte_level(tokenizer):
        alphabet = _byte_decoder()
        for piece, index in vocab.items():
            if all(ch in alphabet for ch in piece):
                out[index] = bytes(alphabet[ch] for ch in piece)
            else:  # added tokens are stored as text
                out[index] = piece.encode("utf-8")
        return out
    for piece, index in vocab.items():
        match = _BYTE_PIECE.fullmatch(piece)
        out[index] = bytes([int(match[1], 16)]) if match else piece.replace("▁", " ").encode()
    return out


def _extends_letters(data: bytes) -> bool:
    """Whether text starting with ``data`` would glue onto a preceding letter."""
    if not data:
        return False
    lead = data[0]
    width = 1 if lead < 0x80 else 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4
    head = data[:width]
    if len(head) < width or lead >> 6 == 0b10:
        return True  # an incomplete UTF-8 sequence: it may well continue a word
    try:
        char = head.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return unicodedata.category(char)[0] in "LM"


def letter_continuation_ids(tokenizer: Any) -> frozenset[int]:
    """Vocabulary ids whose text starts with a letter, a mark or an incomplete character."""
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    return frozenset(
        index
        for index, data in token_bytes(tokenizer).items()
        if index not in special and _extends_letters(data)
    )


def continuation_ids_for(tokenizer: Any, kind: str) -> frozenset[int]:
    """The tokens that would extend a label of ``kind`` (``number`` or ``letter``)."""
    if kind == "number":
        return continuation_token_ids(tokenizer)
    if kind == "letter":
        return letter_continuation_ids(tokenizer)
    raise ValueError(f"unknown label kind {kind!r}")


def _encode(tokenizer: Any, text: str) -> list[int]:
    return [int(i) for i in tokenizer.encode(text, add_special_tokens=False)]


def option_token_ids(
    tokenizer: Any, labels: Sequence[Any], anchor_text: str = ""
) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """Tokenise each label as it would follow ``anchor_text``.

    Returns ``(anchor_ids, option_ids)``: ``anchor_ids`` is the longest prefix of
    ``encode(anchor_text)`` that every ``encode(anchor_text + label)`` starts with, and
    each option's ids are the rest. A cue ending in a space that the tokenizer merges into the
    label (`` 7``) thus keeps the space in the option tokens, never tokenised twice.
    """
    anchor = _encode(tokenizer, anchor_text) if anchor_text else []
    full = [_encode(tokenizer, anchor_text + str(label)) for label in labels]
    keep = 0
    while keep < len(anchor) and all(len(ids) > keep and ids[keep] == anchor[keep] for ids in full):
        keep += 1
    option_ids = tuple(tuple(ids[keep:]) for ids in full)
    for label, ids in zip(labels, option_ids, strict=True):
        if not ids:
            raise EngineError(f"option {label} tokenises to nothing after {anchor_text!r}")
    if len(set(option_ids)) != len(option_ids):
        raise EngineError(f"options {list(labels)} do not tokenise to distinct token sequences")
    return tuple(anchor[:keep]), option_ids


@dataclass(frozen=True)
class EndRule:
    """How the end-of-label factor of one label kind is obtained.

    ``continuation``: the ids that extend the label. ``by_mass``: ask the engine for the
    summed probability of every *other* token (letters: the continuation set is most of the
    vocabulary); otherwise ask for the continuation ids' logprobs (numbers).
    """

    continuation: frozenset[int]
    by_mass: bool

    @classmethod
    def for_kind(cls, tokenizer: Any, kind: str) -> EndRule:
        return cls(continuation_ids_for(tokenizer, kind), by_mass=(kind == "letter"))


def tree_nodes(
    option_ids: Sequence[Sequence[int]], continuation_ids: Iterable[int]
) -> dict[Node, tuple[int, ...]]:
    """Every node of the option-prefix tree with the candidate ids it must be scored for.

    Keys are token prefixes relative to the scored prefix (``()`` is the root), ordered by
    depth; values are sorted candidate ids: children, plus the continuation tokens at nodes
    that complete an option (pass none to leave them out).
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
    end_logprobs: Mapping[Node, float] | None = None,
) -> list[float]:
    """Unnormalised log P(option) (chain of token logprobs plus log of the end factor).

    ``end_logprobs`` holds log P(end) per completing node where it was obtained as a mass;
    otherwise the end factor is ``1 - sum exp(continuation logprobs)``.
    """
    continuation = tuple(continuation_ids)
    result = []
    for ids in option_ids:
        ids = tuple(ids)
        total = sum(node_logprobs[ids[:depth]][ids[depth]] for depth in range(len(ids)))
        if end_logprobs is not None and ids in end_logprobs:
            result.append(total + end_logprobs[ids])
            continue
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
    """One prompt to score: the prefix ids, each option's label ids, and its end rule."""

    prefix_ids: tuple[int, ...]
    option_ids: tuple[tuple[int, ...], ...]
    end: EndRule | None = None


def item_nodes(
    item: ScoringItem, continuation_ids: Iterable[int] | None = None
) -> dict[Node, tuple[int, ...]]:
    """The nodes of one item's option tree with the candidate ids each is scored for
    (continuation ids at completing nodes unless the item's end factor is a mass);
    ``continuation_ids`` applies to an item without an end rule."""
    rule = item.end or EndRule(frozenset(continuation_ids or ()), by_mass=False)
    return tree_nodes(item.option_ids, () if rule.by_mass else tuple(sorted(rule.continuation)))


def generation_candidates(item: ScoringItem) -> tuple[tuple[int, ...], int]:
    """What a generation request from the item's prefix can return for its tree: the union
    of every node's candidate ids, and the number of first positions that can hold a node
    (the root, then one per label token)."""
    nodes = item_nodes(item)
    wanted = sorted({token for candidates in nodes.values() for token in candidates})
    return tuple(wanted), 1 + max(len(ids) for ids in item.option_ids)


def nodes_from_generation(
    item: ScoringItem,
    generated_ids: Sequence[int],
    position_logprobs: Sequence[Mapping[int, float]],
    continuation_ids: Iterable[int] | None = None,
) -> dict[Node, dict[int, float]]:
    """The option-tree nodes a generation from ``item.prefix_ids`` computed, with their
    candidates' logprobs.

    Position ``d`` of the generation is the distribution after the prefix and the first
    ``d`` generated tokens: the node ``generated_ids[:d]`` when those tokens spell a node
    (the root at ``d = 0``). A node is returned only if the engine gave every one of its
    candidates there (finite or ``-inf``, never NaN); the others are left to scoring requests.
    """
    nodes = item_nodes(item, continuation_ids)
    known: dict[Node, dict[int, float]] = {}
    for depth, values in enumerate(position_logprobs):
        node = tuple(int(token) for token in generated_ids[:depth])
        if len(node) < depth or node not in nodes:
            break
        candidates = nodes[node]
        if candidates and all(token in values for token in candidates):
            found = {token: float(values[token]) for token in candidates}
            if not any(math.isnan(value) for value in found.values()):
                known[node] = found
    return known


def _chunks(values: tuple[int, ...], size: int | None) -> list[tuple[int, ...]]:
    if not size or len(values) <= size:
        return [values]
    return [values[start : start + size] for start in range(0, len(values), size)]


Request = tuple[int, Node, ScoreRequest]


def build_requests(
    items: Sequence[ScoringItem],
    continuation_ids: Iterable[int] | None,
    max_candidates: int | None,
    known: Sequence[Mapping[Node, Mapping[int, float]]] | None = None,
) -> tuple[list[Request], list[Request], list[tuple[int, Node, MassRequest]]]:
    """Root requests, deeper-node requests and end-mass requests, each tagged with
    ``(item index, node)``. ``continuation_ids`` applies to items without an end rule;
    ``known`` (per item, node -> candidate logprobs) names nodes that need no request."""
    default = EndRule(frozenset(continuation_ids or ()), by_mass=False)
    roots: list[Request] = []
    deeper: list[Request] = []
    masses: list[tuple[int, Node, MassRequest]] = []
    for index, item in enumerate(items):
        rule = item.end or default
        have = known[index] if known is not None else {}
        for node, candidates in item_nodes(item, continuation_ids).items():
            for chunk in _chunks(candidates, max_candidates):
                if not chunk or (node in have and all(token in have[node] for token in chunk)):
                    continue
                request = ScoreRequest(tuple(item.prefix_ids) + node, chunk)
                (roots if not node else deeper).append((index, node, request))
        if rule.by_mass:
            for ids in item.option_ids:
                prompt = tuple(item.prefix_ids) + tuple(ids)
                masses.append((index, tuple(ids), MassRequest(prompt, rule.continuation, True)))
    return roots, deeper, masses


Tagged = TypeVar("Tagged", bound=tuple)


def first_of_each_item(requests: Sequence[Tagged]) -> tuple[list[Tagged], list[Tagged]]:
    """``requests`` (tagged with their item's index first) split into each item's first
    request and the rest, each in the given order.

    :func:`score_items` sends the first ones before the rest: the item's prompt then ends in
    a KV block that an engine sharing unfinished blocks has computed and kept (exactly as a
    request recomputing it would) before its siblings ask for it
    (:mod:`culturalign.engines.vllm_block_sharing`). Sent in one batch, the siblings would all
    be in the same forward pass, and each would recompute the block. For other engines the
    order changes nothing but the batches.
    """
    first: list[Tagged] = []
    rest: list[Tagged] = []
    seen: set[int] = set()
    for request in requests:
        (rest if request[0] in seen else first).append(request)
        seen.add(request[0])
    return first, rest


def _answered(
    ask: Callable[[list[Any]], list[Any]], requests: Sequence[Tagged], kind: str
) -> Iterator[tuple[Tagged, Any]]:
    """Each tagged request (its engine request last) with the engine's answer, asked in two
    calls: each item's first request, then the rest (:func:`first_of_each_item`)."""
    for batch in first_of_each_item(requests):
        if not batch:
            continue
        answers = ask([entry[-1] for entry in batch])
        if len(answers) != len(batch):
            raise EngineError(f"engine answered {len(answers)} of {len(batch)} {kind} requests")
        yield from zip(batch, answers, strict=True)


def score_items(
    next_token_logprobs: Callable[[Sequence[ScoreRequest]], list[dict[int, float]]],
    items: Sequence[ScoringItem],
    continuation_ids: Iterable[int] | None = None,
    max_candidates: int | None = None,
    next_token_mass: Callable[[Sequence[MassRequest]], list[float]] | None = None,
    root_masses: list[float] | None = None,
    known: Sequence[Mapping[Node, Mapping[int, float]]] | None = None,
    stats: dict[str, int] | None = None,
) -> list[list[float]]:
    """Exact option probabilities (in option order, summing to 1) for every item.

    ``next_token_logprobs`` / ``next_token_mass`` are an engine's batched methods (see
    :class:`culturalign.engines.base.Engine`); the first is called for the roots and then the
    deeper nodes, the second for the end masses of letter labels, each kind in two calls:
    each item's first request, then the rest (:func:`first_of_each_item`). ``root_masses``, when
    given, receives per item the probability of the labels' first tokens at the answer
    position (the share of the next token that starts an option). ``known`` gives, per item,
    nodes whose candidate logprobs are already known (:func:`nodes_from_generation`): they
    are not requested. ``stats``, when given, receives the numbers of requests sent and of
    nodes served by ``known``.
    """
    if known is not None and len(known) != len(items):
        raise ValueError(f"known has {len(known)} entries for {len(items)} items")
    roots, deeper, masses = build_requests(items, continuation_ids, max_candidates, known)
    node_logprobs = _known_nodes(items, known)
    if stats is not None:
        stats.update(
            score_requests=len(roots) + len(deeper),
            mass_requests=len(masses),
            nodes_from_generation=sum(len(nodes) for nodes in known or ()),
        )
    end_logprobs: list[dict[Node, float]] = [{} for _ in items]
    for requests in (roots, deeper):
        for (index, node, request), answer in _answered(next_token_logprobs, requests, "score"):
            missing = set(request.candidate_ids) - set(answer)
            if missing:
                raise EngineError(f"engine did not return logprobs for ids {sorted(missing)}")
            node_logprobs[index].setdefault(node, {}).update(answer)
    if masses and next_token_mass is None:
        raise EngineError("letter labels need an engine that sums next-token probabilities")
    for (index, node, _), value in _answered(next_token_mass, masses, "mass"):
        end_logprobs[index][node] = float(value)
    return _distributions(items, node_logprobs, end_logprobs, continuation_ids, root_masses)


def tree_requests(
    items: Sequence[ScoringItem],
    continuation_ids: Iterable[int] | None,
    known: Sequence[Mapping[Node, Mapping[int, float]]] | None = None,
) -> list[tuple[int, TreeRequest]]:
    """One :class:`TreeRequest` per item that still needs a node (tagged with the item's
    index): its nodes' candidates not given by ``known``, and its end masses."""
    default = EndRule(frozenset(continuation_ids or ()), by_mass=False)
    requests = []
    for index, item in enumerate(items):
        rule = item.end or default
        have = known[index] if known is not None else {}
        candidates = {
            node: wanted for node, wanted in item_nodes(item, continuation_ids).items()
            if wanted and not (node in have and all(token in have[node] for token in wanted))
        }  # fmt: skip
        masses = ({tuple(ids): (rule.continuation, True) for ids in item.option_ids}
                  if rule.by_mass else {})  # fmt: skip
        if candidates or masses:
            requests.append((index, TreeRequest(tuple(item.prefix_ids), candidates, masses)))
    return requests


def score_items_by_tree(
    tree_logprobs: Callable[[Sequence[TreeRequest]], list[TreeResult]],
    items: Sequence[ScoringItem],
    continuation_ids: Iterable[int] | None = None,
    root_masses: list[float] | None = None,
    known: Sequence[Mapping[Node, Mapping[int, float]]] | None = None,
    stats: dict[str, int] | None = None,
) -> list[list[float]]:
    """:func:`score_items` with one tree request per item (an engine's ``tree_logprobs``:
    the whole option tree, end masses included, in one forward pass per prompt). The same
    nodes, the same arithmetic, the same distributions."""
    if known is not None and len(known) != len(items):
        raise ValueError(f"known has {len(known)} entries for {len(items)} items")
    requests = tree_requests(items, continuation_ids, known)
    node_logprobs = _known_nodes(items, known)
    end_logprobs: list[dict[Node, float]] = [{} for _ in items]
    if stats is not None:
        stats.update(score_requests=len(requests), mass_requests=0,
                     nodes_from_generation=sum(len(nodes) for nodes in known or ()))  # fmt: skip
    if requests:
        answers = tree_logprobs([request for _, request in requests])
        if len(answers) != len(requests):
            raise EngineError(f"engine answered {len(answers)} of {len(requests)} tree requests")
        for (index, request), answer in zip(requests, answers, strict=True):
            for node, wanted in request.candidates.items():
                missing = set(wanted) - set(answer.logprobs.get(node, {}))
                if missing:
                    raise EngineError(f"engine did not return logprobs for ids {sorted(missing)}")
                node_logprobs[index].setdefault(node, {}).update(answer.logprobs[node])
            end_logprobs[index].update(answer.masses)
    return _distributions(items, node_logprobs, end_logprobs, continuation_ids, root_masses)


def _known_nodes(
    items: Sequence[ScoringItem], known: Sequence[Mapping[Node, Mapping[int, float]]] | None
) -> list[dict[Node, dict[int, float]]]:
    """Per item, a mutable copy of the nodes already known (none when ``known`` is None)."""
    return [
        {node: dict(values) for node, values in (known[index] if known else {}).items()}
        for index in range(len(items))
    ]


def _distributions(
    items: Sequence[ScoringItem],
    node_logprobs: Sequence[Mapping[Node, Mapping[int, float]]],
    end_logprobs: Sequence[Mapping[Node, float]],
    continuation_ids: Iterable[int] | None,
    root_masses: list[float] | None,
) -> list[list[float]]:
    """The normalised option distributions from every node's logprobs (and the root masses,
    when asked for)."""
    if root_masses is not None:
        root_masses.extend(
            math.fsum(math.exp(v) for v in node_logprobs[index].get((), {}).values())
            for index in range(len(items))
        )
    default = tuple(sorted(set(continuation_ids or ())))
    return [
        normalise(
            option_logprobs(
                item.option_ids,
                node_logprobs[index],
                _summed_continuation(item.end) if item.end else default,
                end_logprobs[index],
            )
        )
        for index, item in enumerate(items)
    ]


def _summed_continuation(rule: EndRule) -> tuple[int, ...]:
    return () if rule.by_mass else tuple(sorted(rule.continuation))


def score_with_engine(
    engine: Any,
    items: Sequence[ScoringItem],
    continuation_ids: Iterable[int] | None = None,
    root_masses: list[float] | None = None,
    known: Sequence[Mapping[Node, Mapping[int, float]]] | None = None,
    stats: dict[str, int] | None = None,
) -> list[list[float]]:
    """:func:`score_items` with an engine's batched methods and candidate limit, or
    :func:`score_items_by_tree` when the engine scores whole option trees."""
    if callable(getattr(engine, "tree_logprobs", None)):
        return score_items_by_tree(
            engine.tree_logprobs, items, continuation_ids, root_masses, known, stats
        )
    return score_items(
        engine.next_token_logprobs,
        items,
        continuation_ids,
        engine.max_candidates,
        getattr(engine, "next_token_mass", None),
        root_masses,
        known,
        stats,
    )
