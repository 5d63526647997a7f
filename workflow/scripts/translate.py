"""Translate one language's planned questions and back again:
results/{benchmark}/translations/languages/{target}.tsv."""

import logging
import time
from pathlib import Path

import pandas as pd
from _common import run

from culturalign.engines import ModelSpec, load_engine
from culturalign.translation.pipeline import (
    CachedGenerator,
    Translator,
    back_translate,
    embedding_similarity,
    engine_generator,
    forward_translate,
    load_translation_prompts,
    model_identity,
    write_tsv,
)

LOG = logging.getLogger("culturalign")


def translator(spec, snakemake, max_tokens):
    """A cached, lazily started translator for one model."""
    engines = []

    def start():
        LOG.info("starting model %s (engine %s): some requests are not cached", spec.key,
                 spec.engine)  # fmt: skip
        engine = load_engine(
            spec,
            threads=snakemake.threads,
            cache_dir=snakemake.params.cache_dir,
            seed=snakemake.params.seed,
        )
        engines.append(engine)
        return engine_generator(engine, max_tokens, snakemake.params.seed)

    identity = model_identity(spec, max_tokens)
    cache = Path(snakemake.params.cache_dir) / "translations" / f"{spec.key}.sqlite"
    generate = CachedGenerator(cache, identity, start)
    return Translator(generate, spec.key, identity["revision"]), generate, engines


def main(snakemake):
    settings = snakemake.params.translation
    target = snakemake.wildcards.target
    plan = pd.read_csv(snakemake.input.plan, dtype=str, keep_default_na=False)
    plan = plan[plan["language"] == target].reset_index(drop=True)
    prompts = load_translation_prompts(snakemake.input.prompts)
    forward_key = settings["model"]
    back_key = settings.get("back_model") or forward_key
    specs = {key: ModelSpec.from_config(key, entry)
             for key, entry in snakemake.params.models.items()}  # fmt: skip
    max_tokens = settings["max_tokens"]
    started = time.perf_counter()
    forward, forward_cache, forward_engines = translator(specs[forward_key], snakemake,
                                                         max_tokens)  # fmt: skip
    rows = forward_translate(plan, prompts, forward)
    if back_key == forward_key:
        backward, back_cache, back_engines = forward, forward_cache, forward_engines
    else:
        for engine in forward_engines:
            engine.close()  # one model in memory at a time
        backward, back_cache, back_engines = translator(specs[back_key], snakemake, max_tokens)
    similarity = None
    if settings.get("embedding_model"):
        similarity = embedding_similarity(settings["embedding_model"], snakemake.threads)
    frame = back_translate(rows, prompts, backward, similarity)
    write_tsv(frame, snakemake.output[0])
    for engine in {id(e): e for e in (*forward_engines, *back_engines)}.values():
        engine.close()
    rejected = frame[frame["status"] == "rejected"]
    LOG.info(
        "%s: %d translated, %d checked, %d rejected%s; %d request(s) sent, %d from the cache, "
        "%.1f s",
        snakemake.output[0], int((plan["action"] == "translate").sum()),
        int((plan["action"] == "check").sum()), len(rejected),
        "" if rejected.empty else " (" + "; ".join(
            f"{row.question_id}: {row.reason}" for row in rejected.head(5).itertuples()) + ")",
        forward_cache.sent + (back_cache.sent if back_cache is not forward_cache else 0),
        forward_cache.cached + (back_cache.cached if back_cache is not forward_cache else 0),
        time.perf_counter() - started,
    )  # fmt: skip
    forward_cache.close()
    if back_cache is not forward_cache:
        back_cache.close()


run(snakemake, main)  # noqa: F821
