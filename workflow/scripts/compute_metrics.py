"""Score every shard of a benchmark: items.parquet, consistency.parquet, leakage examples."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis.kit import MetricsSettings, in_subset, load_shards
from culturalign.analysis.survey.metrics import (
    consistency_table,
    item_distributions,
    item_table,
    leakage_examples,
    public_items,
)
from culturalign.io.files import write_csv_atomic
from culturalign.io.tables import write_table
from culturalign.records.shard import ShardMetadata


def main(snakemake):
    log = logging.getLogger("culturalign")
    settings = MetricsSettings.from_config(snakemake.params.metrics)
    paths = list(snakemake.input.shards)
    shards = load_shards(zip(snakemake.params.cells, paths, snakemake.input.answers, strict=True))
    shards = in_subset(shards, snakemake.params.questions)
    questions = pd.read_parquet(snakemake.input.questions)
    human = pd.read_parquet(snakemake.input.human)
    populations = pd.read_parquet(snakemake.input.populations)
    items = item_table(
        shards, questions, human, populations, settings, snakemake.params.populations
    )
    consistency = consistency_table(items, settings.mode)
    metadata = {
        "metrics": {**vars(settings)},
        "shards": {path: ShardMetadata.read(path).to_metadata() for path in paths},
    }
    write_table(
        public_items(items), snakemake.output.item_scores, snakemake.input.items_schema, metadata
    )
    write_table(
        item_distributions(items),
        snakemake.output.distributions,
        snakemake.input.distributions_schema,
        metadata,
    )
    write_table(
        consistency, snakemake.output.consistency, snakemake.input.consistency_schema, metadata
    )
    examples = leakage_examples(
        shards, questions, settings.leakage_threshold,
        snakemake.params.metrics["leakage_examples"], settings.min_option_coverage,
    )  # fmt: skip
    write_csv_atomic(examples, snakemake.output.leakage)
    log.info(
        "%d items from %d shards (%d refusals, %d leakage), %d consistency rows, mode %s",
        len(items), len(paths), int(items["refusal"].sum()), int(items["leakage"].sum()),
        len(consistency), settings.mode,
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
