"""Engines by name, imported only when an engine is started.

A built-in engine ``NAME`` is the :class:`~culturalign.engines.base.BaseEngine` subclass whose
``name`` is ``NAME`` in module ``culturalign.engines.<NAME>_engine`` (``-`` read as ``_``),
so a new engine is one module (plus its entry in the config schema).
:func:`register_engine` adds others (from a plug-in package or a test module) without
touching any file of this package.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

from culturalign.engines.base import BaseEngine, ModelSpec
from culturalign.errors import ConfigError

ENGINES: dict[str, str | type[BaseEngine]] = {}
"""Engines registered explicitly: a ``module:Class`` path (imported lazily) or the class."""


def register_engine(name: str, target: str | type[BaseEngine] | None = None) -> Any:
    """Make an engine available under ``name``: ``register_engine(name, "module:Class")``,
    ``register_engine(name, EngineClass)``, or as a class decorator ``@register_engine(name)``
    (how the built-in engines register). A name is registered once: a second, different
    engine under the same name is an error naming both."""
    if target is None:

        def decorate(cls: type[BaseEngine]) -> type[BaseEngine]:
            _add(name, cls)
            return cls

        return decorate
    _add(name, target)
    return target


def _describe(target: str | type[BaseEngine]) -> str:
    return target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"


def _add(name: str, target: str | type[BaseEngine]) -> None:
    existing = ENGINES.get(name)
    if existing is None and name in builtin_engines() and not _is_builtin_module(target, name):
        existing = f"culturalign.engines.{name.replace('-', '_')}_engine"
    if existing is not None and _describe(existing) != _describe(target):
        raise ConfigError(
            f"engine {name!r} is registered twice ({_describe(existing)} and {_describe(target)})"
        )
    ENGINES[name] = target


def _is_builtin_module(target: str | type[BaseEngine], name: str) -> bool:
    module = target.partition(":")[0] if isinstance(target, str) else target.__module__
    return module == f"culturalign.engines.{name.replace('-', '_')}_engine"


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
    target = ENGINES.get(name)
    if isinstance(target, type) and target.__module__ == module.__name__:
        return target
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
