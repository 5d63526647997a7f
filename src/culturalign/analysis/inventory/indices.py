"""Hofstede dimension indices from a model's VSM 2013 answers, and their comparison with
reference country scores.

Per model cell, region and item the *item score* is the mean answer on the 1..5 scale,
from two sources: ``expected`` (the probability-weighted answer of the exact option
distribution) and ``text`` (the answer the response gives; null for a refusal). With one
prompt per (item, region) the mean is that one answer. The six indices follow the VSM 2013
manual (Hofstede & Minkov 2013), each plus a constant ``C`` (config ``constants``, default
0; the manual chooses C to shift scores into 0..100 for a set of countries)::

    PDI = 35 (m07 - m02) + 25 (m20 - m23) + C(PDI)
    IDV = 35 (m04 - m01) + 35 (m09 - m06) + C(IDV)
    MAS = 35 (m05 - m03) + 35 (m08 - m10) + C(MAS)
    UAI = 40 (m18 - m15) + 25 (m21 - m24) + C(UAI)
    LTO = 40 (m13 - m14) + 25 (m19 - m22) + C(LTO)
    IVR = 35 (m12 - m11) + 40 (m17 - m16) + C(IVR)

An index is null when an item it needs has no score (a refused text answer).

Against reference scores (country, dimension, score): per model cell, source and dimension,
Kendall's tau-b between the regions' indices and their reference scores
(``scipy.stats.kendalltau``, variant b: ties corrected) with a 95% percentile bootstrap
interval resampling regions (resamples with fewer than two distinct values on either side
have no tau and are skipped), and the mean absolute index error ``mean |index - score|``
over the regions; per cell the mean absolute error over every (region, dimension).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from culturalign.analysis.kit import original_only
from culturalign.benchmarks.hofstede import DIMENSIONS
from culturalign.constants import CELL_KEYS

SOURCES = ("expected", "text")


def index_value(means: Mapping[str, float], dimension: str, constant: float = 0.0) -> float:
    """One dimension index from item means (NaN when a needed item has none)."""
    total = constant
    for weight, a, b in DIMENSIONS[dimension]:
        if a not in means or b not in means:
            return math.nan
        total += weight * (means[a] - means[b])
    return float(total)


def item_scores(items: pd.DataFrame) -> pd.DataFrame:
    """Per cell, region and item: the expected and the text answer (original wording).

    ``items``: :func:`culturalign.analysis.survey.metrics.item_table`'s frame (persona rows
    have a country).
    """
    data = original_only(items)
    data = data[data["country"].notna()]
    out = data[[*CELL_KEYS, "country", "question_id", "expected", "answer", "refusal"]].copy()
    out["item"] = out["question_id"].str.removeprefix("VSM-")
    out["text"] = pd.to_numeric(out["answer"], errors="coerce").astype(float)
    return out[[*CELL_KEYS, "country", "item", "question_id", "expected", "text", "refusal"]]


def indices(scores: pd.DataFrame, constants: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per cell, region, source and dimension: the index."""
    constants = dict(constants or {})
    rows = []
    for key, group in scores.groupby([*CELL_KEYS, "country"], sort=True):
        for source in SOURCES:
            means = {r.item: float(getattr(r, source)) for r in group.itertuples(index=False)
                     if not pd.isna(getattr(r, source))}  # fmt: skip
            for dimension in DIMENSIONS:
                rows.append(
                    {
                        **dict(zip([*CELL_KEYS, "country"], key, strict=True)),
                        "source": source,
                        "dimension": dimension,
                        "index": index_value(
                            means, dimension, float(constants.get(dimension, 0.0))
                        ),
                    }
                )
    columns = [*CELL_KEYS, "country", "source", "dimension", "index"]
    return pd.DataFrame(rows, columns=columns)


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (NaN when either side has fewer than two distinct values)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 2 or len(np.unique(x)) < 2 or len(np.unique(y)) < 2:
        return math.nan
    return float(sps.kendalltau(x, y, variant="b").statistic)


def tau_interval(
    x: np.ndarray, y: np.ndarray, resamples: int, seed: int
) -> tuple[float, float, int]:
    """95% percentile bootstrap interval of tau-b resampling regions; ``(low, high, used)``."""
    rng = np.random.default_rng(seed)
    n = len(x)
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, n, size=n)
        tau = kendall_tau_b(x[idx], y[idx])
        if not math.isnan(tau):
            values.append(tau)
    if not values:
        return (math.nan, math.nan, 0)
    low, high = np.quantile(values, [0.025, 0.975])
    return (float(low), float(high), len(values))


COMPARISON_COLUMNS = [*CELL_KEYS, "source", "dimension", "n_regions", "kendall_tau_b",
                      "tau_ci_low", "tau_ci_high", "tau_resamples", "mae", "regions"]  # fmt: skip


def compare(
    index_table: pd.DataFrame, reference: pd.DataFrame, resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Per cell, source and dimension: tau-b against the reference and the mean |error|."""
    merged = index_table.merge(reference, on=["country", "dimension"], how="inner")
    merged = merged.dropna(subset=["index"])
    rows = []
    for key, group in merged.groupby([*CELL_KEYS, "source", "dimension"], sort=True):
        group = group.sort_values("country")
        x, y = group["index"].to_numpy(float), group["score"].to_numpy(float)
        low, high, used = tau_interval(x, y, resamples, seed)
        rows.append({**dict(zip([*CELL_KEYS, "source", "dimension"], key, strict=True)),
                     "n_regions": len(group), "kendall_tau_b": kendall_tau_b(x, y),
                     "tau_ci_low": low, "tau_ci_high": high, "tau_resamples": used,
                     "mae": float(np.mean(np.abs(x - y))),
                     "regions": ", ".join(group["country"])})  # fmt: skip
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def summary(
    index_table: pd.DataFrame, comparison: pd.DataFrame, reference: pd.DataFrame | None
) -> pd.DataFrame:
    """Per model cell and source: regions, mean |index error| over (region, dimension) and
    the mean tau-b over dimensions (the index page's line)."""
    rows = []
    for key, group in index_table.groupby([*CELL_KEYS, "source"], sort=True):
        row: dict[str, Any] = dict(zip([*CELL_KEYS, "source"], key, strict=True))
        row["n_regions"] = int(group["country"].nunique())
        row["n_indices"] = int(group["index"].notna().sum())
        if reference is not None and not reference.empty:
            merged = group.merge(reference, on=["country", "dimension"]).dropna(subset=["index"])
            row["mae"] = float(np.mean(np.abs(merged["index"] - merged["score"]))) if len(
                merged) else math.nan  # fmt: skip
            mine = comparison
            for k in (*CELL_KEYS, "source"):
                mine = mine[mine[k] == row[k]]
            row["mean_tau_b"] = float(mine["kendall_tau_b"].mean()) if len(mine) else math.nan
        else:
            row["mae"], row["mean_tau_b"] = math.nan, math.nan
        rows.append(row)
    columns = [*CELL_KEYS, "source", "n_regions", "n_indices", "mae", "mean_tau_b"]
    return pd.DataFrame(rows, columns=columns)
