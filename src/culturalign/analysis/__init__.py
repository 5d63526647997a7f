"""Analysis kinds and their registry.

A benchmark plug-in declares the kind of analysis its results get (``Benchmark.kind``). A
kind is one package ``culturalign.analysis.<name>`` whose ``__init__`` defines an
:class:`AnalysisKind` subclass decorated with :func:`register_kind`; it declares what the
workflow needs to know of it (its rule file, the outputs ``rule all`` asks for, the summary
the index page reads, whether its cells get the robustness prompt variants) and writes its
own line of the index page. Its rules live in ``workflow/rules/kinds/<name>.smk``; its report
and figures in its own package. The workflow, the dry run and the report ask this registry:
nothing else compares kind names, so adding a kind edits no existing file
(``docs/architecture.md`` lists the steps).

This module imports no kind: :func:`get_kind` imports ``culturalign.analysis.<name>`` on
first use.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, ClassVar

from culturalign.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

_KINDS: dict[str, AnalysisKind] = {}


class AnalysisKind:
    """What the workflow and the index page need to know of one kind of analysis.

    Paths are relative to the benchmark's results folder ``results/{benchmark}/``.
    """

    name: ClassVar[str] = ""
    """Registry name (a benchmark plug-in's ``kind``)."""
    description: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    """The per-cell summary table (CSV) the index page reads for each benchmark."""
    method_note: ClassVar[str] = ""
    """How its numbers are made, in a few sentences (the shared report shows it under the
    headlines)."""
    robustness_variants: ClassVar[bool] = False
    """Whether the cells of its benchmarks get the robustness wording/order variants
    (config ``robustness.variants``); a plug-in's own variants apply to every kind."""

    @property
    def rule_file(self) -> str:
        """The kind's Snakemake rules, relative to ``workflow/``."""
        return f"rules/kinds/{self.name}.smk"

    def index_line(self, summary: pd.DataFrame) -> str:
        """One sentence about one model for the index page, from its rows of the summary."""
        raise NotImplementedError

    def tables_report(
        self, tables: Mapping[str, pd.DataFrame], publisher_measure: str | None = None
    ) -> tuple[list[str], list[tuple[str, str, pd.DataFrame]]]:
        """For a kind whose report is headlines and tables (the shared
        ``benchmark_report`` template): the headline sentences and the (title, file name,
        table) sections, from its tables by file name, led by the benchmark's
        ``publisher_measure`` where the kind knows it. Kinds with a report of their own
        (survey) do not implement it."""
        raise NotImplementedError(f"analysis kind {self.name!r} writes its own report")


def register_kind(name: str) -> Callable[[type[AnalysisKind]], type[AnalysisKind]]:
    """Class decorator: make a kind available under ``name``; a name is registered once."""

    def decorate(cls: type[AnalysisKind]) -> type[AnalysisKind]:
        if name in _KINDS:
            raise ConfigError(
                f"analysis kind {name!r} is registered twice "
                f"({type(_KINDS[name]).__module__} and {cls.__module__})"
            )
        cls.name = name
        _KINDS[name] = cls()
        return cls

    return decorate


def builtin_kinds() -> list[str]:
    """Names of the kind packages shipped here."""
    return sorted(module.name for module in pkgutil.iter_modules(__path__) if module.ispkg)


def get_kind(name: str, plugin: str = "") -> AnalysisKind:
    """The registered kind ``name``, importing ``culturalign.analysis.<name>`` on first use.

    ``plugin`` names the benchmark plug-in that declared it, for the error message."""
    if name not in _KINDS and re.fullmatch(r"[a-z][a-z0-9_]*", name or ""):
        module = f"{__name__}.{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    if name not in _KINDS:
        who = f"benchmark plug-in {plugin!r} declares" if plugin else "requested"
        known = ", ".join(sorted(set(_KINDS) | set(builtin_kinds())))
        raise ConfigError(
            f"{who} analysis kind {name!r}, which no package registers "
            f"(culturalign.analysis.{name} with @register_kind({name!r}); known kinds: {known})"
        )
    return _KINDS[name]


__all__ = ["AnalysisKind", "builtin_kinds", "get_kind", "register_kind"]
