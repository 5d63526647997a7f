"""The translations a benchmark's source carries: results/{benchmark}/benchmark/
translations.tsv (the format of prompts.translations)."""

import logging

from _common import run

from culturalign.benchmarks import create_benchmark
from culturalign.snakemake_rules import source_paths
from culturalign.translation.pipeline import write_tsv


def main(snakemake):
    key = snakemake.wildcards.benchmark
    plugin = create_benchmark(key, snakemake.params.options)
    table = plugin.translations(source_paths(snakemake.input, plugin))
    write_tsv(table, snakemake.output[0])
    counts = table["language"].value_counts().sort_index()
    logging.getLogger("culturalign").info(
        "%s: the source's own translations: %s", key,
        ", ".join(f"{language} {count}" for language, count in counts.items()) or "none",
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
