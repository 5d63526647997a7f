"""Reading a user's data files (culturalign.io.user_files: every supported extension, strings
kept as written, errors naming the file, row and column) and writing outputs atomically
(culturalign.io.files: no partial file after a failure, the umask's permissions, strict
JSON, CSVs that may be empty)."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from culturalign.errors import BenchmarkError
from culturalign.io.files import (
    atomic_path,
    json_safe,
    read_csv_or_empty,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from culturalign.io.user_files import is_blank, read_user_table, require_columns, where

ROWS = [
    {"question_id": "Q1", "code": "NA", "share": "007", "text": "Café, «quoted»"},
    {"question_id": "Q2", "code": "None", "share": "", "text": "two"},
]
"""Values a naive reader would turn into NaN or numbers ("NA" is Namibia's ISO code)."""


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.txt", "T.CSV", "t.Tsv"])
def test_text_tables_keep_every_value_as_written(tmp_path, name):
    path = tmp_path / name
    sep = "," if name.lower().endswith(".csv") else "\t"
    pd.DataFrame(ROWS).to_csv(path, sep=sep, index=False)
    frame = read_user_table(path, "questions file")
    assert frame.to_dict(orient="records") == ROWS  # "NA", "None", "007", "" unchanged
    assert frame.attrs == {"path": str(path), "kind": "csv" if sep == "," else "tsv",
                           "lines": [2, 3]}  # fmt: skip


def test_a_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffquestion_id,text\nQ1,Hello\n".encode())
    assert list(read_user_table(path).columns) == ["question_id", "text"]


@pytest.mark.parametrize("name", ["t.parquet", "t.pq"])
def test_parquet_tables_keep_their_types(tmp_path, name):
    path = tmp_path / name
    pd.DataFrame({"question_id": ["Q1", "Q2"], "option": [1, 2], "share": [0.25, 0.75]}).to_parquet(
        path
    )
    frame = read_user_table(path)
    assert frame["option"].tolist() == [1, 2] and frame["share"].tolist() == [0.25, 0.75]
    assert frame.attrs["kind"] == "parquet" and frame.attrs["path"] == str(path)


@pytest.mark.parametrize("name", ["t.jsonl", "t.json"])
def test_json_lines_tables(tmp_path, name):
    path = tmp_path / name
    path.write_text('{"question_id": "Q1", "option": 1}\n{"question_id": "007", "option": 2}\n')
    frame = read_user_table(path)
    # dtype=False: "007" stays a string
    assert frame.to_dict(orient="records") == [
        {"question_id": "Q1", "option": 1},
        {"question_id": "007", "option": 2},
    ]
    assert frame.attrs["kind"] == "jsonl"


def test_a_json_array_file_is_read_as_records_or_refused(tmp_path):
    path = tmp_path / "questions.json"
    path.write_text('[{"question_id": "Q1", "option": 1}, {"question_id": "Q2", "option": 2}]')
    try:
        frame = read_user_table(path)
    except BenchmarkError as exc:
        assert str(path) in str(exc)
    else:
        assert frame.to_dict(orient="records") == [
            {"question_id": "Q1", "option": 1},
            {"question_id": "Q2", "option": 2},
        ]


def test_an_unknown_extension_names_the_file_and_the_choices(tmp_path):
    path = tmp_path / "questions.xlsx"
    pd.DataFrame(ROWS).to_excel(path, index=False)
    with pytest.raises(BenchmarkError) as raised:
        read_user_table(path)
    assert str(raised.value) == (
        f"{path}: unknown file type '.xlsx' (use .csv, .tsv, .parquet or .jsonl)"
    )


def test_a_missing_file_names_the_file_and_what_it_is(tmp_path):
    with pytest.raises(BenchmarkError) as raised:
        read_user_table(tmp_path / "nope.csv", "distributions file")
    assert str(raised.value) == f"{tmp_path / 'nope.csv'}: distributions file not found"
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(BenchmarkError, match="folder.csv: table not found"):
        read_user_table(tmp_path / "folder.csv")


@pytest.mark.parametrize(
    ("name", "content", "detail"),
    [
        ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "Expected 2 fields in line 3, saw 3"),
        ("latin1.csv", "a,b\nCaf\xe9,1\n".encode("latin-1"), "can't decode byte 0xe9"),
        ("empty.tsv", b"", "No columns to parse"),
        ("broken.parquet", b"PAR1 not really", "Parquet"),
        ("broken.jsonl", b'{"a": 1}\n{"a": \n', ""),
    ],
)
def test_unreadable_content_names_the_file(tmp_path, name, content, detail):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BenchmarkError) as raised:
        read_user_table(path, "questions file")
    message = str(raised.value)
    assert message.startswith(f"{path}: cannot read the questions file (")
    assert detail in message
    assert isinstance(raised.value.__cause__, Exception)  # the reader's own error is kept


