"""Hofstede's Values Survey Module 2013 (VSM 2013), asked as people of a region.

Masoud et al. (2023, "Cultural Alignment in Large Language Models: An Explanatory Analysis
Based on Hofstede's Cultural Dimensions") have models answer the VSM 2013 as people of a
country and compare the six dimension indices with Hofstede's country scores. The
questionnaire's wording is copyrighted (Geert Hofstede BV; free for academic research
under its terms), so culturalign ships no item text: the user supplies the items file
(``source``; CSV, TSV, Parquet or JSON lines) with one row per content item:

- ``item`` — ``m01`` .. ``m24`` (the VSM 2013 numbering; every item a formula needs must be
  there, others may be added and are asked but not scored);
- ``text`` — the item as the questionnaire words it (its introduction included if wanted);
- ``options`` — the answer scale's texts from 1 to 5 separated by ``|``, as the
  questionnaire gives them (any number of points >= 2).

- ``language`` (optional) — the row's language (ISO 639 code; blank = ``en``). The VSM 2013
  exists in many official translations: each item has its English row and may have one row
  per other language (its text and its scale's texts, the same number of points). They are
  the benchmark's own translation table, which native cells read (each region asked in its
  first language) unless ``prompts.translations`` names another.

Questions get the ids ``VSM-m01`` .. and number labels (1 .. 5) with the texts listed after
the item. Every item is asked of every region (config ``regions``, plus every population of
the ``populations`` CSV, which, when given, must then list the regions too: zones and codes
are never guessed) in the persona framing, in English and (native cells) in the region's
language. An optional ``reference`` file
holds published country scores to compare with: Hofstede's dimension data matrix as
published (``ctr;country;pdi;idv;mas;uai;ltowvs;ivr``, ``#NULL!`` for a missing score), or
the long form (CSV/TSV/...: ``country``, ``dimension`` in PDI IDV MAS UAI LTO IVR, ``score``);
it is checked on import (:func:`read_reference`).
The analysis is ``inventory``: dimension indices (:mod:`culturalign.analysis.inventory.indices`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from culturalign.benchmarks import register_benchmark
from culturalign.benchmarks.base import Benchmark, CellSpace, labelled_options, option_labels
from culturalign.benchmarks.populations import LANGUAGE_CODE, read_populations_csv
from culturalign.errors import BenchmarkError
from culturalign.io.user_files import is_blank, read_user_table, require_columns, where

DIMENSIONS: dict[str, tuple[tuple[float, str, str], ...]] = {
    "PDI": ((35, "m07", "m02"), (25, "m20", "m23")),
    "IDV": ((35, "m04", "m01"), (35, "m09", "m06")),
    "MAS": ((35, "m05", "m03"), (35, "m08", "m10")),
    "UAI": ((40, "m18", "m15"), (25, "m21", "m24")),
    "LTO": ((40, "m13", "m14"), (25, "m19", "m22")),
    "IVR": ((35, "m12", "m11"), (40, "m17", "m16")),
}
"""The VSM 2013 manual's index formulas: dimension -> terms ``(weight, item a, item b)`` of
``sum weight * (mean a - mean b)`` (plus a constant the user may set per dimension)."""
REQUIRED_ITEMS: tuple[str, ...] = tuple(
    sorted({item for terms in DIMENSIONS.values() for _, a, b in terms for item in (a, b)})
)

ITEM = re.compile(r"^m(0[1-9]|[1-9][0-9])$")
DEFAULT_REGIONS = ("United States", "China", "Saudi Arabia", "Morocco", "Iran", "Turkey")


def read_items(path: str | Path) -> pd.DataFrame:
    """The questions table of a VSM 2013 items file (its English rows)."""
    return read_items_file(path)[0]


def read_item_translations(path: str | Path) -> pd.DataFrame:
    """The items file's rows in other languages, as a translation table (question_id,
    language, text, options, provenance)."""
    return read_items_file(path)[1]


TRANSLATION_TABLE_COLUMNS = ("question_id", "language", "text", "options", "provenance")


def read_items_file(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(questions, translations)`` of a VSM 2013 items file: the English rows make the
    questions, the rows of other languages (column ``language``) their translations."""
    frame = read_user_table(path, "VSM 2013 items file")
    require_columns(frame, ("item", "text", "options"))
    rows, translated, seen = [], [], {}
    for index, record in enumerate(frame.to_dict("records")):
        item = str(record["item"]).strip().lower()
        if not ITEM.match(item):
            raise BenchmarkError(
                f"{where(frame, index, 'item')}: {record['item']!r} is not an item number "
                "m01 .. m99"
            )
        language = _item_language(record.get("language"), where(frame, index, "language"))
        if (item, language) in seen:
            raise BenchmarkError(f"{where(frame, index, 'item')}: item {item} appears twice "
                                 f"in {language} (first at {seen[item, language]})")  # fmt: skip
        seen[item, language] = where(frame, index)
        if is_blank(record["text"]):
            raise BenchmarkError(f"{where(frame, index, 'text')}: empty item text")
        texts = [t.strip() for t in str(record["options"]).split("|")]
        if len(texts) < 2 or any(not t for t in texts):
            raise BenchmarkError(
                f"{where(frame, index, 'options')}: expected the scale's option texts from 1 "
                "upwards separated by '|', none empty"
            )
        if language != "en":
            translated.append((index, item, language, str(record["text"]).strip(), texts))
            continue
        codes = list(range(1, len(texts) + 1))
        rows.append({
            "question_id": f"VSM-{item}", "source": "VSM 2013",
            "text_en": str(record["text"]).strip(),
            "scale_min": 1, "scale_max": len(texts), "scale_type": "ordinal",
            "category": next((d for d, terms in DIMENSIONS.items()
                              if any(item in (a, b) for _, a, b in terms)), None),
            "subcategory": None,
            "options": labelled_options(codes, option_labels(len(texts)), texts),
            "show_options": True, "gold": None,
        })  # fmt: skip
    missing = [item for item in REQUIRED_ITEMS if (item, "en") not in seen]
    if missing:
        needs = {d: sorted({x for _, a, b in terms for x in (a, b)}) for d, terms in
                 DIMENSIONS.items()}  # fmt: skip
        who = [f"{d} needs {', '.join(items)}" for d, items in needs.items()
               if set(items) & set(missing)]  # fmt: skip
        raise BenchmarkError(
            f"{path}: no English row for item(s) {', '.join(missing)} (column item; "
            f"{'; '.join(who)})"
        )
    questions = pd.DataFrame(rows)
    questions["gold"] = questions["gold"].astype("Int64")
    points = dict(zip(questions["question_id"], questions["scale_max"], strict=True))
    translations = []
    for index, item, language, text, texts in translated:
        question_id = f"VSM-{item}"
        if question_id not in points:
            raise BenchmarkError(f"{where(frame, index, 'item')}: a {language} row for item "
                                 f"{item}, which has no English row")  # fmt: skip
        if len(texts) != points[question_id]:
            raise BenchmarkError(
                f"{where(frame, index, 'options')}: {len(texts)} option texts in {language}, "
                f"but the English scale of item {item} has {points[question_id]}"
            )
        translations.append((question_id, language, text, " | ".join(texts), "human"))
    return questions, pd.DataFrame(translations, columns=list(TRANSLATION_TABLE_COLUMNS))


