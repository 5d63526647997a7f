"""Rules mcq_report, inventory_report: results/{benchmark}/report.html of a kind whose report is
headlines, figures and tables (the kind writes the headlines and picks the tables)."""

import logging
from pathlib import Path

import pandas as pd
from _common import run

from culturalign.analysis import get_kind
from culturalign.io.files import read_csv_or_empty as read_csv
from culturalign.records.provenance import git_commit
from culturalign.reporting.html import build_tables_report, shard_provenance


def main(snakemake):
    tables = {}
    for path in snakemake.input.tables:
        name = Path(path).name
        tables[name] = pd.read_parquet(path) if name.endswith(".parquet") else read_csv(path)
    kind = get_kind(snakemake.params.kind)
    headlines, sections = kind.tables_report(tables, snakemake.params.publisher_measure)
    summary = tables.get("summary.csv", pd.DataFrame())
    provenance, provenance_json = shard_provenance(snakemake.input.shards)
    build_tables_report(
        kind=kind.name,
        headlines=headlines,
        sections=sections,
        models=sorted(summary["model"].unique()) if len(summary) else [],
        figures={Path(path).stem: path for path in snakemake.input.figures},
        provenance=provenance,
        provenance_json=provenance_json,
        config=snakemake.config,
        commit=git_commit(Path(snakemake.scriptdir)) or "unknown",
        out_path=snakemake.output.html,
        benchmark=snakemake.params.benchmark,
        description=snakemake.params.description,
        cells=snakemake.params.cells,
        method_note=kind.method_note,
        data_notes=pd.read_parquet(snakemake.input.data_notes),
    )
    logging.getLogger("culturalign").info("report: %s", snakemake.output.html)


run(snakemake, main)  # noqa: F821
