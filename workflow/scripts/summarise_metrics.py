"""Bootstrap summaries per cell and the paired findings tables."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis.kit import MetricsSettings
from culturalign.analysis.survey.findings import (
    findings_by_category,
    findings_table,
    roundtrip_findings,
)
from culturalign.analysis.survey.metrics import (
    consistency_summary,
    country_similarity,
    summary_table,
)
from culturalign.io.files import write_csv_atomic


def main(snakemake):
    settings = MetricsSettings.from_config(snakemake.params.metrics)
    items = pd.read_parquet(snakemake.input.item_scores)
    consistency = pd.read_parquet(snakemake.input.consistency)
    summary = summary_table(items, settings)
    write_csv_atomic(summary, snakemake.output.summary)
    write_csv_atomic(
        consistency_summary(consistency, settings), snakemake.output.consistency_summary
    )
    findings = findings_table(items, settings)
    write_csv_atomic(findings, snakemake.output.findings)
    questions = pd.read_parquet(snakemake.input.questions)
    by_category = findings_by_category(items, questions, settings)
    write_csv_atomic(by_category, snakemake.output.findings_by_category)
    write_csv_atomic(roundtrip_findings(items, consistency, settings), snakemake.output.roundtrip)
    write_csv_atomic(country_similarity(items, settings), snakemake.output.country_similarity)
    logging.getLogger("culturalign").info(
        "%d cells summarised, %d findings rows (%d resamples, seed %d)",
        len(summary), len(findings), settings.bootstrap_resamples, settings.seed,
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
