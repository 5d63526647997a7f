"""Rule plots: every figure of a survey benchmark's report, PNG and SVG, under
results/{benchmark}/figures/."""

import json
import logging
from pathlib import Path

import pandas as pd
from _common import run

from culturalign.analysis.survey import figures as plots
from culturalign.io.files import read_csv_or_empty as read_csv


def main(snakemake):
    figure_dir = Path(snakemake.params.figure_dir)

    def stem(name: str) -> str:
        return str(figure_dir / name)

    items = pd.read_parquet(snakemake.input.item_scores)
    coordinates = pd.read_parquet(snakemake.input.coordinates)
    collapse = read_csv(snakemake.input.collapse)
    plots.country_similarity(read_csv(snakemake.input.country_similarity),
                             stem("country_similarity"))  # fmt: skip
    plots.metric_bars(read_csv(snakemake.input.summary), stem("metric_bars"))
    plots.consistency_bars(read_csv(snakemake.input.consistency_summary), stem("consistency_bars"))
    plots.en_native_scatter(items, stem("en_native_scatter"))
    plots.reasoning_deltas(read_csv(snakemake.input.findings), stem("reasoning_deltas"))
    plots.leakage_examples(
        read_csv(snakemake.input.leakage), stem("leakage_examples"), snakemake.params.examples
    )
    plots.zone_sensitivity(read_csv(snakemake.input.sensitivity), stem("zone_sensitivity"))
    plots.pca_overview(coordinates, collapse, stem("pca_overview"), snakemake.params.models)
    robustness = read_csv(snakemake.input.robustness)
    plots.robustness_flips(robustness, stem("robustness_flips"))
    plots.robustness_snr(robustness, stem("robustness_snr"))
    plots.robustness_position(robustness, stem("robustness_position"))
    plots.human_sensitive_items(pd.read_parquet(snakemake.input.human_sensitivity),
                                stem("sensitive_items"))  # fmt: skip
    plots.triage_scores(read_csv(snakemake.input.triage), stem("triage_scores"))
    plots.triage_curves(pd.read_parquet(snakemake.input.triage_items), stem("triage_curves"))
    plots.persona_gain(read_csv(snakemake.input.persona_gain), stem("persona_gain"))
    plots.forest(json.loads(Path(snakemake.input.stats).read_text(encoding="utf-8")),
                 stem("forest"))  # fmt: skip
    for model in snakemake.params.models:
        plots.pca_model_map(coordinates, collapse, model, stem(f"pca_{model}"))
    logging.getLogger("culturalign").info("%d figures written", len(snakemake.output))


run(snakemake, main)  # noqa: F821
