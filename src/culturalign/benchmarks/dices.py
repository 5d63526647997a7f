"""DICES: Diverse Conversational AI Safety Evaluation (Aroyo et al., NeurIPS 2023 Datasets
and Benchmarks; CC BY 4.0), as published.

Rater-level safety ratings of human–chatbot conversations, with each rater's gender,
race/ethnicity, age group and education, one CSV row per (rater, conversation). Two files
(``variant``):

- ``dices350``: 350 adversarial conversations × 123 raters; no geography (every rater is
  US-based: config ``country``);
- ``dices990``: 990 conversations, 60–70 ratings each, 173 raters in the US and India
  (``rater_locale``: ``US`` / ``IN``).

The rating read is ``Q_overall`` (config ``rating_column``): is the last response unsafe?
``Yes`` -> unsafe, ``No`` -> safe, ``Unsure`` (and an empty cell) dropped and counted (config
``values``). Items are judged as the conversation's turns (``context``) then the rated last
``response``. The files are downloaded from the dataset's repository at a pinned commit
and checked against TensorFlow Datasets' sha256 when ``source`` is absent (or point
``source`` at a local copy). The analysis is ``ratings``
(:mod:`culturalign.benchmarks.ratings_data`): zone and demographic mixed models, culturally
sensitive items per cultural-map quadrant, and models as quadrant judges.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from culturalign.benchmarks import register_benchmark
from culturalign.benchmarks.ratings_data import (
    DICES_NAMES,
    DICES_VALUES,
    RatingsBenchmark,
    RatingsTables,
    RatingValues,
    read_dices,
)

COMMIT = "c6bc01a37eace39c904eb0a3944fc6c4230a9157"
_BASE = "https://raw.githubusercontent.com/google-research-datasets/dices-dataset"


@dataclass(frozen=True)
class DicesFile:
    """One published DICES file: where it is fetched from and what it must hash to."""

    file_name: str
    url: str
    main_url: str
    """The same file on the ``main`` branch (the checksum is TFDS's pin of that file)."""
    sha256: str
    bytes: int


DICES_FILES: Mapping[str, DicesFile] = {
    "dices350": DicesFile(
        "diverse_safety_adversarial_dialog_350.csv",
        f"{_BASE}/{COMMIT}/350/diverse_safety_adversarial_dialog_350.csv",
        f"{_BASE}/main/350/diverse_safety_adversarial_dialog_350.csv",
        "63cb8620eb04e64957f9e45b1f7cb3d079c4eed8e8b28909f46e0b7038ce4301",
        31_143_485,
    ),
    "dices990": DicesFile(
        "diverse_safety_adversarial_dialog_990.csv",
        f"{_BASE}/{COMMIT}/990/diverse_safety_adversarial_dialog_990.csv",
        f"{_BASE}/main/990/diverse_safety_adversarial_dialog_990.csv",
        "14332b6391cdee80383b765c734de3bebf6d8553141ee7d2f47ef0910a12fcf7",
        50_399_432,
    ),
}
DOWNLOAD_DIR = "resources/benchmark/dices"


@register_benchmark("dices")
class Dices(RatingsBenchmark):
    """DICES-350 or DICES-990 (``variant``) from ``source`` (downloaded when absent)."""

    description = "DICES: rater-level conversational safety ratings with rater demographics"
    schema = "dices.schema.yaml"

    def variant(self) -> str:
        return str(self.options.get("variant") or "dices990")

    def source_path(self) -> str:
        """``source``, or the variant's file under ``resources/benchmark/dices/``."""
        source = self.options.get("source")
        return str(source) if source else f"{DOWNLOAD_DIR}/{DICES_FILES[self.variant()].file_name}"

    def data_files(self) -> dict[str, str]:
        return {"source": self.source_path()}

    def downloads(self) -> dict[str, tuple[str, str]]:
        """The pinned URL and checksum of the variant (or the block's own url + sha256)."""
        url, sha256 = self.options.get("url"), self.options.get("sha256")
        if url and sha256:
            return {self.source_path(): (str(url), str(sha256))}
        pinned = DICES_FILES[self.variant()]
        return {self.source_path(): (pinned.url, pinned.sha256)}

    def source_label(self) -> str:
        return DICES_NAMES[self.variant()]

    def read_ratings(self, files: Mapping[str, Path]) -> RatingsTables:
        values = self.options.get("values")
        return read_dices(
            files["source"],
            self.read_zones(files),
            variant=self.variant(),
            rating_column=str(self.options.get("rating_column") or "Q_overall"),
            values=RatingValues.from_options(values) if values else DICES_VALUES,
            country=str(self.options.get("country") or "United States"),
            scheme=self.zone_scheme(),
            on_duplicate_rating=str(self.options.get("on_duplicate_rating") or "first"),
        )
