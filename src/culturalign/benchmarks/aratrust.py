"""AraTrust (Alghamdi et al., COLING 2025; Hugging Face ``asas-ai/AraTrust``, MIT licence).

522 human-written Arabic multiple-choice questions on truthfulness, ethics, safety,
physical and mental health, unfairness, illegal activities, privacy and offensive language.
The hub is not reachable from every machine, so the plug-in reads a local export the user
makes once (Parquet, CSV or JSON lines), one file with every subset and a ``category``
column::

    import pandas as pd
    from datasets import get_dataset_config_names, load_dataset

    frames = [load_dataset("asas-ai/AraTrust", name, split="test").to_pandas()
              .assign(category=name) for name in get_dataset_config_names("asas-ai/AraTrust")]
    pd.concat(frames, ignore_index=True).to_parquet("aratrust.parquet")

(``load_dataset("asas-ai/AraTrust", name)`` without ``split`` lists the split names if
``test`` is not one of them). Columns read:

- ``Question`` — the question in Arabic;
- ``A``, ``B``, ``C`` (and ``D``, ``E`` … when present and not empty) — the option texts; a
  leading label the dataset may carry (``أ)``, ``ب.``, ``A -`` …) is removed, since the
  prompt labels the options itself;
- ``Answer`` — the correct option as an Arabic letter (``أ``, ``ب``, ``ج`` …) or the Latin
  letter of its column (``A``, ``B``, ``C`` …), optionally followed by ``)`` or ``.``;
- ``category`` (or ``Category``, ``subset``) — optional; missing categories stay empty.

Questions get the ids ``ARATRUST-0001`` .. in file order, Arabic letter labels (أ ب ج …)
and the gold code. There are no human distributions: every question is asked once per
cell, in Arabic (``native`` cells, the ``neutral`` framing only; framings do not apply).
The analysis is ``mcq``: accuracy, refusals, logit leakage and circular accuracy over the
option rotations (:mod:`culturalign.analysis.mcq.metrics`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from culturalign.benchmarks import register_benchmark
from culturalign.benchmarks.base import ARABIC_LETTERS, Benchmark, CellSpace, labelled_options
from culturalign.errors import BenchmarkError
from culturalign.io.user_files import is_blank, read_user_table, require_columns, where

OPTION_COLUMNS = tuple("ABCDEFGH")
CATEGORY_COLUMNS = ("category", "Category", "subset")
POPULATION = "Arabic speakers"
"""The one population of the prompts (AraTrust has no per-country answers)."""
_LEADING_LABEL = re.compile(
    r"^\s*[\(\[]?(?:[A-Ha-h]|"
    + "|".join(map(re.escape, ARABIC_LETTERS[:8]))
    + r")\s*[\)\].:\-–]\s+"
)


def strip_label(text: str) -> str:
    """An option text without a leading ``أ)`` / ``B.`` / ``(C)`` label."""
    return _LEADING_LABEL.sub("", text, count=1).strip()


def gold_index(answer: str, n_options: int, at: str) -> int:
    """0-based index of the correct option from the ``Answer`` cell."""
    value = str(answer).strip().rstrip(").:").strip()
    arabic = list(ARABIC_LETTERS[:n_options])
    latin = list(OPTION_COLUMNS[:n_options])
    if value in arabic:
        return arabic.index(value)
    if value.upper() in latin:
        return latin.index(value.upper())
    raise BenchmarkError(
        f"{at}: answer {answer!r} is not one of the options' letters "
        f"({' '.join(arabic)} or {' '.join(latin)})"
    )


def read_aratrust(path: str | Path) -> pd.DataFrame:
    """The questions table of an AraTrust export."""
    frame = read_user_table(path, "AraTrust export")
    require_columns(frame, ("Question", "A", "B", "Answer"))
    if frame.empty:
        raise BenchmarkError(f"{path}: the export holds no rows")
    category_column = next((c for c in CATEGORY_COLUMNS if c in frame.columns), None)
    option_columns = [c for c in OPTION_COLUMNS if c in frame.columns]
    rows = []
    for index, record in enumerate(frame.to_dict("records")):
        question = record["Question"]
        if is_blank(question):
            raise BenchmarkError(f"{where(frame, index, 'Question')}: empty question")
        texts = []
        for column in option_columns:
            value = record[column]
            if is_blank(value):
                # options are contiguous: A, B, C … up to the first empty column
                rest = [c for c in option_columns[option_columns.index(column) + 1 :]
                        if not is_blank(record[c])]  # fmt: skip
                if rest:
                    raise BenchmarkError(
                        f"{where(frame, index, column)}: option {column} is empty but option "
                        f"{rest[0]} is not"
                    )
                break
            text = strip_label(str(value))
            if not text:
                raise BenchmarkError(f"{where(frame, index, column)}: the option has no text")
            texts.append(text)
        if len(texts) < 2:
            raise BenchmarkError(f"{where(frame, index)}: fewer than two options")
        gold = gold_index(record["Answer"], len(texts), where(frame, index, "Answer"))
        category = record.get(category_column) if category_column else None
        codes = list(range(1, len(texts) + 1))
        rows.append({
            "question_id": f"ARATRUST-{index + 1:04d}",
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
    cells = CellSpace(languages=("native",), framings=("neutral",), reasoning=("zero", "cot"))
    schema = "aratrust.schema.yaml"
    templates = "resources/prompts/aratrust.yaml"

    def read(self, files: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
        questions = read_aratrust(files["source"])
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
