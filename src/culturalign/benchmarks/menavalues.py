"""MENAValues (World Values Survey wave 7 and Arab Opinion Index 2022, 16 MENA countries).

The workbook has one transposed sheet: column A holds row labels, every other column is a
question.  Each country row holds strings such as
``(1.07, {'1': '93.93%', '2': '5.20%'})``: the published mean (or mode, for nominal items)
followed by the share of each answer option. The question text lists its own options, so
prompts show no separate option list; options are labelled by their numbers.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from culturalign.benchmarks import register_benchmark
from culturalign.benchmarks.base import Benchmark, labelled_options, option_labels
from culturalign.errors import BenchmarkError

COUNTRIES: tuple[str, ...] = (
    "Egypt", "Iran", "Iraq", "Jordan", "Lebanon", "Libya", "Morocco", "Turkey", "Tunisia",
    "Algeria", "Saudi Arabia", "Sudan", "Palestine", "Kuwait", "Mauritania", "Qatar",
)  # fmt: skip
"""The 16 countries of MENAValues, in the workbook's row order."""

META_ROWS: tuple[str, ...] = (
    "Source", "Sub Question", "Min", "MAX", "Scale", "Category", "Sub Category", "Full Question",
)  # fmt: skip
"""Row labels that precede the country rows, in order."""

SOURCES = {"WVS 7": "WVS-7", "The 2022 Arab Opinion Index": "AOI-2022"}
SCALE_TYPES = {"y": "ordinal", "s": "ordinal", "n": "nominal"}
NON_SUBSTANTIVE_CODE = 0
SHARE_TOLERANCE = 0.005
"""A cell's shares (non-substantive code included) must sum to 100% within 0.5 points."""

_CELL = re.compile(r"^\(\s*(?P<head>[^,{]*?)\s*,\s*(?P<dist>\{.*\})\s*\)$", re.DOTALL)
_NO_DATA = re.compile(r"^(No data|No values\s*<=\s*\d+)$")
_WVS_LABEL = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*:")


@dataclass(frozen=True)
class CellDistribution:
    """One parsed (question, country) cell: substantive shares plus what was dropped."""

    published_mean: float
    shares: dict[int, float]
    nonsubstantive_share: float


def _place(path: Path, row: int, label: str, col: int) -> str:
    return f"{path}: row {row} ('{label}'), column {get_column_letter(col)}"


