"""Populations: names, ISO 3166 codes, prompt languages and cultural zones.

Codes come from ``pycountry`` (ISO 3166-1), a country's main language from the Unicode
CLDR data that ``babel`` ships (the official language spoken by most people), and zones from
a user-editable CSV. The CSV (``benchmarks.<key>.populations``) has a ``country`` column,
optionally ``iso3`` and ``language`` (several separated by ``;``, the first is used by
``native`` cells), and any number of zone columns; an empty cell stays empty, never guessed.
A population that is not a country (a region, a group) keeps ``iso3`` empty and needs its
language in the CSV.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from culturalign.errors import ConfigError

LOG = logging.getLogger(__name__)

POPULATION_COLUMNS: tuple[str, ...] = ("country", "iso3", "languages")
"""Leading columns of ``benchmark/populations.parquet``; zone columns follow."""
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_RESERVED = {"country", "iso3", "language", "languages"}


FORMER_NAMES: dict[str, str] = {
    "Turkey": "TUR", "Swaziland": "SWZ", "Macedonia": "MKD", "Ivory Coast": "CIV",
    "Cape Verde": "CPV", "Czech Republic": "CZE", "Burma": "MMR",
}  # fmt: skip
"""Common names that ISO 3166 no longer lists (Turkey is Türkiye there since 2022)."""


@lru_cache(maxsize=4096)
def country_record(name_or_code: str) -> Any | None:
    """The pycountry record of a country name or ISO code, or None when it is not one.

    Exact names, official and common names and codes first, then :data:`FORMER_NAMES`; then
    pycountry's fuzzy search when it finds exactly one country (``Palestine`` -> ``Palestine,
    State of``).
    """
    import pycountry

    if name_or_code in FORMER_NAMES:
        return pycountry.countries.get(alpha_3=FORMER_NAMES[name_or_code])
    try:
        return pycountry.countries.lookup(name_or_code)
    except LookupError:
        pass
    try:
        found = pycountry.countries.search_fuzzy(name_or_code)
    except LookupError:
        return None
    return found[0] if len(found) == 1 else None


def country_by_iso3(code: str) -> Any | None:
    """The pycountry record of an ISO 3166-1 alpha-3 code."""
    import pycountry

    return pycountry.countries.get(alpha_3=code.upper())


@lru_cache(maxsize=512)
def main_language(iso2: str) -> str | None:
    """The official language with the most speakers in a territory (CLDR, via babel)."""
    from babel.core import get_global

    spoken = get_global("territory_languages").get(iso2.upper(), {})
    if not spoken:
        return None

    def rank(item: tuple[str, dict]) -> tuple[int, float]:
        status = item[1].get("official_status") or ""
        official = status in ("official", "de_facto_official")
        return (1 if official else 0, float(item[1].get("population_percent") or 0.0))

    language = max(spoken.items(), key=rank)[0]
    return language.split("_")[0].lower()


def localized_country_name(iso2: str, language: str) -> str | None:
    """The country's name in ``language`` (CLDR, via babel), or None."""
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(language.replace("-", "_")).territories.get(iso2.upper())
    except (UnknownLocaleError, ValueError):
        return None


