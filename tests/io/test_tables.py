"""Table validation: column by column on distinct values, held against jsonschema run row by
row here (the reference), on tables with bad values planted at known rows."""

from __future__ import annotations

import jsonschema
import numpy as np
import pandas as pd
import pytest

from culturalign.errors import TableError
from culturalign.io.tables import validate_table

SCHEMA = {
    "type": "object",
    "properties": {
        "question_id": {"type": "string", "pattern": "^Q[0-9]+$"},
        "country": {"type": ["string", "null"]},
        "option": {"type": "integer", "minimum": 1},
        "share": {"type": "number", "minimum": 0, "maximum": 1},
        "options": {"type": "array", "items": {"type": "object", "required": ["code"]}},
    },
    "required": ["question_id", "option", "share"],
    "additionalProperties": False,
}


def table(rows: int = 5000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "question_id": [f"Q{i % 50}" for i in range(rows)],
        "country": rng.choice(["Egypt", "Iran", None], size=rows),
        "option": rng.integers(1, 5, size=rows),
        "share": rng.random(rows),
        "options": [[{"code": 1}, {"code": 2}]] * rows,
    })  # fmt: skip


def first_bad_row_by_hand(frame: pd.DataFrame) -> int | None:
    """jsonschema on each row as a dict (the definition of the verdict)."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for index, record in enumerate(frame.astype(object).to_dict("records")):
        record = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in record.items()}
        if any(True for _ in validator.iter_errors(record)):
            return index
    return None


def test_a_valid_table_passes():
    frame = table()
    assert first_bad_row_by_hand(frame) is None
    validate_table(frame, SCHEMA, "t")


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("question_id", "X7", "does not match"),
        ("option", 0, "less than the minimum"),
        ("share", 1.5, "greater than the maximum"),
        ("country", 3, "is not of type"),
        ("options", [{"label": "A"}], "'code' is a required property"),
    ],
)  # fmt: skip
def test_the_first_bad_row_and_its_column_are_named(column, value, message):
    frame = table()
    frame[column] = frame[column].astype(object)
    for row in (4321, 1234, 3000):  # the same bad value three times: the first one counts
        frame.at[row, column] = value
    assert first_bad_row_by_hand(frame) == 1234
    with pytest.raises(TableError, match=rf"^t: row 1234, column {column}: .*{message}"):
        validate_table(frame, SCHEMA, "t")


def test_of_two_bad_columns_the_earlier_row_is_named_and_extra_columns_refused():
    frame = table()
    frame["share"] = frame["share"].astype(object)
    frame.at[900, "share"] = -1.0
    frame["option"] = frame["option"].astype(object)
    frame.at[700, "option"] = "two"
    assert first_bad_row_by_hand(frame) == 700
    with pytest.raises(TableError, match=r"row 700, column option"):
        validate_table(frame, SCHEMA, "t")
    with pytest.raises(TableError, match=r"row 0, column extra: Additional properties"):
        validate_table(table().assign(extra=1), SCHEMA, "t")
    with pytest.raises(TableError, match=r"missing column\(s\) share"):
        validate_table(table().drop(columns="share"), SCHEMA, "t")
