"""The one module that knows Snakemake: rule names and wildcard patterns, job resources, the
analysis kinds the rules are included for, and what a dry run prints besides the job list
(prompts per cell of every benchmark). Everything else in the package is plain Python."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from culturalign.analysis import AnalysisKind, get_kind
from culturalign.benchmarks import Benchmark
from culturalign.engines.model_builds import is_api, weight_bytes
from culturalign.errors import CulturalignError
from culturalign.prompts.building import build_prompts, prompt_targets, prompts_per_cell
from culturalign.prompts.templates import load_templates
from culturalign.prompts.translation_tables import load_translations
from culturalign.prompts.variants import cell_variants, rotation, variant_questions
from culturalign.settings import WorkflowSettings

SOURCE_PREFIX = "source_"
"""Named rule inputs of a plug-in's files are prefixed: a file's own name (e.g. the
``items`` of a ratings table) may be one Snakemake reserves."""


def source_inputs(plugin: Benchmark) -> dict[str, str]:
    """A plug-in's input files as named rule inputs (``source_<name>``)."""
    return {SOURCE_PREFIX + name: path for name, path in plugin.input_files().items()}


def source_paths(named_inputs: Mapping[str, Any], plugin: Benchmark) -> dict[str, Path]:
    """The plug-in's files back by their own names, from a job's named inputs."""
    names = plugin.input_files()
    return {
        name[len(SOURCE_PREFIX) :]: Path(path)
        for name, path in named_inputs.items()
        if name.startswith(SOURCE_PREFIX) and name[len(SOURCE_PREFIX) :] in names
    }


def benchmark_tables(key: str, plugin: Benchmark) -> tuple[pd.DataFrame, ...] | None:
    """The imported tables when present, else the plug-in's own reading of its source."""
    folder = Path("results") / key / "benchmark"
    names = ("questions", "human", "populations")
    if all((folder / f"{name}.parquet").exists() for name in names):
        return tuple(pd.read_parquet(folder / f"{name}.parquet") for name in names)
    files = {name: Path(path) for name, path in plugin.input_files().items()}
    if not all(path.exists() for path in files.values()):
        return None
    tables = plugin.load(files)
    return tables.questions, tables.human, tables.populations


def prompt_count_table(
    config: Mapping[str, Any], settings: WorkflowSettings, plugins: Mapping[str, Benchmark]
) -> str:
    """Prompts per cell and benchmark for a dry run (a note where a source is not there yet)."""
    lines = []
    total = 0
    for key, bench in settings.benchmarks.items():
        plugin = plugins[key]
        try:
            tables = benchmark_tables(key, plugin)
        except CulturalignError as exc:
            lines.append(f"culturalign: {key}: {exc}")
            continue
        if tables is None:
            lines.append(f"culturalign: {key}: prompts per cell are known once its source is there")
            continue
        questions, human, populations = tables
        counts = prompts_per_cell(
            questions, plugin.prompt_pairs(questions, human), populations,
            [(language, framing) for language in bench.languages for framing in bench.framings],
            question_ids=bench.questions, selected_populations=bench.populations,
            where=f"benchmarks.{key}.subset",
        )  # fmt: skip
        lines.append(f"culturalign: {key}: prompts per cell (each reasoning mode, each model)")
        lines += [f"  {lang:<7} {framing:<9} {n:>7,}" for (lang, framing), n in counts.items()]
        per_model = sum(counts.values()) * len(bench.reasoning)
        total += per_model * len(settings.model_keys)
        lines.append(
            f"  {per_model:,} prompts per model, {per_model * len(settings.model_keys):,} in "
            f"all ({len(settings.model_keys)} model(s) x "
            f"{len(bench.languages) * len(bench.framings) * len(bench.reasoning)} cells)"
        )
        extra = variant_rows(config, bench, plugin, tables)
        if extra:
            robustness = config["robustness"]
            names = (
                [*robustness["variants"], *(
                    [f"sample-1..{robustness['sampled_answers']} (cot cells)"]
                    if robustness.get("sampled_answers") else []
                )]
                if get_kind(plugin.kind).robustness_variants
                else []
            )  # fmt: skip
            names = [*names, *[v for v in plugin.extra_variants() if v not in names]]
            if any(rotation(v) is not None for v in names):
                names = [v for v in names if rotation(v) is None] + ["rotated-K (CircularEval)"]
            lines.append(
                f"  + up to {extra:,} variant prompts per model, as rows of the same jobs "
                f"({', '.join(names)}; reversed only where the option list is recognised, "
                "rotated-K only for questions with more than K options)"
            )
            total += extra * len(settings.model_keys)
        lines += api_lines(config, settings, key, plugin, tables)
    if len(settings.benchmarks) > 1:
        lines.append(f"culturalign: {total:,} prompts in all benchmarks")
    return "\n".join(lines)


