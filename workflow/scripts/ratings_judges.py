"""Rule ratings_judges: the models as cultural-quadrant judges: P(unsafe) per (item,
quadrant, replicate), F1 against each quadrant's majority and against its culturally
sensitive items beside the "Always Unsafe" baseline, AUROC, hierarchical-bootstrap
intervals, and surrogacy."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis.kit import in_subset, load_shards
from culturalign.analysis.ratings.judge_outputs import judge_probabilities
from culturalign.analysis.ratings.summary import judge_tables
from culturalign.io.files import write_csv_atomic
from culturalign.io.tables import write_table


def main(snakemake):
    settings = snakemake.params.settings
    shards = load_shards(zip(snakemake.params.cells, snakemake.input.shards,
                             snakemake.input.answers, strict=True))  # fmt: skip
    judge, left_out = judge_probabilities(in_subset(shards, snakemake.params.questions))
    write_table(judge, snakemake.output.judge)
    scores, surrogacy, summary = judge_tables(
        judge,
        pd.read_parquet(snakemake.input.posteriors),
        pd.read_csv(snakemake.input.sensitive, dtype={"item_id": str}),
        left_out,
        resamples=settings["bootstrap_resamples"],
        seed=settings["seed"],
        threshold=settings["judge_threshold"],
    )
    write_csv_atomic(scores, snakemake.output.scores)
    write_csv_atomic(surrogacy, snakemake.output.surrogacy)
    write_csv_atomic(summary, snakemake.output.summary)
    for row in summary.itertuples(index=False):
        logging.getLogger("culturalign").info(
            "%s %s/%s/%s %s: mean F1 %.3f vs baseline %.3f over %d quadrant(s)", row.model,
            row.language, row.framing, row.reasoning, row.task, row.mean_f1,
            row.mean_baseline_f1, row.n_quadrants,
        )  # fmt: skip


run(snakemake, main)  # noqa: F821
