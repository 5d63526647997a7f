"""Read and write the workflow's Parquet tables, validated against their JSON schemas.

Each schema in ``workflow/schemas/`` describes one *row* of a table. Writes are atomic:
the table appears at its path only once completely written and valid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from culturalign.errors import TableError
from culturalign.io.files import atomic_path
from culturalign.io.yaml_files import load_yaml


def load_schema(path: str | Path) -> dict[str, Any]:
    """Load a YAML or JSON schema file."""
    return load_yaml(path, missing="schema")


def _plain(value: Any) -> Any:
    """Convert numpy/pandas scalars and arrays to the JSON types jsonschema expects."""
    if isinstance(value, np.ndarray | list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def validate_table(frame: pd.DataFrame, schema: Mapping[str, Any], name: str) -> None:
    """Check every row of ``frame`` against the row ``schema``; raise naming row and column."""
    required = schema.get("required", [])
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise TableError(f"{name}: missing column(s) {', '.join(missing)}")
    validator = jsonschema.Draft202012Validator(schema)
    columns = list(frame.columns)
    for index, row in enumerate(frame.itertuples(index=False, name=None)):
        record = {column: _plain(value) for column, value in zip(columns, row, strict=True)}
        error = jsonschema.exceptions.best_match(validator.iter_errors(record))
        if error is not None:
            column = error.path[0] if error.path else "(row)"
            raise TableError(f"{name}: row {index}, column {column}: {error.message}")


def write_table(
    frame: pd.DataFrame,
    path: str | Path,
    schema_path: str | Path | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Validate ``frame`` (if a schema is given) and write it atomically as Parquet.

    ``metadata`` values are stored as JSON under the Parquet key-value metadata
    ``culturalign.<key>``.
    """
    path = Path(path)
    if schema_path is not None:
        validate_table(frame, load_schema(schema_path), str(path))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        extra = {
            f"culturalign.{key}".encode(): json.dumps(value, default=str).encode()
            for key, value in metadata.items()
        }
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def read_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """A Parquet table; a missing, empty or damaged file is an error naming it."""
    path = Path(path)
    try:
        return pd.read_parquet(path, columns=columns)
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise TableError(f"{path}: cannot read the table ({exc}); delete it to rebuild it") from exc


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``culturalign.*`` metadata of a Parquet file, decoded from JSON."""
    raw = pq.read_schema(path).metadata or {}
    prefix = b"culturalign."
    return {
        key[len(prefix) :].decode(): json.loads(value)
        for key, value in raw.items()
        if key.startswith(prefix)
    }
