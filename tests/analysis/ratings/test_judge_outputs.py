"""The judge table read from shard rows: P(unsafe) is option 1's probability whatever order
the options were shown in, and pairs with a missing probability are left out whole."""

from __future__ import annotations

import pandas as pd
import pytest

from culturalign.analysis.kit import MetricsError
from culturalign.analysis.ratings.judge_outputs import cells_of, judge_probabilities

CELL = {"model": "m", "language": "en", "framing": "persona", "reasoning": "zero"}


def row(item, quadrant, variant, p_unsafe, answer=1, reasoning="zero"):
    probs = None if p_unsafe is None else [
        {"option": 2, "prob": 1 - p_unsafe}, {"option": 1, "prob": p_unsafe}
    ]  # fmt: skip
    return {**CELL, "reasoning": reasoning, "question_id": item, "country": quadrant,
            "variant": variant, "option_probs": probs, "answer": answer,
            "shard": "s.parquet", "shard_row": 0}  # fmt: skip


def test_p_unsafe_is_option_one_and_incomplete_pairs_are_left_out():
    shards = pd.DataFrame([
        row("i1", "q1", "original", 0.8),
        row("i1", "q1", "reversed", 0.7, answer=None),
        row("i2", "q1", "original", 0.1),
        row("i2", "q1", "reversed", None),   # this pair is incomplete
        row("i1", "q1", "original", 0.3, reasoning="cot"),
    ])  # fmt: skip
    judge, left_out = judge_probabilities(shards)
    assert judge[["item_id", "replicate", "reasoning"]].values.tolist() == [
        ["i1", "original", "zero"], ["i1", "reversed", "zero"], ["i1", "original", "cot"]
    ]  # fmt: skip
    assert judge["p_unsafe"].tolist() == pytest.approx([0.8, 0.7, 0.3])
    assert judge["answer"].isna().tolist() == [False, True, False]
    assert left_out.to_dict("records") == [{**CELL, "n_pairs_left_out": 1}]
    assert cells_of(judge) == [("m", "en", "persona", "zero"), ("m", "en", "persona", "cot")]


def test_probabilities_outside_the_two_options_are_an_error_naming_the_row():
    bad = row("i1", "q1", "original", 0.5)
    bad["option_probs"] = [{"option": 1, "prob": 0.5}, {"option": 3, "prob": 0.5}]
    with pytest.raises(MetricsError, match=r"s\.parquet, row 0"):
        judge_probabilities(pd.DataFrame([bad]))
