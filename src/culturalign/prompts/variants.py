"""Prompt variants for robustness checks: other wordings, and the options in reverse order.

A variant is a row of the cell's prompts table (column ``variant``), never an extra job:

- ``original``: the benchmark's wording and option order;
- ``wording-2``, ``wording-3``, …: the k-th wording of the framing and of the answer
  instruction in the templates file (each template may be a list of wordings);
- ``reversed``: the options shown in reverse order with their labels re-assigned, so that
  label ``1`` now names the option that was last; answers and option probabilities are
  mapped back to the original codes (through the prompts' ``option_codes``) before any
  metric;
- ``unforced``: the original, plus an explicit way out ("if you don't know or prefer not to
  say, answer …"), reported on its own;
- ``rotated-K``: the listed options rotated K places (option K+1 shown first, labels
  re-assigned), as OpenCompass's CircularEval asks multiple-choice questions; mapped back
  like ``reversed``. Only benchmarks that list their options get them (a question with K or
  fewer options gets no ``rotated-K`` row);
- ``sample-K`` (config ``robustness.sampled_answers``, reasoning cells only): the original
  prompt again, its reasoning sampled at ``robustness.sampling_temperature`` with seed
  ``generation.seed + K`` instead of decoded greedily, so that replicates of a question
  really vary (a zero-shot cell's exact option probabilities do not depend on sampling).

Benchmarks that list their options after the question (GlobalOpinionQA, survey tables with
option texts) are reversed by listing the lines backwards. For benchmarks whose question
text names its options (MENAValues), :func:`reverse_options` recognises the option list in
the text and writes it backwards, in three forms:

- *endpoints*: quoted numbers each followed by a quoted text — ``With '1' being 'Very
  important' and '4' being 'Not important'`` (and the same in Arabic «1» «…», Persian,
  Turkish “1” “…”); the texts of symmetric numbers swap places (1 ↔ 4);
- *inline*: ``1: Yes, definitely, 2: Yes, sometimes, 3: No`` (or ``1.``/``1)``, items
  separated by commas, Arabic commas or "or") — one item per code of the scale, in order;
  the texts are reversed (a text that is only its own number is renumbered);
- *lines*: ``1 - Yes`` on a line of its own per code; reversed likewise.

A question whose option list is not recognised gets no ``reversed`` prompt; it is listed
(:func:`recognition_table`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from culturalign.errors import ConfigError

ORIGINAL = "original"
REVERSED = "reversed"
UNFORCED = "unforced"
_WORDING = re.compile(r"^wording-([2-9]|[1-9][0-9]+)$")
_ROTATED = re.compile(r"^rotated-([1-9][0-9]*)$")
_SAMPLE = re.compile(r"^sample-([1-9][0-9]*)$")

_QUOTES = "'\"«»“”„‘’"
_PAIR = re.compile(
    rf"(?P<open>[{_QUOTES}])(?P<number>[0-9]+)(?P<close>[{_QUOTES}])"
    rf"(?P<between>[^{_QUOTES}0-9\n]{{0,14}})"
    rf"(?P<topen>[{_QUOTES}])(?P<text>[^{_QUOTES}\n]{{1,120}}?)(?P<tclose>[{_QUOTES}])"
)
_INLINE_ITEM = re.compile(r"(?<![\w'.])(?P<number>[0-9]+)(?P<mark>[:.)]) ")
_LINE_ITEM = re.compile(
    r"^(?P<lead>[ \t]*)(?P<number>[0-9]+)(?P<sep>[ \t]*[-–.)][ \t]+)(?P<text>.*)$", re.M
)


def rotation(variant: str) -> int | None:
    """K of a ``rotated-K`` variant, else None."""
    match = _ROTATED.match(variant)
    return int(match[1]) if match else None


def rotate(items: Sequence, k: int) -> list:
    """``items`` rotated ``k`` places to the left (item k first)."""
    k %= len(items)
    return [*items[k:], *items[:k]]


def sample_index(variant: str) -> int | None:
    """K of a ``sample-K`` variant (a sampled answer), else None."""
    match = _SAMPLE.match(variant)
    return int(match[1]) if match else None


def sampled_variants(count: int) -> list[str]:
    """``sample-1`` … ``sample-count``."""
    return [f"sample-{k}" for k in range(1, count + 1)]


def wording_index(variant: str) -> int | None:
    """0-based wording of a variant (``original``, ``reversed``, ``rotated-K``,
    ``sample-K``: 0; ``wording-k``: k-1)."""
    if variant in (ORIGINAL, REVERSED, UNFORCED) or rotation(variant) is not None:
        return 0
    if sample_index(variant) is not None:
        return 0
    match = _WORDING.match(variant)
    return int(match[1]) - 1 if match else None


def check_variants(variants: Iterable[str], where: str = "robustness.variants") -> list[str]:
    """The configured variants, validated (names only)."""
    out = []
    for variant in variants:
        if sample_index(variant) is not None:
            raise ConfigError(
                f"config key {where}: {variant!r} is not a wording: sampled answers are asked "
                "for with robustness.sampled_answers (a count)"
            )
        if variant == ORIGINAL or wording_index(variant) is None:
            raise ConfigError(
                f"config key {where}: unknown variant {variant!r} (use wording-2, wording-3, "
                "..., reversed, unforced, rotated-1, ...; the original is always asked)"
            )
        out.append(variant)
    return out


@dataclass(frozen=True)
class Recognised:
    """An option list found in a question's text."""

    form: str  # endpoints | inline | lines
    reversed_text: str


def _flip(number: int, low: int, high: int) -> int:
    return low + high - number


