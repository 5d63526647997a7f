"""Rule index: results/index.html, linking every benchmark's report."""

import logging
from pathlib import Path

from _common import run

from culturalign.analysis import get_kind
from culturalign.io.files import read_csv_or_empty
from culturalign.records.provenance import git_commit
from culturalign.reporting.html import build_index


def main(snakemake):
    keys = list(snakemake.params.benchmarks)
    lines = {}
    for key, path in zip(keys, snakemake.input.summaries, strict=True):
        kind = get_kind(snakemake.params.kinds[key])
        summary = read_csv_or_empty(path)
        groups = summary.groupby("model", sort=True) if len(summary) else []
        lines[key] = {model: kind.index_line(rows) for model, rows in groups}
    build_index(
        snakemake.params.benchmarks,
        lines,
        snakemake.output.html,
        git_commit(Path(snakemake.scriptdir)) or "unknown",
    )
    logging.getLogger("culturalign").info("index of %d benchmarks", len(keys))


run(snakemake, main)  # noqa: F821
