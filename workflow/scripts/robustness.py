"""Rule robustness: flip rates, shifts, Kendall's W, position bias and signal/noise over the
prompt variants; which questions' option lists could be reversed; robust findings."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis.kit import MetricsSettings, in_subset
from culturalign.analysis.survey.metrics import read_items
from culturalign.analysis.survey.robustness import (
    coverage_table,
    robust_findings,
    robustness_items,
    robustness_summary,
)
from culturalign.io.files import write_csv_atomic
from culturalign.io.tables import write_table
from culturalign.prompts.translation_tables import load_translations
from culturalign.prompts.variants import recognition_table


def main(snakemake):
    key = snakemake.wildcards.benchmark
    settings = MetricsSettings.from_config(snakemake.params.metrics)
    questions = pd.read_parquet(snakemake.input.questions)
    human = pd.read_parquet(snakemake.input.human)
    questions_asked = in_subset(questions, snakemake.params.questions)
    items = read_items(snakemake.input.item_scores, snakemake.input.distributions)
    per_item = robustness_items(items)
    write_table(per_item, snakemake.output.per_item, snakemake.input.schema)
    write_csv_atomic(robustness_summary(items, per_item, human, questions, settings),
                     snakemake.output.summary)  # fmt: skip
    texts = [(q.question_id, "en", q.text_en) for q in questions_asked.itertuples()
             if isinstance(q.text_en, str)]  # fmt: skip
    if snakemake.input.translations:
        table = load_translations(snakemake.input.translations[0]).frame
        asked = set(questions_asked["question_id"])
        texts += [(r.question_id, r.language, r.text) for r in table.itertuples()
                  if r.question_id in asked]  # fmt: skip
    recognition = recognition_table(questions_asked, texts)
    write_csv_atomic(coverage_table(recognition, key), snakemake.output.coverage)
    write_csv_atomic(recognition[~recognition["recognised"]], snakemake.output.unrecognised)
    write_csv_atomic(robust_findings(items, settings), snakemake.output.findings)
    logging.getLogger("culturalign").info(
        "%s: %d items over variants; %.1f%% of option lists reversible", key, len(per_item),
        100 * recognition["recognised"].mean() if len(recognition) else 0.0,
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
