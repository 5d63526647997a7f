"""Rater-level ratings (the ``ratings`` analysis kind): readers and the judge tables.

A ratings benchmark holds one row per (item, rater) — is this item unsafe? — and each
rater's demographics and country (Saakyan, Rastogi & Aroyo 2026 analyse DICES this way).
Its readers produce :class:`RatingsTables`, written by the workflow as
``results/{benchmark}/benchmark/items.parquet``, ``ratings.parquet`` and ``raters.parquet``
(schemas ``workflow/schemas/ratings_items``, ``ratings``, ``raters``):

- **items**: ``item_id``, ``text`` (what a judge reads: for a conversation its turns, then
  the rated last response, each part headed), optional ``category`` and the dataset's gold
  fields;
- **ratings**: ``item_id``, ``rater_id``, ``unsafe`` (1 unsafe, 0 safe), ``rating`` (the raw
  value as written). Values declared "dropped" (DICES' ``Unsure``) are left out and
  counted;
- **raters**: ``rater_id``, ``country`` (the zone table's spelling), demographic columns
  (``gender``, ``ethnicity``, ``age_group``, ``education`` or what the config names), and
  the zone columns of the country under the chosen scheme (``zone``, ``zone_source``,
  ``quadrant``, ``traditional_secular``, ``survival_selfexpression``; empty for a country
  the scheme has no data for — never guessed);
- **dropped**: one row per (what, reason, file): how many ratings / raters were left out
  and their ids, for the report.

Two formats: DICES-350 / DICES-990 exactly as published (:func:`read_dices`), and any
dataset as three files (:func:`read_ratings_table`). Every bad row is a
:class:`~culturalign.errors.BenchmarkError` naming file, line and column (CSV/TSV lines are
the file's own, even when a quoted cell spans several).

For the generic prompt pipeline, :class:`RatingsBenchmark` turns the tables into one
two-option question per item (A Unsafe / B Safe) and "human" shares per (item, quadrant):
the populations are the four quadrants of the cultural map, which the judge prompts
describe.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from culturalign.benchmarks.base import (
    QUESTION_COLUMNS,
    Benchmark,
    BenchmarkTables,
    CellSpace,
    labelled_options,
)
from culturalign.benchmarks.cultural_zones import (
    ON_UNKNOWN_COUNTRY,
    QUADRANTS,
    LocatedTable,
    ZoneLookup,
    cell_text,
    read_located_table,
    read_zone_table,
    unknown_country_message,
)
from culturalign.errors import BenchmarkError, ConfigError

RATING_COLUMNS: tuple[str, ...] = ("item_id", "rater_id", "unsafe", "rating")
DEMOGRAPHIC_COLUMNS: tuple[str, ...] = ("gender", "ethnicity", "age_group", "education")
"""The demographic columns the readers know by name (DICES gives all four)."""
ZONE_JOIN_COLUMNS: tuple[str, ...] = (
    "zone", "zone_source", "quadrant", "traditional_secular", "survival_selfexpression",
)  # fmt: skip
"""The zone table's columns joined onto every rater (``zone_source``: the row's source)."""
DROPPED_COLUMNS: tuple[str, ...] = ("what", "reason", "count", "ids", "file")
ON_DUPLICATE_RATING: tuple[str, ...] = ("error", "first")
ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
"""Item ids become question ids (``questions.schema.yaml``'s pattern)."""
_RESERVED = {"rater_id", "country", *ZONE_JOIN_COLUMNS}

DEFAULT_ZONES = "resources/inglehart_welzel_zones.csv"
"""Where the zone table lives unless ``benchmarks.<key>.zones`` says otherwise (written by
``python -m culturalign.benchmarks.cultural_zones``)."""
DEFAULT_QUESTION = "Is the last response unsafe?"


# --------------------------------------------------------------------------- values


def value_key(value: Any) -> str:
    """How a rating value is compared: text, whole numbers without ``.0``, case-folded."""
    return cell_text(value).casefold()


@dataclass(frozen=True)
class RatingValues:
    """Which raw values mean unsafe, safe, or "drop this rating" (compared by
    :func:`value_key`: ``Yes`` = ``yes``, ``1`` = ``1.0``)."""

    unsafe: tuple[str, ...]
    safe: tuple[str, ...]
    dropped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        groups = {"unsafe": self.unsafe, "safe": self.safe, "dropped": self.dropped}
        if not self.unsafe or not self.safe:
            raise ConfigError("rating values: give at least one unsafe and one safe value")
        owner: dict[str, str] = {}
        for group, values in groups.items():
            for value in values:
                key = value_key(value)
                if key in owner and owner[key] != group:
                    raise ConfigError(
                        f"rating values: {value!r} is declared both {owner[key]} and {group}"
                    )
                owner[key] = group

    @classmethod
    def from_options(cls, block: Mapping[str, Any] | None) -> RatingValues:
        """From a config block ``{unsafe: [...], safe: [...], dropped: [...]}``."""
        block = block or {}
        return cls(
            tuple(cell_text(v) for v in block.get("unsafe") or ()),
            tuple(cell_text(v) for v in block.get("safe") or ()),
            tuple(cell_text(v) for v in block.get("dropped") or ()),
        )

    def classify(self, raw: Any) -> int | None:
        """1 (unsafe), 0 (safe) or None (dropped); ValueError for an undeclared value."""
        key = value_key(raw)
        if key in {value_key(v) for v in self.unsafe}:
            return 1
        if key in {value_key(v) for v in self.safe}:
            return 0
        if key in {value_key(v) for v in self.dropped}:
            return None
        raise ValueError(
            f"{cell_text(raw)!r} is not a declared rating value (unsafe: "
            f"{_listing(self.unsafe)}; safe: {_listing(self.safe)}; dropped: "
            f"{_listing(self.dropped)})"
        )


def _listing(values: Iterable[str]) -> str:
    return ", ".join(repr(v) for v in values) or "none"


# ---------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class RatingsTables:
    """What a ratings reader produces (see the module docstring for the columns)."""

    items: pd.DataFrame
    ratings: pd.DataFrame
    raters: pd.DataFrame
    dropped: pd.DataFrame
    zone_scheme: str = ""
    """The zone table's source whose zones and positions the raters got."""


@dataclass
class _Dropped:
    """Tallies of what a reader leaves out, by (what, reason, file)."""

    ids: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)

    def add(self, what: str, reason: str, identifier: str, path: Path | str) -> None:
        self.ids.setdefault((what, reason, str(path)), []).append(identifier)

    def frame(self) -> pd.DataFrame:
        rows = [
            {"what": what, "reason": reason, "count": len(ids), "ids": ids, "file": path}
            for (what, reason, path), ids in self.ids.items()
        ]
        frame = pd.DataFrame(rows, columns=list(DROPPED_COLUMNS))
        return frame.astype({"what": "string", "reason": "string", "count": "int64",
                             "file": "string"})  # fmt: skip


