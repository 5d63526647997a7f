"""Rule pca: countries in answer space, humans and every model × language; collapse index."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis.survey.pca import run_pca
from culturalign.io.files import write_csv_atomic
from culturalign.io.tables import write_table


def main(snakemake):
    items = pd.read_parquet(snakemake.input.item_scores)
    human = pd.read_parquet(snakemake.input.human)
    questions = pd.read_parquet(snakemake.input.questions)
    result = run_pca(
        items,
        human,
        questions,
        framing=snakemake.params.framing,
        countries=snakemake.params.populations,
        scaling=snakemake.params.scaling,
    )
    write_table(
        result.coordinates,
        snakemake.output.coordinates,
        snakemake.input.schema,
        metadata={"framing": snakemake.params.framing, "scaling": snakemake.params.scaling},
    )
    write_csv_atomic(result.collapse, snakemake.output.collapse)
    logging.getLogger("culturalign").info(
        "PCA on %d countries; explained variance %.2f, %.2f; %d model maps",
        (result.coordinates["source"] == "human").sum(),
        *result.explained,
        len(result.collapse),
    )


run(snakemake, main)  # noqa: F821
