"""The ratings kind's judge tables for the workflow: per-cell scores and surrogacy, and the
per-cell summary the index page and the report read."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from culturalign.analysis.ratings.judge_outputs import cells_of
from culturalign.analysis.ratings.judges import (
    JudgeError,
    judge_report,
    majority_labels,
    surrogacy,
    surrogacy_summary,
)
from culturalign.constants import CELL_KEYS

log = logging.getLogger("culturalign")

ALPHA = 0.05
SUMMARY_COLUMNS = (
    *CELL_KEYS, "task", "n_quadrants", "n_items", "n_replicates", "mean_f1",
    "mean_baseline_f1", "mean_auroc", "n_above_baseline", "n_below_baseline",
    "own_agreement", "other_agreement", "n_pairs_left_out",
)  # fmt: skip


def _cell_frame(judge: pd.DataFrame, cell: tuple[str, ...]) -> pd.DataFrame:
    pairs = zip(CELL_KEYS, cell, strict=True)
    mask = np.logical_and.reduce([judge[key] == value for key, value in pairs])
    return judge[mask]


def judge_tables(
    judge: pd.DataFrame,
    posteriors: pd.DataFrame,
    items: pd.DataFrame,
    left_out: pd.DataFrame,
    *,
    resamples: int,
    seed: int,
    threshold: float,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(scores, surrogacy, summary)`` over every cell of ``judge``.

    ``scores``: :func:`judges.judge_report` per cell (both tasks, one row per quadrant),
    with the cell columns. ``surrogacy``: the judge x rater quadrant agreement matrix per
    cell. ``summary``: per (cell, task) the mean F1, baseline F1 and AUROC over the
    quadrants, how many quadrants beat or trail the baseline (p < 0.05), the surrogacy
    diagonal against the off-diagonal mean, and the (item, quadrant) pairs left out for
    missing probabilities."""
    score_frames, surrogacy_frames, summary_rows = [], [], []
    majority = majority_labels(posteriors)
    for cell in cells_of(judge):
        frame = _cell_frame(judge, cell)
        keys = dict(zip(CELL_KEYS, cell, strict=True))
        try:
            scores = judge_report(frame, posteriors, items, resamples=resamples, seed=seed,
                                  threshold=threshold)  # fmt: skip
        except JudgeError as exc:
            log.warning("%s: no judge scores: %s", "/".join(cell), exc)
            continue
        score_frames.append(scores.assign(**keys))
        matrix = surrogacy(frame, majority, threshold=threshold) if len(majority) else None
        agreement = surrogacy_summary(matrix) if matrix is not None and len(matrix) else None
        if matrix is not None:
            surrogacy_frames.append(matrix.assign(**keys))
        lost = left_out
        for key, value in keys.items():
            lost = lost[lost[key] == value] if len(lost) else lost
        for task, rows in scores.groupby("task", sort=False):
            significant = rows["p_value"] < ALPHA
            summary_rows.append(
                {
                    **keys,
                    "task": task,
                    "n_quadrants": len(rows),
                    "n_items": int(rows["n_items"].max()),
                    "n_replicates": int(rows["n_replicates"].max()),
                    "mean_f1": rows["f1"].mean(),
                    "mean_baseline_f1": rows["baseline_f1"].mean(),
                    "mean_auroc": rows["auroc"].mean(),
                    "n_above_baseline": int((significant & (rows["difference"] > 0)).sum()),
                    "n_below_baseline": int((significant & (rows["difference"] < 0)).sum()),
                    "own_agreement": agreement["own_agreement"].mean()
                    if agreement is not None else np.nan,
                    "other_agreement": agreement["other_agreement"].mean()
                    if agreement is not None else np.nan,
                    "n_pairs_left_out": int(lost["n_pairs_left_out"].sum()) if len(lost) else 0,
                }
            )  # fmt: skip
    scores = pd.concat(score_frames, ignore_index=True) if score_frames else pd.DataFrame()
    if len(scores):
        scores = scores[[*CELL_KEYS, *[c for c in scores.columns if c not in CELL_KEYS]]]
    matrix = pd.concat(surrogacy_frames, ignore_index=True) if surrogacy_frames else pd.DataFrame()
    if len(matrix):
        matrix = matrix[[*CELL_KEYS, *[c for c in matrix.columns if c not in CELL_KEYS]]]
    return scores, matrix, pd.DataFrame(summary_rows, columns=list(SUMMARY_COLUMNS))