def _item_language(value: object, at: str) -> str:
    """A row's language: ``en`` when blank, else an ISO 639 code."""
    if is_blank(value):
        return "en"
    language = str(value).strip().lower()
    if not LANGUAGE_CODE.match(language):
        raise BenchmarkError(f"{at}: {value!r} is not a language code (e.g. en, ar, fa, tr)")
    return language


MATRIX_COLUMNS = {"pdi": "PDI", "idv": "IDV", "mas": "MAS", "uai": "UAI", "ltowvs": "LTO",
                  "ivr": "IVR"}  # fmt: skip
"""The dimension columns of Hofstede's published dimension data matrix (``ctr;country;pdi;
idv;mas;uai;ltowvs;ivr``), by dimension."""
MISSING_SCORES = ("", "#NULL!", "NA", "N/A")
"""How the matrix writes a score it does not have."""


def read_reference(path: str | Path, populations: list[str] | None = None) -> pd.DataFrame:
    """Reference dimension scores (``country``, ``dimension``, ``score``), from either form:

    - long: one row per (``country``, ``dimension`` in PDI … IVR, ``score``); an unknown
      dimension or country, a duplicate or a non-numeric score is an error naming file,
      line and column;
    - Hofstede's published dimension data matrix as it is (``ctr;country;pdi;idv;mas;uai;
      ltowvs;ivr``, semicolons, ``#NULL!`` where a score is missing, regions such as "Arab
      countries" beside the countries): one row per country or region; rows of countries the
      benchmark does not ask are ignored, a missing score is left out (never imputed), so
      that dimension's τ-b goes without that region.
    """
    frame = read_user_table(path, "reference scores file")
    lower = {str(column).strip().lower(): column for column in frame.columns}
    if "country" in lower and "dimension" not in lower and set(MATRIX_COLUMNS) & set(lower):
        return read_reference_matrix(frame, lower, populations)
    require_columns(frame, ("country", "dimension", "score"))
    rows, seen = [], {}
    for index, record in enumerate(frame.to_dict("records")):
        country = str(record["country"]).strip()
        dimension = str(record["dimension"]).strip().upper()
        if dimension not in DIMENSIONS:
            raise BenchmarkError(
                f"{where(frame, index, 'dimension')}: unknown dimension {record['dimension']!r} "
                f"(expected one of {', '.join(DIMENSIONS)})"
            )
        if populations is not None and country not in populations:
            raise BenchmarkError(
                f"{where(frame, index, 'country')}: unknown country {country!r} (the benchmark's "
                f"regions: {', '.join(populations)})"
            )
        score = _score(record["score"], where(frame, index, "score"))
        key = (country, dimension)
        if key in seen:
            raise BenchmarkError(f"{where(frame, index)}: a second {dimension} score for "
                                 f"{country} (first at {seen[key]})")  # fmt: skip
        seen[key] = where(frame, index)
        rows.append({"country": country, "dimension": dimension, "score": score})
    return pd.DataFrame(rows, columns=["country", "dimension", "score"])


