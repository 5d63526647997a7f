"""Typed view of the workflow configuration (already validated by the config schema)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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
        return cls(
            model_keys=tuple(config.get("models") or {}),
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
