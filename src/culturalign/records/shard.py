"""The shard's metadata: one typed, versioned record that the generate step writes and every
reader parses (the report's provenance table, the metrics' record of their inputs).

A shard's Parquet metadata holds the record's fields as top-level ``culturalign.<field>``
keys (JSON values). ``version`` says which layout they follow; shards written before the
field existed read as version 0 (same keys, no ``version``). The cell a shard belongs to is
read from its ``cell`` field, never from the file's path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from culturalign.errors import TableError
from culturalign.io.tables import read_metadata
from culturalign.records.provenance import (
    BenchmarkProvenance,
    EngineProvenance,
    ModelProvenance,
    strip_secrets,
)

SHARD_METADATA_VERSION = 1
CELL_FIELDS = ("benchmark", "model", "language", "framing", "reasoning")


@dataclass(frozen=True)
class Cell:
    """One job of the matrix: benchmark × model × language × framing × reasoning."""

    benchmark: str
    model: str
    language: str
    framing: str
    reasoning: str

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "cell") -> Cell:
        missing = [name for name in CELL_FIELDS if not values.get(name)]
        if missing:
            raise TableError(f"{where}: the cell lacks {', '.join(missing)}")
        return cls(**{name: str(values[name]) for name in CELL_FIELDS})

    @property
    def label(self) -> str:
        """``model/language/framing/reasoning``, as the report names a shard."""
        return f"{self.model}/{self.language}/{self.framing}/{self.reasoning}"


@dataclass(frozen=True)
class ShardMetadata:
    """Everything a shard records about how it was made.

    Provenance (model, engine, benchmark source, template hash, git commit, packages;
    secrets stripped), the engine's start-up time and API usage, and the run's facts
    (sampling, scoring method, timings, the job layout). ``run`` holds the run's facts by
    name, so that a new fact needs no new reader.
    """

    cell: Cell
    model: ModelProvenance
    engine: EngineProvenance
    benchmark: BenchmarkProvenance | None
    template_hash: str | None
    git_commit: str | None
    packages: Mapping[str, str]
    startup_seconds: float | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)
    run: Mapping[str, Any] = field(default_factory=dict)
    version: int = SHARD_METADATA_VERSION

    def to_metadata(self) -> dict[str, Any]:
        """The Parquet metadata keys (JSON-ready; secrets stripped from the provenance)."""
        provenance = strip_secrets(
            {
                "cell": asdict(self.cell),
                "model": asdict(self.model),
                "engine": asdict(self.engine),
                "benchmark": asdict(self.benchmark) if self.benchmark else None,
                "template_hash": self.template_hash,
                "git_commit": self.git_commit,
                "packages": dict(self.packages),
            }
        )
        return {
            "version": self.version,
            **provenance,
            "startup_seconds": self.startup_seconds,
            "usage": dict(self.usage),
            **dict(self.run),
        }

    @classmethod
    def from_metadata(cls, values: Mapping[str, Any], where: str = "shard") -> ShardMetadata:
        """Parse a shard's ``culturalign.*`` metadata (as :func:`read_metadata` returns it)."""
        version = int(values.get("version", 0))
        if version > SHARD_METADATA_VERSION:
            raise TableError(
                f"{where}: shard metadata version {version} is newer than this culturalign "
                f"reads ({SHARD_METADATA_VERSION}); update culturalign or rebuild the shard"
            )
        try:
            cell = Cell.from_mapping(values.get("cell") or {}, where=f"{where}: metadata")
            model = _typed(ModelProvenance, values.get("model"), f"{where}: metadata model")
            engine = _typed(EngineProvenance, values.get("engine"), f"{where}: metadata engine")
            benchmark = values.get("benchmark")
            benchmark = (
                _typed(BenchmarkProvenance, benchmark, f"{where}: metadata benchmark")
                if benchmark
                else None
            )
        except TypeError as exc:
            raise TableError(f"{where}: unreadable shard metadata ({exc})") from exc
        run = {key: value for key, value in values.items() if key not in PROVENANCE_FIELDS}
        return cls(
            cell=cell,
            model=model,
            engine=engine,
            benchmark=benchmark,
            template_hash=values.get("template_hash"),
            git_commit=values.get("git_commit"),
            packages=dict(values.get("packages") or {}),
            startup_seconds=values.get("startup_seconds"),
            usage=dict(values.get("usage") or {}),
            run=run,
            version=version,
        )

    @classmethod
    def read(cls, path: str | Path) -> ShardMetadata:
        """The metadata of the shard at ``path``."""
        try:
            values = read_metadata(path)
        except (OSError, ValueError) as exc:
            raise TableError(f"{path}: cannot read the shard's metadata ({exc})") from exc
        return cls.from_metadata(values, where=str(path))


PROVENANCE_FIELDS = frozenset(
    {"version", "cell", "model", "engine", "benchmark", "template_hash", "git_commit",
     "packages", "startup_seconds", "usage"}
)  # fmt: skip
"""The record's own fields; every other metadata key is a fact of the run."""


def _typed(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, Mapping):
        raise TableError(f"{where}: expected a mapping, found {type(values).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise TableError(f"{where}: unknown key(s) {', '.join(unknown)}")
    return cls(**dict(values))
