"""Parse one shard's responses: results/{benchmark}/answers/{model}/.../{reasoning}.parquet."""

import logging

from _common import run

from culturalign.io.hashing import sha256_of
from culturalign.io.tables import read_table, write_table
from culturalign.scoring.parsing import load_phrases, parse_shard


def main(snakemake):
    reasoning = snakemake.wildcards.reasoning
    phrases = load_phrases(snakemake.input.phrases)
    answers = parse_shard(read_table(snakemake.input.shard), reasoning, phrases)
    metadata = {
        "phrases": str(snakemake.input.phrases),
        "phrases_sha256": sha256_of(snakemake.input.phrases),
        "parsing_sha256": sha256_of(snakemake.input.code),
        "shard": str(snakemake.input.shard),
    }
    write_table(answers, snakemake.output[0], snakemake.input.schema, metadata)
    logging.getLogger("culturalign").info(
        "%s: %d responses, %d answered, %d refusals", snakemake.output[0], len(answers),
        int(answers["answer"].notna().sum()), int(answers["refusal"].sum()),
    )  # fmt: skip


run(snakemake, main)  # noqa: F821