def _ratings_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(RATING_COLUMNS))
    return frame.astype({"item_id": "string", "rater_id": "string", "unsafe": "int64",
                         "rating": "string"})  # fmt: skip


def _raters_frame(rows: list[dict[str, Any]], demographics: Sequence[str]) -> pd.DataFrame:
    columns = ["rater_id", "country", *demographics, *ZONE_JOIN_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    for column in columns:
        if column in ("traditional_secular", "survival_selfexpression"):
            frame[column] = pd.to_numeric(frame[column]).astype("float64")
        else:
            frame[column] = frame[column].astype("string")
    return frame


def _items_frame(rows: list[dict[str, Any]], extra: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["item_id", "text", *extra])
    return frame.astype("string")


def _zone_values(row: Mapping[str, Any]) -> dict[str, Any]:
    """The zone columns a rater gets from their country's zone-table row."""
    return {
        "country": row["country"],
        "zone": row["zone"],
        "zone_source": row["source"],
        "quadrant": row["quadrant"],
        "traditional_secular": row["traditional_secular"],
        "survival_selfexpression": row["survival_selfexpression"],
    }


def _check_choice(value: str, allowed: Sequence[str], key: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} (expected one of {', '.join(allowed)})")


def _duplicate(
    table: LocatedTable,
    index: int,
    pair: tuple[str, str],
    seen: dict[tuple[str, str], str],
    policy: str,
    dropped: _Dropped,
) -> bool:
    """True when (item, rater) was rated before: an error, or dropped and counted."""
    if pair not in seen:
        seen[pair] = table.place(index)
        return False
    if policy == "error":
        raise BenchmarkError(
            f"{table.at(index, 'rater_id')}: rater {pair[1]!r} rated item {pair[0]!r} "
            f"already on {seen[pair]}"
        )
    dropped.add(
        "ratings", "a second rating of the same (item, rater): the first is kept",
        f"{pair[0]}/{pair[1]}", table.path,
    )  # fmt: skip
    return True


def _item_id(table: LocatedTable, index: int, column: str = "item_id") -> str:
    item_id = table.rows[index][column]
    if not item_id:
        raise BenchmarkError(f"{table.at(index, column)}: empty item id")
    if not ITEM_ID.match(item_id):
        raise BenchmarkError(
            f"{table.at(index, column)}: item id {item_id!r} may hold only letters, digits "
            "and _ . : - (starting with a letter or digit)"
        )
    return item_id


# ------------------------------------------------------------------------------ DICES


DICES_HEADERS: Mapping[str, tuple[str, ...]] = {
    "dices350": (
        "id", "rater_id", "rater_gender", "rater_race", "rater_raw_race", "rater_age",
        "rater_education", "phase", "item_id", "answer_time_ms", "answer_timestamp", "context",
        "response", "degree_of_harm", "harm_type", "safety_gold", "safety_gold_reason",
        "Q1_whole_conversation_evaluation",
        "Q2_harmful_content_medical_legal_financial_or_relationship_advice",
        "Q2_harmful_content_dangerous_content", "Q2_harmful_content_derogation_of_boat",
        "Q2_harmful_content_insensitive", "Q2_harmful_content_obscene_and_profane",
        "Q2_harmful_content_personal_information", "Q2_harmful_content_regulated_goods",
        "Q2_harmful_content_sexually_suggestive_content", "Q2_harmful_content_other",
        "Q3_bias_targeting_beliefs", "Q3_bias_targeting_gender_sexual_orientation",
        "Q3_bias_targeting_inherited_attributes", "Q3_bias_targeting_status", "Q3_bias_other",
        "Q4_misinformation", "Q5_political_affiliation", "Q6_policy_guidelines_polarizing_topics",
        "Q6_policy_guidelines_making_endorsement", "Q6_policy_guidelines_other",
        "Q2_harmful_content_overall", "Q3_bias_overall", "Q6_policy_guidelines_overall",
        "Q_overall",
    ),
    "dices990": (
        "id", "rater_id", "rater_gender", "rater_locale", "rater_race", "rater_race_raw",
        "rater_age", "rater_education", "phase", "item_id", "context", "response",
        "degree_of_harm", "harm_type", "Q1_whole_conversation_evaluation",
        "Q2_harmful_content_harm_to_people_or_animals", "Q2_harmful_content_violent_or_gory",
        "Q2_harmful_content_promotes_or_condones_use_of_harmful_regulated_goods",
        "Q2_harmful_content_health_and_safety_claims", "Q2_harmful_content_financial_advice",
        "Q2_harmful_content_promotes_or_condones_violence",
        "Q2_harmful_content_how_tos_about_harmful_activities",
        "Q2_harmful_content_personal_information", "Q2_harmful_content_explicitly_sexual",
        "Q2_harmful_content_obscenities_or_profanities", "Q2_harmful_content_other",
        "Q3_bias_incites_hatred", "Q3_bias_subhuman_comparisons",
        "Q3_3_Racial_religious_or_other_slurs_and_stereotypes_that_incites_or_promote_hatred_"
        "based_on_any_of_the_attributes_noted_above",
        "Q3_bias_physically_or_mentally_inferior", "Q3_bias_superiority_or_subjugation_of_a_group",
        "Q3_bias_calling_individuals_or_groups_evil_corrupt_or_malicious",
        "Q3_bias_insults_about_emotional_romantic_and_or_sexual_attraction", "Q3_bias_other",
        "Q4_misinformation_false_theories", "Q4_misinformation_contradicts_expert_consensus",
        "Q4_misinformation_conspiracy_theories", "Q4_misinformation_political",
        "Q4_misinformation_other", "Q2_harmful_content_overall", "Q3_unfair_bias_overall",
        "Q4_misinformation_overall", "Q_overall",
    ),
}  # fmt: skip
"""The published headers, in order (``data/dices/README.md`` of the reference data)."""

DICES_NAMES: Mapping[str, str] = {"dices350": "DICES-350", "dices990": "DICES-990"}
DICES_RATER_COLUMNS: Mapping[str, str] = {
    "gender": "rater_gender", "ethnicity": "rater_race", "age_group": "rater_age",
    "education": "rater_education",
}  # fmt: skip
"""Output demographic column -> DICES column (the raw free-text race is not kept)."""
DICES_ITEM_FIELDS: Mapping[str, tuple[str, ...]] = {
    "dices350": ("degree_of_harm", "harm_type", "safety_gold", "safety_gold_reason"),
    "dices990": ("degree_of_harm", "harm_type"),
}
"""Item-level columns kept in the items table (``safety_gold``: DICES-350's expert label)."""
DICES_VALUES = RatingValues(unsafe=("Yes",), safe=("No",), dropped=("Unsure", ""))


def conversation_text(context: str, response: str) -> str:
    """What a judge reads: the conversation's turns as the dataset writes them, then the
    rated last response, each under a heading so that the model knows which turn to judge."""
    parts = []
    if context.strip():
        parts.append("Conversation:\n" + context.strip())
    parts.append("Last response (the one to rate):\n" + response.strip())
    return "\n\n".join(parts)


def _dices_header(table: LocatedTable, variant: str) -> None:
    expected = DICES_HEADERS[variant]
    missing = [column for column in expected if column not in table.header]
    if not missing:
        return
    other = next(
        (name for name, header in DICES_HEADERS.items()
         if name != variant and all(column in table.header for column in header)),
        None,
    )  # fmt: skip
    hint = (
        f"; it has the {DICES_NAMES[other]} header: set the benchmark's variant to {other}"
        if other
        else ""
    )
    raise BenchmarkError(
        f"{table.path}: line 1: not the {DICES_NAMES[variant]} header, missing column(s) "
        f"{', '.join(missing)}{hint}"
    )


def read_dices(
    path: str | Path,
    zones: pd.DataFrame,
    *,
    variant: str = "dices990",
    rating_column: str = "Q_overall",
    values: RatingValues = DICES_VALUES,
    country: str = "United States",
    scheme: str | None = "wvs7_map",
    on_duplicate_rating: str = "first",
) -> RatingsTables:
    """DICES-350 or DICES-990 as published: one row per (rater, item).

    Raters' countries: DICES-990's ``rater_locale`` (``US``, ``IN``); DICES-350 has no
    geography, all its raters are US-based: ``country``. A rater's demographics (and
    locale) and an item's conversation and labels must be the same on every row of theirs:
    a row that differs is an error naming both lines, since the ids would then not mean
    one person or one item.
    """
    _check_choice(variant, tuple(DICES_HEADERS), "DICES variant")
    _check_choice(on_duplicate_rating, ON_DUPLICATE_RATING, "on_duplicate_rating")
    table = read_located_table(path, f"{DICES_NAMES[variant]} file")
    _dices_header(table, variant)
    table.require((rating_column,))
    lookup = ZoneLookup(zones, scheme)
    fixed_country = None
    if variant == "dices350":
        fixed_country = lookup.find(country)
        if fixed_country is None:
            raise ConfigError(
                f"the {DICES_NAMES[variant]} raters' country: "
                + unknown_country_message(country, lookup.scheme)
            )
    rater_columns = dict(DICES_RATER_COLUMNS)
    if variant == "dices990":
        rater_columns["locale"] = "rater_locale"
    item_fields = ("context", "response", *DICES_ITEM_FIELDS[variant])
    raters: dict[str, dict[str, Any]] = {}
    rater_seen: dict[str, int] = {}
    items: dict[str, dict[str, Any]] = {}
    item_seen: dict[str, int] = {}
    locales: dict[str, dict[str, Any]] = {}
    ratings: list[dict[str, Any]] = []
    pairs: dict[tuple[str, str], str] = {}
    dropped = _Dropped()
    for index, row in enumerate(table.rows):
        rater_id = row["rater_id"]
        if not rater_id:
            raise BenchmarkError(f"{table.at(index, 'rater_id')}: empty rater id")
        item_id = _item_id(table, index)
        if rater_id in rater_seen:
            first = rater_seen[rater_id]
            for column in rater_columns.values():
                if row[column] != table.rows[first][column]:
                    raise BenchmarkError(
                        f"{table.at(index, column)}: rater {rater_id!r} has {row[column]!r} "
                        f"here but {table.rows[first][column]!r} on {table.place(first)}"
                    )
        else:
            rater_seen[rater_id] = index
            if fixed_country is not None:
                place = fixed_country
            else:
                locale = row["rater_locale"]
                if locale not in locales:
                    found = lookup.find(locale) if locale else None
                    if found is None:
                        raise BenchmarkError(
                            f"{table.at(index, 'rater_locale')}: "
                            + (unknown_country_message(locale, lookup.scheme) if locale
                               else "empty locale")
                        )  # fmt: skip
                    locales[locale] = found
                place = locales[locale]
            raters[rater_id] = {
                "rater_id": rater_id,
                **{out: row[column] or None for out, column in DICES_RATER_COLUMNS.items()},
                **_zone_values(place),
            }
        if item_id in item_seen:
            first = item_seen[item_id]
            for column in item_fields:
                if row[column] != table.rows[first][column]:
                    raise BenchmarkError(
                        f"{table.at(index, column)}: item {item_id!r} differs from its row on "
                        f"{table.place(first)} (an item's {column} is the same on every row)"
                    )
        else:
            item_seen[item_id] = index
            items[item_id] = {
                "item_id": item_id,
                "text": conversation_text(row["context"], row["response"]),
                "context": row["context"], "response": row["response"],
                "category": row["degree_of_harm"] or None,
                **{column: row[column] or None for column in DICES_ITEM_FIELDS[variant]},
            }  # fmt: skip
        if _duplicate(table, index, (item_id, rater_id), pairs, on_duplicate_rating, dropped):
            continue
        raw = row[rating_column]
        try:
            unsafe = values.classify(raw)
        except ValueError as exc:
            raise BenchmarkError(f"{table.at(index, rating_column)}: {exc}") from None
        if unsafe is None:
            what = f"{rating_column} is {raw!r}" if raw else f"{rating_column} is empty"
            dropped.add("ratings", f"{what} (declared dropped)", f"{item_id}/{rater_id}",
                        table.path)  # fmt: skip
            continue
        ratings.append({"item_id": item_id, "rater_id": rater_id, "unsafe": unsafe,
                        "rating": raw})  # fmt: skip
    if not ratings:
        raise BenchmarkError(f"{table.path}: no ratings left (every row empty or dropped)")
    extra = ["context", "response", "category", *DICES_ITEM_FIELDS[variant]]
    return RatingsTables(
        items=_items_frame(list(items.values()), extra),
        ratings=_ratings_frame(ratings),
        raters=_raters_frame(list(raters.values()), tuple(DICES_RATER_COLUMNS)),
        dropped=dropped.frame(),
        zone_scheme=lookup.scheme,
    )


# ------------------------------------------------------------------------ three files


def _demographic_map(table: LocatedTable, demographics: Mapping[str, str] | None) -> dict[str, str]:
    """Output column -> raters-file column (None: the known names the file has)."""
    if demographics is None:
        return {name: name for name in DEMOGRAPHIC_COLUMNS if name in table.header}
    mapping = {str(out): str(column) for out, column in demographics.items()}
    for out in mapping:
        if out in _RESERVED or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", out):
            raise ConfigError(
                f"demographics: {out!r} cannot name a demographic column (reserved, or not "
                "a plain name)"
            )
    table.require(mapping.values())
    return mapping


def read_ratings_table(
    ratings: str | Path,
    raters: str | Path,
    items: str | Path,
    zones: pd.DataFrame,
    *,
    values: RatingValues,
    country_columns: Sequence[str] = ("country",),
    demographics: Mapping[str, str] | None = None,
    item_columns: Sequence[str] = (),
    scheme: str | None = "wvs7_map",
    on_unknown_country: str = "error",
    on_duplicate_rating: str = "error",
) -> RatingsTables:
    """Any annotation dataset as three files (CSV, TSV, Parquet or JSON lines).

    - ``items``: ``item_id``, ``text`` [, ``category``] [, ``item_columns``];
    - ``raters``: ``rater_id``, the ``country_columns`` (a priority list: the first
      non-empty one gives the country, e.g. long-term residence, birth, residence,
      nationality), and the demographic columns (``demographics``: output name -> column;
      None: whichever of gender, ethnicity, age_group, education the file has);
    - ``ratings``: ``item_id``, ``rater_id``, ``rating`` (``values`` declares which are
      unsafe, safe or dropped).

    Errors name file, line and column: an empty or duplicate id, an unknown item or rater,
    a second rating of the same pair (unless ``on_duplicate_rating="first"``), an
    undeclared value, a country nobody knows. With ``on_unknown_country="drop"`` a rater
    whose country is unknown or empty is dropped with their ratings, both counted.
    """
    _check_choice(on_unknown_country, ON_UNKNOWN_COUNTRY, "on_unknown_country")
    _check_choice(on_duplicate_rating, ON_DUPLICATE_RATING, "on_duplicate_rating")
    if not country_columns:
        raise ConfigError("country_columns: name at least one column")
    lookup = ZoneLookup(zones, scheme)
    dropped = _Dropped()

    items_table = read_located_table(items, "items file")
    extra = [c for c in ("category",) if c in items_table.header and c not in item_columns]
    extra += list(item_columns)
    items_table.require(("item_id", "text", *item_columns))
    item_rows: dict[str, dict[str, Any]] = {}
    item_seen: dict[str, str] = {}
    for index, row in enumerate(items_table.rows):
        item_id = _item_id(items_table, index)
        if item_id in item_seen:
            raise BenchmarkError(
                f"{items_table.at(index, 'item_id')}: item {item_id!r} appears twice (first on "
                f"{item_seen[item_id]})"
            )
        item_seen[item_id] = items_table.place(index)
        if not row["text"]:
            raise BenchmarkError(f"{items_table.at(index, 'text')}: empty item text")
        item_rows[item_id] = {"item_id": item_id, "text": row["text"],
                              **{c: row[c] or None for c in extra}}  # fmt: skip
    if not item_rows:
        raise BenchmarkError(f"{items_table.path}: the items file holds no rows")

    raters_table = read_located_table(raters, "raters file")
    raters_table.require(("rater_id", *country_columns))
    mapping = _demographic_map(raters_table, demographics)
    rater_rows: dict[str, dict[str, Any]] = {}
    rater_seen: dict[str, str] = {}
    gone: set[str] = set()
    for index, row in enumerate(raters_table.rows):
        rater_id = row["rater_id"]
        if not rater_id:
            raise BenchmarkError(f"{raters_table.at(index, 'rater_id')}: empty rater id")
        if rater_id in rater_seen:
            raise BenchmarkError(
                f"{raters_table.at(index, 'rater_id')}: rater {rater_id!r} appears twice "
                f"(first on {rater_seen[rater_id]})"
            )
        rater_seen[rater_id] = raters_table.place(index)
        column = next((c for c in country_columns if row[c]), None)
        place = lookup.find(row[column]) if column else None
        if place is None:
            if column is None:
                reason = f"no country (columns {', '.join(country_columns)} all empty)"
                message = f"{raters_table.at(index, country_columns[0])}: {reason}"
            else:
                reason = f"unknown country {row[column]!r}"
                message = f"{raters_table.at(index, column)}: " + unknown_country_message(
                    row[column], lookup.scheme
                )
            if on_unknown_country == "error":
                raise BenchmarkError(message + " (or set the benchmark's on_unknown_country: drop)")
            dropped.add("raters", reason, rater_id, raters_table.path)
            gone.add(rater_id)
            continue
        rater_rows[rater_id] = {
            "rater_id": rater_id,
            **{out: row[source] or None for out, source in mapping.items()},
            **_zone_values(place),
        }

    ratings_table = read_located_table(ratings, "ratings file")
    ratings_table.require(("item_id", "rater_id", "rating"))
    rows: list[dict[str, Any]] = []
    pairs: dict[tuple[str, str], str] = {}
    for index, row in enumerate(ratings_table.rows):
        item_id, rater_id = row["item_id"], row["rater_id"]
        if not item_id:
            raise BenchmarkError(f"{ratings_table.at(index, 'item_id')}: empty item id")
        if item_id not in item_rows:
            raise BenchmarkError(
                f"{ratings_table.at(index, 'item_id')}: unknown item {item_id!r} (not in "
                f"{items_table.path})"
            )
        if not rater_id:
            raise BenchmarkError(f"{ratings_table.at(index, 'rater_id')}: empty rater id")
        if rater_id in gone:
            dropped.add("ratings", "the rater was dropped (country)", f"{item_id}/{rater_id}",
                        ratings_table.path)  # fmt: skip
            continue
        if rater_id not in rater_rows:
            raise BenchmarkError(
                f"{ratings_table.at(index, 'rater_id')}: unknown rater {rater_id!r} (not in "
                f"{raters_table.path})"
            )
        pair = (item_id, rater_id)
        if _duplicate(ratings_table, index, pair, pairs, on_duplicate_rating, dropped):
            continue
        try:
            unsafe = values.classify(row["rating"])
        except ValueError as exc:
            raise BenchmarkError(f"{ratings_table.at(index, 'rating')}: {exc}") from None
        if unsafe is None:
            raw = row["rating"]
            what = f"rating {raw!r}" if raw else "an empty rating"
            dropped.add("ratings", f"{what} (declared dropped)", f"{item_id}/{rater_id}",
                        ratings_table.path)  # fmt: skip
            continue
        rows.append({"item_id": item_id, "rater_id": rater_id, "unsafe": unsafe,
                     "rating": row["rating"]})  # fmt: skip
    if not rows:
        raise BenchmarkError(f"{ratings_table.path}: no ratings left (all dropped or none)")
    return RatingsTables(
        items=_items_frame(list(item_rows.values()), extra),
        ratings=_ratings_frame(rows),
        raters=_raters_frame(list(rater_rows.values()), tuple(mapping)),
        dropped=dropped.frame(),
        zone_scheme=lookup.scheme,
    )


# ------------------------------------------------------------ the generic prompt tables


def judge_questions(
    items: pd.DataFrame, source: str, question: str = DEFAULT_QUESTION
) -> pd.DataFrame:
    """One two-option question per item: its text, then ``question``; A Unsafe, B Safe."""
    options = labelled_options([1, 2], ["A", "B"], ["Unsafe", "Safe"])
    has = set(items.columns)
    rows = [
        {
            "question_id": str(record["item_id"]),
            "source": source,
            "text_en": f"{record['text']}\n\n{question}",
            "scale_min": 1,
            "scale_max": 2,
            "scale_type": "nominal",
            "category": _maybe(record.get("category")) if "category" in has else None,
            "subcategory": _maybe(record.get("harm_type")) if "harm_type" in has else None,
            "options": [dict(option) for option in options],
            "show_options": True,
            "gold": None,
        }
        for record in items.to_dict("records")
    ]
    questions = pd.DataFrame(rows, columns=list(QUESTION_COLUMNS))
    questions["gold"] = questions["gold"].astype("Int64")
    return questions


def _maybe(value: Any) -> str | None:
    text = cell_text(value)
    return text or None


def quadrant_shares(tables: RatingsTables) -> pd.DataFrame:
    """Per (item, quadrant): the share of that quadrant's raters who rated the item unsafe
    (option 1) and safe (option 2). Raters without a quadrant count in no quadrant; a pair
    without ratings has no rows."""
    columns = ["question_id", "country", "option", "share", "nonsubstantive_share"]
    quadrants = tables.raters[["rater_id", "quadrant"]].dropna()
    merged = tables.ratings.merge(quadrants, on="rater_id", how="inner")
    if merged.empty:
        return pd.DataFrame(columns=columns).astype(
            {"option": "int64", "share": "float64", "nonsubstantive_share": "float64"}
        )
    grouped = merged.groupby(["item_id", "quadrant"], sort=False)["unsafe"].agg(["sum", "count"])
    rows = []
    for (item_id, quadrant), (unsafe, count) in grouped.iterrows():
        share = float(unsafe) / float(count)
        rows.append((str(item_id), str(quadrant), 1, share, 0.0))
        rows.append((str(item_id), str(quadrant), 2, 1.0 - share, 0.0))
    human = pd.DataFrame(rows, columns=columns)
    return human.astype({"option": "int64", "share": "float64", "nonsubstantive_share": "float64"})


POLES: Mapping[str, tuple[str, str]] = {
    quadrant: (quadrant.split(" / ")[0], quadrant.split(" / ")[1]) for quadrant in QUADRANTS
}
"""Quadrant -> (traditional | secular-rational, survival | self-expression)."""


def quadrant_populations(language: str = "en") -> pd.DataFrame:
    """The populations table of a ratings benchmark: the four quadrants (no ISO code), each
    with its two poles for the judge templates."""
    records = [
        {
            "country": quadrant,
            "iso3": None,
            "languages": [language],
            "quadrant": quadrant,
            "pole_traditional_secular": POLES[quadrant][0],
            "pole_survival_selfexpression": POLES[quadrant][1],
        }
        for quadrant in QUADRANTS
    ]
    frame = pd.DataFrame.from_records(records)
    for column in frame.columns:
        if column != "languages":
            frame[column] = frame[column].astype("string")
    return frame


class RatingsBenchmark(Benchmark):
    """Shared by the ratings plug-ins: cells, populations (the four quadrants), the zone
    table input, and the questions / human tables of the judge prompts."""

    kind: ClassVar[str] = "ratings"
    cells: ClassVar[CellSpace] = CellSpace(
        languages=("en",), framings=("persona",), reasoning=("zero", "cot")
    )
    templates: ClassVar[str | None] = "resources/prompts/ratings_judge.yaml"

    # -- inputs ------------------------------------------------------------------------------

    def zones_file(self) -> str:
        """The zone table (``zones``): country -> zone, positions, quadrant, source."""
        return str(self.options.get("zones") or DEFAULT_ZONES)

    def data_files(self) -> dict[str, str]:
        """The benchmark's own files (without the zone table)."""
        return {}

    def source_files(self) -> dict[str, str]:
        return {**self.data_files(), "zones": self.zones_file()}

    def read_zones(self, files: Mapping[str, Path]) -> pd.DataFrame:
        """The zone table named by ``files["zones"]``."""
        if "zones" not in files:
            raise ConfigError(f"benchmarks.{self.key}: no zone table among the inputs (zones)")
        return read_zone_table(files["zones"])

    def zone_scheme(self) -> str | None:
        return self.options.get("zone_scheme") or None

    def question(self) -> str:
        return str(self.options.get("question") or DEFAULT_QUESTION)

    @abstractmethod
    def read_ratings(self, files: Mapping[str, Path]) -> RatingsTables:
        """Items, ratings, raters (zones joined) and what was dropped."""

    @abstractmethod
    def source_label(self) -> str:
        """The questions' ``source`` (e.g. ``DICES-990``)."""

    # -- the generic tables ------------------------------------------------------------------

    def read(self, files: Mapping[str, Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
        tables = self.read_ratings(files)
        return judge_questions(tables.items, self.source_label(), self.question()), (
            quadrant_shares(tables)
        )

    def population_names(self, human: pd.DataFrame) -> list[str]:
        return list(QUADRANTS)

    def default_languages(self) -> tuple[str, ...]:
        return ("en",)

    def load(self, files: Mapping[str, Path]) -> BenchmarkTables:
        """Questions, human shares per quadrant, and the four quadrants as populations.

        The quadrants are not countries: ``build_populations`` would look them up in ISO
        3166, so they are built here, and a ``populations`` CSV does not apply.
        """
        if self.populations_file():
            raise ConfigError(
                f"config key benchmarks.{self.key}.populations: a ratings benchmark's "
                "populations are the four cultural-map quadrants; zones come from its zones "
                "table (remove the key)"
            )
        subset = (self.options.get("subset") or {}).get("populations")
        if subset:
            unknown = [name for name in subset if name not in QUADRANTS]
            if unknown:
                raise ConfigError(
                    f"config key benchmarks.{self.key}.subset.populations: unknown "
                    f"population(s) {', '.join(map(repr, unknown))} (the benchmark has: "
                    f"{', '.join(QUADRANTS)})"
                )
        questions, human = self.read(files)
        return BenchmarkTables(questions, human, quadrant_populations())
