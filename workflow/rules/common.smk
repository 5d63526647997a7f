"""Shared helpers: config validation, paths, wildcard constraints, input functions and the
explicit list of final outputs, all built from config."""

import sys
from pathlib import Path

# Scripts import the package from src/ even when it is not installed (e.g. on a cluster node
# that only has the analysis environment).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from snakemake.exceptions import WorkflowError  # noqa: E402

from culturalign import config as cfg  # noqa: E402
from culturalign.benchmarks import create_benchmark  # noqa: E402
from culturalign.errors import CulturalignError  # noqa: E402

try:
    cfg.validate_config(config, Path(workflow.basedir) / "workflow" / "schemas")
    SETTINGS = cfg.WorkflowSettings.from_config(config)
except CulturalignError as exc:
    raise WorkflowError(f"culturalign: {exc}") from None

BENCHMARKS = {
    key: create_benchmark(key, block) for key, block in config["benchmarks"].items()
}
"""Every defined benchmark's plug-in (SETTINGS.benchmarks holds the selected ones)."""

# Each stage's rule file appends the outputs `rule all` asks for.
FINAL_TARGETS: list[str] = []

def source_file(path: str) -> str:
    """A file of the workflow itself (schemas, package code), wherever the run's directory is."""
    return str(Path(workflow.basedir) / path)


SHARD = "results/{benchmark}/generations/{model}/{language}/{framing}/{reasoning}.parquet"
ANSWERS = "results/{benchmark}/answers/{model}/{language}/{framing}/{reasoning}.parquet"
PROMPTS = "results/{benchmark}/prompts/{language}/{framing}/{reasoning}.parquet"
TABLES = "results/{benchmark}/benchmark/{table}.parquet"


wildcard_constraints:
    benchmark=cfg.alternation(config["benchmarks"]),
    model=cfg.alternation(SETTINGS.model_keys),
    language=cfg.alternation(SETTINGS.values("languages")),
    framing=cfg.alternation(SETTINGS.values("framings")),
    reasoning=cfg.alternation(SETTINGS.values("reasoning")),


def final_targets() -> list[str]:
    """Everything `rule all` builds."""
    return list(FINAL_TARGETS)


def log_path(name: str) -> str:
    """Where a rule writes its log."""
    return f"logs/{name}.log"


def table(benchmark: str, name: str) -> str:
    """A benchmark table: questions, human or populations."""
    return TABLES.format(benchmark=benchmark, table=name)


def benchmark_tables(wildcards) -> dict[str, str]:
    """The three benchmark tables of the job's benchmark, by name."""
    return {name: table(wildcards.benchmark, name) for name in ("questions", "human", "populations")}


def shards(benchmark: str) -> list[str]:
    """Every shard of a benchmark's cell matrix, in SETTINGS.cells() order."""
    return [SHARD.format(benchmark=benchmark, **cell) for cell in SETTINGS.cells(benchmark)]


def answers(benchmark: str) -> list[str]:
    """The parsed answers of every shard, in the same order."""
    return [ANSWERS.format(benchmark=benchmark, **cell) for cell in SETTINGS.cells(benchmark)]


def prompt_setting(benchmark: str, name: str) -> str | None:
    """A benchmark's prompts.templates / prompts.translations, else the top-level one."""
    own = (config["benchmarks"][benchmark].get("prompts") or {}).get(name)
    return own if own else config["prompts"].get(name)


def translations_input(wildcards) -> list[str]:
    """Only native cells read the translation table (English cells do not rerun on edits)."""
    path = prompt_setting(wildcards.benchmark, "translations")
    return [path] if wildcards.language == "native" and path else []


def selected_benchmarks() -> list[str]:
    """The benchmarks this run uses, in config order."""
    return list(SETTINGS.benchmarks)


def published_aggregates(benchmark: str) -> list[str]:
    """The authors' aggregates, for the MENAValues report, when the paper target is on."""
    if benchmark == "menavalues" and config["paper"]["published_metrics"]:
        return ["results/menavalues/paper/aggregates.csv"]
    return []
