"""Typed view of the workflow configuration (already validated by the config schema)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from culturalign.errors import ConfigError

NATIVE_LANGUAGES: tuple[str, ...] = ("ar", "fa", "tr")


def alternation(values: Iterable[str]) -> str:
    """A regular expression matching exactly one of ``values`` (for wildcard constraints)."""
    return "|".join(re.escape(value) for value in values) or "(?!)"


@dataclass(frozen=True)
class WorkflowSettings:
    """The parts of the config that shape the job graph."""

    model_keys: tuple[str, ...]
    languages: tuple[str, ...]
    framings: tuple[str, ...]
    reasoning: tuple[str, ...]
    questions: tuple[str, ...] | None
    countries: tuple[str, ...] | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WorkflowSettings:
        cells = config["cells"]
        subset = config.get("subset") or {}
        models = tuple(config.get("models") or {})
        chosen = cells.get("models")
        if chosen is not None:
            unknown = [key for key in chosen if key not in models]
            if unknown:
                raise ConfigError(
                    f"cells.models: unknown model key(s) {', '.join(unknown)} "
                    f"(defined under models: {', '.join(models) or 'none'})"
                )
            models = tuple(chosen)
        return cls(
            model_keys=models,
            languages=tuple(cells["languages"]),
            framings=tuple(cells["framings"]),
            reasoning=tuple(cells["reasoning"]),
            questions=_optional_tuple(subset.get("questions")),
            countries=_optional_tuple(subset.get("countries")),
        )

    def cells(self) -> list[dict[str, str]]:
        """Every (model, language, framing, reasoning) cell, as wildcard dicts."""
        return [
            {"model": model, "language": language, "framing": framing, "reasoning": reasoning}
            for model in self.model_keys
            for language in self.languages
            for framing in self.framings
            for reasoning in self.reasoning
        ]


def _optional_tuple(values: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


def is_dry_run(argv: Sequence[str]) -> bool:
    """Whether a snakemake command line asks for a dry run (-n, --dry-run, -np, ...)."""
    for arg in argv[1:]:
        if arg in ("--dry-run", "--dryrun", "--just-print"):
            return True
        if re.fullmatch(r"-[A-Za-z]*n[A-Za-z]*", arg) and not arg.startswith("--"):
            return True
    return False


def prompt_count_table(config: Mapping[str, Any], settings: WorkflowSettings) -> str:
    """Prompts per cell for a dry run, from the benchmark tables or the workbook.

    Returns a one-line note instead when neither is available yet (e.g. before download).
    """
    from pathlib import Path

    import pandas as pd

    from culturalign.benchmark import parse_benchmark
    from culturalign.prompts import load_country_languages, prompts_per_cell

    tables = Path("results/benchmark")
    if (tables / "questions.parquet").exists() and (tables / "human.parquet").exists():
        questions = pd.read_parquet(tables / "questions.parquet")
        human = pd.read_parquet(tables / "human.parquet")
    elif Path(config["benchmark_xlsx"]).exists():
        questions, human = parse_benchmark(config["benchmark_xlsx"])
    else:
        return "culturalign: prompts per cell are known once the benchmark is downloaded"
    zones = config.get("zones_csv")
    counts = prompts_per_cell(
        questions,
        human,
        [(language, framing) for language in settings.languages for framing in settings.framings],
        settings.countries,
        question_ids=settings.questions,
        country_languages=load_country_languages(zones) if zones else None,
    )
    lines = ["culturalign: prompts per cell (each reasoning mode, each model)"]
    lines += [f"  {language:<7} {framing:<9} {n:>7,}" for (language, framing), n in counts.items()]
    per_model = sum(counts.values()) * len(settings.reasoning)
    lines.append(
        f"  {per_model:,} prompts per model, {per_model * len(settings.model_keys):,} in all "
        f"({len(settings.model_keys)} model(s) x "
        f"{len(settings.languages) * len(settings.framings) * len(settings.reasoning)} cells)"
    )
    return "\n".join(lines)
