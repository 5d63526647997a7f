"""The end-to-end modules' table comparison (tests/table_equality.py) finds what differs."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from table_equality import differences

OPTION = pa.struct([("code", pa.int64()), ("prob", pa.float64())])


def shard(path, probs, answers=("1", "2"), metadata=None):
    table = pa.table(
        {
            "answer": list(answers),
            "option_probs": pa.array(
                [[{"code": 1, "prob": p}, {"code": 2, "prob": 1 - p}] for p in probs],
                pa.list_(OPTION),
            ),
        }
    )
    pq.write_table(table.replace_schema_metadata(metadata), path)
    return path


def test_tables_that_differ_only_in_metadata_are_the_same(tmp_path):
    a = shard(tmp_path / "a.parquet", [0.25, 0.5], metadata={"run": "one"})
    b = shard(tmp_path / "b.parquet", [0.25, 0.5], metadata={"run": "two"})
    assert differences(a, b) == ""


def test_a_moved_probability_is_named_with_its_size(tmp_path):
    a = shard(tmp_path / "a.parquet", [0.25, 0.5])
    b = shard(tmp_path / "b.parquet", [0.25, 0.5 + 3e-7])
    message = differences(a, b)
    assert message.startswith("columns differ: ['option_probs']"), message
    assert "largest option_probs difference 3e-07" in message


def test_other_columns_rows_and_schemas_are_named(tmp_path):
    a = shard(tmp_path / "a.parquet", [0.25, 0.5])
    assert differences(a, shard(tmp_path / "b.parquet", [0.25, 0.5], ("1", "3"))) == (
        "columns differ: ['answer']"
    )
    assert differences(a, shard(tmp_path / "c.parquet", [0.25], ("1",))) == "2 rows against 1"
    pq.write_table(pa.table({"answer": ["1", "2"]}), tmp_path / "d.parquet")
    assert differences(a, tmp_path / "d.parquet").startswith("schemas differ")
