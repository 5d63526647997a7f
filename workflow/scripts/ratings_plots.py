"""Rule ratings_plots: the ratings benchmark's figures: raters on the cultural map, forest
plots of the mixed models' fixed effects, the threshold grid, the judges' F1."""

from pathlib import Path

import pandas as pd
from _common import run

from culturalign.analysis.ratings import figures
from culturalign.analysis.ratings.mixed_models import forest_plot, read_results
from culturalign.io.files import read_csv_or_empty as read_csv


def stem(path: str) -> str:
    return str(Path(path).with_suffix(""))


def main(snakemake):
    output = snakemake.output
    raters = pd.read_parquet(snakemake.input.raters)
    scheme = ", ".join(sorted(raters["zone_source"].dropna().unique())) or "no zones"
    figures.raters_map(raters, scheme, stem(output.ratings_raters_map))
    fixed = read_results(snakemake.input.models, snakemake.input.comparisons,
                         snakemake.input.fixed_effects).fixed_effects  # fmt: skip
    for model, name in snakemake.params.forest_models.items():
        forest_plot(fixed, model, stem(output[name]))
    figures.threshold_grid(read_csv(snakemake.input.grid), stem(output.ratings_threshold_grid))
    figures.judge_f1(read_csv(snakemake.input.scores), stem(output.ratings_judge_f1))


run(snakemake, main)  # noqa: F821
