"""Download a benchmark source file and verify its checksum, or fetch a Hub dataset at its
pinned commit and write its local export."""

from _common import run

from culturalign.io.downloads import download_verified
from culturalign.io.hub import HubSource, fetch_export


def main(snakemake):
    url, check = snakemake.params.download
    if isinstance(check, HubSource):
        fetch_export(check, snakemake.output[0])
    else:
        download_verified(url, snakemake.output[0], check, "benchmark source")


run(snakemake, main)  # noqa: F821
