"""Countries on the Inglehart–Welzel cultural map: zone, position and quadrant.

The ``ratings`` analyses group raters by the cultural region of their country (Saakyan,
Rastogi & Aroyo 2026). This module builds that country table from two public derivations of
the World Values Survey / European Values Study (see ``data/inglehart_welzel/README.md`` of
the shared reference data; their rows are never copied into the project, the table is built
from the files a user points at):

- ``wvs7_map`` — ``wvs7_map_zones.csv``: WVS wave 7 z-scores on both axes (higher = more
  secular-rational / more self-expression) and one of the eight cultural zones;
- ``ivs_latest_wave`` — ``ivs_tradagg_by_country_year.csv`` and
  ``ivs_survsagg_by_country_year.csv`` (Integrated Values Surveys factor scores per country
  and survey year, countries named in ``ivs_countries.csv``): each country's latest survey
  year. The ``survsagg`` score is *negated*: in the data a higher value means more survival
  values (Sweden 2017: -3.11), the opposite of the source's own README, and both axes must
  read "higher = secular-rational / self-expression" for the quadrants to mean anything.
  This source has no zones; its rows take the zone the WVS-7 map gives the same country
  (zones are a categorical assignment, not a position), or none.

The table (:data:`ZONE_COLUMNS`) holds one row per (country, source); ``scheme`` picks the
source whose positions and zones an analysis uses, the other stays for
:func:`compare_schemes` (how many countries change quadrant). The quadrant is
(traditional | secular-rational) x (survival | self-expression) by the signs of the two
coordinates; the map's centre is (0, 0) in both scalings. A coordinate that is missing, or
exactly 0, leaves the quadrant empty: a country on an axis is not guessed into a side.

Country names are matched through ISO 3166 (``pycountry``: names, official and common names,
alpha-2/alpha-3 codes, so DICES' ``US``/``IN`` locales work), then :data:`ISO_ALIASES`
(spellings ISO does not list: ``UK``, ``Hong Kong SAR``, ``Taiwan ROC``, ``Bosnia
Herzegovina`` …), and :data:`REGIONS` (places the surveys sample separately that have no ISO
code, matched by name only: ``Northern Ireland``, ``Germany West``, ``Kosovo`` …). No fuzzy
matching: ``pycountry``'s fuzzy search turns ``Hong Kong SAR`` into China and ``Northern
Ireland`` into the United Kingdom. A name that neither ISO 3166 nor the table knows is an
error naming it (or dropped, when the caller says ``on_unknown_country="drop"``); a real
country without data is kept with empty values.

A user may edit the table (CSV/TSV in the same columns) and point the benchmark's ``zones``
key at it: :func:`read_zone_table` checks it with errors naming file, line and column.
``python -m culturalign.benchmarks.cultural_zones SOURCE_DIR OUT.csv`` writes the table.

:func:`read_located_table` (a CSV reader that keeps each record's first line, for files
whose quoted cells hold newlines) is shared with :mod:`culturalign.benchmarks.ratings_data`.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from culturalign.benchmarks.populations import FORMER_NAMES
from culturalign.errors import BenchmarkError, ConfigError
from culturalign.io.user_files import FORMATS, is_blank, read_user_table

SCHEMES: tuple[str, ...] = ("wvs7_map", "ivs_latest_wave")
"""The built-in zone schemes (the ``source`` values of the rows :func:`build_zone_table`
writes)."""

QUADRANTS: tuple[str, ...] = (
    "traditional / survival",
    "traditional / self-expression",
    "secular-rational / survival",
    "secular-rational / self-expression",
)
"""The four quadrants of the cultural map, in words (the populations of ratings benchmarks)."""

ZONE_COLUMNS: tuple[str, ...] = (
    "country", "iso3", "zone", "traditional_secular", "survival_selfexpression", "quadrant",
    "source", "year",
)  # fmt: skip
"""Columns of the zone table, in order."""

SOURCE_FILES: Mapping[str, str] = {
    "wvs7_map": "wvs7_map_zones.csv",
    "ivs_tradagg": "ivs_tradagg_by_country_year.csv",
    "ivs_survsagg": "ivs_survsagg_by_country_year.csv",
    "ivs_countries": "ivs_countries.csv",
}
"""File names of the two sources inside the reference-data folder."""

ON_UNKNOWN_COUNTRY: tuple[str, ...] = ("error", "drop")

ISO_ALIASES: Mapping[str, str] = {
    **{name.casefold(): code for name, code in FORMER_NAMES.items()},
    "uk": "GBR", "u.k.": "GBR", "great britain": "GBR", "britain": "GBR",
    "england": "GBR", "scotland": "GBR", "wales": "GBR",
    "usa": "USA", "u.s.": "USA", "u.s.a.": "USA", "america": "USA",
    "united states of america": "USA",
    "the united states": "USA", "the united kingdom": "GBR", "the netherlands": "NLD",
    "holland": "NLD", "russia": "RUS", "palestine": "PSE", "uae": "ARE",
    "republic of korea": "KOR", "east timor": "TLS", "dr congo": "COD", "drc": "COD",
    "democratic republic of the congo": "COD", "republic of the congo": "COG",
    "bosnia herzegovina": "BIH",
    "moldova, rep. of": "MDA", "montenegro, rep. of": "MNE",
    "hong kong sar": "HKG", "macau sar": "MAC", "macau": "MAC", "taiwan roc": "TWN",
}  # fmt: skip
"""Spellings (case-folded) ISO 3166 does not list -> ISO 3166-1 alpha-3. Those of the two
sources (``Hong Kong SAR``, ``Taiwan ROC``, ``Moldova, Rep. of`` …) and common ones of
users' files (``UK``, ``USA``). England, Scotland and Wales are in the Great Britain samples."""

