"""The judge table of the ratings kind, from the generation shards of its persona cells.

Each shard row is one (item, quadrant, replicate) question to a model: ``question_id`` is the
item, ``country`` the quadrant (the populations of a ratings benchmark are the four
quadrants), ``variant`` the replicate (the original wording and the robustness wordings and
option order of a zero-shot cell). ``p_unsafe`` is the exact probability of option 1
("Unsafe"; a reversed option order keeps its codes, so option 1 is "Unsafe" there too).

Why only complete (item, quadrant) pairs are scored: the judge bootstrap resamples
replicates within items, which needs every pair to have the same replicates; a row without
option probabilities (an API that returned too few top logprobs) leaves its pair out, and
the table says how many.
"""

from __future__ import annotations

import pandas as pd

from culturalign.analysis.kit import is_missing, probs_vector
from culturalign.constants import CELL_KEYS

UNSAFE_OPTION = 1
"""The option code of "Unsafe" in the judge questions (``ratings_data.judge_questions``)."""

JUDGE_COLUMNS = (*CELL_KEYS, "item_id", "quadrant", "replicate", "p_unsafe", "answer")


def judge_probabilities(shards: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(judge, incomplete)`` from shard rows loaded by ``analysis.kit.load_shards``.

    ``judge``: one row per (cell, item, quadrant, replicate) with ``p_unsafe`` and the
    parsed ``answer`` (1 unsafe, 2 safe, null unparsed), only for (cell, item, quadrant)
    pairs whose every replicate has probabilities. ``incomplete``: per cell, how many pairs
    were left out for missing probabilities (``n_pairs_left_out``; no row when none)."""
    rows = []
    for row in shards.itertuples(index=False):
        where = f"{row.shard}, row {row.shard_row}"
        probs = (
            None if is_missing(row.option_probs) else probs_vector(row.option_probs, 1, 2, where)
        )
        rows.append(
            {
                **{key: getattr(row, key) for key in CELL_KEYS},
                "item_id": str(row.question_id),
                "quadrant": str(row.country),
                "replicate": str(row.variant),
                "p_unsafe": float(probs[UNSAFE_OPTION - 1]) if probs is not None else None,
                "answer": None if is_missing(row.answer) else int(row.answer),
            }
        )
    table = pd.DataFrame(rows, columns=list(JUDGE_COLUMNS))
    table["p_unsafe"] = table["p_unsafe"].astype("Float64")
    table["answer"] = table["answer"].astype("Int64")
    pair = [*CELL_KEYS, "item_id", "quadrant"]
    complete = table.groupby(pair, sort=False)["p_unsafe"].transform(lambda s: s.notna().all())
    left_out = (
        table[~complete.astype(bool)]
        .drop_duplicates(pair)
        .groupby(list(CELL_KEYS), sort=False)
        .size()
        .rename("n_pairs_left_out")
        .reset_index()
    )
    judge = table[complete.astype(bool)].reset_index(drop=True)
    judge["p_unsafe"] = judge["p_unsafe"].astype(float)
    return judge, left_out


def cells_of(judge: pd.DataFrame) -> list[tuple[str, ...]]:
    """The (model, language, framing, reasoning) cells of a judge table, in table order."""
    return list(judge[list(CELL_KEYS)].drop_duplicates().itertuples(index=False, name=None))
