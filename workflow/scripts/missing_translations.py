"""Stop with a pointer when the configured translation table does not exist."""

from _common import run

from culturalign.errors import ConfigError
from culturalign.prompts.translation_tables import missing_translations_pointer


def main(snakemake):
    raise ConfigError(missing_translations_pointer(snakemake.params.key, snakemake.output[0]))


run(snakemake, main)  # noqa: F821
