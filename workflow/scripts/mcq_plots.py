"""Rule mcq_plots: the figures of a multiple-choice benchmark (accuracy per category with
intervals; CircularEval against the original order)."""

from pathlib import Path

from _common import run

from culturalign.analysis.mcq import figures
from culturalign.io.files import read_csv_or_empty as read_csv


def main(snakemake):
    summary = read_csv(snakemake.input.summary)
    figures.mcq_accuracy(summary, str(Path(snakemake.output.mcq_accuracy).with_suffix("")))
    figures.mcq_circular(summary, str(Path(snakemake.output.mcq_circular).with_suffix("")))


run(snakemake, main)  # noqa: F821