REGIONS: Mapping[str, str] = {
    "northern ireland": "Northern Ireland",
    "germany west": "Germany West",
    "west germany": "Germany West",
    "northern cyprus": "Northern Cyprus",
    "kosovo": "Kosovo",
}
"""Places the surveys sample on their own that have no ISO 3166-1 code of their own (or, as
for West Germany, must not take their country's): case-folded spelling -> the name they
are matched by. They never resolve to a country code, so ``Germany`` finds the Germany row,
not West Germany's 1981 survey."""

_REGION_PREFIX = "~"


# -------------------------------------------------------------------------- country names


@dataclass(frozen=True)
class CountryName:
    """A resolved country (or region) name: the key rows are matched by."""

    key: str
    """ISO 3166-1 alpha-3, or ``~`` + the case-folded name of a place without a code."""
    iso3: str | None
    name: str
    """A display name: ISO's common name (``Iran``, ``Taiwan``) or the region's name."""


def normalise_name(name: object) -> str:
    """A name with its whitespace collapsed (the sources and users' files vary in it)."""
    return " ".join(str(name).split())


def _region_key(name: str) -> str:
    return _REGION_PREFIX + normalise_name(name).casefold()


@lru_cache(maxsize=4096)
def resolve_country(name: str) -> CountryName | None:
    """The country or region ``name`` means, or None when neither ISO 3166 nor the alias
    tables know it (exact matches only, see the module docstring)."""
    import pycountry

    text = normalise_name(name)
    folded = text.casefold()
    if not text:
        return None
    if folded in REGIONS:
        region = REGIONS[folded]
        return CountryName(_region_key(region), None, region)
    record = None
    if folded in ISO_ALIASES:
        record = pycountry.countries.get(alpha_3=ISO_ALIASES[folded])
    else:
        try:
            record = pycountry.countries.lookup(text)
        except LookupError:
            return None
    if record is None:  # an alias to a code this pycountry lacks
        return None
    display = getattr(record, "common_name", None) or record.name
    return CountryName(record.alpha_3, record.alpha_3, display)


def country_key(name: str, iso3: str | None = None) -> str:
    """The matching key of a table row: its ISO code, else what its name resolves to, else
    its own (case-folded) name."""
    if iso3:
        return iso3.upper()
    resolved = resolve_country(name)
    return resolved.key if resolved is not None else _region_key(name)


# --------------------------------------------------------------------------- quadrants


def quadrant_of(traditional_secular: object, survival_selfexpression: object) -> str | None:
    """The quadrant in words from the signs of the two coordinates (None when either is
    missing or exactly on an axis)."""
    values = []
    for value in (traditional_secular, survival_selfexpression):
        if is_blank(value):
            return None
        number = float(value)  # type: ignore[arg-type]
        if not math.isfinite(number) or number == 0.0:
            return None
        values.append(number)
    first = "secular-rational" if values[0] > 0 else "traditional"
    second = "self-expression" if values[1] > 0 else "survival"
    return f"{first} / {second}"