def variant_rows(config: Mapping[str, Any], bench: Any, plugin: Benchmark, tables) -> int:
    """Upper bound of the variant rows per model: every variant of every asked question."""
    robustness = config.get("robustness") or {}
    if not get_kind(plugin.kind).robustness_variants:
        robustness = {}  # only kinds that analyse robustness get its variants (build_prompts)
    own = plugin.extra_variants()
    if not robustness.get("variants") and not robustness.get("sampled_answers") and not own:
        return 0
    questions, human, populations = tables
    pool = bench.questions or questions["question_id"].tolist()
    asked = variant_questions(pool, robustness.get("sample"), robustness.get("seed", 0))
    pairs = plugin.prompt_pairs(questions, human)
    sizes = questions["scale_max"] - questions["scale_min"] + 1
    n_options = dict(zip(questions["question_id"], sizes, strict=True))
    rows = 0
    for language in bench.languages:
        for framing in bench.framings:
            listed = [target.question.question_id for target in prompt_targets(
                questions, pairs, populations, language, framing,
                question_ids=bench.questions, selected_populations=bench.populations,
            )]  # fmt: skip
            targets = sum(1 for qid in listed if qid in asked)
            for reasoning in bench.reasoning:
                asked_variants = cell_variants(robustness, language, framing, reasoning)
                rows += targets * len(asked_variants)
                for variant in own:
                    if variant in asked_variants:
                        continue
                    steps = rotation(variant)
                    rows += sum(1 for qid in listed if steps is None or steps < n_options[qid])
    return rows


CHARS_PER_TOKEN = 4.0
"""Rough characters per token for the dry run's token estimate (English-like text)."""


def api_lines(config, settings, key, plugin, tables) -> list[str]:
    """Per API model and cell: requests and an estimate of input and output tokens."""
    api_models = [m for m in settings.model_keys if is_api(config["models"][m])]
    if not api_models:
        return []
    questions, human, populations = tables
    bench = settings.benchmarks[key]
    block = config["benchmarks"][key]
    prompts_block = block.get("prompts") or {}
    templates = load_templates(
        prompts_block.get("templates") or plugin.templates or config["prompts"]["templates"]
    )
    translations_path = prompts_block.get("translations") or config["prompts"]["translations"]
    robustness = config.get("robustness") or {}
    pool = bench.questions or questions["question_id"].tolist()
    asked = variant_questions(pool, robustness.get("sample"), robustness.get("seed", 0))
    cells = {}
    for cell in bench.prompt_cells():
        try:
            translations = (
                load_translations(translations_path)
                if cell["language"] == "native" and translations_path
                else None
            )
            frame = build_prompts(
                questions, plugin.prompt_pairs(questions, human), populations, templates,
                translations, cell["language"], cell["framing"], cell["reasoning"],
                question_ids=bench.questions, selected_populations=bench.populations,
                variants=cell_variants(robustness, cell["language"], cell["framing"],
                                       cell["reasoning"]),
                variant_questions=asked,
            )  # fmt: skip
            original = int((frame["variant"] == "original").sum())
            cells["/".join(cell.values())] = (len(frame), int(frame["prompt"].str.len().sum()),
                                              original)  # fmt: skip
        except CulturalignError as exc:
            cells["/".join(cell.values())] = exc
    lines = []
    for model in api_models:
        entry = config["models"][model]
        lines.append(f"culturalign: {key}: API model {model} ({entry.get('engine')}: "
                     f"{entry.get('model')} at {entry.get('base_url')})")  # fmt: skip
        scoring = (" + one scoring request per option-tree node"
                   if entry.get("engine") == "vllm-server" else "")  # fmt: skip
        for name, counted in cells.items():
            if isinstance(counted, Exception):
                lines.append(f"  {name:<22} requests unknown ({counted})")
                continue
            n, characters, original = counted
            max_tokens = config["generation"]["max_tokens"][name.rsplit("/", 1)[1]]
            tokens_in = int(characters / CHARS_PER_TOKEN) + 10 * n
            split = f" ({original:,} original + {n - original:,} variant)" if n > original else ""
            lines.append(
                f"  {name:<22} {n:>7,} requests{split}{scoring}; ~{tokens_in:,} input tokens, "
                f"<= {n * max_tokens:,} output tokens"
            )
    return lines


