"""Rule kind_plots: one figure of a multiple-choice (mcq) or inventory benchmark."""

from pathlib import Path

from _common import run

from culturalign.benchmarks.hofstede import read_reference
from culturalign.io.files import read_csv_or_empty as read_csv
from culturalign.reporting import figures as plots


def main(snakemake):
    tables = {Path(path).name: path for path in snakemake.input.tables}
    figure = snakemake.wildcards.figure
    stem = str(Path(snakemake.output.png).with_suffix(""))
    if figure == "mcq_accuracy":
        plots.mcq_accuracy(read_csv(tables["summary.csv"]), stem)
    elif figure == "mcq_circular":
        plots.mcq_circular(read_csv(tables["summary.csv"]), stem)
    elif figure == "hofstede_indices":
        reference = (read_reference(snakemake.input.reference)
                     if hasattr(snakemake.input, "reference") else None)  # fmt: skip
        plots.hofstede_indices(read_csv(tables["indices.csv"]), read_csv(tables["comparison.csv"]),
                               reference, stem)  # fmt: skip
    elif figure == "hofstede_tau":
        plots.hofstede_tau(read_csv(tables["comparison.csv"]), stem)
    else:
        raise ValueError(f"unknown figure {figure!r}")


run(snakemake, main)  # noqa: F821
