"""Zone mixed-effects models, LRTs and culturally sensitive items."""

import json
import logging

import pandas as pd
from _common import run

from culturalign.stats import (
    StatsSettings,
    text_summary,
    write_json,
    write_text_atomic,
    zone_models,
)


def main(snakemake):
    settings = StatsSettings.from_config(snakemake.params.stats)
    items = pd.read_parquet(snakemake.input.item_scores)
    zones = pd.read_csv(snakemake.input.zones)
    result, sensitivity = zone_models(items, zones, settings, str(snakemake.input.zones))
    if not sensitivity.empty:
        sensitivity = sensitivity.assign(zone_means=sensitivity["zone_means"].map(json.dumps))
    write_text_atomic(sensitivity.to_csv(index=False), snakemake.output.sensitivity)
    write_json(result, snakemake.output.json)
    write_text_atomic(text_summary(result), snakemake.output.txt)
    for row in result["lrt"]:
        logging.getLogger("culturalign").info(
            "zone LRT %s %s: chi2=%s df=%s p=%s", row["scope"], row["model"], row["chi2"],
            row["df"], row["p_value"],
        )  # fmt: skip


run(snakemake, main)  # noqa: F821
