"""Rule sensitivity: zone-variable items from the human data, every model cell as a
triage of them, persona gain per population and the surrogate correlations."""

import logging

import pandas as pd
from _common import run

from culturalign.analysis.kit import MetricsSettings, in_subset
from culturalign.analysis.survey.metrics import read_items
from culturalign.analysis.survey.sensitivity import (
    SensitivitySettings,
    empty_outputs,
    human_sensitivity,
    model_profiles,
    persona_gain,
    surrogate_items,
    surrogate_summary,
    triage,
    zone_columns,
)
from culturalign.io.files import write_csv_atomic, write_json_atomic
from culturalign.io.tables import write_table

LOG = logging.getLogger("culturalign")


def main(snakemake):
    key = snakemake.wildcards.benchmark
    metrics = MetricsSettings.from_config(snakemake.params.metrics)
    settings = SensitivitySettings.from_config(
        snakemake.params.sensitivity, snakemake.params.stats.get("zone_column", "zone")
    )
    questions = pd.read_parquet(snakemake.input.questions)
    human = pd.read_parquet(snakemake.input.human)
    populations = pd.read_parquet(snakemake.input.populations)
    questions = in_subset(questions, snakemake.params.questions)
    human = in_subset(human, snakemake.params.questions)
    countries = snakemake.params.populations or list(populations["country"])
    items = read_items(snakemake.input.item_scores, snakemake.input.distributions)
    out = snakemake.output
    gain = persona_gain(items, metrics)
    write_csv_atomic(gain, out.persona_gain)
    per_item = surrogate_items(items)
    write_table(per_item, out.surrogate_items)
    write_csv_atomic(surrogate_summary(per_item, metrics), out.surrogate)
    summary = {"benchmark": key, "settings": settings.__dict__, "notes": []}
    if not zone_columns(populations):
        note = (f"{snakemake.input.populations} has no zone columns: no human sensitivity and "
                "no triage (add zones to the benchmark's populations CSV)")  # fmt: skip
        LOG.warning("%s", note)
        summary["notes"].append(note)
        human_table, triage_items, triage_summary = empty_outputs()
    else:
        human_table, analysis, zone_of = human_sensitivity(
            human, questions, populations, countries, settings
        )
        cells = model_profiles(items)
        LOG.info("%s: %d questions, %d testable, %d sensitive; triage over %d model cells",
                 key, len(human_table), int(human_table["testable"].sum()),
                 int(human_table["sensitive"].sum()), len(cells))  # fmt: skip
        triage_items, triage_summary = triage(analysis, cells, zone_of, settings)
    testable = human_table[human_table["testable"]]
    summary.update(
        n_questions=int(len(human_table)),
        n_testable=int(len(testable)),
        n_sensitive=int(testable["sensitive"].sum()),
        share_sensitive=float(testable["sensitive"].mean()) if len(testable) else None,
        reference_share="about 10% (Saakyan et al.; a reference, not a target)",
    )
    write_table(human_table, out.human_items, snakemake.input.human_schema)
    write_table(triage_items, out.triage_items, snakemake.input.triage_schema)
    write_csv_atomic(triage_summary, out.triage)
    write_json_atomic(summary, out.summary)


run(snakemake, main)  # noqa: F821
