"""Exact equality of two tables written by the workflow, with a message that says where they
differ (shared by the end-to-end modules that hold one run's tables against another's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def table_without_metadata(path: Path):
    return pq.read_table(path).replace_schema_metadata(None)


def differences(got: Path, expected: Path) -> str:
    """'' where the two tables hold the same schema and values (their metadata aside), else
    which columns differ and, for a shard, the largest option-probability difference."""
    a, b = table_without_metadata(got), table_without_metadata(expected)
    if a.schema != b.schema:
        return f"schemas differ:\n{a.schema}\n---\n{b.schema}"
    if a.num_rows != b.num_rows:
        return f"{a.num_rows} rows against {b.num_rows}"
    columns = [name for name in a.column_names if not a[name].equals(b[name])]
    if not columns:
        return ""
    message = f"columns differ: {columns}"
    if "option_probs" in columns:
        largest = 0.0
        for x, y in zip(a["option_probs"].to_pylist(), b["option_probs"].to_pylist(), strict=True):
            px = np.array([entry["prob"] for entry in x or []])
            py = np.array([entry["prob"] for entry in y or []])
            if px.shape != py.shape:
                return f"{message}; option lists differ in length"
            if px.size:
                largest = max(largest, float(np.abs(px - py).max()))
        message += f"; largest option_probs difference {largest:.3g}"
    return message
