"""Engines by name, imported only when an engine is started.

A built-in engine ``NAME`` is the :class:`~culturalign.engines.base.BaseEngine` subclass whose
``name`` is ``NAME`` in module ``culturalign.engines.<NAME>_engine`` (``-`` read as ``_``),
so a new engine is one module (plus its entry in the config schema).
:func:`register_engine` adds others (from a plug-in package or a test module) without
touching any file of this package.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

from culturalign.engines.base import BaseEngine, ModelSpec
from culturalign.errors import ConfigError

ENGINES: dict[str, str | type[BaseEngine]] = {}
"""Engines registered explicitly: a ``module:Class`` path (imported lazily) or the class."""


def register_engine(name: str, target: str | type[BaseEngine]) -> None:
    """Make an engine available under ``name`` (``module:Class`` or an Engine subclass)."""
    ENGINES[name] = target


def builtin_engines() -> list[str]:
    """Names of the engine modules shipped in this package."""
    folder = Path(__file__).parent
    return sorted(
        path.stem.removesuffix("_engine").replace("_", "-") for path in folder.glob("*_engine.py")
    )


def _builtin(name: str) -> type[BaseEngine] | None:
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        return None
    module_name = f"culturalign.engines.{name.replace('-', '_')}_engine"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise
    for _, cls in inspect.getmembers(module, inspect.isclass):
        if issubclass(cls, BaseEngine) and cls.__module__ == module.__name__ and cls.name == name:
            return cls
    return None


def engine_class(name: str, where: str = "engine") -> type[BaseEngine]:
    """The Engine subclass registered as ``name`` (imports its module)."""
    target = ENGINES.get(name)
    if target is None:
        target = _builtin(name)
    if target is None:
        known = sorted(set(ENGINES) | set(builtin_engines()))
        raise ConfigError(f"{where}: unknown engine {name!r} (known: {', '.join(known)})")
    if isinstance(target, str):
        module_name, _, class_name = target.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"{where}: cannot load engine {name!r} from {target!r} ({exc})"
            ) from exc
    if not (isinstance(target, type) and issubclass(target, BaseEngine)):
        raise ConfigError(f"{where}: {name!r} does not name an Engine subclass")
    return target


def load_engine(
    spec: ModelSpec,
    *,
    threads: int = 1,
    cache_dir: str | Path = "resources/.cache",
    seed: int = 0,
    **options: Any,
) -> BaseEngine:
    """Start the engine ``spec.engine`` names for ``spec``."""
    cls = engine_class(spec.engine, where=f"config key models.{spec.key}.engine")
    return cls(spec, threads=threads, cache_dir=cache_dir, seed=seed, **options)
