"""Figures of the multiple-choice (mcq) kind (PNG and SVG side by side, see
:mod:`culturalign.reporting.figures`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from culturalign.reporting.figures import (  # noqa: E402
    empty_figure,
    interval_bars,
    save,
)


def mcq_accuracy(summary: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Accuracy per category and cell with 95% intervals; the chance level as a line."""
    if summary.empty or "accuracy" not in summary:
        return empty_figure(stem, "Accuracy", "no scored cells")
    cells = summary[["model", "language", "framing", "reasoning"]].drop_duplicates()
    categories = [c for c in dict.fromkeys(summary["category"]) if c != "all"] + ["all"]
    fig, ax = plt.subplots(figsize=(2.2 + 0.9 * len(categories) * max(1, len(cells)) / 2, 3.8),
                           constrained_layout=True)  # fmt: skip
    width = 0.8 / max(1, len(cells))
    palette = plt.get_cmap("tab10")
    for k, cell in enumerate(cells.itertuples(index=False)):
        rows = summary[
            (summary["model"] == cell.model)
            & (summary["language"] == cell.language)
            & (summary["reasoning"] == cell.reasoning)
        ].set_index("category")
        rows = rows.reindex(categories)
        xs = np.arange(len(categories)) + (k - (len(cells) - 1) / 2) * width
        values = rows["accuracy"].to_numpy(float)
        low = np.maximum(values - rows["accuracy_ci_low"].to_numpy(float), 0)
        high = np.maximum(rows["accuracy_ci_high"].to_numpy(float) - values, 0)
        ax.bar(xs, values, width, yerr=[low, high], capsize=2, color=palette(k % 10),
               label=f"{cell.model} {cell.language}/{cell.reasoning}")  # fmt: skip
    if "n_orders" in summary and summary["n_orders"].max() > 1:
        ax.axhline(1 / summary["n_orders"].max(), color="#999", ls="--", lw=1, label="chance")
    ax.set_xticks(range(len(categories)), categories, rotation=25, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("accuracy (text answer; refusals wrong)")
    ax.legend(fontsize=7)
    ax.set_title("Accuracy per category (95% interval over questions)")
    return save(fig, stem)


def mcq_circular(summary: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Accuracy in the original order against circular accuracy (correct in every rotation),
    and the share of answers on the option shown first."""
    data = summary[summary["category"] == "all"].reset_index(drop=True) if len(summary) else summary
    if data.empty or "circular_accuracy" not in data or data["circular_accuracy"].isna().all():
        return empty_figure(stem, "CircularEval", "no rotated prompts were asked")
    labels = [f"{r['model']}\n{r['language']}/{r['reasoning']}" for _, r in data.iterrows()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(4 + 1.6 * len(data), 3.6),
                                      constrained_layout=True)  # fmt: skip
    interval_bars(left, data, "accuracy", "original order", "#4C72B0", -0.2, 0.4)
    interval_bars(left, data, "circular_accuracy", "every rotation", "#DD8452", 0.2, 0.4)
    left.set_xticks(range(len(data)), labels, fontsize=7)
    left.set_ylim(0, 1.05)
    left.set_ylabel("accuracy")
    left.legend(fontsize=7)
    right.bar(range(len(data)), data["first_shown_rate"], 0.5, color="#55A868")
    right.axhline(1 / data["n_orders"].max(), color="#999", ls="--", lw=1, label="no position bias")
    right.set_xticks(range(len(data)), labels, fontsize=7)
    right.set_ylim(0, 1.05)
    right.set_ylabel("answers on the option shown first")
    right.legend(fontsize=7)
    fig.suptitle("CircularEval: is the answer the content or the position?")
    return save(fig, stem)
