"""Build results/{benchmark}/prompts/{language}/{framing}/{reasoning}.parquet for one cell."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis import get_kind
from culturalign.benchmarks import create_benchmark
from culturalign.io.tables import read_metadata, write_table
from culturalign.prompts.building import build_prompts, template_hash
from culturalign.prompts.templates import load_templates
from culturalign.prompts.translation_tables import load_translations
from culturalign.prompts.variants import cell_variants, sample_index, variant_questions


def main(snakemake):
    key = snakemake.wildcards.benchmark
    language = snakemake.wildcards.language
    framing = snakemake.wildcards.framing
    reasoning = snakemake.wildcards.reasoning
    options = snakemake.params.options
    plugin = create_benchmark(key, options)
    translations_path = snakemake.input.translations[0] if snakemake.input.translations else None
    questions = pd.read_parquet(snakemake.input.questions)
    human = pd.read_parquet(snakemake.input.human)
    subset = options.get("subset") or {}
    robustness = snakemake.params.robustness
    # Only kinds that analyse robustness get its variants; every kind gets its plug-in's own.
    variants = (
        cell_variants(robustness, language, framing, reasoning)
        if get_kind(plugin.kind, plugin.name).robustness_variants
        else []
    )
    pool = subset.get("questions") or questions["question_id"].tolist()
    asked = variant_questions(pool, robustness["sample"], robustness["seed"])
    frame = build_prompts(
        questions,
        plugin.prompt_pairs(questions, human),
        pd.read_parquet(snakemake.input.populations),
        load_templates(snakemake.input.templates),
        load_translations(translations_path) if translations_path else None,
        language,
        framing,
        reasoning,
        question_ids=subset.get("questions"),
        selected_populations=subset.get("populations"),
        where=f"benchmarks.{key}.subset",
        variants=variants,
        variant_questions=asked,
        benchmark_variants=plugin.extra_variants(),
    )
    metadata = {
        "template_hash": template_hash(snakemake.input.templates, translations_path),
        "templates": str(snakemake.input.templates),
        "translations": translations_path,
        "cell": {
            "benchmark": key,
            "language": language,
            "framing": framing,
            "reasoning": reasoning,
        },  # fmt: skip
        "benchmark": read_metadata(snakemake.input.questions).get("benchmark"),
        "variants": variants,
        "benchmark_variants": plugin.extra_variants(),
        # how generate samples the sample-K rows (their seed: generation.seed + K)
        "sampling_temperature": robustness["sampling_temperature"]
        if any(sample_index(variant) for variant in variants)
        else None,
        "skipped_translations": frame.attrs.get("skipped_translations", []),
    }
    write_table(frame, snakemake.output[0], snakemake.input.schema, metadata)
    logging.getLogger("culturalign").info(
        "%s %s/%s/%s: %d prompts (%s)", key, language, framing, reasoning, len(frame),
        ", ".join(f"{k}={v}" for k, v in frame["prompt_language"].value_counts().items()),
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
