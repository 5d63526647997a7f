"""Rule report: results/{benchmark}/report.html of a survey benchmark, one self-contained file
(figures inlined)."""

import json
import logging
from pathlib import Path

import pandas as pd
from _common import run

from culturalign.analysis.survey import published as paper
from culturalign.analysis.survey import report
from culturalign.io.files import read_csv_or_empty as read_csv
from culturalign.records.provenance import git_commit
from culturalign.reporting.html import shard_provenance


def main(snakemake):
    figures = {Path(path).stem: path for path in snakemake.input.figures}
    provenance, provenance_json = shard_provenance(snakemake.input.shards)
    stats = json.loads(Path(snakemake.input.stats).read_text(encoding="utf-8"))
    report.build_report(
        summary=read_csv(snakemake.input.summary),
        consistency_summary=read_csv(snakemake.input.consistency_summary),
        findings=read_csv(snakemake.input.findings),
        stats=stats,
        stats_text=Path(snakemake.input.stats_text).read_text(encoding="utf-8"),
        sensitivity=read_csv(snakemake.input.sensitivity),
        collapse=read_csv(snakemake.input.collapse),
        leakage=read_csv(snakemake.input.leakage),
        robustness=read_csv(snakemake.input.robustness),
        robustness_coverage=read_csv(snakemake.input.robustness_coverage),
        robust_findings=read_csv(snakemake.input.robust_findings),
        findings_by_category=read_csv(snakemake.input.findings_by_category),
        model_comparison=read_csv(snakemake.input.model_comparison),
        sensitivity_tables=report.SensitivityTables(
            human=pd.read_parquet(snakemake.input.human_sensitivity),
            triage=read_csv(snakemake.input.triage),
            persona_gain=read_csv(snakemake.input.persona_gain),
            surrogate=read_csv(snakemake.input.surrogate),
            summary=json.loads(Path(snakemake.input.sensitivity_summary).read_text("utf-8")),
        ),
        run_aggregates=paper.run_aggregates(
            read_csv(snakemake.input.summary),
            read_csv(snakemake.input.consistency_summary),
            snakemake.params.published_as,
            read_csv(snakemake.input.published_aggregates[0])
            if snakemake.input.published_aggregates
            else None,
        ),
        translations=report.TranslationTables(
            provenance=report.native_text_provenance(pd.read_parquet(snakemake.input.item_scores)),
            review=read_csv(snakemake.input.review[0])
            if snakemake.input.review
            else pd.DataFrame(),
            roundtrip=read_csv(snakemake.input.roundtrip),
        ),
        country_similarity=read_csv(snakemake.input.country_similarity),
        publisher_measure=snakemake.params.publisher_measure,
        figures=figures,
        provenance=provenance,
        provenance_json=provenance_json,
        data_notes=pd.read_parquet(snakemake.input.data_notes),
        config=snakemake.config,
        commit=git_commit(Path(snakemake.scriptdir)) or "unknown",
        out_path=snakemake.output.html,
        benchmark=snakemake.params.benchmark,
        description=snakemake.params.description,
    )
    logging.getLogger("culturalign").info(
        "report with %d figures: %s", len(figures), snakemake.output.html
    )


run(snakemake, main)  # noqa: F821
