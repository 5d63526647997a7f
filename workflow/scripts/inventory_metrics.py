"""Rule inventory_metrics: Hofstede dimension indices per model cell and region, compared
with reference country scores when given."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis.inventory import indices as hofstede
from culturalign.analysis.kit import MetricsSettings, in_subset, load_shards
from culturalign.analysis.survey.metrics import item_table
from culturalign.benchmarks.hofstede import read_reference
from culturalign.io.files import write_csv_atomic
from culturalign.io.tables import write_table


def main(snakemake):
    settings = MetricsSettings.from_config(snakemake.params.metrics)
    shards = load_shards(zip(snakemake.params.cells, snakemake.input.shards,
                             snakemake.input.answers, strict=True))  # fmt: skip
    shards = in_subset(shards, snakemake.params.questions)
    questions = pd.read_parquet(snakemake.input.questions)
    human = pd.read_parquet(snakemake.input.human)
    populations = pd.read_parquet(snakemake.input.populations)
    items = item_table(shards, questions, human, populations, settings,
                       snakemake.params.populations)  # fmt: skip
    scores = hofstede.item_scores(items)
    write_table(scores, snakemake.output.per_item)
    table = hofstede.indices(scores, snakemake.params.constants)
    write_csv_atomic(table, snakemake.output.indices)
    reference = None
    if hasattr(snakemake.input, "reference"):
        reference = read_reference(snakemake.input.reference, list(populations["country"]))
    comparison = (
        hofstede.compare(table, reference, settings.bootstrap_resamples, settings.seed)
        if reference is not None
        else pd.DataFrame(columns=hofstede.COMPARISON_COLUMNS)
    )
    write_csv_atomic(comparison, snakemake.output.comparison)
    summary = hofstede.summary(table, comparison, reference)
    write_csv_atomic(summary, snakemake.output.summary)
    logging.getLogger("culturalign").info(
        "%d item scores, %d indices, %d comparisons", len(scores), len(table), len(comparison)
    )


run(snakemake, main)  # noqa: F821
