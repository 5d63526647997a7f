"""Shared helpers: config validation, paths, wildcard constraints, input functions and the
explicit list of final outputs, all built from config."""

import os
import sys
from pathlib import Path

# Scripts import the package from src/ even when it is not installed (e.g. on a cluster node
# that only has the analysis environment).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from snakemake.exceptions import WorkflowError  # noqa: E402

from culturalign import settings as cfg  # noqa: E402
from culturalign import snakemake_rules as smk  # noqa: E402
from culturalign.benchmarks import create_benchmark  # noqa: E402
from culturalign.errors import CulturalignError  # noqa: E402

try:
    cfg.validate_config(config, Path(workflow.basedir) / "workflow" / "schemas")
    SETTINGS = cfg.WorkflowSettings.from_config(config)
    BENCHMARKS = {
        key: create_benchmark(key, block) for key, block in config["benchmarks"].items()
    }
    """Every defined benchmark's plug-in (SETTINGS.benchmarks holds the selected ones)."""
    KINDS = smk.benchmark_kinds(BENCHMARKS)
    """Each defined benchmark's analysis kind (culturalign.analysis registry)."""
except CulturalignError as exc:
    raise WorkflowError(f"culturalign: {exc}") from None

KIND_RULE_FILES = [
    f"{workflow.basedir}/workflow/{path}"
    for path in smk.kind_rule_files({key: KINDS[key] for key in SETTINGS.benchmarks})
]
"""The rule files of the kinds the selected benchmarks use (the Snakefile includes them)."""

# Each stage's rule file appends the outputs `rule all` asks for.
FINAL_TARGETS: list[str] = []

def source_file(path: str) -> str:
    """A file of the workflow itself (schemas, package code), wherever the run's directory is.

    Relative to the working directory: Snakemake records each job's set of input paths, and
    an absolute path would make a moved or copied project rerun every job."""
    return os.path.relpath(Path(workflow.basedir) / path)


SHARD = "results/{benchmark}/generations/{model}/{language}/{framing}/{reasoning}.parquet"
ANSWERS = "results/{benchmark}/answers/{model}/{language}/{framing}/{reasoning}.parquet"
PROMPTS = "results/{benchmark}/prompts/{language}/{framing}/{reasoning}.parquet"
TABLES = "results/{benchmark}/benchmark/{table}.parquet"


wildcard_constraints:
    benchmark=smk.alternation(config["benchmarks"]),
    model=smk.alternation(SETTINGS.model_keys),
    language=smk.alternation(SETTINGS.values("languages")),
    framing=smk.alternation(SETTINGS.values("framings")),
    reasoning=smk.alternation(SETTINGS.values("reasoning")),


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


OWN_TRANSLATIONS = "results/{benchmark}/benchmark/translations.tsv"


def prompt_setting(benchmark: str, name: str) -> str | None:
    """A benchmark's prompts.templates / prompts.translations, else its plug-in's own
    (templates file; translations from its source), else the top-level one."""
    own = (config["benchmarks"][benchmark].get("prompts") or {}).get(name)
    if own:
        return own
    plugin = BENCHMARKS[benchmark]
    if name == "templates" and plugin.templates:
        return plugin.templates
    if name == "translations" and plugin.provides_translations:
        return OWN_TRANSLATIONS.format(benchmark=benchmark)
    return config["prompts"].get(name)


def benchmarks_of_kind(kind: str) -> list[str]:
    """The selected benchmarks whose plug-in's analysis is ``kind``."""
    return [key for key in selected_benchmarks() if KINDS[key].name == kind]


def kind_constraint(kind: str) -> str:
    """A {benchmark} wildcard pattern matching only benchmarks of ``kind``."""
    return smk.alternation([key for key in config["benchmarks"] if KINDS[key].name == kind])


def summary_file(benchmark: str) -> str:
    """The per-cell summary the index page reads for one benchmark (its kind's)."""
    return f"results/{benchmark}/{KINDS[benchmark].summary}"


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
