"""Import one benchmark: its plug-in writes results/{benchmark}/benchmark/*.parquet."""

import logging

from _common import run

from culturalign.benchmarks import create_benchmark
from culturalign.benchmarks.base import check_tables, source_provenance
from culturalign.io.tables import write_table
from culturalign.snakemake_rules import source_paths


def main(snakemake):
    key = snakemake.wildcards.benchmark
    plugin = create_benchmark(key, snakemake.params.options)
    files = source_paths(snakemake.input, plugin)
    tables = plugin.load(files)
    check_tables(tables, f"benchmarks.{key}")
    metadata = {"benchmark": source_provenance(plugin, files)}
    write_table(tables.questions, snakemake.output.questions, snakemake.input.questions_schema,
                metadata)  # fmt: skip
    write_table(tables.human, snakemake.output.human, snakemake.input.human_schema, metadata)
    write_table(tables.populations, snakemake.output.populations,
                snakemake.input.populations_schema, metadata)  # fmt: skip
    write_table(tables.notes, snakemake.output.notes, snakemake.input.notes_schema, metadata)
    for (action, rule), count in tables.notes.groupby(["action", "rule"]).size().items():
        logging.getLogger("culturalign").warning("%s: %d row(s) %s (%s)", key, count, action, rule)
    pairs = tables.human.groupby(["question_id", "country"]).ngroups if len(tables.human) else 0
    logging.getLogger("culturalign").info(
        "%s (%s): %d questions, %d populations, %d (question, population) pairs with a "
        "distribution", key, plugin.name, len(tables.questions), len(tables.populations), pairs,
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
