"""Generate one cell's shard: prompts table -> engine -> results/{benchmark}/generations/..."""

import logging

from _common import run

from culturalign.engines import ModelSpec, load_engine
from culturalign.generation.cell import run_shard
from culturalign.io.tables import write_table


def main(snakemake):
    cell = dict(snakemake.wildcards.items())
    generation = snakemake.params.generation
    spec = ModelSpec.from_config(cell["model"], snakemake.params.model)
    engine = load_engine(
        spec,
        threads=snakemake.threads,
        cache_dir=snakemake.params.cache_dir,
        seed=generation["seed"],
    )
    frame, metadata = run_shard(engine, cell, snakemake.input.prompts, generation)
    write_table(frame, snakemake.output[0], snakemake.input.schema, metadata.to_metadata())
    logging.getLogger("culturalign").info(
        "%s: %d prompts; start-up %.1f s, generation %.1f s, scoring %.1f s, %.2f prompts/s",
        snakemake.output[0],
        len(frame),
        metadata.startup_seconds,
        metadata.run["generation_seconds"],
        metadata.run["scoring_seconds"],
        metadata.run["prompts_per_second"] or 0.0,
    )


run(snakemake, main)  # noqa: F821
