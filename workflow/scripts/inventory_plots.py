"""Rule inventory_plots: the figures of an inventory benchmark (dimension indices per region
beside the reference scores; Kendall's tau-b of the regions' ranking per dimension)."""

from pathlib import Path

from _common import run

from culturalign.analysis.inventory import figures
from culturalign.benchmarks.hofstede import read_reference
from culturalign.io.files import read_csv_or_empty as read_csv


def main(snakemake):
    reference = (read_reference(snakemake.input.reference)
                 if hasattr(snakemake.input, "reference") else None)  # fmt: skip
    comparison = read_csv(snakemake.input.comparison)
    indices = read_csv(snakemake.input.indices)
    stem = str(Path(snakemake.output.hofstede_indices).with_suffix(""))
    figures.hofstede_indices(indices, comparison, reference, stem)
    figures.hofstede_tau(comparison, str(Path(snakemake.output.hofstede_tau).with_suffix("")))


run(snakemake, main)  # noqa: F821
