"""Generate every cell of one model in one job (generation.jobs: model): one engine start for
all of a benchmark's shards of that model, written one by one as each cell finishes."""

import logging
import time

import pandas as pd
from _common import run

from culturalign.engines import ModelSpec, load_engine
from culturalign.generation import run_cell, shard_metadata
from culturalign.tables import read_metadata, write_table

LOG = logging.getLogger("culturalign")


def main(snakemake):
    generation = snakemake.params.generation
    spec = ModelSpec.from_config(snakemake.params.model_key, snakemake.params.model)
    started = time.perf_counter()
    engine = load_engine(
        spec,
        threads=snakemake.threads,
        cache_dir=snakemake.params.cache_dir,
        seed=generation["seed"],
    )
    startup = engine.startup_seconds
    for index, (cell, prompts_path, shard_path) in enumerate(
        zip(snakemake.params.cells, snakemake.input.prompts, snakemake.output, strict=True)
    ):
        prompts = pd.read_parquet(prompts_path)
        frame, run_metadata = run_cell(
            engine,
            prompts,
            reasoning=cell["reasoning"],
            max_tokens=generation["max_tokens"][cell["reasoning"]],
            logprobs=generation["logprobs"],
            logprob_positions=generation["logprob_positions"],
            seed=generation["seed"],
            where=prompts_path,
        )
        # the engine started once: its start-up belongs to the first shard only
        engine.startup_seconds = startup if index == 0 else 0.0
        metadata = shard_metadata(engine, cell, read_metadata(prompts_path), run_metadata)
        metadata["job"] = {"jobs": "model", "cells": len(snakemake.output), "index": index,
                           "engine_startup_seconds": round(startup, 3)}  # fmt: skip
        write_table(frame, shard_path, snakemake.input.schema, metadata)
        LOG.info(
            "%s: %d prompts; generation %.1f s, scoring %.1f s (%d of %d cells)",
            shard_path, len(frame), metadata["generation_seconds"],
            metadata["scoring_seconds"], index + 1, len(snakemake.output),
        )  # fmt: skip
    engine.close()
    LOG.info("%d cells of %s in %.1f s (engine start-up %.1f s, once)", len(snakemake.output),
             spec.key, time.perf_counter() - started, startup)  # fmt: skip


run(snakemake, main)  # noqa: F821
