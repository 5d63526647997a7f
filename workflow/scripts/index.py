"""Rule index: results/index.html, linking every benchmark's report."""

import logging
from pathlib import Path

from _common import run

from culturalign.io.files import read_csv_or_empty
from culturalign.records.provenance import git_commit
from culturalign.reporting.html import build_index


def main(snakemake):
    keys = list(snakemake.params.benchmarks)
    summaries = {key: read_csv_or_empty(path) for key, path in
                 zip(keys, snakemake.input.summaries, strict=True)}  # fmt: skip
    build_index(
        snakemake.params.benchmarks,
        snakemake.params.kinds,
        summaries,
        snakemake.output.html,
        git_commit(Path(snakemake.scriptdir)) or "unknown",
    )
    logging.getLogger("culturalign").info("index of %d benchmarks", len(keys))


run(snakemake, main)  # noqa: F821
