"""Stop with a pointer when the configured translation table does not exist."""

from _common import run

from culturalign.errors import ConfigError


def main(snakemake):
    raise ConfigError(
        f"{snakemake.params.key}: {snakemake.output[0]} does not exist; convert the authors' "
        "validated translations to the columns question_id, language, text as "
        "resources/translations/README.md explains, or point the key at another table"
    )


run(snakemake, main)  # noqa: F821
