"""Figures of the ratings kind (PNG and SVG side by side, see
:mod:`culturalign.reporting.figures`): the raters on the cultural map, the threshold grid
of the sensitive-item rule and the judges' F1 against the "Always Unsafe" baseline. The
forest plots of the mixed models are :func:`mixed_models.forest_plot`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from culturalign.reporting.figures import empty_figure, plt, save


def raters_map(raters: pd.DataFrame, zone_scheme: str, stem: str | Path) -> list[Path]:
    """One point per rater country at its map position, its area proportional to its
    raters; the quadrant boundaries at (0, 0)."""
    placed = raters.dropna(subset=["traditional_secular", "survival_selfexpression"])
    if placed.empty:
        return empty_figure(stem, "Raters on the cultural map", "no rater has a map position")
    counts = (
        placed.groupby("country", sort=True)
        .agg(
            n=("rater_id", "size"),
            x=("survival_selfexpression", "first"),
            y=("traditional_secular", "first"),
            zone=("zone", "first"),
        )  # fmt: skip
        .reset_index()
    )
    fig, ax = plt.subplots(figsize=(6.4, 5.2), constrained_layout=True)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.axvline(0, color="0.6", lw=0.8)
    sizes = 40 + 460 * counts["n"] / counts["n"].max()
    ax.scatter(counts["x"], counts["y"], s=sizes, alpha=0.6, color="tab:blue", edgecolor="k")
    for row in counts.itertuples(index=False):
        ax.annotate(f"{row.country} ({row.n})", (row.x, row.y), fontsize=8,
                    xytext=(6, 4), textcoords="offset points")  # fmt: skip
    limit = max(2.2, float(np.abs(counts[["x", "y"]].to_numpy()).max()) + 0.4)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    for x, y, text in ((-1, -1, "traditional / survival"), (1, -1, "traditional / self-expr."),
                       (-1, 1, "secular / survival"), (1, 1, "secular / self-expr.")):  # fmt: skip
        ax.text(x * limit * 0.97, y * limit * 0.97, text, fontsize=7, color="0.4",
                ha="left" if x < 0 else "right", va="bottom" if y < 0 else "top")  # fmt: skip
    ax.set_xlabel("survival (−) ↔ self-expression (+)")
    ax.set_ylabel("traditional (−) ↔ secular-rational (+)")
    ax.set_title(f"Raters on the Inglehart–Welzel map ({zone_scheme}); area ∝ raters")
    return save(fig, stem)


def threshold_grid(grid: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Share of culturally sensitive items over τ_majority (rows) × S threshold (columns)."""
    if grid.empty or grid["share_sensitive"].isna().all():
        return empty_figure(stem, "Threshold grid", "no testable item")
    table = grid.pivot(index="tau", columns="s_threshold", values="share_sensitive")
    fig, ax = plt.subplots(figsize=(1.6 + 0.7 * table.shape[1], 1.4 + 0.5 * table.shape[0]),
                           constrained_layout=True)  # fmt: skip
    image = ax.imshow(100 * table.to_numpy(float), cmap="viridis", aspect="auto", origin="lower")
    for (i, j), value in np.ndenumerate(table.to_numpy(float)):
        if np.isfinite(value):
            ax.text(
                j,
                i,
                f"{100 * value:.1f}",
                ha="center",
                va="center",
                fontsize=7,
                color="w" if value < table.to_numpy(float)[np.isfinite(table)].mean() else "k",
            )
    ax.set_xticks(range(table.shape[1]), [f"{v:g}" for v in table.columns])
    ax.set_yticks(range(table.shape[0]), [f"{v:g}" for v in table.index])
    ax.set_xlabel("S threshold")
    ax.set_ylabel("τ_majority")
    fig.colorbar(image, ax=ax, label="culturally sensitive items (%)")
    ax.set_title("Share of culturally sensitive items")
    return save(fig, stem)


def judge_f1(scores: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Per task and quadrant: each judge cell's F1 with its 95% interval beside the
    "Always Unsafe" baseline."""
    if scores.empty or scores["f1"].isna().all():
        return empty_figure(stem, "Judges", "no judge scores (no positive labels or no cells)")
    tasks = list(dict.fromkeys(scores["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False,
                             constrained_layout=True)  # fmt: skip
    palette = plt.get_cmap("tab10")
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = scores[scores["task"] == task]
        quadrants = sorted(rows["quadrant"].unique())
        cells = rows[["model", "language", "framing", "reasoning"]].drop_duplicates()
        width = 0.8 / (len(cells) + 1)
        for k, cell in enumerate(cells.itertuples(index=False)):
            mine = rows[(rows["model"] == cell.model) & (rows["reasoning"] == cell.reasoning)
                        & (rows["language"] == cell.language)]  # fmt: skip
            frame = mine.set_index("quadrant").reindex(quadrants).reset_index()
            values = frame["f1"].to_numpy(float)
            errors = [np.maximum(values - frame["f1_low"].to_numpy(float), 0),
                      np.maximum(frame["f1_high"].to_numpy(float) - values, 0)]  # fmt: skip
            ax.bar(np.arange(len(quadrants)) + (k - len(cells) / 2) * width, values, width,
                   yerr=errors, capsize=2, color=palette(k),
                   label=f"{cell.model} ({cell.language}, {cell.reasoning})")  # fmt: skip
        baseline = rows.drop_duplicates("quadrant").set_index("quadrant").reindex(quadrants)
        xs = np.arange(len(quadrants)) + (len(cells) - len(cells) / 2) * width
        ax.bar(xs, baseline["baseline_f1"].to_numpy(float), width=width, color="0.75",
               label="Always Unsafe")  # fmt: skip
        ax.set_xticks(np.arange(len(quadrants)), [q.replace(" / ", "\n") for q in quadrants],
                      fontsize=7)  # fmt: skip
        ax.set_ylim(0, 1)
        ax.set_ylabel("F1")
        ax.set_title("safe vs unsafe (majority)" if task == "majority"
                     else "safe vs culturally sensitive")  # fmt: skip
        ax.legend(fontsize=7)
    return save(fig, stem)
