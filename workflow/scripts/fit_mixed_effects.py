"""Zone mixed-effects models, LRTs and zone-variable items."""

import json
import logging

import pandas as pd
from _common import run

from culturalign.analysis.survey.zone_models import (
    COMPARISON_COLUMNS,
    StatsSettings,
    text_summary,
    zone_models,
)
from culturalign.io.files import write_csv_atomic, write_json_atomic, write_text_atomic


def main(snakemake):
    settings = StatsSettings.from_config(snakemake.params.stats)
    items = pd.read_parquet(snakemake.input.item_scores)
    zones = pd.read_parquet(snakemake.input.populations)
    result, sensitivity = zone_models(items, zones, settings, str(snakemake.input.populations))
    if not sensitivity.empty:
        sensitivity = sensitivity.assign(zone_means=sensitivity["zone_means"].map(json.dumps))
    write_csv_atomic(sensitivity, snakemake.output.sensitivity)
    comparison = pd.DataFrame(result["model_comparison"], columns=COMPARISON_COLUMNS)
    write_csv_atomic(comparison, snakemake.output.comparison)
    write_json_atomic(result, snakemake.output.json)
    write_text_atomic(text_summary(result), snakemake.output.txt)
    for row in result["lrt"]:
        logging.getLogger("culturalign").info(
            "zone LRT %s %s: chi2=%s df=%s p=%s", row["scope"], row["model"], row["chi2"],
            row["df"], row["p_value"],
        )  # fmt: skip


run(snakemake, main)  # noqa: F821