def job_resources(entry: Mapping[str, Any]) -> dict[str, int]:
    """``mem_mb`` (host memory) and ``runtime`` (minutes) of one generate job for a model.

    Heuristic, scaled to the weights: CPU jobs hold the weights twice while loading plus a
    1 GiB KV cache and ~3 GB of libraries; GPU jobs stage the weights in host memory. A
    model of unknown size (a hub id) gets 32 GB / 4 h. ``models.<key>.resources`` overrides.
    """
    size = weight_bytes(entry)
    device = entry.get("device", "cpu")
    if is_api(entry):
        estimate = {"mem_mb": 2000, "runtime": 240}
    elif size is None:
        estimate = {"mem_mb": 32_000, "runtime": 240}
    elif device == "cpu":
        estimate = {
            "mem_mb": int(2 * size / 1e6 + 1024 + 3000),
            "runtime": int(30 + 60 * size / 1e9),
        }
    else:
        estimate = {"mem_mb": int(1.2 * size / 1e6 + 8000), "runtime": int(60 + 2 * size / 1e9)}
    estimate.update({key: int(value) for key, value in (entry.get("resources") or {}).items()})
    return estimate


def job_gpus(entry: Mapping[str, Any]) -> int:
    """GPUs one generate job holds: tensor_parallel_size for ``device: gpu``, else 0."""
    if is_api(entry) or entry.get("device", "cpu") != "gpu":
        return 0
    return int(entry.get("tensor_parallel_size", 1))


def job_threads(entry: Mapping[str, Any], cores: int) -> int:
    """CPU threads of a generate job: all it is given, one for an API model."""
    return 1 if is_api(entry) else cores


def rule_name(*parts: str) -> str:
    """A Snakemake rule name from config keys (``generate``, ``menavalues``, ``smollm2-135m``
    -> ``generate_menavalues_smollm2_135m``)."""
    return "_".join(re.sub(r"\W", "_", part) for part in parts)


def alternation(values: Iterable[str]) -> str:
    """A regular expression matching exactly one of ``values`` (for wildcard constraints)."""
    return "|".join(re.escape(value) for value in values) or "(?!)"


def is_dry_run(argv: Sequence[str]) -> bool:
    """Whether a snakemake command line asks for a dry run (-n, --dry-run, -np, ...)."""
    for arg in argv[1:]:
        if arg in ("--dry-run", "--dryrun", "--just-print"):
            return True
        if re.fullmatch(r"-[A-Za-z]*n[A-Za-z]*", arg) and not arg.startswith("--"):
            return True
    return False


def benchmark_kinds(benchmarks: Mapping[str, Benchmark]) -> dict[str, AnalysisKind]:
    """Each benchmark's analysis kind, from the registry (an unknown kind stops the workflow
    with an error naming the plug-in)."""
    return {
        key: get_kind(plugin.kind, plugin=plugin.name or key) for key, plugin in benchmarks.items()
    }


def kind_rule_files(kinds: Mapping[str, AnalysisKind]) -> list[str]:
    """The rule files of the kinds in use, relative to ``workflow/``, once each."""
    return sorted({kind.rule_file for kind in kinds.values()})
