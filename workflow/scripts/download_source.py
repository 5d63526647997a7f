"""Download a benchmark source file and verify its checksum."""

from _common import run

from culturalign.io.downloads import download_verified


def main(snakemake):
    download_verified(
        snakemake.params.url, snakemake.output[0], snakemake.params.sha256, "benchmark source"
    )


run(snakemake, main)  # noqa: F821
