"""Time of the ratings kind's hierarchical bootstrap (judge F1 / AUROC intervals) at the size
issue 24 names: B = 10,000 over 1,000 items x 5 replicates x 4 quadrants, median of 3 rounds.
Writes bench/results/ratings_bootstrap.json."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from culturalign.analysis.ratings.judges import judge_scores
from culturalign.analysis.ratings.simulation import QUADRANTS

ITEMS, REPLICATES, RESAMPLES, ROUNDS = 1000, 5, 10_000, 3


def data(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"item-{i}" for i in range(ITEMS)]
    judge, labels = [], []
    for quadrant in QUADRANTS:
        label = rng.integers(0, 2, ITEMS)
        p = np.clip(0.3 * label[:, None] + rng.uniform(0, 0.7, (ITEMS, REPLICATES)), 0, 1)
        for replicate in range(REPLICATES):
            column = {"replicate": replicate, "p_unsafe": p[:, replicate]}
            judge.append(pd.DataFrame({"item_id": ids, "quadrant": quadrant, **column}))
        labels.append(pd.DataFrame({"item_id": ids, "quadrant": quadrant, "label": label}))
    return pd.concat(judge, ignore_index=True), pd.concat(labels, ignore_index=True)


def main() -> None:
    judge, labels = data(0)
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        judge_scores(judge, labels, resamples=RESAMPLES, seed=0)
        times.append(time.perf_counter() - start)
    result = {
        "items": ITEMS, "replicates": REPLICATES, "quadrants": len(QUADRANTS),
        "resamples": RESAMPLES, "seconds": times, "median_seconds": statistics.median(times),
        "machine": platform.processor() or platform.machine(),
    }  # fmt: skip
    out = Path(__file__).parent / "results" / "ratings_bootstrap.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
