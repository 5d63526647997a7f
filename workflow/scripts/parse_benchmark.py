"""Parse the workbook into results/benchmark/{questions,human}.parquet."""

import logging

from _common import run

from culturalign.benchmark import parse_benchmark
from culturalign.tables import write_table


def main(snakemake):
    questions, human = parse_benchmark(snakemake.input.xlsx)
    write_table(questions, snakemake.output.questions, snakemake.input.questions_schema)
    write_table(human, snakemake.output.human, snakemake.input.human_schema)
    pairs = human.groupby(["question_id", "country"]).ngroups
    logging.getLogger("culturalign").info(
        "%d questions, %d (question, country) pairs with a distribution", len(questions), pairs
    )


run(snakemake, main)  # noqa: F821