def read_populations_csv(path: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of a populations CSV (validated) and its zone columns, errors naming file/line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: populations (zones) table not found")
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in reader.fieldnames or []]
        if "country" not in header:
            raise ConfigError(
                f"{path}: line 1: missing column 'country' "
                f"(found: {', '.join(header) or 'nothing'})"
            )
        if len(set(header)) != len(header):
            raise ConfigError(f"{path}: line 1: a column name appears twice")
        reader.fieldnames = header
        zone_columns = [name for name in header if name not in _RESERVED]
        for row in reader:
            line = reader.line_num
            if None in row:
                raise ConfigError(f"{path}: line {line}: more fields than columns")
            values = {key: (value or "").strip() for key, value in row.items()}
            country = values["country"]
            if not country:
                raise ConfigError(f"{path}: line {line}, column country: empty value")
            if country in seen:
                raise ConfigError(
                    f"{path}: line {line}: population {country!r} appears twice "
                    f"(first on line {seen[country]})"
                )
            seen[country] = line
            iso3 = values.get("iso3") or None
            if iso3 and country_by_iso3(iso3) is None:
                raise ConfigError(
                    f"{path}: line {line}, column iso3: {iso3!r} is not an ISO 3166-1 alpha-3 "
                    "code (leave it empty for a population that is not a country)"
                )
            raw_languages = values.get("languages") or values.get("language") or ""
            languages = [part.strip() for part in raw_languages.split(";") if part.strip()]
            for language in languages:
                if not LANGUAGE_CODE.match(language):
                    raise ConfigError(
                        f"{path}: line {line}, column language: {language!r} is not a language "
                        "code (ISO 639, e.g. ar, fa, tr, pt-BR)"
                    )
            rows.append(
                {
                    "country": country,
                    "iso3": iso3.upper() if iso3 else None,
                    "languages": languages,
                    "_line": line,
                    **{column: (values.get(column) or None) for column in zone_columns},
                }
            )
    return rows, zone_columns


def build_populations(
    names: Sequence[str],
    csv_path: str | Path | None,
    *,
    subset: Iterable[str] | None = None,
    default_languages: Sequence[str] = (),
    where: str = "benchmarks",
) -> pd.DataFrame:
    """The populations table for a benchmark's population ``names``.

    Rows follow the CSV's order, then the benchmark's. Every selected population (``subset``,
    or all) must have a CSV row when a CSV is given, so that no zone goes silently missing;
    the others, and every population without a CSV, get pycountry's code and babel's
    language and empty zones.
    """
    names = list(dict.fromkeys(names))
    selected = list(names) if subset is None else list(subset)
    unknown = [name for name in selected if name not in names]
    if unknown:
        raise ConfigError(
            f"config key {where}.subset.populations: unknown population(s) "
            f"{', '.join(map(repr, unknown))} (the benchmark has: {', '.join(names) or 'none'})"
        )
    csv_rows: dict[str, dict[str, Any]] = {}
    zone_columns: list[str] = []
    if csv_path is not None:
        rows, zone_columns = read_populations_csv(csv_path)
        csv_rows = {row["country"]: row for row in rows}
        missing = [name for name in selected if name not in csv_rows]
        if missing:
            raise ConfigError(
                f"{csv_path}: no row for population(s) {', '.join(map(repr, missing))} "
                f"(config key {where}.populations); add a line per population, zones may be "
                "left empty"
            )
    ordered = [name for name in csv_rows if name in names] + [n for n in names if n not in csv_rows]
    records = []
    for name in ordered:
        row = csv_rows.get(name, {})
        iso3 = row.get("iso3")
        record = country_by_iso3(iso3) if iso3 else country_record(name)
        if iso3 is None and record is not None:
            iso3 = record.alpha_3
        languages = list(row.get("languages") or [])
        if not languages and record is not None:
            language = main_language(record.alpha_2)
            languages = [language] if language else []
        if not languages:
            languages = list(default_languages)
        records.append(
            {
                "country": name,
                "iso3": iso3,
                "languages": languages,
                **{column: row.get(column) for column in zone_columns},
            }
        )
    columns = [*POPULATION_COLUMNS, *zone_columns]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for column in ("country", "iso3", *zone_columns):
        frame[column] = frame[column].astype("string")
    return frame


def native_language(populations: pd.DataFrame, country: str, where: str = "") -> str:
    """The prompt language of ``native`` cells for one population (its first language)."""
    match = populations.loc[populations["country"] == country, "languages"]
    languages = list(match.iloc[0]) if len(match) else []
    if not languages:
        raise ConfigError(
            f"{where}population {country!r} has no prompt language: add it to the populations "
            "table (column language) of its benchmark"
        )
    return str(languages[0])


def native_languages(populations: pd.DataFrame) -> dict[str, str]:
    """Population -> its ``native`` prompt language, for those that have one (table order)."""
    return {
        str(country): str(list(languages)[0])
        for country, languages in zip(populations["country"], populations["languages"], strict=True)
        if languages is not None and len(languages)
    }
