"""List what the native cells need translated: results/{benchmark}/translations/plan.csv."""

import logging

import pandas as pd
from _common import run

from culturalign.benchmarks import create_benchmark
from culturalign.io.files import write_csv_atomic
from culturalign.prompts.translation_tables import load_translations
from culturalign.translation.pipeline import plan_translations


def main(snakemake):
    key = snakemake.wildcards.benchmark
    options = snakemake.params.options
    plugin = create_benchmark(key, options)
    questions = pd.read_parquet(snakemake.input.questions)
    human = pd.read_parquet(snakemake.input.human)
    subset = options.get("subset") or {}
    table = snakemake.input.translations
    plan = plan_translations(
        questions,
        plugin.prompt_pairs(questions, human),
        pd.read_parquet(snakemake.input.populations),
        snakemake.params.framings,
        load_translations(table[0]) if table else None,
        question_ids=subset.get("questions"),
        selected_populations=subset.get("populations"),
        check_human=snakemake.params.check_human,
        where=f"benchmarks.{key}.subset",
    )
    write_csv_atomic(plan, snakemake.output.plan, index=False)
    counts = plan.groupby(["language", "action"]).size()
    logging.getLogger("culturalign").info(
        "%s: %d (question, language) pair(s): %s", snakemake.output.plan, len(plan),
        ", ".join(f"{lang} {action} {n}" for (lang, action), n in counts.items()) or "none",
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
