"""Generate every cell of one model in one job (generation.jobs: model): one engine start for
all of a benchmark's shards of that model, written one by one as each cell finishes."""

import logging
import time
from dataclasses import replace

from _common import run

from culturalign.engines import ModelSpec, load_engine
from culturalign.generation.cell import run_shard
from culturalign.io.tables import write_table

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
        # the engine started once: its start-up belongs to the first shard only
        engine.startup_seconds = startup if index == 0 else 0.0
        if index:  # each cell as on a fresh engine: a shard must not depend on its job
            engine.clear_prefix_cache()
        frame, metadata = run_shard(engine, cell, prompts_path, generation)
        job = {"jobs": "model", "cells": len(snakemake.output), "index": index,
               "engine_startup_seconds": round(startup, 3)}  # fmt: skip
        metadata = replace(metadata, run={**metadata.run, "job": job})
        write_table(frame, shard_path, snakemake.input.schema, metadata.to_metadata())
        LOG.info(
            "%s: %d prompts; generation %.1f s, scoring %.1f s (%d of %d cells)",
            shard_path, len(frame), metadata.run["generation_seconds"],
            metadata.run["scoring_seconds"], index + 1, len(snakemake.output),
        )  # fmt: skip
    engine.close()
    LOG.info("%d cells of %s in %.1f s (engine start-up %.1f s, once)", len(snakemake.output),
             spec.key, time.perf_counter() - started, startup)  # fmt: skip


run(snakemake, main)  # noqa: F821
