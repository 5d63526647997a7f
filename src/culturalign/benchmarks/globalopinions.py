"""GlobalOpinionQA (Durmus et al. 2023, Hugging Face ``Anthropic/llm_global_opinions``).

``source`` is the publisher's dataset, ``hf://datasets/Anthropic/llm_global_opinions`` at
a pinned ``revision`` (its ``data/global_opinions.csv``, fetched with
:mod:`culturalign.io.hub`), or a local export (Parquet, CSV or JSON lines).

Columns used: ``question`` (the text), ``options`` (a Python list of option texts, or its
string form ``"['Yes', 'No']"``), ``selections`` (per country the share of each option, in
option order: the string ``"defaultdict(<class 'list'>, {'Nigeria': [0.6, 0.4]})"``, a dict,
or a JSON object) and ``source`` (the survey, e.g. GAS or WVS; kept as the category). Any
other column is ignored.

Questions get the ids ``GOQA-0001`` .. in file order (1-based row number) and letter labels
(A), (B), … shown after the question as Durmus et al. did. The options' order is not known
to be a scale, so questions are ``nominal`` unless config ``scale_type: ordinal`` says
otherwise. A country's shares must sum to 1 within ``share_tolerance`` percentage points.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from culturalign.benchmarks import register_benchmark
from culturalign.benchmarks.base import Benchmark, StrictNotes, labelled_options, option_labels
from culturalign.errors import BenchmarkError
from culturalign.io.user_files import is_blank, read_user_table, require_columns, where

COLUMNS = ("question", "selections", "options")
_DEFAULTDICT = re.compile(r"^\s*defaultdict\(\s*<class '[^']*'>\s*,\s*(?P<body>.*)\)\s*$", re.S)


def parse_options(value: Any, at: str) -> list[str]:
    """The option texts of one row (a list, or the string of a Python/JSON list)."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise BenchmarkError(f"{at}: not a list of option texts: {value[:80]!r}") from None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise BenchmarkError(f"{at}: needs a list of at least two option texts")
    texts = [str(item).strip() for item in value]
    if any(not text for text in texts):
        raise BenchmarkError(f"{at}: an option text is empty")
    return texts


def parse_selections(value: Any, at: str) -> dict[str, list[float]]:
    """Country -> shares from the ``selections`` cell."""
    if isinstance(value, str):
        text = value.strip()
        match = _DEFAULTDICT.match(text)
        if match:
            text = match["body"]
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            try:
                value = json.loads(text)
            except ValueError:
                raise BenchmarkError(
                    f"{at}: cannot read the shares ({text[:80]!r}); expected "
                    "\"defaultdict(<class 'list'>, {'Country': [share, ...]})\""
                ) from None
    if not isinstance(value, Mapping) or not value:
        raise BenchmarkError(f"{at}: expected a mapping of countries to share lists")
    out: dict[str, list[float]] = {}
    for country, shares in value.items():
        if hasattr(shares, "tolist"):
            shares = shares.tolist()
        if not isinstance(shares, list | tuple):
            raise BenchmarkError(f"{at}: the shares of {country!r} are not a list")
        try:
            numbers = [float(share) for share in shares]
        except (TypeError, ValueError):
            raise BenchmarkError(f"{at}: a share of {country!r} is not a number") from None
        if any(not math.isfinite(n) or n < 0 for n in numbers):
            raise BenchmarkError(f"{at}: a share of {country!r} is negative or not finite")
        out[str(country).strip()] = numbers
    return out