# ------------------------------------------------------------------ located table reading


@dataclass
class LocatedTable:
    """A user's or a source's table as text, every record with the place it came from."""

    path: Path
    header: list[str]
    rows: list[dict[str, str]]
    """Cell texts (``""`` for an empty cell), stripped of surrounding whitespace."""
    lines: list[int] | None
    """First line of each record in a text file (header = line 1); None for Parquet/JSON."""

    def place(self, index: int) -> str:
        """``line N`` (text files) or ``row N`` (Parquet / JSON lines)."""
        return f"line {self.lines[index]}" if self.lines is not None else f"row {index + 1}"

    def at(self, index: int, column: str | None = None) -> str:
        """``file: line N, column C`` (``row N`` for Parquet / JSON lines)."""
        return f"{self.path}: {self.place(index)}" + (f", column {column}" if column else "")

    def require(self, columns: Iterable[str]) -> None:
        """Raise naming the file (line 1 for text) and every missing column."""
        missing = [column for column in columns if column not in self.header]
        if missing:
            place = f"{self.path}: line 1" if self.lines is not None else str(self.path)
            raise BenchmarkError(
                f"{place}: missing column(s) {', '.join(missing)} "
                f"(found: {', '.join(self.header) or 'nothing'})"
            )


def cell_text(value: Any) -> str:
    """One cell as text: blanks as ``""``, whole floats without ``.0`` (Parquet's ints)."""
    if is_blank(value):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_located_table(path: str | Path, what: str = "table") -> LocatedTable:
    """Read CSV/TSV (RFC 4180 quoting: commas, quotes and newlines inside quoted cells) with
    each record's first line, or Parquet / JSON lines with row numbers.

    pandas' reader loses the file's line numbers as soon as a quoted cell holds a newline
    (a DICES ``context``), so text files go through :mod:`csv` here.
    """
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"{path}: {what} not found")
    kind = FORMATS.get(path.suffix.lower())
    if kind not in ("csv", "tsv"):
        frame = read_user_table(path, what)
        header = [str(column).strip() for column in frame.columns]
        rows = [
            {column: cell_text(value) for column, value in zip(header, record, strict=True)}
            for record in frame.itertuples(index=False, name=None)
        ]
        return LocatedTable(path, header, rows, None)
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    rows, lines = [], []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter="," if kind == "csv" else "\t", strict=True)
        try:
            header = [name.strip() for name in next(reader, [])]
            if not header or not any(header):
                raise BenchmarkError(f"{path}: line 1: the {what} has no header")
            duplicated = sorted({name for name in header if header.count(name) > 1})
            if duplicated:
                raise BenchmarkError(
                    f"{path}: line 1: column(s) {', '.join(duplicated)} appear twice"
                )
            start = reader.line_num + 1
            for record in reader:
                line, start = start, reader.line_num + 1
                if not record or record == [""]:
                    continue  # a blank line
                if len(record) != len(header):
                    raise BenchmarkError(
                        f"{path}: line {line}: {len(record)} fields, the header has "
                        f"{len(header)} (a comma, tab or quote out of place?)"
                    )
                rows.append({name: cell.strip() for name, cell in zip(header, record, strict=True)})
                lines.append(line)
        except csv.Error as exc:
            raise BenchmarkError(f"{path}: line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise BenchmarkError(f"{path}: not UTF-8 text ({exc})") from None
    return LocatedTable(path, header, rows, lines)


def _number(table: LocatedTable, index: int, column: str) -> float | None:
    text = table.rows[index].get(column, "")
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise BenchmarkError(f"{table.at(index, column)}: {text!r} is not a number")
    return number


def _integer(table: LocatedTable, index: int, column: str) -> int | None:
    number = _number(table, index, column)
    if number is None:
        return None
    if not number.is_integer():
        raise BenchmarkError(
            f"{table.at(index, column)}: {table.rows[index][column]!r} is not a whole year"
        )
    return int(number)


# ----------------------------------------------------------------------- building the table


def _frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The zone table's columns and types (strings nullable, year a nullable integer)."""
    frame = pd.DataFrame.from_records(list(records), columns=list(ZONE_COLUMNS))
    for column in ("country", "iso3", "zone", "quadrant", "source"):
        frame[column] = frame[column].astype("string")
    for column in ("traditional_secular", "survival_selfexpression"):
        frame[column] = pd.to_numeric(frame[column], errors="raise").astype("float64")
    frame["year"] = frame["year"].astype("Int64")
    return frame


def read_wvs7_map(path: str | Path) -> pd.DataFrame:
    """The ``wvs7_map`` rows: WVS-7 z-scores and zones as the file gives them."""
    table = read_located_table(path, "WVS-7 cultural map file")
    table.require(("country", "traditional_secular", "survival_selfexpression", "zone"))
    records, seen = [], {}
    for index, row in enumerate(table.rows):
        name = normalise_name(row["country"])
        if not name:
            raise BenchmarkError(f"{table.at(index, 'country')}: empty country name")
        resolved = resolve_country(name)
        key = resolved.key if resolved is not None else _region_key(name)
        if key in seen:
            raise BenchmarkError(
                f"{table.at(index, 'country')}: {name!r} is the same country as the one on "
                f"{seen[key]}"
            )
        seen[key] = table.place(index)
        x = _number(table, index, "traditional_secular")
        y = _number(table, index, "survival_selfexpression")
        records.append({
            "country": name, "iso3": resolved.iso3 if resolved else None,
            "zone": row["zone"] or None, "traditional_secular": x, "survival_selfexpression": y,
            "quadrant": quadrant_of(x, y), "source": "wvs7_map", "year": None,
        })  # fmt: skip
    return _frame(records)


def _ivs_scores(path: str | Path, column: str) -> dict[tuple[str, int], float]:
    table = read_located_table(path, f"IVS {column} file")
    table.require(("geo", "year", column))
    scores: dict[tuple[str, int], float] = {}
    for index, row in enumerate(table.rows):
        geo = row["geo"]
        year = _integer(table, index, "year")
        value = _number(table, index, column)
        if not geo or year is None:
            raise BenchmarkError(f"{table.at(index)}: empty geo or year")
        if (geo, year) in scores:
            raise BenchmarkError(f"{table.at(index)}: a second {column} for ({geo}, {year})")
        if value is not None:
            scores[(geo, year)] = value
    return scores


def read_ivs_latest_wave(
    tradagg: str | Path,
    survsagg: str | Path,
    countries: str | Path,
    zones: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``ivs_latest_wave`` rows: each country's latest survey year with both scores,
    ``survsagg`` negated, zones (and, for one spelling across schemes, names) taken from
    ``zones`` (e.g. :func:`read_wvs7_map`'s rows).

    The source spells some countries two ways across waves (``russia`` and
    ``russian_federation``, ``moldova`` and ``moldova_rep_of``); they are one country here,
    and its latest year wins (under that year's spelling when ``zones`` has no name for it).
    """
    names_table = read_located_table(countries, "IVS countries file")
    names_table.require(("country", "name"))
    names: dict[str, str] = {}
    for index, row in enumerate(names_table.rows):
        if not row["country"] or not row["name"]:
            raise BenchmarkError(f"{names_table.at(index)}: empty country key or name")
        names[row["country"]] = normalise_name(row["name"])
    traditional = _ivs_scores(tradagg, "tradagg")
    survival = _ivs_scores(survsagg, "survsagg")
    for geo, _ in [*traditional, *survival]:
        if geo not in names:
            raise BenchmarkError(
                f"{countries}: no name for the IVS country key {geo!r} (column country)"
            )
    order = {geo: position for position, geo in enumerate(names)}
    latest: dict[str, tuple[int, int, str]] = {}  # key -> (year, -file order, geo)
    for geo, year in sorted(set(traditional) & set(survival)):
        key = country_key(names[geo])
        candidate = (year, -order[geo], geo)
        if key not in latest or candidate > latest[key]:
            latest[key] = candidate
    zone_of: dict[str, str | None] = {}
    name_of: dict[str, str] = {}
    if zones is not None and len(zones):
        for row in zones.itertuples(index=False):
            key = country_key(str(row.country), _text(row.iso3))
            zone_of.setdefault(key, None if pd.isna(row.zone) else str(row.zone))
            name_of.setdefault(key, str(row.country))
    records = []
    for key, (year, _, geo) in sorted(latest.items(), key=lambda item: order[item[1][2]]):
        name = name_of.get(key, names[geo])
        resolved = resolve_country(name)
        x = traditional[(geo, year)]
        y = -survival[(geo, year)]  # the source's sign is flipped: higher = survival
        records.append({
            "country": name, "iso3": resolved.iso3 if resolved else None,
            "zone": zone_of.get(key), "traditional_secular": x, "survival_selfexpression": y,
            "quadrant": quadrant_of(x, y), "source": "ivs_latest_wave", "year": year,
        })  # fmt: skip
    return _frame(records)


def _source_paths(sources: str | Path | Mapping[str, str | Path]) -> dict[str, Path]:
    if isinstance(sources, Mapping):
        missing = [name for name in SOURCE_FILES if name not in sources]
        if missing:
            raise ConfigError(f"zone sources: no file for {', '.join(missing)}")
        return {name: Path(sources[name]) for name in SOURCE_FILES}
    folder = Path(sources)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: the Inglehart–Welzel reference-data folder is missing")
    return {name: folder / file_name for name, file_name in SOURCE_FILES.items()}


def build_zone_table(sources: str | Path | Mapping[str, str | Path]) -> pd.DataFrame:
    """Both schemes' rows from the reference-data folder (or a mapping of
    :data:`SOURCE_FILES` keys to paths): the ``wvs7_map`` rows, then the
    ``ivs_latest_wave`` rows."""
    paths = _source_paths(sources)
    wvs7 = read_wvs7_map(paths["wvs7_map"])
    ivs = read_ivs_latest_wave(
        paths["ivs_tradagg"], paths["ivs_survsagg"], paths["ivs_countries"], zones=wvs7
    )
    return pd.concat([wvs7, ivs], ignore_index=True)


def write_zone_table(zones: pd.DataFrame, path: str | Path) -> Path:
    """Write the table as CSV (floats round-trip exactly, empty cells for missing values)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    zones.loc[:, list(ZONE_COLUMNS)].to_csv(path, index=False)
    return path


# ------------------------------------------------------------------- a user-edited table


def _text(value: object) -> str | None:
    return None if is_blank(value) else str(value)


def read_zone_table(path: str | Path) -> pd.DataFrame:
    """A zone table a user edited (CSV/TSV, or Parquet; columns :data:`ZONE_COLUMNS`).

    Required columns: ``country``, ``zone``, ``traditional_secular``,
    ``survival_selfexpression``, ``source``; ``iso3``, ``quadrant`` and ``year`` may be
    absent. A cell may be empty (not guessed) except ``country`` and ``source``. An empty
    ``iso3`` is filled from the name where ISO 3166 knows it; an empty ``quadrant`` from the
    signs; a given quadrant must be one of :data:`QUADRANTS` and agree with the signs when
    both coordinates are there (a quadrant without coordinates is the user's assignment).
    """
    table = read_located_table(path, "zone table")
    table.require(("country", "zone", "traditional_secular", "survival_selfexpression", "source"))
    import pycountry

    records: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], str] = {}
    for index, row in enumerate(table.rows):
        name = normalise_name(row["country"])
        if not name:
            raise BenchmarkError(f"{table.at(index, 'country')}: empty country name")
        source = row["source"]
        if not source:
            raise BenchmarkError(
                f"{table.at(index, 'source')}: empty source (say where the row comes from, "
                "e.g. wvs7_map, ivs_latest_wave, or your own)"
            )
        resolved = resolve_country(name)
        iso3 = row.get("iso3", "").upper() or None
        if iso3 is not None:
            if pycountry.countries.get(alpha_3=iso3) is None:
                raise BenchmarkError(
                    f"{table.at(index, 'iso3')}: {row['iso3']!r} is not an ISO 3166-1 alpha-3 "
                    "code (leave it empty for a place without one)"
                )
            if resolved is not None and resolved.iso3 is not None and resolved.iso3 != iso3:
                raise BenchmarkError(
                    f"{table.at(index, 'iso3')}: {iso3} but {name!r} is {resolved.iso3}"
                )
        elif resolved is not None:
            iso3 = resolved.iso3
        key = (country_key(name, iso3), source)
        if key in seen:
            raise BenchmarkError(
                f"{table.at(index, 'country')}: {name!r} appears twice for source {source!r} "
                f"(first on {seen[key]})"
            )
        seen[key] = table.place(index)
        x = _number(table, index, "traditional_secular")
        y = _number(table, index, "survival_selfexpression")
        computed = quadrant_of(x, y)
        quadrant = row.get("quadrant", "") or None
        if quadrant is not None:
            if quadrant not in QUADRANTS:
                raise BenchmarkError(
                    f"{table.at(index, 'quadrant')}: {quadrant!r} is not a quadrant (one of "
                    + ", ".join(repr(q) for q in QUADRANTS)
                    + ")"
                )
            if computed is not None and quadrant != computed:
                raise BenchmarkError(
                    f"{table.at(index, 'quadrant')}: {quadrant!r}, but the coordinates "
                    f"({x}, {y}) lie in {computed!r}"
                )
        records.append({
            "country": name, "iso3": iso3, "zone": row["zone"] or None,
            "traditional_secular": x, "survival_selfexpression": y,
            "quadrant": quadrant or computed, "source": source,
            "year": _integer(table, index, "year") if "year" in table.header else None,
        })  # fmt: skip
    return _frame(records)


# ------------------------------------------------------------------ schemes and lookups


def select_scheme(zones: pd.DataFrame, scheme: str | None = None) -> pd.DataFrame:
    """The rows of one source. ``scheme`` None is allowed when the table holds one source."""
    sources = list(dict.fromkeys(zones["source"].dropna().astype(str)))
    if scheme is None:
        if len(sources) > 1:
            raise ConfigError(
                f"the zone table holds the sources {', '.join(sources)}: choose one as the "
                "zone scheme"
            )
        return zones.reset_index(drop=True)
    if scheme not in sources:
        raise ConfigError(
            f"zone scheme {scheme!r}: the zone table has no rows from it (its sources: "
            f"{', '.join(sources) or 'none'})"
        )
    return zones[zones["source"] == scheme].reset_index(drop=True)


class ZoneLookup:
    """Country names (any spelling :func:`resolve_country` knows) -> one scheme's rows."""

    def __init__(self, zones: pd.DataFrame, scheme: str | None = None) -> None:
        self.table = select_scheme(zones, scheme)
        self.scheme = scheme or (
            str(self.table["source"].iloc[0]) if len(self.table) else "(empty)"
        )
        self._rows: dict[str, dict[str, Any]] = {}
        for record in self.table.to_dict("records"):
            record = {k: (None if is_blank(v) else v) for k, v in record.items()}
            key = country_key(str(record["country"]), record["iso3"])
            if key in self._rows:
                raise ConfigError(
                    f"zone table, source {self.scheme}: {record['country']!r} and "
                    f"{self._rows[key]['country']!r} are the same country"
                )
            self._rows[key] = record

    def find(self, name: str) -> dict[str, Any] | None:
        """The scheme's row for ``name`` (a copy); an empty row (country and iso3 only) for
        a real country without data; None when neither ISO 3166 nor the table knows it."""
        resolved = resolve_country(name)
        key = resolved.key if resolved is not None else _region_key(name)
        if key in self._rows:
            return dict(self._rows[key])
        if resolved is None:
            return None
        return {
            "country": resolved.name, "iso3": resolved.iso3, "zone": None,
            "traditional_secular": None, "survival_selfexpression": None, "quadrant": None,
            "source": None, "year": None,
        }  # fmt: skip


def country_zone_table(
    zones: pd.DataFrame,
    countries: Sequence[str] | None = None,
    *,
    scheme: str | None = None,
    on_unknown_country: str = "error",
) -> tuple[pd.DataFrame, list[str]]:
    """One scheme's rows: all of them, or one per requested name (duplicates once, in the
    given order; column ``requested`` holds the name as asked, ``country`` the table's).

    A real country the scheme has no data for gets a row with empty values; a name nobody
    knows raises :class:`BenchmarkError` naming it, or with ``on_unknown_country="drop"``
    is left out and returned in the second element (the dropped names).
    """
    if on_unknown_country not in ON_UNKNOWN_COUNTRY:
        raise ConfigError(
            f"on_unknown_country: {on_unknown_country!r} (expected one of "
            f"{', '.join(ON_UNKNOWN_COUNTRY)})"
        )
    lookup = ZoneLookup(zones, scheme)
    if countries is None:
        return lookup.table.copy(), []
    records, dropped = [], []
    for name in dict.fromkeys(countries):
        row = lookup.find(name)
        if row is None:
            if on_unknown_country == "drop":
                dropped.append(name)
                continue
            raise BenchmarkError(unknown_country_message(name, lookup.scheme))
        records.append({**row, "requested": name})
    frame = _frame(records)
    frame["requested"] = pd.Series([r["requested"] for r in records], dtype="string")
    return frame, dropped


def unknown_country_message(name: str, scheme: str) -> str:
    """The error text for a name nobody knows (callers prefix file, line and column)."""
    return (
        f"unknown country {name!r}: neither ISO 3166 (pycountry) nor the zone table "
        f"(scheme {scheme}) knows it; write it as ISO does (or its alpha-2/alpha-3 code), or "
        "add a row for it to the zone table"
    )


# --------------------------------------------------------------------- comparing schemes


@dataclass(frozen=True)
class SchemeComparison:
    """How far two schemes agree on the quadrants of the countries both place."""

    scheme_a: str
    scheme_b: str
    compared: int
    """Countries with a quadrant in both schemes."""
    disagreements: pd.DataFrame
    """One row per country placed in different quadrants: country, iso3, quadrant_<a>,
    quadrant_<b>, zone_<a>, zone_<b>."""


def compare_schemes(
    zones: pd.DataFrame,
    scheme_a: str = "wvs7_map",
    scheme_b: str = "ivs_latest_wave",
    countries: Sequence[str] | None = None,
) -> SchemeComparison:
    """Compare the quadrants two schemes give (every country both place, or ``countries``;
    names no scheme knows are ignored here, the readers report them)."""
    a, b = ZoneLookup(zones, scheme_a), ZoneLookup(zones, scheme_b)
    if countries is None:
        names = [str(name) for name in a.table["country"]]
    else:
        names = list(dict.fromkeys(countries))
    rows, compared, done = [], 0, set()
    for name in names:
        row_a, row_b = a.find(name), b.find(name)
        if row_a is None or row_b is None or not row_a["quadrant"] or not row_b["quadrant"]:
            continue
        key = country_key(str(row_a["country"]), row_a["iso3"])
        if key in done:
            continue
        done.add(key)
        compared += 1
        if row_a["quadrant"] != row_b["quadrant"]:
            rows.append(
                {
                    "country": row_a["country"],
                    "iso3": row_a["iso3"],
                    f"quadrant_{scheme_a}": row_a["quadrant"],
                    f"quadrant_{scheme_b}": row_b["quadrant"],
                    f"zone_{scheme_a}": row_a["zone"],
                    f"zone_{scheme_b}": row_b["zone"],
                }
            )
    columns = ["country", "iso3", f"quadrant_{scheme_a}", f"quadrant_{scheme_b}",
               f"zone_{scheme_a}", f"zone_{scheme_b}"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns).astype("string")
    return SchemeComparison(scheme_a, scheme_b, compared, frame)


def quadrant_disagreements(
    zones: pd.DataFrame,
    scheme_a: str = "wvs7_map",
    scheme_b: str = "ivs_latest_wave",
    countries: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The countries two schemes put in different quadrants (see :func:`compare_schemes`)."""
    return compare_schemes(zones, scheme_a, scheme_b, countries).disagreements


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m culturalign.benchmarks.cultural_zones SOURCE_DIR OUT.csv``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        print("usage: python -m culturalign.benchmarks.cultural_zones SOURCE_DIR OUT.csv",
              file=sys.stderr)  # fmt: skip
        return 2
    zones = build_zone_table(args[0])
    write_zone_table(zones, args[1])
    comparison = compare_schemes(zones)
    print(
        f"{args[1]}: {len(zones)} rows; {len(comparison.disagreements)} of "
        f"{comparison.compared} countries change quadrant between {comparison.scheme_a} and "
        f"{comparison.scheme_b}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
