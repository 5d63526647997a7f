"""Figures of the inventory kind (Hofstede VSM 2013 indices) (PNG and SVG side by side, see
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
    save,
)


def hofstede_indices(indices: pd.DataFrame, comparison: pd.DataFrame, reference: pd.DataFrame
                     | None, stem: str | Path) -> list[Path]:  # fmt: skip
    """Each dimension's index per region from the expected answers, per model cell, beside
    the reference score."""
    data = indices[indices["source"] == "expected"] if len(indices) else indices
    if data.empty or data["index"].isna().all():
        return empty_figure(stem, "Hofstede indices", "no index could be computed")
    dims = list(dict.fromkeys(data["dimension"]))
    cells = data[["model", "language", "framing", "reasoning"]].drop_duplicates()
    regions = sorted(data["country"].unique())
    fig, axes = plt.subplots(1, len(dims), figsize=(3.0 * len(dims), 0.3 * len(regions) + 2.4),
                             squeeze=False, sharey=True, constrained_layout=True)  # fmt: skip
    palette = plt.get_cmap("tab10")
    ys = np.arange(len(regions))
    for ax, dim in zip(axes[0], dims, strict=True):
        for k, cell in enumerate(cells.itertuples(index=False)):
            rows = data[(data["dimension"] == dim) & (data["model"] == cell.model)
                        & (data["reasoning"] == cell.reasoning)].set_index("country")  # fmt: skip
            ax.scatter(rows.reindex(regions)["index"], ys, color=palette(k % 10), s=22,
                       label=f"{cell.model} {cell.reasoning}")  # fmt: skip
        if reference is not None and not reference.empty:
            ref = reference[reference["dimension"] == dim].set_index("country").reindex(regions)
            ax.scatter(ref["score"], ys, marker="x", color="#333", s=30, label="reference")
        ax.set_title(dim)
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(ys, regions)
    axes[0][-1].legend(fontsize=6, loc="best")
    fig.suptitle("VSM 2013 dimension indices per region (expected answers; x: reference)")
    return save(fig, stem)


def hofstede_tau(comparison: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Kendall's tau-b per dimension between the model's and the reference ranking."""
    if comparison.empty or comparison["kendall_tau_b"].isna().all():
        return empty_figure(stem, "Rank agreement with the reference",
                      "no reference scores (config benchmarks.<key>.reference)")  # fmt: skip
    data = comparison[comparison["source"] == "expected"].reset_index(drop=True)
    data = data.rename(columns={"kendall_tau_b": "tau", "tau_ci_low": "tau_ci_low",
                                "tau_ci_high": "tau_ci_high"})  # fmt: skip
    labels = [f"{r['dimension']}\n{r['model']} {r['reasoning']}" for _, r in data.iterrows()]
    fig, ax = plt.subplots(figsize=(2 + 0.7 * len(data), 3.6), constrained_layout=True)
    values = data["tau"].to_numpy(float)
    low = np.maximum(values - data["tau_ci_low"].to_numpy(float), 0)
    high = np.maximum(data["tau_ci_high"].to_numpy(float) - values, 0)
    ax.bar(range(len(data)), values, 0.6, yerr=[np.nan_to_num(low), np.nan_to_num(high)],
           capsize=2, color="#4C72B0")  # fmt: skip
    ax.axhline(0, color="#999", lw=1)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xticks(range(len(data)), labels, fontsize=7)
    ax.set_ylabel("Kendall's τ-b (regions; 95% bootstrap)")
    ax.set_title("Does the model rank the regions as the reference does?")
    return save(fig, stem)