def read_globalopinions(
    path: str | Path,
    share_tolerance: float = 0.5,
    scale_type: str = "nominal",
    notes: Any = None,
    nonsubstantive: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(questions, human)`` from a GlobalOpinionQA export (tolerance in percentage points).

    A country whose shares are all zero was not asked the question there (the published
    file writes it so): no data for that (question, country), recorded in ``notes`` (a
    :class:`~culturalign.benchmarks.base.Benchmark`), not an error. Options whose text
    matches one of the ``nonsubstantive`` patterns (don't know, refused, …) are not asked:
    their share becomes ``nonsubstantive_share`` and the others are renormalised."""
    patterns = [re.compile(pattern, re.IGNORECASE) for pattern in nonsubstantive]
    frame = read_user_table(path, "GlobalOpinionQA export")
    require_columns(frame, COLUMNS)
    notes = notes if notes is not None else StrictNotes()
    if frame.empty:
        raise BenchmarkError(f"{path}: the export holds no rows")
    questions, human = [], []
    for index, row in enumerate(frame.itertuples(index=False)):
        record = row._asdict()
        text = record["question"]
        if is_blank(text):
            raise BenchmarkError(f"{where(frame, index, 'question')}: empty question")
        published = parse_options(record["options"], where(frame, index, "options"))
        selections = parse_selections(record["selections"], where(frame, index, "selections"))
        question_id = f"GOQA-{index + 1:04d}"
        asked = [i for i, option in enumerate(published)
                 if not any(pattern.search(option) for pattern in patterns)]  # fmt: skip
        if len(asked) < 2:
            notes.bad_row(question_id, where(frame, index, "options"),
                          f"fewer than two substantive options in {published}")  # fmt: skip
            continue
        if len(asked) < len(published):
            left_out = [option for i, option in enumerate(published) if i not in asked]
            notes.note("repaired", "non-substantive options", question_id,
                       where(frame, index, "options"),
                       f"not asked: {', '.join(left_out)} (their share kept as "
                       "nonsubstantive_share, the others renormalised)")  # fmt: skip
        texts = [published[i] for i in asked]
        codes = list(range(1, len(texts) + 1))
        source = record.get("source")
        questions.append(
            {
                "question_id": question_id,
                "source": "GlobalOpinionQA" if is_blank(source) else f"GOQA-{source}",
                "text_en": str(text).strip(),
                "scale_min": 1,
                "scale_max": len(texts),
                "scale_type": scale_type,
                "category": None if is_blank(source) else str(source),
                "subcategory": None,
                "options": labelled_options(codes, option_labels(len(texts), "letter"), texts),
                "show_options": True,
                "gold": None,
            }
        )
        for country, shares in selections.items():
            at = f"{where(frame, index, 'selections')} ({country})"
            if len(shares) != len(published):
                reason = f"{len(shares)} shares for {len(published)} options"
                notes.bad_row(question_id, at, reason)
                continue
            total = math.fsum(shares)
            if all(share == 0 for share in shares):
                notes.note("dropped", "no data (all-zero shares)", question_id, at,
                           f"{country}: every share is 0 (not asked there)")  # fmt: skip
                continue
            if abs(total - 1.0) > share_tolerance / 100.0 or total <= 0:
                notes.bad_row(question_id, at, f"the shares sum to {100 * total:.2f}%, not "
                              f"100% (+-{share_tolerance}); fix the row or raise the "
                              "benchmark's share_tolerance")  # fmt: skip
                continue
            substantive = [shares[i] for i in asked]
            kept = math.fsum(substantive)
            if kept <= 0:
                notes.note("dropped", "no data (all-zero shares)", question_id, at,
                           f"{country}: every substantive share is 0")  # fmt: skip
                continue
            human.extend(
                {"question_id": question_id, "country": country, "option": code,
                 "share": share / kept, "nonsubstantive_share": max(0.0, 1.0 - kept / total)}
                for code, share in zip(codes, substantive, strict=True)
            )  # fmt: skip
    questions_frame = pd.DataFrame(questions)
    questions_frame["gold"] = questions_frame["gold"].astype("Int64")
    human_frame = pd.DataFrame(
        human, columns=["question_id", "country", "option", "share", "nonsubstantive_share"]
    )
    return questions_frame, human_frame.astype({"option": "int64", "share": "float64"})


@register_benchmark("globalopinions")
class GlobalOpinions(Benchmark):
    """GlobalOpinionQA from a local export (``source``)."""

    description = "GlobalOpinionQA (Pew Global Attitudes and WVS items, Durmus et al. 2023)"
    kind = "survey"
    publisher_measure = "country_similarity"
    schema = "globalopinions.schema.yaml"
    hub_files = ("data/global_opinions.csv",)

    def read(self, files: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
        keep = self.options.get("keep_nonsubstantive")
        patterns = () if keep else self.options.get("nonsubstantive", ())
        return read_globalopinions(
            files["source"], self.options["share_tolerance"], self.options["scale_type"], self,
            patterns,
        )  # fmt: skip