def _reverse_endpoints(text: str, low: int, high: int) -> str | None:
    pairs = list(_PAIR.finditer(text))
    numbers = [int(m["number"]) for m in pairs]
    if len(pairs) < 2 or len(set(numbers)) != len(numbers):
        return None
    if any(not low <= n <= high for n in numbers) or set(numbers) != {
        _flip(n, low, high) for n in numbers
    }:
        return None
    texts = {int(m["number"]): m["text"] for m in pairs}
    pieces, last = [], 0
    for match in pairs:
        pieces.append(text[last : match.start("text")])
        pieces.append(texts[_flip(int(match["number"]), low, high)])
        last = match.end("text")
    pieces.append(text[last:])
    return "".join(pieces)


def _renumbered(item: str, old: int, new: int) -> str:
    return str(new) if item.strip() == str(old) else item


def _reverse_inline(text: str, low: int, high: int) -> str | None:
    markers = list(_INLINE_ITEM.finditer(text))
    codes = list(range(low, high + 1))
    n = len(codes)
    for begin in range(len(markers) - n + 1):
        window = markers[begin : begin + n]
        if [int(m["number"]) for m in window] != codes:
            continue
        if len({m["mark"] for m in window}) != 1:
            continue
        mark = window[0]["mark"]
        items, separators = [], []
        for index, marker in enumerate(window[:-1]):
            chunk = text[marker.end() : window[index + 1].start()]
            separator = re.search(r"(?:[,;،؛]|,? or| or| و| یا| veya| ya da)\s*$", chunk)
            if separator is None:
                break
            items.append(chunk[: separator.start()])
            separators.append(chunk[separator.start() :])
        if len(items) != n - 1:
            continue
        last_start = window[-1].end()
        last_end = last_start + re.search(r"[.?!](?=\s|$)|\n|$", text[last_start:]).start()
        items.append(text[last_start:last_end])
        reordered = [_renumbered(items[n - 1 - i].strip(), codes[n - 1 - i], codes[i])
                     for i in range(n)]  # fmt: skip
        pieces = [text[: window[0].start()]]
        for index, code in enumerate(codes):
            pieces.append(f"{code}{mark} {reordered[index]}")
            if index < n - 1:
                pieces.append(separators[index])
        pieces.append(text[last_end:])
        return "".join(pieces)
    return None


def _reverse_lines(text: str, low: int, high: int) -> str | None:
    matches = list(_LINE_ITEM.finditer(text))
    codes = list(range(low, high + 1))
    for begin in range(len(matches) - len(codes) + 1):
        window = matches[begin : begin + len(codes)]
        if [int(m["number"]) for m in window] != codes:
            continue
        texts = [m["text"] for m in window]
        pieces, last = [], 0
        for i, match in enumerate(window):
            item = _renumbered(texts[len(codes) - 1 - i], codes[len(codes) - 1 - i], codes[i])
            pieces.append(text[last : match.start("text")])
            pieces.append(item)
            last = match.end("text")
        pieces.append(text[last:])
        return "".join(pieces)
    return None


def reverse_options(text: str, low: int, high: int) -> Recognised | None:
    """The question text with its option list written backwards, or None."""
    for form, reverse in (("inline", _reverse_inline), ("lines", _reverse_lines),
                          ("endpoints", _reverse_endpoints)):  # fmt: skip
        reversed_text = reverse(text, low, high)
        if reversed_text is not None and reversed_text != text:
            return Recognised(form, reversed_text)
    return None


def reversed_codes(codes: Sequence[int]) -> list[int]:
    """The code each shown label stands for once the options are reversed."""
    return list(reversed(list(codes)))


def recognition_table(
    questions: pd.DataFrame, texts: Iterable[tuple[str, str, str]]
) -> pd.DataFrame:
    """One row per (question, language) text: whether (and how) its options reverse.

    ``texts``: ``(question_id, language, text)``. Questions that list their options after
    the text always reverse (form ``listed``).
    """
    info = questions.set_index("question_id")
    rows = []
    for question_id, language, text in texts:
        question = info.loc[question_id]
        if bool(question.get("show_options", False)):
            form = "listed"
        else:
            found = reverse_options(text, int(question["scale_min"]), int(question["scale_max"]))
            form = found.form if found else None
        rows.append({"question_id": question_id, "language": language, "form": form,
                     "recognised": form is not None})  # fmt: skip
    return pd.DataFrame(rows, columns=["question_id", "language", "form", "recognised"])


def variant_questions(question_ids: Sequence[str], sample: float | None, seed: int) -> set[str]:
    """The questions that get variants: all, or a seeded share (at least one) of them."""
    ids = sorted(set(question_ids))
    if sample is None or sample >= 1.0:
        return set(ids)
    import math

    import numpy as np

    count = max(1, math.ceil(sample * len(ids)))
    chosen = np.random.default_rng(seed).choice(len(ids), size=count, replace=False)
    return {ids[i] for i in sorted(chosen)}


def cell_variants(settings: dict, language: str, framing: str, reasoning: str) -> list[str]:
    """The variants config ``robustness`` asks for in one cell: its ``variants`` where its
    ``cells`` allow them, and in every reasoning cell ``sampled_answers`` sampled answers."""
    sampled = sampled_variants(int(settings.get("sampled_answers") or 0))
    sampled = sampled if reasoning == "cot" else []
    cells = settings.get("cells") or {}
    for key, value in (("languages", language), ("framings", framing), ("reasoning", reasoning)):
        allowed = cells.get(key)
        if allowed is not None and value not in allowed:
            return sampled
    return [*check_variants(settings.get("variants") or []), *sampled]
