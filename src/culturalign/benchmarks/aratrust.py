"""AraTrust (Alghamdi et al., COLING 2025; Hugging Face ``asas-ai/AraTrust``, MIT licence).

522 human-written Arabic multiple-choice questions on truthfulness, ethics, safety,
physical and mental health, unfairness, illegal activities, privacy and offensive language.
``source`` is the publisher's dataset, ``hf://datasets/asas-ai/AraTrust`` at a pinned
``revision`` (fetched with :mod:`culturalign.io.hub`; files in one folder per subset get
the folder as their category), or a local file (Parquet, CSV or JSON lines) with every
subset and a ``category`` column. Columns read:

- ``Question`` — the question in Arabic;
- ``A``, ``B``, ``C`` (and ``D``, ``E`` … when present and not empty) — the option texts; a
  leading label the dataset may carry (``أ)``, ``ب.``, ``A -`` …) is removed, since the
  prompt labels the options itself;
- ``Answer`` — the correct option as an Arabic letter (``أ``, ``ب``, ``ج`` …) or the Latin
  letter of its column (``A``, ``B``, ``C`` …), optionally followed by ``)`` or ``.``;
- ``category`` (or ``Category``, ``subset``) — optional; missing categories stay empty.

The published file's quirks are read by rule and recorded (``Benchmark.note``): an answer
written with a bare alif (ا), إ or آ for أ (or ى for ي), spaces around an answer, a row
whose options sit one column off with their own labels (read by the labels); a row no rule
can repair is a bad row (``on_bad_row``).

Questions get the ids ``ARATRUST-0001`` .. in file order, Arabic letter labels (أ ب ج …)
and the gold code. There are no human distributions: every question is asked once per
cell, in Arabic (``native`` cells, the ``neutral`` framing only; framings do not apply).
The analysis is ``mcq``: accuracy, refusals, logit leakage and circular accuracy over the
option rotations (:mod:`culturalign.analysis.mcq.metrics`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from culturalign.benchmarks import register_benchmark
from culturalign.benchmarks.base import (
    ARABIC_LETTERS,
    Benchmark,
    CellSpace,
    StrictNotes,
    labelled_options,
)
from culturalign.errors import BenchmarkError
from culturalign.io.user_files import is_blank, read_user_table, require_columns, where

OPTION_COLUMNS = tuple("ABCDEFGH")
CATEGORY_COLUMNS = ("category", "Category", "subset")
POPULATION = "Arabic speakers"
"""The one population of the prompts (AraTrust has no per-country answers)."""


_LABEL = re.compile(
    r"^\s*[\(\[]?(?P<label>[A-Ha-h]|"
    + "|".join(map(re.escape, sorted({*ARABIC_LETTERS[:8], *"اإآى"}, key=len, reverse=True)))
    + r")\s*[\)\].:\-–]\s+"
)
LETTER_VARIANTS = str.maketrans({"ا": "أ", "إ": "أ", "آ": "أ", "ى": "ي"})
"""Arabic letters written for the option letters they stand for: a bare, hamza-below or
madda alif for أ, an alif maqsura for ي."""


def strip_label(text: str) -> str:
    """An option text without a leading ``أ)`` / ``B.`` / ``(C)`` label."""
    return _LABEL.sub("", text, count=1).strip()


def leading_label(text: str) -> str | None:
    """The option letter a text starts with (Arabic variants read as the letter), if any."""
    match = _LABEL.match(text)
    return match["label"].translate(LETTER_VARIANTS).upper() if match else None


def gold_index(answer: str, letters: list[str], columns: list[str], at: str,
               notes: Any = None, item: str | None = None) -> int | None:  # fmt: skip
    """0-based index of the correct option from the ``Answer`` cell: an Arabic letter of the
    options as read (``letters``; its variants and surrounding whitespace repaired and noted)
    or the Latin letter of the option's column (``columns``). None: a bad row, given to
    ``notes.bad_row``."""
    notes = notes if notes is not None else StrictNotes()
    raw = str(answer)
    if raw != raw.strip():
        notes.note("repaired", "whitespace", item, at, f"answer {raw!r} read as {raw.strip()!r}")
    value = raw.strip().rstrip(").:").strip()
    letter = value.translate(LETTER_VARIANTS)
    if letter in letters:
        if letter != value:
            notes.note("repaired", "answer letter variant", item, at,
                       f"answer {value!r} read as {letter!r}")  # fmt: skip
        return letters.index(letter)
    if value.upper() in columns:
        return columns.index(value.upper())
    notes.bad_row(
        item, at,
        f"answer {answer!r} is not one of the options' letters ({' '.join(letters)} or "
        f"{' '.join(columns)})",
    )  # fmt: skip
    return None


def read_options(record: Mapping[str, Any], option_columns: list[str], at: Any, notes: Any,
                 item: str) -> tuple[list[str], list[str]] | None:  # fmt: skip
    """``(texts, their columns)`` of one row, in option order; None for a bad row.

    Options are contiguous (A, B, C … up to the first empty column). A row with an empty
    column before a filled one is read by the options' own leading labels when they are
    exactly أ, ب, … (or A, B, …) in order, the publisher having shifted the row by a column;
    otherwise it is a bad row."""
    present = [c for c in option_columns if not is_blank(record[c])]
    if len(present) < 2:
        notes.bad_row(item, at(None), "fewer than two options")
        return None
    contiguous = present == option_columns[: len(present)]
    if not contiguous:
        labels = [leading_label(str(record[c])) for c in present]
        arabic = list(ARABIC_LETTERS[: len(present)])
        latin = list(OPTION_COLUMNS[: len(present)])
        if labels not in (arabic, latin):
            gap = next(c for c in option_columns if c not in present)
            later = next(c for c in present if option_columns.index(c) > option_columns.index(gap))
            notes.bad_row(
                item, at(gap),
                f"option {gap} is empty but option {later} is not, and the options' own "
                f"labels ({', '.join(str(x) for x in labels)}) do not say which is which",
            )  # fmt: skip
            return None
        last = option_columns.index(present[-1])
        empty = [c for c in option_columns[:last] if c not in present]
        notes.note(
            "repaired", "options read by their labels", item, at(present[0]),
            f"column(s) {', '.join(empty)} empty; options read from {', '.join(present)} by "
            f"their labels {' '.join(str(x) for x in labels)}",
        )  # fmt: skip
    texts = []
    for column in present:
        text = strip_label(str(record[column]))
        if not text:
            notes.bad_row(item, at(column), "the option has no text")
            return None
        texts.append(text)
    return texts, present


def read_aratrust(path: str | Path, notes: Any = None) -> pd.DataFrame:
    """The questions table of an AraTrust export; repairs and drops go to ``notes`` (a
    :class:`~culturalign.benchmarks.base.Benchmark`: ``note`` and ``bad_row``), by default
    kept and a bad row raised."""
    notes = notes if notes is not None else StrictNotes()
    frame = read_user_table(path, "AraTrust export")
    require_columns(frame, ("Question", "A", "B", "Answer"))
    if frame.empty:
        raise BenchmarkError(f"{path}: the export holds no rows")
    category_column = next((c for c in CATEGORY_COLUMNS if c in frame.columns), None)
    option_columns = [c for c in OPTION_COLUMNS if c in frame.columns]
    rows = []
    for index, record in enumerate(frame.to_dict("records")):
        item = f"ARATRUST-{index + 1:04d}"
        question = record["Question"]
        if is_blank(question):
            notes.bad_row(item, where(frame, index, "Question"), "empty question")
            continue
        place = functools.partial(where, frame, index)
        found = read_options(record, option_columns, place, notes, item)
        if found is None:
            continue
        texts, columns = found
        gold = gold_index(record["Answer"], list(ARABIC_LETTERS[: len(texts)]), columns,
                          where(frame, index, "Answer"), notes, item)  # fmt: skip
        if gold is None:
            continue
        category = record.get(category_column) if category_column else None
        codes = list(range(1, len(texts) + 1))
        rows.append({
            "question_id": item,
            "source": "AraTrust",
            "text_en": None,
            "scale_min": 1,
            "scale_max": len(texts),
            "scale_type": "nominal",
            "category": None if is_blank(category) else str(category).strip(),
            "subcategory": None,
            "options": labelled_options(codes, ARABIC_LETTERS[: len(texts)], texts),
            "show_options": True,
            "gold": gold + 1,
            "original_language": "ar",
            "text_original": str(question).strip(),
        })  # fmt: skip
    if not rows:
        raise BenchmarkError(f"{path}: no row of the export could be read")
    questions = pd.DataFrame(rows)
    questions["gold"] = questions["gold"].astype("Int64")
    return questions


@register_benchmark("aratrust")
class AraTrust(Benchmark):
    """AraTrust from a local export (``source``)."""

    description = (
        "AraTrust: Arabic trustworthiness multiple-choice questions (Alghamdi et al. 2025)"
    )
    kind = "mcq"
    publisher_measure = "category_accuracy"
    cells = CellSpace(languages=("native",), framings=("neutral",), reasoning=("zero", "cot"))
    schema = "aratrust.schema.yaml"
    templates = "resources/prompts/aratrust.yaml"

    def read(self, files: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
        questions = read_aratrust(files["source"], self)
        return questions, pd.DataFrame(
            columns=["question_id", "country", "option", "share", "nonsubstantive_share"]
        ).astype({"option": "int64", "share": "float64", "nonsubstantive_share": "float64"})

    def population_names(self, human: pd.DataFrame) -> list[str]:
        return [POPULATION]

    def default_languages(self) -> tuple[str, ...]:
        return ("ar",)

    def prompt_pairs(self, questions: pd.DataFrame, human: pd.DataFrame) -> pd.DataFrame:
        """Every question, once (for the one population, whose language is Arabic)."""
        return pd.DataFrame({"question_id": questions["question_id"], "country": POPULATION})

    def extra_variants(self) -> list[str]:
        """CircularEval: the options rotated through every position (``rotated-1`` ..)."""
        if not self.options.get("circular", True):
            return []
        return [f"rotated-{k}" for k in range(1, len(OPTION_COLUMNS))]
