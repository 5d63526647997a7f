"""Shared helpers: config validation, paths, wildcard constraints, input functions and the
explicit list of final outputs, all built from config."""

import sys
from pathlib import Path

# Scripts import the package from src/ even when it is not installed (e.g. on a cluster node
# that only has the analysis environment).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from snakemake.exceptions import WorkflowError  # noqa: E402

from culturalign import settings as cfg  # noqa: E402
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
    """A benchmark's prompts.templates / prompts.translations, else its plug-in's own
    templates, else the top-level one."""
    own = (config["benchmarks"][benchmark].get("prompts") or {}).get(name)
    if own:
        return own
    if name == "templates" and BENCHMARKS[benchmark].templates:
        return BENCHMARKS[benchmark].templates
    return config["prompts"].get(name)


def benchmarks_of_kind(*kinds: str) -> list[str]:
    """The selected benchmarks whose plug-in's analysis is one of ``kinds``."""
    return [key for key in selected_benchmarks() if BENCHMARKS[key].kind in kinds]


def kind_constraint(*kinds: str) -> str:
    """A {benchmark} wildcard pattern matching only benchmarks of ``kinds``."""
    return cfg.alternation([key for key in config["benchmarks"] if BENCHMARKS[key].kind in kinds])


SUMMARY_FILES = {"survey": "metrics/summary.csv", "mcq": "mcq/summary.csv",
                 "inventory": "hofstede/summary.csv"}  # fmt: skip


def summary_file(benchmark: str) -> str:
    """The per-cell summary the index page reads for one benchmark."""
    return f"results/{benchmark}/{SUMMARY_FILES[BENCHMARKS[benchmark].kind]}"


TRANSLATION_DIR = "results/{benchmark}/translations"


def translated_languages(wildcards) -> list[str]:
    """One table per language the plan names (known once the checkpoint has run)."""
    import pandas as pd

    plan = checkpoints.plan_translations.get(benchmark=wildcards.benchmark).output.plan
    languages = sorted(set(pd.read_csv(plan, dtype=str, keep_default_na=False)["language"]))
    return [f"{TRANSLATION_DIR}/languages/{language}.tsv".format(benchmark=wildcards.benchmark)
            for language in languages]  # fmt: skip


def translation_model_inputs(wildcards) -> list[str]:
    """The translation models' directories, when the workflow builds them."""
    return [path for key in SETTINGS.translation_keys
            for path in build_input(config["models"][key])]  # fmt: skip


def translated_benchmarks() -> list[str]:
    """The selected benchmarks whose native cells get machine translations (config key
    translation.model)."""
    if not SETTINGS.translation_keys:
        return []
    return [key for key, settings in SETTINGS.benchmarks.items() if "native" in settings.languages]


def human_translations(wildcards) -> list[str]:
    """A benchmark's configured (human) translation table, if any."""
    path = prompt_setting(wildcards.benchmark, "translations")
    return [path] if path else []


def translation_table(wildcards) -> list[str]:
    """The translation table native prompts read: the merged one when translation.model fills
    the human table's gaps, else the human table (if any)."""
    if wildcards.benchmark in translated_benchmarks():
        return [f"results/{wildcards.benchmark}/translations/table.tsv"]
    return human_translations(wildcards)


def translations_input(wildcards) -> list[str]:
    """Only native cells read the translation table (English cells do not rerun on edits):
    the human table, or the merged one when translation.model fills its gaps."""
    return translation_table(wildcards) if wildcards.language == "native" else []


def selected_benchmarks() -> list[str]:
    """The benchmarks this run uses, in config order."""
    return list(SETTINGS.benchmarks)


def published_aggregates(benchmark: str) -> list[str]:
    """The authors' aggregates, for the MENAValues report, when the paper target is on."""
    if benchmark == "menavalues" and config["paper"]["published_metrics"]:
        return ["results/menavalues/paper/aggregates.csv"]
    return []


def reference_input(benchmark: str) -> dict[str, str]:
    """An inventory benchmark's reference scores file, when configured."""
    path = config["benchmarks"][benchmark].get("reference")
    return {"reference": path} if path else {}


def kind_tables(benchmark: str) -> list[str]:
    """The analysis tables a non-survey benchmark's figures and report read."""
    kind = BENCHMARKS[benchmark].kind
    folder = {"mcq": "mcq", "inventory": "hofstede"}[kind]
    names = {"mcq": ("items.parquet", "summary.csv", "circular.csv"),
             "inventory": ("items.parquet", "indices.csv", "comparison.csv", "summary.csv")}[kind]  # fmt: skip
    return [f"results/{benchmark}/{folder}/{name}" for name in names]
