"""Rule ratings_sensitivity: culturally sensitive items by the Bayesian rule of Saakyan,
Rastogi & Aroyo (2026): per (item, quadrant) posteriors H and S, the items, their share and
the share over a grid of thresholds."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis.ratings.sensitivity import (
    quadrant_posteriors,
    sensitive_items,
    sensitive_share,
    threshold_grid,
)
from culturalign.io.files import write_csv_atomic
from culturalign.io.tables import write_table


def main(snakemake):
    settings = snakemake.params.settings
    posteriors = quadrant_posteriors(
        pd.read_parquet(snakemake.input.ratings),
        pd.read_parquet(snakemake.input.raters),
        tau=settings["tau_majority"],
        min_ratings=settings["min_ratings"],
        min_groups=settings["min_groups"],
        demographics=settings["demographics"],
    )
    write_table(posteriors, snakemake.output.posteriors)
    items = sensitive_items(posteriors, settings["s_threshold"])
    write_csv_atomic(items, snakemake.output.sensitive)
    grid = settings["threshold_grid"]
    write_csv_atomic(threshold_grid(posteriors, grid["s_thresholds"], grid["taus"]),
                     snakemake.output.grid)  # fmt: skip
    share = sensitive_share(items)
    logging.getLogger("culturalign").info(
        "%d of %d testable items culturally sensitive (share %s; %d items in all)",
        share["n_sensitive"], share["n_testable"], share["share"], share["n_items"],
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
