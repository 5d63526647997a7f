"""Rule benchmark_report: results/{benchmark}/report.html of a multiple-choice (mcq) or
inventory benchmark, one self-contained file (figures inlined)."""

import logging
from pathlib import Path

import pandas as pd
from _common import run

from culturalign.io.files import read_csv_or_empty as read_csv
from culturalign.records.provenance import git_commit
from culturalign.reporting import html as report


def main(snakemake):
    tables = {}
    for path in snakemake.input.tables:
        name = Path(path).name
        tables[name] = pd.read_parquet(path) if name.endswith(".parquet") else read_csv(path)
    figures = {Path(path).stem: path for path in snakemake.input.figures}
    provenance, provenance_json = report.shard_provenance(snakemake.input.shards)
    report.build_benchmark_report(
        kind=snakemake.params.kind,
        tables=tables,
        figures=figures,
        provenance=provenance,
        provenance_json=provenance_json,
        config=snakemake.config,
        commit=git_commit(Path(snakemake.scriptdir)) or "unknown",
        out_path=snakemake.output.html,
        benchmark=snakemake.params.benchmark,
        description=snakemake.params.description,
        cells=snakemake.params.cells,
    )
    logging.getLogger("culturalign").info("report: %s", snakemake.output.html)


run(snakemake, main)  # noqa: F821
