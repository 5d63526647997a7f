"""What a dry run prints besides the job list: prompts per cell of every benchmark."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from culturalign.benchmarks import Benchmark
from culturalign.errors import CulturalignError
from culturalign.prompts.variants import rotation
from culturalign.settings import WorkflowSettings


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
    from culturalign.prompts.building import prompts_per_cell

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
            names = config["robustness"]["variants"] if plugin.kind == "survey" else []
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
    from culturalign.prompts.building import prompt_targets
    from culturalign.prompts.variants import cell_variants, variant_questions

    robustness = config.get("robustness") or {}
    if plugin.kind != "survey":
        robustness = {}  # only surveys get the robustness variants (see build_prompts)
    own = plugin.extra_variants()
    if not robustness.get("variants") and not own:
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
    from culturalign.engines.model_builds import is_api
    from culturalign.prompts.building import build_prompts, load_templates, load_translations
    from culturalign.prompts.variants import cell_variants, variant_questions

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
