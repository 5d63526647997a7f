"""Score every shard: items.parquet, consistency.parquet and leakage examples."""

import logging
import os

import pandas as pd
from _common import run

from culturalign.metrics import (
    MetricsSettings,
    consistency_table,
    item_table,
    leakage_examples,
    load_shards,
    public_items,
)
from culturalign.tables import read_metadata, write_table


def main(snakemake):
    log = logging.getLogger("culturalign")
    settings = MetricsSettings.from_config(snakemake.params.metrics)
    cells = snakemake.params.cells
    paths = list(snakemake.input.shards)
    shards = load_shards(zip(cells, paths, strict=True))
    if snakemake.params.questions is not None:
        shards = shards[shards["question_id"].isin(snakemake.params.questions)]
    questions = pd.read_parquet(snakemake.input.questions)
    human = pd.read_parquet(snakemake.input.human)
    zones = pd.read_csv(snakemake.input.zones)
    items = item_table(shards, questions, human, zones, settings, snakemake.params.countries)
    consistency = consistency_table(items, settings.mode)
    metadata = {
        "metrics": {**vars(settings)},
        "shards": {path: read_metadata(path) for path in paths},
    }
    write_table(
        public_items(items), snakemake.output.item_scores, snakemake.input.items_schema, metadata
    )
    write_table(
        consistency, snakemake.output.consistency, snakemake.input.consistency_schema, metadata
    )
    examples = leakage_examples(
        shards, questions, settings.leakage_threshold, snakemake.params.leakage_examples
    )
    tmp = f"{snakemake.output.leakage}.part"
    examples.to_csv(tmp, index=False)
    os.replace(tmp, snakemake.output.leakage)
    log.info(
        "%d items from %d shards (%d refusals, %d leakage), %d consistency rows, mode %s",
        len(items), len(paths), int(items["refusal"].sum()), int(items["leakage"].sum()),
        len(consistency), settings.mode,
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
