"""Any rater-level annotation dataset as three files (plug-in ``ratings_table``).

For a safety (or any binary) annotation study with one row per (item, rater) and the
raters' demographics and country, e.g. a dataset after Saakyan, Rastogi & Aroyo (2026).
Files (CSV, TSV, Parquet or JSON lines, by extension):

- ``ratings``: ``item_id``, ``rater_id``, ``rating``; ``values`` declares which ratings
  mean unsafe, which safe, and which are dropped (and counted), e.g. ``unsafe: ["1"]``,
  ``safe: ["0"]``, ``dropped: ["unsure"]`` (compared case-insensitively; quote ``"Yes"`` and
  ``"No"`` in YAML, which reads them as booleans otherwise);
- ``raters``: ``rater_id``, the country column(s) — ``country_columns`` is a priority
  list, the first non-empty one wins (e.g. long-term residence, birth, residence,
  nationality) — and demographic columns: ``demographics`` maps output names to the file's
  columns (``{gender: sex, ethnicity: race, age_group: age_band}``); by default whichever
  of gender, ethnicity, age_group, education the file has;
- ``items``: ``item_id``, ``text`` (what a judge reads), optional ``category`` and the
  ``item_columns`` to keep (gold labels).

A country is matched to the zone table (``zones``; scheme ``zone_scheme``) through ISO 3166
names and codes and the aliases of :mod:`culturalign.benchmarks.cultural_zones`. Bad rows are
errors naming file, line and column; ``on_unknown_country: drop`` drops (and counts) raters
whose country nobody knows, with their ratings.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from culturalign.benchmarks import register_benchmark
from culturalign.benchmarks.ratings_data import (
    RatingsBenchmark,
    RatingsTables,
    RatingValues,
    read_ratings_table,
)


@register_benchmark("ratings_table")
class RatingsTable(RatingsBenchmark):
    """Three files: ``ratings``, ``raters``, ``items``."""

    description = "rater-level ratings table (ratings + raters + items files)"
    schema = "ratings_table.schema.yaml"

    def data_files(self) -> dict[str, str]:
        return {name: str(self.options[name]) for name in ("ratings", "raters", "items")}

    def downloads(self) -> dict[str, tuple[str, str]]:
        return {}

    def source_label(self) -> str:
        return "ratings table"

    def read_ratings(self, files: Mapping[str, Path]) -> RatingsTables:
        options = self.options
        return read_ratings_table(
            files["ratings"],
            files["raters"],
            files["items"],
            self.read_zones(files),
            values=RatingValues.from_options(options.get("values") or {}),
            country_columns=tuple(options.get("country_columns") or ("country",)),
            demographics=options.get("demographics"),
            item_columns=tuple(options.get("item_columns") or ()),
            scheme=self.zone_scheme(),
            on_unknown_country=str(options.get("on_unknown_country") or "error"),
            on_duplicate_rating=str(options.get("on_duplicate_rating") or "error"),
        )
