"""Build results/prompts/{language}/{framing}/{reasoning}.parquet for one cell."""

import logging

import pandas as pd
from _common import run

from culturalign.prompts import (
    build_prompts,
    load_country_languages,
    load_templates,
    load_translations,
    template_hash,
)
from culturalign.tables import write_table


def main(snakemake):
    language = snakemake.wildcards.language
    framing = snakemake.wildcards.framing
    reasoning = snakemake.wildcards.reasoning
    translations_path = snakemake.input.translations or None
    if isinstance(translations_path, list):
        translations_path = translations_path[0] if translations_path else None
    frame = build_prompts(
        pd.read_parquet(snakemake.input.questions),
        pd.read_parquet(snakemake.input.human),
        load_templates(snakemake.input.templates),
        load_translations(translations_path) if translations_path else None,
        language,
        framing,
        reasoning,
        snakemake.params.countries,
        question_ids=snakemake.params.questions,
        country_languages=load_country_languages(snakemake.input.zones),
    )
    metadata = {
        "template_hash": template_hash(snakemake.input.templates, translations_path),
        "templates": str(snakemake.input.templates),
        "translations": translations_path,
        "cell": {"language": language, "framing": framing, "reasoning": reasoning},
    }
    write_table(frame, snakemake.output[0], snakemake.input.schema, metadata)
    logging.getLogger("culturalign").info(
        "%s/%s/%s: %d prompts (%s)",
        language,
        framing,
        reasoning,
        len(frame),
        ", ".join(f"{k}={v}" for k, v in frame["prompt_language"].value_counts().items()),
    )


run(snakemake, main)  # noqa: F821
