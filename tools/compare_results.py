"""Compare every table (Parquet and CSV) of two results folders, cell by cell.

    python tools/compare_results.py BEFORE/results AFTER/results [--json report.json]

A refactoring must leave every table of a run identical: this lists the tables only one
side has, and for each table both have, whether its rows and columns are equal (values,
column order, dtypes). Parquet metadata is compared apart, leaving out what differs between
any two runs (timings, the git commit, the run's paths). Exit status 1 when a table both
sides have differs (or is missing on the AFTER side), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

VOLATILE_KEYS = ("seconds", "per_second", "git_commit", "timestamp", "built")
"""Metadata keys holding one of these differ between any two runs."""


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _stable(item)
            for key, item in value.items()
            if not any(part in key for part in VOLATILE_KEYS)
        }
    if isinstance(value, list):
        return [_stable(item) for item in value]
    return value


def parquet_metadata(path: Path) -> dict[str, Any]:
    raw = pq.read_schema(path).metadata or {}
    out = {}
    for key, value in raw.items():
        if any(part.encode() in key for part in VOLATILE_KEYS):
            continue
        if key.startswith(b"culturalign."):
            decoded = json.loads(value)
            if key == b"culturalign.shards":  # keyed by the run's own paths
                decoded = sorted(json.dumps(_stable(v), sort_keys=True) for v in decoded.values())
            out[key.decode()] = _stable(decoded)
    return out


def _same(x: Any, y: Any) -> bool:
    nested = (np.ndarray, list, tuple, dict)
    if isinstance(x, nested) or isinstance(y, nested):
        return json.dumps(_plain(x), default=str) == json.dumps(_plain(y), default=str)
    x_missing, y_missing = bool(pd.isna(x)), bool(pd.isna(y))
    if x_missing or y_missing:
        return x_missing and y_missing
    return bool(x == y)


def _cells_equal(a: pd.Series, b: pd.Series) -> bool:
    return all(_same(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True))


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and np.isnan(value):
        return "NaN"
    return value


def nested_difference(x: Any, y: Any) -> float | None:
    """The largest absolute difference between the floats of two cells of the same shape
    (lists, dicts, floats; integers such as option codes and everything else equal), or None
    where their shapes or other values differ."""
    x, y = _plain(x), _plain(y)
    if isinstance(x, float) or isinstance(y, float):
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y))
        return abs(float(x) - float(y)) if numbers else None
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        parts = [nested_difference(p, q) for p, q in zip(x, y, strict=True)]
    elif isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys():
        parts = [nested_difference(x[key], y[key]) for key in x]
    else:
        return 0.0 if x == y else None
    return None if None in parts else max(parts, default=0.0)


def compare_frames(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """What differs between two tables (empty when identical)."""
    problems = []
    if list(a.columns) != list(b.columns):
        problems.append(f"columns {list(a.columns)} != {list(b.columns)}")
        return problems
    if len(a) != len(b):
        problems.append(f"{len(a)} rows != {len(b)} rows")
        return problems
    for column in a.columns:
        if str(a[column].dtype) != str(b[column].dtype):
            problems.append(f"{column}: dtype {a[column].dtype} != {b[column].dtype}")
        if not _cells_equal(a[column], b[column]):
            detail = ""
            numeric = pd.api.types.is_numeric_dtype
            if numeric(a[column]) and numeric(b[column]):
                diff = (a[column].astype(float) - b[column].astype(float)).abs().max()
                detail = f" (max abs difference {diff:.3g})"
            else:
                diffs = [nested_difference(x, y) for x, y in zip(a[column], b[column], strict=True)]
                if None not in diffs:
                    rows = f"{sum(diff > 0 for diff in diffs)} of {len(diffs)} rows"
                    detail = f" (max abs difference {max(diffs):.3g}, in {rows})"
            problems.append(f"{column}: values differ{detail}")
    return problems


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, keep_default_na=False, dtype=str)


def compare(before: Path, after: Path) -> dict[str, Any]:
    tables = {
        path.relative_to(root): root
        for root in (before, after)
        for path in root.rglob("*")
        if path.suffix in (".parquet", ".csv")
    }
    report: dict[str, Any] = {"identical": [], "differ": {}, "only_before": [],
                              "only_after": [], "metadata_differ": {}}  # fmt: skip
    for relative in sorted(tables):
        a, b = before / relative, after / relative
        if not b.exists():
            report["only_before"].append(str(relative))
            continue
        if not a.exists():
            report["only_after"].append(str(relative))
            continue
        problems = compare_frames(read(a), read(b))
        if problems:
            report["differ"][str(relative)] = problems
        else:
            report["identical"].append(str(relative))
        if a.suffix == ".parquet":
            meta_a, meta_b = parquet_metadata(a), parquet_metadata(b)
            keys = sorted(k for k in set(meta_a) | set(meta_b) if meta_a.get(k) != meta_b.get(k))
            if keys:
                report["metadata_differ"][str(relative)] = keys
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--json", type=Path, help="write the full report here")
    args = parser.parse_args(argv)
    report = compare(args.before, args.after)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(f"{len(report['identical'])} tables identical")
    for relative, problems in report["differ"].items():
        print(f"DIFFERS {relative}: " + "; ".join(problems))
    for relative in report["only_before"]:
        print(f"MISSING AFTER {relative}")
    for relative in report["only_after"]:
        print(f"NEW {relative}")
    for relative, keys in report["metadata_differ"].items():
        print(f"metadata of {relative} differs in: {', '.join(keys)}")
    return 1 if report["differ"] or report["only_before"] else 0


if __name__ == "__main__":
    sys.exit(main())
