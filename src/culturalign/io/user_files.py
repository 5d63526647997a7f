"""Read a user's data file (CSV, TSV, Parquet or JSON lines, by extension) with errors that
name the file and the line or row."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from culturalign.errors import BenchmarkError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".parquet": "parquet",
           ".pq": "parquet", ".jsonl": "jsonl", ".json": "json"}  # fmt: skip


def read_user_table(path: str | Path, what: str = "table") -> pd.DataFrame:
    """Every column as read (strings kept as strings); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkError(f"{path}: {what} not found")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise BenchmarkError(
            f"{path}: unknown file type {path.suffix!r} (use .csv, .tsv, .parquet or .jsonl)"
        )
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path)
        elif kind in ("jsonl", "json"):
            # .json: JSON lines (what the hub's exports write) or one array of records
            text = path.read_text(encoding="utf-8-sig")
            array = kind == "json" and text.lstrip().startswith("[")
            frame = pd.read_json(io.StringIO(text), lines=not array, dtype=False)
            kind = "json" if array else "jsonl"
        else:
            frame = pd.read_csv(
                path, sep=text_delimiter(path, kind), dtype=str, keep_default_na=False,
                encoding="utf-8-sig",
            )  # fmt: skip
    except Exception as exc:  # each reader raises its own kinds for a damaged file
        raise BenchmarkError(f"{path}: cannot read the {what} ({exc})") from exc
    # a Parquet file written by pandas brings its frame's attrs back: only ours count
    frame.attrs = {"path": str(path), "kind": kind}
    if kind in ("csv", "tsv"):
        lines = record_lines(path, text_delimiter(path, kind))
        if len(lines) == len(frame):  # else pandas read it otherwise: where() says row N
            frame.attrs["lines"] = lines
    return frame


def text_delimiter(path: Path, kind: str) -> str:
    """Tab for TSV; for CSV a comma, or a semicolon where the header has semicolons and no
    comma (the European export, e.g. Hofstede's published dimension data matrix)."""
    if kind != "csv":
        return "\t"
    with open(path, encoding="utf-8-sig", newline="") as handle:
        header = handle.readline()
    return ";" if ";" in header and "," not in header else ","


def record_lines(path: Path, delimiter: str) -> list[int]:
    """The line on which each data record starts (header = line 1): a quoted field may span
    lines, and pandas skips blank lines, so the row index alone does not give it."""
    starts = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        end = 0
        for record in reader:
            start, end = end + 1, reader.line_num
            if record:
                starts.append(start)
    return starts[1:]


def where(frame: pd.DataFrame, index: int, column: str | None = None) -> str:
    """``file: line N, column C`` for text files (header = line 1), ``row N`` otherwise;
    ``index`` is the row's position in the table as read."""
    path = frame.attrs.get("path", "table")
    lines = frame.attrs.get("lines") if frame.attrs.get("kind") in ("csv", "tsv") else None
    place = f"line {lines[index]}" if lines and index < len(lines) else f"row {index + 1}"
    return f"{path}: {place}" + (f", column {column}" if column else "")


def require_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise naming the file and the missing columns."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise BenchmarkError(
            f"{frame.attrs.get('path', 'table')}: missing column(s) {', '.join(missing)} "
            f"(found: {', '.join(map(str, frame.columns)) or 'nothing'})"
        )


def is_blank(value: object) -> bool:
    """Empty string, None, NaN (of any float type) or pandas' NA."""
    if isinstance(value, str):
        return not value.strip()
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array is a value, not a blank
        return False
