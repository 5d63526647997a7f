"""Rule mcq_metrics: accuracy, refusals, leakage and circular accuracy of a benchmark with
gold answers."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis.kit import MetricsSettings, in_subset, load_shards
from culturalign.analysis.mcq.metrics import circular, mcq_items, summary_table
from culturalign.io.files import write_csv_atomic
from culturalign.io.tables import write_table


def main(snakemake):
    settings = MetricsSettings.from_config(snakemake.params.metrics)
    shards = load_shards(zip(snakemake.params.cells, snakemake.input.shards,
                             snakemake.input.answers, strict=True))  # fmt: skip
    shards = in_subset(shards, snakemake.params.questions)
    questions = pd.read_parquet(snakemake.input.questions)
    items = mcq_items(shards, questions, settings)
    write_table(items, snakemake.output.per_item, snakemake.input.schema)
    summary = summary_table(items, settings)
    write_csv_atomic(summary, snakemake.output.summary)
    write_csv_atomic(circular(items), snakemake.output.circular)
    overall = summary[summary["category"] == "all"]
    for row in overall.itertuples(index=False):
        logging.getLogger("culturalign").info(
            "%s %s/%s/%s: accuracy %.3f, circular %.3f over %d questions", row.model,
            row.language, row.framing, row.reasoning, row.accuracy, row.circular_accuracy,
            row.n_questions,
        )  # fmt: skip


run(snakemake, main)  # noqa: F821
