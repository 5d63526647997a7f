"""Option distributions from a chat API's top logprobs (when exact scoring is impossible).

A chat endpoint returns, for each generated position, the generated token and its top-k
alternatives with logprobs (k <= 20). At the *answer position* — in ``zero`` cells the first
generated token that is not blank or markup (``(``, ``**``), in ``cot`` cells the first of a
few tokens after the last answer cue that starts a label (``Answer: (B)``, ``the answer is
3``) — the alternatives that spell an option label are the model's option distribution, up
to what the top-k leaves unseen:

- token texts are compared after folding their variants: surrounding blanks and markup
  removed, Arabic-Indic, Persian and full-width digits read as ASCII, Arabic letter forms
  folded (``٣`` = `` 3`` = ``3``; ``ا`` = ``أ``); the probabilities of variants add up;
- a token that spells a label exactly and is the start of no longer label counts for it;
- a token that is also the start of longer labels (``1`` of ``10``..``19``) is split with the
  next position's top-k — the probability that the label ends there (no digit or letter
  follows) and of each continuation — but only when that token is the one the model
  generated (the API gives no next position for the others): otherwise its mass is
  *unknown*;
- every label never seen adds at most the smallest returned probability of its position
  (a token outside the top-k is less likely than all of them) to the unknown mass.

``answer_mass``: the share of the answer position's probability that went to label tokens
(a format-compliance figure). ``option_coverage``: known option mass ÷ (known + the upper
bound on the unknown): 1 when every option was seen and none needs an unseen split, lower
otherwise. ``option_probs``: the known masses renormalised over the options.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from culturalign.engines.base import Position
from culturalign.scoring.parsing import fold_letters, load_phrases, normalize_digits

_MARKUP = " \t\r\n*_`\"'“”«»()[]{}:.,;-–—#>"


@dataclass(frozen=True)
class TopLogprobDistribution:
    """What the top logprobs say about the options (probabilities in code order)."""

    probs: tuple[float, ...] | None
    source: str  # "top_logprobs" | "none"
    coverage: float | None
    answer_mass: float | None
    position: int | None


def fold(text: str) -> str:
    """A token's text as an option label would read it."""
    return fold_letters(normalize_digits(text)).strip(_MARKUP)


def _blank(token: str) -> bool:
    return not fold(token)


CUE_REACH = 8
"""In cot cells, how many tokens after the last answer cue the label may start ("Answer is 3")."""


def answer_position(
    positions: Sequence[Position],
    reasoning: str,
    answer_cue: str | None = None,
    labels: Sequence[str] = (),
) -> int | None:
    """Index of the answer position (see the module docstring), or None.

    In ``cot`` cells: the first of the :data:`CUE_REACH` tokens after the last answer cue
    (on its line) whose text starts an option label; without ``labels``, the first
    non-blank token after the cue.
    """
    start = 0
    if reasoning == "cot":
        text = "".join(position.token for position in positions)
        cues = {*load_phrases().all_cues, *([answer_cue] if answer_cue else [])}
        words = "|".join(re.escape(c.strip().rstrip(":：")) for c in sorted(cues, key=len)[::-1])
        found = list(re.finditer(rf"(?<!\w)(?:{words})(?!\w)[^\S\n]*[:：]?", text, re.I))
        if not found:
            return None
        offset, start = found[-1].end(), None
        consumed = 0
        for index, position in enumerate(positions):
            if consumed + len(position.token) > offset:
                start = index
                break
            consumed += len(position.token)
        if start is None:
            return None
        folded = [fold(str(label)) for label in labels]
        for index in range(start, min(start + CUE_REACH, len(positions))):
            token = positions[index].token
            if "\n" in token:
                break
            text = fold(token)
            if text and (not folded or any(label.startswith(text) for label in folded)):
                return index
        return None
    for index in range(start, len(positions)):
        if not _blank(positions[index].token):
            return index
    return None


def _merged(top: Sequence[tuple[str, float]]) -> dict[str, float]:
    masses: dict[str, float] = {}
    for token, logprob in top:
        key = fold(token)
        if key:
            masses[key] = masses.get(key, 0.0) + math.exp(logprob)
    return masses


def _continues(text: str, kind: str) -> bool:
    return bool(text) and (text[0].isdigit() if kind == "number" else text[0].isalpha())


def option_distribution(
    positions: Sequence[Position],
    labels: Sequence[str],
    codes: Sequence[int],
    kind: str,
    reasoning: str,
    answer_cue: str | None = None,
) -> TopLogprobDistribution:
    """The option distribution the top logprobs support (see the module docstring)."""
    none = TopLogprobDistribution(None, "none", None, None, None)
    if not positions or not any(position.top for position in positions):
        return none
    index = answer_position(positions, reasoning, answer_cue, labels)
    if index is None or not positions[index].top:
        return TopLogprobDistribution(None, "none", 0.0, 0.0, index)
    here = positions[index]
    following = positions[index + 1] if index + 1 < len(positions) else None
    folded_labels = [fold(str(label)) for label in labels]
    masses = _merged(here.top)
    generated = fold(here.token)
    floor = min(math.exp(logprob) for _, logprob in here.top)
    known = dict.fromkeys(folded_labels, 0.0)
    seen: set[str] = set()
    unknown = 0.0
    answer_mass = 0.0
    for text, mass in masses.items():
        exact = text in known
        longer = [label for label in folded_labels if label != text and label.startswith(text)]
        if not exact and not longer:
            continue
        answer_mass += mass
        if not longer:
            known[text] += mass
            seen.add(text)
            continue
        seen.update([text] if exact else [])
        seen.update(longer)
        if text != generated or following is None or not following.top:
            unknown += mass  # the split between this label and longer ones is not known
            continue
        nxt = _merged(following.top)
        continuing = sum(m for t, m in nxt.items() if _continues(t, kind))
        if exact:
            known[text] += mass * max(0.0, 1.0 - continuing)
        next_floor = min(math.exp(logprob) for _, logprob in following.top)
        for label in longer:
            rest = label[len(text) :]
            if rest in nxt:
                known[label] += mass * nxt[rest]
            else:
                unknown += mass * next_floor
    unknown += floor * sum(1 for label in folded_labels if label not in seen)
    total = sum(known.values())
    if total <= 0.0:
        return TopLogprobDistribution(None, "none", 0.0, answer_mass, index)
    order = dict(zip(folded_labels, codes, strict=True))
    by_code = {order[label]: mass / total for label, mass in known.items()}
    probs = tuple(by_code[code] for code in sorted(codes))
    return TopLogprobDistribution(probs, "top_logprobs", total / (total + unknown), answer_mass,
                                  index)  # fmt: skip
