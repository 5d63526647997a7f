"""Rule ratings_model_input: the ratings joined to their raters' zone and demographics, the
TSV the lme4 script (ratings_mixed_models.R) reads."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis.ratings.mixed_models import model_input, write_model_input


def main(snakemake):
    frame = model_input(
        pd.read_parquet(snakemake.input.ratings),
        pd.read_parquet(snakemake.input.raters),
        dataset=snakemake.wildcards.benchmark,
        demographics=snakemake.params.demographics,
        zone_column=snakemake.params.zone_column,
    )
    dropped = frame.attrs.get("dropped", {})
    write_model_input([frame], snakemake.output.tsv)
    logging.getLogger("culturalign").info(
        "%d ratings by %d raters of %d items for the mixed models; dropped: %s", len(frame),
        frame["rater_id"].nunique(), frame["item_id"].nunique(), dropped,
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