def test_where_names_the_line_of_text_files_and_the_row_of_others(tmp_path):
    csv = tmp_path / "q.csv"
    csv.write_text("question_id,text\nQ1,a\nQ2,b\nQ3,c\n")
    frame = read_user_table(csv)
    # header = line 1, so the third data row (index 2) is on line 4
    assert where(frame, 2, "text") == f"{csv}: line 4, column text"
    assert where(frame, 0) == f"{csv}: line 2"
    parquet = tmp_path / "q.parquet"
    frame.to_parquet(parquet)
    assert where(read_user_table(parquet), 2, "text") == f"{parquet}: row 3, column text"
    assert where(pd.DataFrame({"a": [1]}), 0, "a") == "table: row 1, column a"


@pytest.mark.parametrize(
    "content",
    [
        'question_id,text\nQ1,"first line\nsecond line"\nQ2,b\n',
        "question_id,text\nQ1,a\n\nQ2,b\n",
    ],
    ids=["quoted-newline", "blank-line"],
)
def test_where_names_the_real_line_of_a_row(tmp_path, content):
    path = tmp_path / "q.csv"
    path.write_text(content)
    frame = read_user_table(path)
    assert frame["question_id"].tolist() == ["Q1", "Q2"]
    # Q2 is on line 4 of the file in both cases (counted by hand)
    assert content.splitlines()[3].startswith("Q2")
    assert where(frame, 1, "text") == f"{path}: line 4, column text"


