"""Parse one shard's responses: results/{benchmark}/answers/{model}/.../{reasoning}.parquet."""

import logging

import pandas as pd
from _common import run

from culturalign.parsing import load_phrases, parse_shard
from culturalign.provenance import sha256_of
from culturalign.tables import write_table


def main(snakemake):
    reasoning = snakemake.wildcards.reasoning
    shard = pd.read_parquet(snakemake.input.shard)
    answers = parse_shard(shard, reasoning, load_phrases(snakemake.input.phrases))
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
