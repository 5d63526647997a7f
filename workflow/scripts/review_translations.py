"""Score every round trip and merge the translations: results/{benchmark}/translations/
review.csv and table.tsv (the table the native prompts read)."""

import logging

import pandas as pd
from _common import run

from culturalign.io.files import write_csv_atomic
from culturalign.prompts.translation_tables import load_translations
from culturalign.translation.pipeline import (
    LANGUAGE_COLUMNS,
    Thresholds,
    merged_table,
    read_language_table,
    review,
    write_tsv,
)


def main(snakemake):
    frames = [read_language_table(path) for path in snakemake.input.languages]
    machine = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=list(LANGUAGE_COLUMNS))  # fmt: skip
    reviewed = review(machine, Thresholds.from_config(snakemake.params.thresholds))
    human_table = snakemake.input.translations
    human = load_translations(human_table[0]) if human_table else None
    table = merged_table(human, reviewed)
    write_csv_atomic(reviewed, snakemake.output.review, index=False)
    write_tsv(table, snakemake.output.table)
    log = logging.getLogger("culturalign")
    for (language, provenance), group in reviewed.groupby(["language", "provenance"]):
        log.info(
            "%s %s: %d checked, %d rejected, %d flagged for review, median chrF %.1f, BLEU %.1f",
            language, provenance, len(group), int((group["status"] == "rejected").sum()),
            int(group["flagged"].sum()), group["chrf"].median(), group["bleu"].median(),
        )  # fmt: skip


run(snakemake, main)  # noqa: F821
