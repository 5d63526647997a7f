"""Rule ratings_lrt: the likelihood-ratio tests of every ratings benchmark's mixed models,
Benjamini-Hochberg adjusted within each family across all comparisons and benchmarks (the
paper's correction), written back per benchmark with its models table."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis.ratings.mixed_models import adjust_bh, headline, read_results
from culturalign.io.files import write_csv_atomic


def main(snakemake):
    results = {
        benchmark: read_results(models, comparisons, fixed)
        for benchmark, models, comparisons, fixed in zip(
            snakemake.params.benchmarks, snakemake.input.models, snakemake.input.comparisons,
            snakemake.input.fixed_effects, strict=True,
        )
    }  # fmt: skip
    pooled = adjust_bh(
        pd.concat(
            [r.comparisons.drop(columns="p_adjusted") for r in results.values()],
            keys=list(results),
            names=["benchmark", "row"],
        )  # fmt: skip
    )
    for benchmark, lrt_path, models_path in zip(
        snakemake.params.benchmarks, snakemake.output.lrt, snakemake.output.models, strict=True
    ):
        write_csv_atomic(pooled.loc[benchmark].reset_index(drop=True), lrt_path)
        write_csv_atomic(results[benchmark].models, models_path)
    for line in headline(pooled.reset_index(drop=True)):
        logging.getLogger("culturalign").info("%s", line.sentence)


run(snakemake, main)  # noqa: F821
