"""What every kind's figures share (matplotlib, Agg backend): one style, PNG and SVG side by
side, written atomically.

A kind's figure functions (``culturalign.analysis.<kind>.figures``) take tidy tables (the
workflow's CSV/Parquet outputs, already read) and an output *stem* (path without suffix) and
write ``stem.png`` and ``stem.svg`` with :func:`save`. A figure whose data is empty is still
written, with a message in place of the plot (:func:`empty_figure`), so that the workflow's
outputs always exist.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from culturalign.io.files import atomic_path  # noqa: E402

plt.rcParams.update(
    {
        "figure.dpi": 100,
        "savefig.dpi": 110,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "legend.fontsize": 8,
        "svg.fonttype": "none",
    }
)

CELL_COLORS: dict[tuple[str, str], str] = {
    ("en", "zero"): "#4C72B0",
    ("en", "cot"): "#8FAADC",
    ("native", "zero"): "#C44E52",
    ("native", "cot"): "#E8A0A2",
}
FRAMING_COLORS: dict[str, str] = {"neutral": "#55A868", "persona": "#4C72B0", "observer": "#DD8452"}


def save_figure(fig: plt.Figure, path: str | Path, **kwargs) -> Path:
    """Write one figure file atomically, its format given by the suffix."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), **kwargs)
    return path


def save(fig: plt.Figure, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg``; close the figure."""
    stem = Path(stem)
    paths = [save_figure(fig, stem.with_suffix(suffix), bbox_inches="tight")
             for suffix in (".png", ".svg")]  # fmt: skip
    plt.close(fig)
    return paths


def empty_figure(stem: str | Path, title: str, message: str) -> list[Path]:
    """A figure that says why it has no plot."""
    fig, ax = plt.subplots(figsize=(7, 2.2))
    ax.axis("off")
    ax.set_title(title)
    ax.text(0.5, 0.45, message, ha="center", va="center", fontsize=10, color="#555")
    return save(fig, stem)


def interval_bars(ax, frame, column, label, color, offset=0.0, width=0.8):
    """Bars of ``column`` with its ``_ci_low``/``_ci_high`` interval as error bars."""
    values = frame[column].astype(float).to_numpy()
    low = np.maximum(values - frame[f"{column}_ci_low"].astype(float).to_numpy(), 0)
    high = np.maximum(frame[f"{column}_ci_high"].astype(float).to_numpy() - values, 0)
    xs = np.arange(len(frame)) + offset
    ax.bar(xs, values, width, yerr=[low, high], capsize=2, color=color, label=label,
           error_kw={"elinewidth": 0.8})  # fmt: skip
