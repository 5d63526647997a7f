"""Generate one cell's shard: prompts table -> engine -> results/{benchmark}/generations/..."""

import logging

import pandas as pd
from _common import run

from culturalign.engines import ModelSpec, load_engine
from culturalign.generation import run_cell, shard_metadata
from culturalign.tables import read_metadata, write_table


def main(snakemake):
    cell = dict(snakemake.wildcards.items())
    generation = snakemake.params.generation
    spec = ModelSpec.from_config(cell["model"], snakemake.params.model)
    prompts = pd.read_parquet(snakemake.input.prompts)
    engine = load_engine(
        spec,
        threads=snakemake.threads,
        cache_dir=snakemake.params.cache_dir,
        seed=generation["seed"],
    )
    frame, run_metadata = run_cell(
        engine,
        prompts,
        reasoning=cell["reasoning"],
        max_tokens=generation["max_tokens"][cell["reasoning"]],
        logprobs=generation["logprobs"],
        logprob_positions=generation["logprob_positions"],
        seed=generation["seed"],
        where=snakemake.input.prompts,
    )
    metadata = shard_metadata(engine, cell, read_metadata(snakemake.input.prompts), run_metadata)
    write_table(frame, snakemake.output[0], snakemake.input.schema, metadata)
    logging.getLogger("culturalign").info(
        "%s: %d prompts; start-up %.1f s, generation %.1f s, scoring %.1f s, %.2f prompts/s",
        snakemake.output[0],
        len(frame),
        metadata["startup_seconds"],
        metadata["generation_seconds"],
        metadata["scoring_seconds"],
        metadata["prompts_per_second"] or 0.0,
    )


run(snakemake, main)  # noqa: F821
