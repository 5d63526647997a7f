"""Download the MENAValues workbook and verify its checksum."""

from _common import run

from culturalign.benchmark import download_benchmark


def main(snakemake):
    download_benchmark(snakemake.params.url, snakemake.output[0], snakemake.params.sha256)


run(snakemake, main)  # noqa: F821
