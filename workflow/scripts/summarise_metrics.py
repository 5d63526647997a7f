"""Bootstrap summaries per cell and the paired findings tables."""

import logging

import pandas as pd
from _common import run

from culturalign.findings import findings_table
from culturalign.metrics import MetricsSettings, consistency_summary, summary_table
from culturalign.stats import write_text_atomic


def main(snakemake):
    settings = MetricsSettings.from_config(snakemake.params.metrics)
    items = pd.read_parquet(snakemake.input.item_scores)
    consistency = pd.read_parquet(snakemake.input.consistency)
    summary = summary_table(items, settings)
    write_text_atomic(summary.to_csv(index=False), snakemake.output.summary)
    write_text_atomic(
        consistency_summary(consistency, settings).to_csv(index=False),
        snakemake.output.consistency_summary,
    )
    findings = findings_table(items, settings)
    write_text_atomic(findings.to_csv(index=False), snakemake.output.findings)
    logging.getLogger("culturalign").info(
        "%d cells summarised, %d findings rows (%d resamples, seed %d)",
        len(summary), len(findings), settings.bootstrap_resamples, settings.seed,
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
