"""A plain survey table: any questions, any populations (e.g. WVS-7 country aggregates).

Two files, each CSV, TSV, Parquet or JSON lines (by extension):

``questions`` — one row per question:

============== ======== =============================================================
column         required meaning
============== ======== =============================================================
question_id    yes      a stable id (letters, digits, ``_ . : -``)
text           yes      the question in English, as asked
scale_min/max  \\*       the integer option codes (``1`` and ``4`` for a 4-point scale)
options        \\*       the option texts in code order, separated by ``|``; when given
                        the prompt lists them after the question (otherwise the text
                        must name its options itself)
scale_type     no       ``ordinal`` (default) or ``nominal`` (codes without order)
labels         no       ``number`` (default: the codes) or ``letter`` (A, B, ...)
category       no       free text (findings are also given per category)
subcategory    no       free text
============== ======== =============================================================

\\* ``scale_min`` and ``scale_max``, or ``options`` (then codes are 1..K), or both (they
must agree).

``distributions`` — one row per (question, population, option): ``question_id``,
``population`` (a country name as ``pycountry`` knows it, or any group named in the
populations table), ``option`` (an integer code) and ``share`` (percent or fraction, see
``share_unit``). Options nobody chose may be left out. Codes in config
``nonsubstantive_codes`` (e.g. -1 don't know, -2 refused) are dropped and their share kept
aside; every other code must lie on the scale. The shares of a (question, population) must
sum to 100% within ``share_tolerance``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from culturalign.benchmarks import register_benchmark
from culturalign.benchmarks.base import Benchmark, labelled_options, option_labels
from culturalign.errors import BenchmarkError
from culturalign.io.user_files import is_blank, read_user_table, require_columns, where

QUESTION_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


def _integer(value: Any, at: str) -> int:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise BenchmarkError(f"{at}: {value!r} is not an integer") from None
    if not math.isfinite(number) or number != int(number):
        raise BenchmarkError(f"{at}: {value!r} is not an integer")
    return int(number)


def _number(value: Any, at: str) -> float:
    try:
        number = float(str(value).strip().removesuffix("%"))
    except ValueError:
        raise BenchmarkError(f"{at}: {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise BenchmarkError(f"{at}: {value!r} is negative or not finite")
    return number


def read_questions(path: str | Path) -> pd.DataFrame:
    """The questions table of a survey (see the module docstring)."""
    import re

    frame = read_user_table(path, "questions file")
    require_columns(frame, ("question_id", "text"))
    if frame.empty:
        raise BenchmarkError(f"{path}: the questions file holds no rows")
    has = set(frame.columns)
    rows, seen = [], {}
    for index, row in enumerate(frame.to_dict(orient="records")):
        question_id = str(row["question_id"]).strip()
        if not re.match(QUESTION_ID, question_id):
            raise BenchmarkError(
                f"{where(frame, index, 'question_id')}: {question_id!r} is not a valid id "
                "(letters, digits, _ . : -)"
            )
        if question_id in seen:
            raise BenchmarkError(
                f"{where(frame, index, 'question_id')}: {question_id!r} already used on "
                f"{where(frame, seen[question_id]).split(': ', 1)[1]}"
            )
        seen[question_id] = index
        if is_blank(row["text"]):
            raise BenchmarkError(f"{where(frame, index, 'text')}: empty question text")
        texts = None
        if "options" in has and not is_blank(row["options"]):
            texts = [part.strip() for part in str(row["options"]).split("|")]
            if len(texts) < 2 or any(not text for text in texts):
                raise BenchmarkError(
                    f"{where(frame, index, 'options')}: needs at least two non-empty option "
                    "texts separated by |"
                )
        given = {name: row.get(name) for name in ("scale_min", "scale_max")}
        if any(not is_blank(value) for value in given.values()):
            for name, value in given.items():
                if is_blank(value):
                    raise BenchmarkError(f"{where(frame, index, name)}: empty value")
            low = _integer(given["scale_min"], where(frame, index, "scale_min"))
            high = _integer(given["scale_max"], where(frame, index, "scale_max"))
        elif texts is not None:
            low, high = 1, len(texts)
        else:
            raise BenchmarkError(
                f"{where(frame, index)}: give scale_min and scale_max, or the options"
            )
        if high <= low:
            raise BenchmarkError(
                f"{where(frame, index, 'scale_max')}: {high} must be above scale_min {low}"
            )
        if texts is not None and len(texts) != high - low + 1:
            raise BenchmarkError(
                f"{where(frame, index, 'options')}: {len(texts)} option texts for the "
                f"{high - low + 1} codes {low}..{high}"
            )
        scale_type = str(row.get("scale_type") or "ordinal").strip() or "ordinal"
        if scale_type not in ("ordinal", "nominal"):
            raise BenchmarkError(
                f"{where(frame, index, 'scale_type')}: {scale_type!r} (expected ordinal or nominal)"
            )
        kind = str(row.get("labels") or "number").strip() or "number"
        if kind not in ("number", "letter"):
            raise BenchmarkError(
                f"{where(frame, index, 'labels')}: {kind!r} (expected number or letter)"
            )
        codes = list(range(low, high + 1))
        labels = option_labels(len(codes), kind, start=low)
        rows.append(
            {
                "question_id": question_id,
                "source": "survey table",
                "text_en": str(row["text"]).strip(),
                "scale_min": low,
                "scale_max": high,
                "scale_type": scale_type,
                "category": None if is_blank(row.get("category")) else str(row["category"]),
                "subcategory": (
                    None if is_blank(row.get("subcategory")) else str(row["subcategory"])
                ),
                "options": labelled_options(codes, labels, texts),
                "show_options": texts is not None,
                "gold": None,
            }
        )
    questions = pd.DataFrame(rows)
    questions["gold"] = questions["gold"].astype("Int64")
    return questions


def read_distributions(
    path: str | Path,
    questions: pd.DataFrame,
    *,
    share_unit: str = "auto",
    share_tolerance: float = 0.5,
    nonsubstantive_codes: tuple[int, ...] = (),
) -> pd.DataFrame:
    """The long human table: shares renormalised over the substantive options."""
    frame = read_user_table(path, "distributions file")
    require_columns(frame, ("question_id", "population", "option", "share"))
    scales = {
        str(q.question_id): (int(q.scale_min), int(q.scale_max))
        for q in questions.itertuples(index=False)
    }
    shares: dict[tuple[str, str], dict[int, float]] = {}
    first_line: dict[tuple[str, str], int] = {}
    dropped: dict[tuple[str, str], float] = {}
    values = []
    for index, row in enumerate(frame.to_dict(orient="records")):
        question_id = str(row["question_id"]).strip()
        if question_id not in scales:
            raise BenchmarkError(
                f"{where(frame, index, 'question_id')}: unknown question {question_id!r} "
                f"(not in the questions file)"
            )
        population = str(row["population"]).strip()
        if is_blank(population):
            raise BenchmarkError(f"{where(frame, index, 'population')}: empty value")
        option = _integer(row["option"], where(frame, index, "option"))
        share = _number(row["share"], where(frame, index, "share"))
        values.append(share)
        key = (question_id, population)
        first_line.setdefault(key, index)
        low, high = scales[question_id]
        if option in nonsubstantive_codes:
            dropped[key] = dropped.get(key, 0.0) + share
            shares.setdefault(key, {})
            continue
        if not low <= option <= high:
            raise BenchmarkError(
                f"{where(frame, index, 'option')}: option {option} lies outside the scale "
                f"{low}..{high} of {question_id} (list don't-know codes in the benchmark's "
                "nonsubstantive_codes)"
            )
        if option in shares.setdefault(key, {}):
            raise BenchmarkError(
                f"{where(frame, index, 'option')}: ({question_id}, {population}, {option}) "
                "appears twice"
            )
        shares[key][option] = share
    if share_unit == "auto":
        share_unit = "percent" if values and max(values) > 1.0 + 1e-9 else "fraction"
    scale = 100.0 if share_unit == "percent" else 1.0
    rows = []
    for key, options in shares.items():
        question_id, population = key
        total = math.fsum(options.values()) + dropped.get(key, 0.0)
        if abs(total - scale) > share_tolerance * scale / 100.0:
            raise BenchmarkError(
                f"{where(frame, first_line[key], 'share')}: the shares of ({question_id}, "
                f"{population}) sum to {100 * total / scale:.2f}%, not 100% "
                f"(+-{share_tolerance}); share_unit is {share_unit}"
            )
        substantive = math.fsum(options.values())
        if substantive <= 0:
            raise BenchmarkError(
                f"{where(frame, first_line[key], 'share')}: ({question_id}, {population}) has "
                "no substantive answers"
            )
        low, high = scales[question_id]
        rows.extend(
            {"question_id": question_id, "country": population, "option": code,
             "share": options.get(code, 0.0) / substantive,
             "nonsubstantive_share": dropped.get(key, 0.0) / total}
            for code in range(low, high + 1)
        )  # fmt: skip
    human = pd.DataFrame(
        rows, columns=["question_id", "country", "option", "share", "nonsubstantive_share"]
    )
    return human.astype({"option": "int64", "share": "float64"})


@register_benchmark("survey_table")
class SurveyTable(Benchmark):
    """A questions file and a long distributions file (``questions``, ``distributions``)."""

    description = "survey table (questions file + distributions file)"
    kind = "survey"
    schema = "survey_table.schema.yaml"

    def source_files(self) -> dict[str, str]:
        return {name: str(self.options[name]) for name in ("questions", "distributions")}

    def downloads(self) -> dict[str, tuple[str, str]]:
        return {}

    def read(self, files: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
        questions = read_questions(files["questions"])
        human = read_distributions(
            files["distributions"],
            questions,
            share_unit=self.options["share_unit"],
            share_tolerance=self.options["share_tolerance"],
            nonsubstantive_codes=tuple(self.options["nonsubstantive_codes"]),
        )
        return questions, human