def test_require_columns_names_the_file_the_missing_and_the_found(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("question_id,populaton,share\nQ1,Chile,1\n")
    frame = read_user_table(path)
    require_columns(frame, ["question_id", "share"])  # present: no error
    with pytest.raises(BenchmarkError) as raised:
        require_columns(frame, ["question_id", "population", "option", "share"])
    assert str(raised.value) == (
        f"{path}: missing column(s) population, option (found: question_id, populaton, share)"
    )
    with pytest.raises(BenchmarkError, match=r"^table: missing column\(s\) a \(found: nothing\)$"):
        require_columns(pd.DataFrame(), ["a"])


@pytest.mark.parametrize("value", [None, "", "   ", "\t\n", math.nan, float("nan"), np.nan])
def test_blank_values(value):
    assert is_blank(value)


@pytest.mark.parametrize("value", ["0", 0, 0.0, "NA", "None", "-", " x ", False, math.inf])
def test_values_that_are_not_blank(value):
    assert not is_blank(value)


@pytest.mark.parametrize("value", [pd.NA, np.float32("nan")], ids=["pd.NA", "float32-nan"])
def test_pandas_and_numpy_missing_values_are_blank(value):
    assert is_blank(value)


# --------------------------------------------------------------------------- writing


def parts(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_atomic_write_appears_complete_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "new" / "deeper" / "out.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        assert not target.exists()  # nothing at the path while writing
        tmp.write_text("complete\n")
    assert target.read_text() == "complete\n"
    assert parts(target.parent) == []


@pytest.mark.parametrize("existing", [None, "the previous version\n"])
def test_an_exception_inside_the_context_leaves_the_path_as_it_was(tmp_path, existing):
    target = tmp_path / "out.csv"
    if existing is not None:
        target.write_text(existing)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), atomic_path(target) as tmp:
        tmp.write_text("half of a tab")
        raise Boom
    if existing is None:
        assert not target.exists()
    else:
        assert target.read_text() == existing
    assert parts(tmp_path) == []


def test_a_failing_writer_function_leaves_nothing(tmp_path):
    target = tmp_path / "table.csv"

    class Unprintable:
        def __str__(self):
            raise RuntimeError("cannot format")

    with pytest.raises(RuntimeError, match="cannot format"):
        write_csv_atomic(pd.DataFrame({"a": [1, Unprintable()]}), target)
    assert not target.exists() and parts(tmp_path) == []
    # a lone surrogate cannot be encoded as UTF-8: the write fails half-way
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic("fine so far \ud800 not this", tmp_path / "x.txt")
    assert not (tmp_path / "x.txt").exists() and parts(tmp_path) == []


def test_stale_temporaries_of_a_killed_job_are_removed_but_not_others(tmp_path):
    stale = tmp_path / ".out.txt.abc123.part"
    stale.write_text("left by kill -9")
    other = tmp_path / ".other.txt.abc123.part"
    other.write_text("another output's")
    write_text_atomic("new\n", tmp_path / "out.txt")
    assert not stale.exists() and other.exists()
    assert (tmp_path / "out.txt").read_text() == "new\n"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_get_the_permissions_of_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        written = write_text_atomic("x", tmp_path / "f.txt")
        replaced = tmp_path / "old.txt"
        replaced.write_text("old")
        os.chmod(replaced, 0o600)
        write_text_atomic("new", replaced)
    finally:
        os.umask(previous)
    # like open(): 0o666 minus the umask (not the 0o600 of a temporary file)
    assert stat.S_IMODE(written.stat().st_mode) == mode
    assert stat.S_IMODE(replaced.stat().st_mode) == mode


def test_json_is_strict_plain_and_readable(tmp_path):
    value = {
        "nan": math.nan, "inf": -math.inf, "count": np.int64(3), "share": np.float32(0.5),
        "flag": np.bool_(True), "tuple": (1, np.float64(math.nan)), 7: "seven",
        "text": "مرحبا",
    }  # fmt: skip
    path = write_json_atomic(value, tmp_path / "out.json")
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and "مرحبا" in text  # not \\u escaped
    assert json.loads(text) == {
        "nan": None, "inf": None, "count": 3, "share": 0.5, "flag": True,
        "tuple": [1, None], "7": "seven", "text": "مرحبا",
    }  # fmt: skip
    assert "NaN" not in text and "Infinity" not in text
    assert type(json_safe(np.int64(3))) is int and json_safe([np.float64(1.5)]) == [1.5]


def test_csv_writer_has_no_index_unless_asked(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=[10, 11])
    assert write_csv_atomic(frame, tmp_path / "a.csv").read_text() == "a,b\n1,x\n2,y\n"
    with_index = write_csv_atomic(frame, tmp_path / "b.csv", index=True).read_text()
    assert with_index == ",a,b\n10,1,x\n11,2,y\n"


def test_read_csv_or_empty(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert read_csv_or_empty(empty).empty and list(read_csv_or_empty(empty).columns) == []
    header = tmp_path / "header.csv"
    header.write_text("model,p_value\n")
    frame = read_csv_or_empty(header)
    assert list(frame.columns) == ["model", "p_value"] and len(frame) == 0
    full = tmp_path / "full.csv"
    full.write_text("model,p_value\nm,0.5\n")
    assert read_csv_or_empty(full).to_dict(orient="records") == [{"model": "m", "p_value": 0.5}]
    with pytest.raises(FileNotFoundError):  # a missing file is not an empty one
        read_csv_or_empty(tmp_path / "missing.csv")