def _score(value: object, at: str) -> float:
    try:
        score = float(str(value).strip().replace(",", "."))
    except (TypeError, ValueError):
        score = math.nan
    if not math.isfinite(score):
        raise BenchmarkError(f"{at}: {value!r} is not a number")
    return score


def read_reference_matrix(
    frame: pd.DataFrame, lower: Mapping[str, str], populations: list[str] | None
) -> pd.DataFrame:
    """The long reference table from the published dimension data matrix (see
    :func:`read_reference`)."""
    country_column = lower["country"]
    columns = {dimension: lower[name] for name, dimension in MATRIX_COLUMNS.items()
               if name in lower}  # fmt: skip
    rows, seen = [], {}
    for index, record in enumerate(frame.to_dict("records")):
        country = str(record[country_column]).strip()
        if not country or (populations is not None and country not in populations):
            continue
        if country in seen:
            raise BenchmarkError(f"{where(frame, index, country_column)}: {country!r} appears "
                                 f"twice (first at {seen[country]})")  # fmt: skip
        seen[country] = where(frame, index)
        for dimension, column in columns.items():
            value = str(record[column]).strip()
            if value.upper() in MISSING_SCORES:
                continue
            score = _score(value, where(frame, index, column))
            rows.append({"country": country, "dimension": dimension, "score": score})
    return pd.DataFrame(rows, columns=["country", "dimension", "score"])


@register_benchmark("hofstede")
class Hofstede(Benchmark):
    """The VSM 2013 content items from a user-supplied file (``source``)."""

    description = "Hofstede's VSM 2013 dimensions, answered as people of each region"
    kind = "inventory"
    cells = CellSpace(languages=("en", "native"), framings=("persona",),
                      reasoning=("zero", "cot"))  # fmt: skip
    schema = "hofstede.schema.yaml"
    templates = "resources/prompts/hofstede.yaml"
    provides_translations = True

    def source_files(self) -> dict[str, str]:
        files = super().source_files()
        if self.options.get("reference"):
            files["reference"] = str(self.options["reference"])
        return files

    def read(self, files: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
        questions = read_items(files["source"])
        if "reference" in files:
            read_reference(files["reference"], self.population_names(pd.DataFrame()))
        human = pd.DataFrame(
            columns=["question_id", "country", "option", "share", "nonsubstantive_share"]
        ).astype({"option": "int64", "share": "float64", "nonsubstantive_share": "float64"})
        return questions, human

    def translations(self, files: Mapping[str, Path]) -> pd.DataFrame:
        """The items file's rows in other languages (:func:`read_item_translations`)."""
        return read_item_translations(files["source"])

    def population_names(self, human: pd.DataFrame) -> list[str]:
        """The configured regions, then every population of the populations CSV."""
        names = list(self.options.get("regions") or DEFAULT_REGIONS)
        path = self.populations_file()
        if path and Path(path).is_file():
            rows, _ = read_populations_csv(path)
            names += [row["country"] for row in rows]
        return list(dict.fromkeys(names))

    def prompt_pairs(self, questions: pd.DataFrame, human: pd.DataFrame) -> pd.DataFrame:
        """Every item for every region."""
        regions = self.population_names(human)
        pairs = [(q, r) for q in questions["question_id"] for r in regions]
        return pd.DataFrame(pairs, columns=["question_id", "country"])
