"""Rule ratings_tables: a ratings benchmark's rater-level tables (items, ratings, raters with
their zone and quadrant) and what its reader dropped, from the plug-in's source files."""

import logging

from _common import run

from culturalign.benchmarks import create_benchmark
from culturalign.benchmarks.base import source_provenance
from culturalign.io.files import write_csv_atomic
from culturalign.io.tables import write_table
from culturalign.snakemake_rules import source_paths


def main(snakemake):
    key = snakemake.wildcards.benchmark
    plugin = create_benchmark(key, snakemake.params.options)
    files = source_paths(snakemake.input, plugin)
    tables = plugin.read_ratings(files)
    metadata = {"benchmark": source_provenance(plugin, files), "zone_scheme": tables.zone_scheme}
    write_table(tables.items, snakemake.output.item_table, snakemake.input.items_schema, metadata)
    write_table(tables.ratings, snakemake.output.ratings, snakemake.input.ratings_schema,
                metadata)  # fmt: skip
    write_table(tables.raters, snakemake.output.raters, snakemake.input.raters_schema, metadata)
    dropped = tables.dropped.assign(ids=tables.dropped["ids"].map(" ".join))
    write_csv_atomic(dropped, snakemake.output.dropped)
    logging.getLogger("culturalign").info(
        "%s (%s): %d items, %d raters, %d ratings; zones from %s; %d dropped",
        key, plugin.name, len(tables.items), len(tables.raters), len(tables.ratings),
        tables.zone_scheme, int(tables.dropped["count"].sum()),
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
