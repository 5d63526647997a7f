"""Benchmark plug-ins and their registry.

A benchmark is one module here (or anywhere importable) defining a
:class:`~culturalign.benchmarks.base.Benchmark` subclass decorated with
:func:`register_benchmark`. :func:`get_benchmark` finds a plug-in by name, importing
``culturalign.benchmarks.<name>`` on first use (``-`` read as ``_``), or any
``module:Class`` path, so adding a benchmark needs no edit here.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

from culturalign.benchmarks.base import Benchmark, BenchmarkTables, CellSpace
from culturalign.errors import ConfigError

_REGISTRY: dict[str, type[Benchmark]] = {}


def _qualified(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def register_benchmark(name: str) -> Callable[[type[Benchmark]], type[Benchmark]]:
    """Class decorator: make a plug-in available under ``name`` (once: a second, different
    class under the same name is an error naming both)."""

    def decorate(cls: type[Benchmark]) -> type[Benchmark]:
        existing = _REGISTRY.get(name)
        module = f"{__name__}.{name.replace('-', '_')}"
        if existing is None and name in builtin_names() and cls.__module__ != module:
            existing = importlib.import_module(module) and _REGISTRY.get(name)
        if existing is not None and _qualified(existing) != _qualified(cls):
            raise ConfigError(
                f"benchmark plug-in {name!r} is registered twice "
                f"({_qualified(existing)} and {_qualified(cls)})"
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def get_benchmark(name: str, where: str = "plugin") -> type[Benchmark]:
    """The plug-in class registered as ``name`` (or a ``module:Class`` path)."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        module_name, _, class_name = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"config key {where}: cannot load plug-in {name!r} ({exc})") from exc
        if not (isinstance(cls, type) and issubclass(cls, Benchmark)):
            raise ConfigError(f"config key {where}: {name!r} is not a Benchmark subclass")
        return cls
    module = f"culturalign.benchmarks.{name.replace('-', '_')}"
    if re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    if name not in _REGISTRY:
        known = ", ".join(sorted(set(_REGISTRY) | set(builtin_names()))) or "none"
        raise ConfigError(
            f"config key {where}: unknown benchmark plug-in {name!r} (known: {known})"
        )
    return _REGISTRY[name]


def builtin_names() -> list[str]:
    """Names of the plug-in modules shipped in this package."""
    from importlib import resources

    package = resources.files(__name__)
    return sorted(
        item.name.removesuffix(".py")
        for item in package.iterdir()
        if item.name.endswith(".py") and item.name not in ("__init__.py", "base.py")
    )


def create_benchmark(key: str, options: dict, plugin: str | None = None) -> Benchmark:
    """An instance of the plug-in for config block ``benchmarks.<key>``."""
    cls = get_benchmark(plugin or options.get("plugin") or key, where=f"benchmarks.{key}.plugin")
    return cls(key, options)


__all__ = [
    "Benchmark",
    "BenchmarkTables",
    "CellSpace",
    "create_benchmark",
    "get_benchmark",
    "register_benchmark",
]