def parse_int(value: object, where: str, key: str) -> int:
    """Read a workbook value that must be a whole number (e.g. ``4``, ``'4'``, ``4.0``)."""
    if isinstance(value, bool):
        raise BenchmarkError(f"{where}: {key} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        number = float(str(value).strip())
    except ValueError:
        raise BenchmarkError(f"{where}: {key} must be an integer, got {value!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise BenchmarkError(f"{where}: {key} must be an integer, got {value!r}")
    return int(number)


def parse_cell(
    value: object, scale_min: int, scale_max: int, where: str
) -> CellDistribution | None:
    """Parse one country cell; ``None`` when the cell carries no distribution.

    Shares are renormalised over the substantive options ``scale_min..scale_max``; the
    non-substantive code 0 (don't know / refused) is dropped and its share kept aside.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise BenchmarkError(f"{where}: cannot parse cell {value!r} (expected '(mean, {{...}})')")
    match = _CELL.match(value.strip())
    if match is None:
        raise BenchmarkError(f"{where}: cannot parse cell {value!r} (expected '(mean, {{...}})')")
    head, dist_text = match["head"], match["dist"]
    try:
        raw = ast.literal_eval(dist_text)
    except (ValueError, SyntaxError):
        raise BenchmarkError(f"{where}: cannot parse the option shares in {value!r}") from None
    if not isinstance(raw, dict):
        raise BenchmarkError(f"{where}: option shares are not a mapping in {value!r}")
    if not raw:
        if _NO_DATA.match(head):
            return None
        raise BenchmarkError(f"{where}: empty distribution with unexpected head {head!r}")
    try:
        published_mean = float(head)
    except ValueError:
        raise BenchmarkError(f"{where}: mean {head!r} is not a number in {value!r}") from None

    kept: dict[int, float] = {}
    dropped = 0.0
    for key, share_text in raw.items():
        option = parse_int(key, where, f"option key {key!r}")
        share = _parse_percent(share_text, where, option)
        if option == NON_SUBSTANTIVE_CODE and scale_min > NON_SUBSTANTIVE_CODE:
            dropped += share
            continue
        if not scale_min <= option <= scale_max:
            raise BenchmarkError(
                f"{where}: option {option} lies outside the scale [{scale_min}, {scale_max}]"
            )
        if option in kept:
            raise BenchmarkError(f"{where}: option {option} appears twice")
        kept[option] = share
    total = sum(kept.values())
    if abs(total + dropped - 1.0) > SHARE_TOLERANCE:
        raise BenchmarkError(
            f"{where}: the option shares sum to {100 * (total + dropped):.2f}%, not 100% "
            f"(+-{100 * SHARE_TOLERANCE:.1f}); fix the cell rather than renormalising silently"
        )
    if total <= 0:
        raise BenchmarkError(f"{where}: the substantive shares sum to {total}, not > 0")
    full = {option: kept.get(option, 0.0) / total for option in range(scale_min, scale_max + 1)}
    return CellDistribution(published_mean, full, dropped / (total + dropped))


def _parse_percent(text: object, where: str, option: int) -> float:
    raw = str(text).strip()
    try:
        share = float(raw.removesuffix("%"))
    except ValueError:
        raise BenchmarkError(
            f"{where}: share {text!r} of option {option} is not a number"
        ) from None
    if not math.isfinite(share) or share < 0:
        raise BenchmarkError(f"{where}: share {text!r} of option {option} is negative")
    return share / 100.0 if raw.endswith("%") else share


def _question_id(source: str, sub_question: object, code: int, where: str) -> str:
    if source == "WVS-7":
        match = _WVS_LABEL.match(str(sub_question or ""))
        if match is None:
            raise BenchmarkError(
                f"{where}: WVS item needs a 'Sub Question' label like 'Q1: ...', "
                f"got {sub_question!r}"
            )
        return f"WVS-{match[1]}"
    return f"AOI-{code:04d}"


def read_rows(path: Path) -> list[tuple[object, ...]]:
    """All rows of the workbook's first sheet, as tuples of cell values."""
    if not path.is_file():
        raise BenchmarkError(f"{path}: benchmark workbook not found")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise BenchmarkError(f"{path}: cannot read the workbook ({exc})") from exc
    try:
        return [tuple(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()


def parse_benchmark(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the ``(questions, human)`` tables of the workbook (docs/architecture.md)."""
    path = Path(path)
    rows = read_rows(path)
    labels = [str(row[0]).strip() if row and row[0] is not None else "" for row in rows]
    n_meta = len(META_ROWS)
    for index, expected in enumerate(META_ROWS):
        found = labels[index] if index < len(labels) else "<missing>"
        if found != expected:
            raise BenchmarkError(
                f"{path}: row {index + 1}, column A: expected row label {expected!r}, "
                f"found {found!r}"
            )
    country_rows = labels[n_meta:]
    for offset, country in enumerate(country_rows):
        if country and country not in COUNTRIES:
            raise BenchmarkError(
                f"{path}: row {n_meta + offset + 1}, column A: unknown country {country!r} "
                f"(known: {', '.join(COUNTRIES)})"
            )
    if len(set(filter(None, country_rows))) != len([c for c in country_rows if c]):
        raise BenchmarkError(f"{path}: a country row appears twice in column A")

    meta = dict(zip(META_ROWS, rows[:n_meta], strict=True))
    n_columns = max(len(row) for row in rows)
    questions: list[dict[str, object]] = []
    human: list[dict[str, object]] = []
    seen_ids: dict[str, int] = {}
    for col in range(1, n_columns):
        values = {key: (row[col] if col < len(row) else None) for key, row in meta.items()}
        if all(v is None for v in values.values()):
            continue  # trailing empty column
        code = col  # 1-based question number, as in the authors' published metrics
        where = f"{path}: column {get_column_letter(col + 1)} (question {code})"
        source = SOURCES.get(str(values["Source"]).strip())
        if source is None:
            raise BenchmarkError(
                f"{_place(path, 1, 'Source', col + 1)}: unknown source {values['Source']!r}"
            )
        scale_min = parse_int(values["Min"], _place(path, 3, "Min", col + 1), "Min")
        scale_max = parse_int(values["MAX"], _place(path, 4, "MAX", col + 1), "MAX")
        if scale_min >= scale_max:
            raise BenchmarkError(
                f"{_place(path, 3, 'Min', col + 1)}: Min {scale_min} must be below MAX {scale_max}"
            )
        scale_type = SCALE_TYPES.get(str(values["Scale"]).strip().lower())
        if scale_type is None:
            raise BenchmarkError(
                f"{_place(path, 5, 'Scale', col + 1)}: unknown scale {values['Scale']!r} "
                "(expected y, n or s)"
            )
        question_id = _question_id(source, values["Sub Question"], code, where)
        if question_id in seen_ids:
            raise BenchmarkError(
                f"{where}: question id {question_id} already used by "
                f"question {seen_ids[question_id]}"
            )
        seen_ids[question_id] = code
        codes = range(scale_min, scale_max + 1)
        questions.append(
            {
                "question_id": question_id,
                "code": code,
                "source": source,
                "text_en": _text(values["Full Question"]),
                "scale_min": scale_min,
                "scale_max": scale_max,
                "scale_type": scale_type,
                "category": _text(values["Category"]),
                "subcategory": _text(values["Sub Category"]),
                # the question text names its options; prompts show no separate list
                "options": labelled_options(codes, option_labels(len(codes), start=scale_min)),
                "show_options": False,
                "gold": None,
            }
        )
        for offset, country in enumerate(country_rows):
            if not country:
                continue
            row_number = n_meta + offset + 1
            cell = rows[row_number - 1][col] if col < len(rows[row_number - 1]) else None
            parsed = parse_cell(
                cell, scale_min, scale_max, _place(path, row_number, country, col + 1)
            )
            if parsed is None:
                continue
            human.extend(
                {
                    "question_id": question_id,
                    "country": country,
                    "option": option,
                    "share": share,
                    "nonsubstantive_share": parsed.nonsubstantive_share,
                    "published_mean": parsed.published_mean,
                }
                for option, share in parsed.shares.items()
            )
    if not questions:
        raise BenchmarkError(f"{path}: the workbook holds no question columns")
    frame = pd.DataFrame(questions)
    frame["gold"] = frame["gold"].astype("Int64")
    return frame, _human_frame(human)


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _human_frame(records: Iterable[dict[str, object]]) -> pd.DataFrame:
    columns = [
        "question_id",
        "country",
        "option",
        "share",
        "nonsubstantive_share",
        "published_mean",
    ]
    frame = pd.DataFrame(list(records), columns=columns)
    return frame.astype({"option": "int64", "share": "float64"})


@register_benchmark("menavalues")
class MenaValues(Benchmark):
    """The MENAValues workbook (``source``: its path; ``url`` + ``sha256``: its download)."""

    description = "MENAValues: WVS-7 and Arab Opinion Index 2022, 16 MENA countries"
    kind = "survey"
    publisher_measure = "nvas"
    schema = "menavalues.schema.yaml"

    def read(self, files: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
        return parse_benchmark(files["source"])

    def population_names(self, human: pd.DataFrame) -> list[str]:
        return list(COUNTRIES)
