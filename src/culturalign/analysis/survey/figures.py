"""Figures of the survey kind's analysis (PNG and SVG side by side, see
:mod:`culturalign.reporting.figures`)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from culturalign.analysis.survey.metrics import DURMUS_CONDITIONS  # noqa: E402
from culturalign.constants import FRAMINGS, ORIGINAL_VARIANT  # noqa: E402
from culturalign.reporting.figures import (  # noqa: E402
    CELL_COLORS,
    FRAMING_COLORS,
    empty_figure,
    interval_bars,
    save,
)

SUMMARY_METRICS: dict[str, tuple[str, str, str, str]] = {
    # key: (mean column, low column, high column, axis label)
    "nvas": ("nvas_mean", "nvas_ci_low", "nvas_ci_high", "NVAS (0-100, higher = closer)"),
    "overlap": (
        "overlap_mean",
        "overlap_ci_low",
        "overlap_ci_high",
        "distribution overlap (0-100)",
    ),
    "kld": ("kld_mean", "kld_ci_low", "kld_ci_high", "KL(human ‖ model), nats"),
    "refusal": ("refusal_rate", "refusal_rate_ci_low", "refusal_rate_ci_high", "refusal rate"),
    "leakage": ("leakage_rate", "leakage_rate_ci_low", "leakage_rate_ci_high", "leakage rate"),
}


def country_similarity(table: pd.DataFrame, stem: str | Path, max_cells: int = 4) -> list[Path]:
    """A panel per model: each country's similarity (1 − JS distance) in up to ``max_cells``
    zero-shot cells (Durmus et al.'s default, cross-national and linguistic prompting first),
    countries ordered by the first cell; whiskers = 95% bootstrap interval over questions."""
    if table.empty:
        return empty_figure(stem, "Similarity per country", "no country has a scored question")
    models = sorted(table["model"].unique())
    cells = list(dict.fromkeys(map(tuple, table[["language", "framing", "reasoning"]]
                                   .drop_duplicates().to_numpy())))  # fmt: skip
    names = {(language, framing, "zero"): f"{language}/{framing}/zero ({name})"
             for language, framing, name in DURMUS_CONDITIONS}  # fmt: skip
    cells.sort(key=lambda cell: (cell not in names, cell[2] != "zero", cell))
    cells = cells[:max_cells]
    countries = table["country"].nunique()
    fig, axes = plt.subplots(
        1, len(models), figsize=(5.0 * len(models), 1.2 + 0.22 * countries), squeeze=False,
        constrained_layout=True,
    )  # fmt: skip
    colors = plt.get_cmap("tab10")
    for ax, model in zip(axes.flat, models, strict=True):
        data = table[table["model"] == model]
        first = data[(data[["language", "framing", "reasoning"]].apply(tuple, axis=1)
                      == cells[0])]  # fmt: skip
        order = list(first.sort_values("similarity")["country"])
        order += sorted(set(data["country"]) - set(order))
        position = {country: y for y, country in enumerate(order)}
        for k, cell in enumerate(cells):
            rows = data[(data["language"] == cell[0]) & (data["framing"] == cell[1])
                        & (data["reasoning"] == cell[2])].dropna(subset=["similarity"])  # fmt: skip
            if rows.empty:
                continue
            ys = rows["country"].map(position) + (k - (len(cells) - 1) / 2) * 0.15
            ax.errorbar(
                rows["similarity"], ys,
                xerr=[(rows["similarity"] - rows["ci_low"]).clip(lower=0),
                      (rows["ci_high"] - rows["similarity"]).clip(lower=0)],
                fmt="o", ms=3.5, elinewidth=0.7, color=colors(k),
                label=names.get(cell, "/".join(cell)),
            )  # fmt: skip
        ax.set_yticks(range(len(order)), order)
        ax.set_xlabel("similarity (1 − JS distance)")
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(model)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, title="cell")
    fig.suptitle("Similarity to each country's answers (Durmus et al. 2023)")
    return save(fig, stem)


def metric_bars(summary: pd.DataFrame, stem: str | Path) -> list[Path]:
    """A panel per model × metric (three per row); bars per framing, coloured by language ×
    reasoning, whiskers = the 95% question-bootstrap interval from summary.csv."""
    metrics = [key for key, spec in SUMMARY_METRICS.items() if spec[0] in summary.columns]
    if summary.empty or not metrics:
        return empty_figure(stem, "Metrics per cell", "no summary rows")
    models = sorted(summary["model"].unique())
    panels = [(model, metric) for model in models for metric in metrics]
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(4.3 * ncols, 3.2 * nrows + 0.8),
        squeeze=False,
        constrained_layout=True,
    )
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    cells = [cell for cell in CELL_COLORS if cell[0] in set(summary["language"])]
    width = 0.8 / max(1, len(cells))
    for ax, (model, metric) in zip(axes.flat, panels, strict=False):
        data = summary[summary["model"] == model]
        mean, low, high, label = SUMMARY_METRICS[metric]
        for k, (language, reasoning) in enumerate(cells):
            xs, ys, lo, hi = [], [], [], []
            for f, framing in enumerate(FRAMINGS):
                hit = data[
                    (data["language"] == language)
                    & (data["reasoning"] == reasoning)
                    & (data["framing"] == framing)
                ]
                if hit.empty or pd.isna(hit.iloc[0][mean]):
                    continue
                value = float(hit.iloc[0][mean])
                xs.append(f - 0.4 + width * (k + 0.5))
                ys.append(value)
                lo.append(max(0.0, value - float(hit.iloc[0][low])))
                hi.append(max(0.0, float(hit.iloc[0][high]) - value))
            ax.bar(
                xs,
                ys,
                width,
                yerr=[lo, hi] if xs else None,
                capsize=2,
                color=CELL_COLORS[(language, reasoning)],
                label=f"{language}, {reasoning}",
                error_kw={"elinewidth": 0.8},
            )
        ax.set_xticks(range(len(FRAMINGS)), FRAMINGS)
        ax.set_ylabel(label)
        if metric in ("nvas", "overlap"):
            ax.set_ylim(0, 100)
        elif metric in ("refusal", "leakage"):
            ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
        ax.set_title(f"{model}: {metric}")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4, title="language, reasoning")
    fig.suptitle("Metrics per cell (mean, 95% bootstrap interval over questions)")
    return save(fig, stem)


def consistency_bars(consistency_summary: pd.DataFrame, stem: str | Path) -> list[Path]:
    """CLCS per framing, FCS and SPD per language; zero vs cot; whiskers = 95% interval."""
    if consistency_summary.empty:
        return empty_figure(stem, "Consistency", "no consistency rows")
    frame = consistency_summary.copy()
    frame["group"] = np.where(frame["metric"] == "clcs", frame["framing"], frame["language"])
    models = sorted(frame["model"].unique())
    metrics = [m for m in ("clcs", "fcs", "spd") if m in set(frame["metric"])]
    fig, axes = plt.subplots(
        len(models),
        len(metrics),
        figsize=(3.8 * len(metrics), 3.0 * len(models) + 0.5),
        squeeze=False,
        constrained_layout=True,
    )
    titles = {
        "clcs": "CLCS (en vs native) per framing",
        "fcs": "FCS (persona vs observer)",
        "spd": "SPD (neutral vs persona)",
    }
    for row, model in enumerate(models):
        for col, metric in enumerate(metrics):
            ax = axes[row][col]
            data = frame[(frame["model"] == model) & (frame["metric"] == metric)]
            groups = sorted(data["group"].dropna().unique())
            for k, reasoning in enumerate(("zero", "cot")):
                sub = data[data["reasoning"] == reasoning].set_index("group")
                xs = [g + (k - 0.5) * 0.38 for g, name in enumerate(groups) if name in sub.index]
                ys = [float(sub.loc[name, "mean"]) for name in groups if name in sub.index]
                lo = [y - float(sub.loc[n, "ci_low"]) for y, n in zip(ys, groups, strict=False)]
                hi = [float(sub.loc[n, "ci_high"]) - y for y, n in zip(ys, groups, strict=False)]
                ax.bar(
                    xs,
                    ys,
                    0.38,
                    yerr=[np.maximum(lo, 0), np.maximum(hi, 0)] if xs else None,
                    capsize=2,
                    color=CELL_COLORS[("en", reasoning)],
                    label=reasoning,
                )
            ax.set_xticks(range(len(groups)), groups)
            ax.set_ylim(0, 100)
            ax.set_ylabel("score (0-100)")
            ax.grid(axis="y", alpha=0.3)
            ax.set_title(f"{model}: {titles[metric]}" if len(models) > 1 else titles[metric])
    axes[0][0].legend(title="reasoning")
    fig.suptitle("Consistency across language and framing (95% bootstrap interval)")
    return save(fig, stem)


def en_native_scatter(items: pd.DataFrame, stem: str | Path, metric: str = "nvas") -> list[Path]:
    """Each point one (framing, reasoning, question, country): the metric asked in English
    (x) against the same item asked in the country's language (y); one panel per model."""
    keys = ["model", "framing", "reasoning", "question_id", "country"]
    if "variant" in items:
        items = items[items["variant"] == ORIGINAL_VARIANT]  # robustness variants pair apart
    en = items[items["language"] == "en"].set_index(keys)[metric]
    native = items[items["language"] == "native"].set_index(keys)[metric]
    pairs = pd.concat({"en": en, "native": native}, axis=1).dropna().reset_index()
    if pairs.empty:
        return empty_figure(stem, f"{metric.upper()}: English vs native", "no paired items")
    models = sorted(pairs["model"].unique())
    fig, axes = plt.subplots(
        1, len(models), figsize=(4.6 * len(models), 4.6), squeeze=False, constrained_layout=True
    )
    for ax, model in zip(axes[0], models, strict=True):
        data = pairs[pairs["model"] == model]
        for framing in FRAMINGS:
            sub = data[data["framing"] == framing]
            if sub.empty:
                continue
            ax.scatter(
                sub["en"],
                sub["native"],
                s=14,
                alpha=0.55,
                color=FRAMING_COLORS[framing],
                label=f"{framing} (n={len(sub)})",
                edgecolors="none",
            )
        ax.plot([0, 100], [0, 100], color="#333", lw=0.8, ls="--", label="no change")
        ax.set_xlim(-2, 102)
        ax.set_ylim(-2, 102)
        ax.set_aspect("equal")
        ax.set_xlabel(f"{metric.upper()} asked in English")
        ax.set_ylabel(f"{metric.upper()} asked in the native language")
        shift = (data["native"] - data["en"]).mean()
        ax.set_title(f"{model} (mean native − en: {shift:+.1f})")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.suptitle(f"Cross-lingual shift: {metric.upper()} per item, English vs native")
    return save(fig, stem)


def reasoning_deltas(findings: pd.DataFrame, stem: str | Path, metric: str = "nvas") -> list[Path]:
    """Forest plot of cot − zero (mean paired difference, 95% question-bootstrap interval) per
    language × framing and pooled, one panel per model (from findings.csv)."""
    rows = findings[(findings["finding"] == "reasoning_change") & (findings["metric"] == metric)]
    if rows.empty:
        return empty_figure(stem, "Reasoning: cot − zero", "no paired zero/cot items")
    models = sorted(rows["model"].unique())
    fig, axes = plt.subplots(
        1,
        len(models),
        figsize=(5.6 * len(models), 0.42 * rows.groupby("model").size().max() + 1.6),
        squeeze=False,
        constrained_layout=True,
    )
    for ax, model in zip(axes[0], models, strict=True):
        data = rows[rows["model"] == model].copy()
        data["label"] = data["language"].astype(str) + " / " + data["framing"].astype(str)
        data["pooled"] = (data["language"] == "all") & (data["framing"] == "all")
        data = data.sort_values(["pooled", "language", "framing"], ascending=[True, False, False])
        ys = np.arange(len(data))
        colors = ["#222" if pooled else "#4C72B0" for pooled in data["pooled"]]
        for y, (_, r), color in zip(ys, data.iterrows(), colors, strict=True):
            ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=color, lw=1.2)
        ax.scatter(data["mean_diff"], ys, color=colors, zorder=3, s=26)
        labels = [
            ("pooled" if pooled else label) + f"  (n={n})"
            for label, pooled, n in zip(data["label"], data["pooled"], data["n_pairs"], strict=True)
        ]
        ax.set_yticks(ys, labels)
        ax.axvline(0, color="#C44E52", lw=0.9, ls="--")
        ax.set_xlabel(f"{metric.upper()} change with reasoning (cot − zero)")
        ax.set_title(model)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Reasoning-induced change, paired by item (95% bootstrap interval)")
    return save(fig, stem)


def leakage_examples(examples: pd.DataFrame, stem: str | Path, top: int = 4) -> list[Path]:
    """The most confident leaked refusals: the response text beside the model's option
    distribution at the answer position."""
    if examples.empty:
        return empty_figure(
            stem,
            "Logit leakage examples",
            "no refusal had a confident option distribution (no leakage at this threshold)",
        )
    shown = examples.head(top)
    fig, axes = plt.subplots(
        len(shown),
        2,
        figsize=(11, 2.0 * len(shown) + 0.6),
        gridspec_kw={"width_ratios": [1.1, 1]},
        squeeze=False,
        constrained_layout=True,
    )
    for (text_ax, bar_ax), row in zip(axes, shown.itertuples(index=False), strict=True):
        probs = json.loads(row.option_probs) if isinstance(row.option_probs, str) else {}
        options = [int(k) for k in probs]
        values = [float(v) for v in probs.values()]
        where = f"{row.model} · {row.language}/{row.framing}/{row.reasoning}"
        who = f"{row.question_id}" + (
            f", {row.country}" if isinstance(row.country, str) and row.country else ""
        )
        response = textwrap.shorten(" ".join(str(row.response).split()), 420, placeholder=" …")
        text_ax.axis("off")
        text_ax.text(
            0.0,
            1.0,
            f"{who}  ({where}, prompt in {row.prompt_language})\n\n"
            + "\n".join(textwrap.wrap(f"“{response}”", 62)),
            va="top",
            ha="left",
            fontsize=9.5,
            family="DejaVu Sans",
            transform=text_ax.transAxes,
        )
        colors = ["#C44E52" if o == row.top_option else "#8FAADC" for o in options]
        bar_ax.bar(options, values, color=colors)
        bar_ax.set_ylim(0, 1.05)
        bar_ax.set_xlabel("option")
        bar_ax.set_ylabel("probability")
        if len(options) <= 12:
            bar_ax.set_xticks(options)
        bar_ax.set_title(f"refused, yet option {row.top_option} gets p = {row.max_prob:.2f}")
        bar_ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Logit leakage: refusals whose option distribution is confident")
    return save(fig, stem)


def _pca_panel(
    ax: plt.Axes,
    coords: pd.DataFrame,
    model: str,
    language: str,
    reasoning: str,
    collapse: pd.DataFrame,
    labels: bool = True,
) -> None:
    humans = coords[coords["source"] == "human"].set_index("country")
    mask = (
        (coords["source"] == "model")
        & (coords["model"] == model)
        & (coords["language"] == language)
        & (coords["reasoning"] == reasoning)
    )
    points = coords[mask].set_index("country")
    ax.scatter(humans["pc1"], humans["pc2"], s=34, color="#555", label="people", zorder=3)
    ax.scatter(
        points["pc1"],
        points["pc2"],
        s=34,
        marker="^",
        color=CELL_COLORS.get((language, reasoning), "#4C72B0"),
        label="model",
        zorder=4,
    )
    for country in points.index.intersection(humans.index):
        ax.annotate(
            "",
            xy=(points.loc[country, "pc1"], points.loc[country, "pc2"]),
            xytext=(humans.loc[country, "pc1"], humans.loc[country, "pc2"]),
            arrowprops={"arrowstyle": "->", "color": "#999", "lw": 0.7},
        )
    if labels:
        for country, row in humans.iterrows():
            ax.annotate(
                country, (row["pc1"], row["pc2"]), fontsize=7, xytext=(3, 3),
                textcoords="offset points", color="#333",
            )  # fmt: skip
    hit = collapse[
        (collapse["model"] == model)
        & (collapse["language"] == language)
        & (collapse["reasoning"] == reasoning)
    ]
    index = float(hit.iloc[0]["collapse_index"]) if not hit.empty else float("nan")
    ax.set_title(f"{language}, {reasoning}: collapse index {index:.2f}")
    ax.axhline(0, color="#ddd", lw=0.6, zorder=0)
    ax.axvline(0, color="#ddd", lw=0.6, zorder=0)
    ax.grid(alpha=0.2)


def _axis_labels(ax: plt.Axes, collapse: pd.DataFrame) -> None:
    if collapse.empty:
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
        return
    pc1, pc2 = collapse.iloc[0]["explained_pc1"], collapse.iloc[0]["explained_pc2"]
    ax.set_xlabel(f"PC1 ({pc1:.0%} of human variance)")
    ax.set_ylabel("PC2" + ("" if pd.isna(pc2) else f" ({pc2:.0%})"))


def pca_model_map(
    coords: pd.DataFrame, collapse: pd.DataFrame, model: str, stem: str | Path
) -> list[Path]:
    """One model: a panel per language × reasoning; people (circles) and the model's
    country personas (triangles) in the human PCA projection, arrows person → model."""
    cells = sorted(
        {(r.language, r.reasoning) for r in collapse[collapse["model"] == model].itertuples()},
        key=lambda c: (c[0] != "en", c[1] != "zero"),
    )
    if not cells:
        return empty_figure(stem, f"PCA: {model}", "no persona answers to project")
    fig, axes = plt.subplots(
        1, len(cells), figsize=(4.4 * len(cells), 4.4), squeeze=False, constrained_layout=True
    )
    xs, ys = coords["pc1"], coords["pc2"]
    pad_x, pad_y = 0.1 * (xs.max() - xs.min() or 1), 0.1 * (ys.max() - ys.min() or 1)
    for ax, (language, reasoning) in zip(axes[0], cells, strict=True):
        _pca_panel(ax, coords, model, language, reasoning, collapse)
        ax.set_xlim(xs.min() - pad_x, xs.max() + pad_x)
        ax.set_ylim(ys.min() - pad_y, ys.max() + pad_y)
        _axis_labels(ax, collapse)
    axes[0][0].legend(loc="best")
    framing = collapse["framing"].iloc[0] if not collapse.empty else "persona"
    fig.suptitle(
        f"{model}: countries in answer space ({framing} answers projected on the human PCA; "
        "collapse index 1 = as varied as people, 0 = one monolith)"
    )
    return save(fig, stem)


def pca_overview(
    coords: pd.DataFrame, collapse: pd.DataFrame, stem: str | Path, models: Sequence[str]
) -> list[Path]:
    """Small multiples: one row per model, one column per language × reasoning."""
    cells = sorted(
        {(r.language, r.reasoning) for r in collapse.itertuples()},
        key=lambda c: (c[0] != "en", c[1] != "zero"),
    )
    models = [m for m in models if m in set(collapse["model"])]
    if not cells or not models:
        return empty_figure(stem, "PCA overview", "no persona answers to project")
    fig, axes = plt.subplots(
        len(models),
        len(cells),
        figsize=(3.3 * len(cells), 3.2 * len(models) + 0.5),
        squeeze=False,
        sharex=True,
        sharey=True,
        constrained_layout=True,
    )
    for row, model in enumerate(models):
        for col, (language, reasoning) in enumerate(cells):
            ax = axes[row][col]
            _pca_panel(ax, coords, model, language, reasoning, collapse, labels=False)
            ax.set_title(f"{model}\n{ax.get_title()}", fontsize=8)
            if row == len(models) - 1:
                ax.set_xlabel("PC1")
            if col == 0:
                ax.set_ylabel("PC2")
    axes[0][0].legend(loc="best")
    fig.suptitle("PCA of countries, all models (grey: people; triangles: the model)")
    return save(fig, stem)


def zone_sensitivity(sensitivity: pd.DataFrame, stem: str | Path, top: int = 10) -> list[Path]:
    """The questions whose NVAS differs most across zones: zone means per question."""
    if sensitivity.empty:
        return empty_figure(stem, "Zone-variable items", "fewer than two zones per question")
    models = sorted(sensitivity["model"].unique())
    fig, axes = plt.subplots(
        1, len(models), figsize=(6.5 * len(models), 0.5 * top + 1.8), squeeze=False,
        constrained_layout=True,
    )  # fmt: skip
    for ax, model in zip(axes[0], models, strict=True):
        data = sensitivity[sensitivity["model"] == model].sort_values("rank").head(top)
        zone_means = [json.loads(v) if isinstance(v, str) else dict(v) for v in data["zone_means"]]
        zones = sorted({z for means in zone_means for z in means})
        palette = plt.get_cmap("tab10")
        ys = np.arange(len(data))[::-1]
        for k, zone in enumerate(zones):
            values = [means.get(zone, np.nan) for means in zone_means]
            ax.scatter(values, ys, color=palette(k % 10), label=zone, s=30, zorder=3)
        for y, means in zip(ys, zone_means, strict=True):
            vals = list(means.values())
            ax.plot([min(vals), max(vals)], [y, y], color="#bbb", lw=1, zorder=1)
        ax.set_yticks(ys, data["question_id"])
        ax.set_xlabel("mean NVAS of the zone's countries")
        ax.set_xlim(0, 100)
        ax.set_title(f"{model}: top {len(data)} by variance across zones")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right", title="zone")
    fig.suptitle("Zone-variable items: zone means of NVAS")
    return save(fig, stem)


def _cell_label(row) -> str:
    return f"{row['language']}/{row['framing']}/{row['reasoning']}"


def robustness_flips(summary: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Flip rate per cell and model: how often a prompt variant changes the answer."""
    if summary.empty or "flip_rate" not in summary:
        return empty_figure(stem, "Robustness: flip rates", "no prompt variants were asked")
    models = sorted(summary["model"].unique())
    fig, axes = plt.subplots(1, len(models), figsize=(1.2 + 1.1 * len(summary) / len(models) + 3,
                                                       3.4), squeeze=False,
                             constrained_layout=True)  # fmt: skip
    for ax, model in zip(axes[0], models, strict=True):
        data = summary[summary["model"] == model].reset_index(drop=True)
        interval_bars(ax, data, "flip_rate", "flip rate", "#4C72B0")
        ax.set_xticks(range(len(data)), [_cell_label(r) for _, r in data.iterrows()],
                      rotation=30, ha="right")  # fmt: skip
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of variant pairs whose answers differ")
        ax.set_title(model)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Answers that change with the wording or the option order (95% interval)")
    return save(fig, stem)


def robustness_snr(summary: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Signal (between populations) over noise (between variants), line at 1; beside it the
    model's and the people's between-population variance."""
    if summary.empty or "snr" not in summary or summary["snr"].isna().all():
        return empty_figure(stem, "Robustness: signal and noise", "no persona or observer variants")
    data = summary.dropna(subset=["snr"]).reset_index(drop=True)
    labels = [f"{r['model']}\n{_cell_label(r)}" for _, r in data.iterrows()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(4 + 1.3 * len(data), 3.6),
                                      constrained_layout=True)  # fmt: skip
    interval_bars(left, data, "snr", "signal / noise", "#55A868")
    left.axhline(1.0, color="#C44E52", lw=1, ls="--", label="signal = noise")
    left.set_yscale("symlog", linthresh=0.1)
    left.set_xticks(range(len(data)), labels, fontsize=7)
    left.set_ylabel("between-population variance / between-variant variance")
    left.legend(fontsize=7)
    xs = np.arange(len(data))
    right.bar(xs - 0.2, data["model_signal"], 0.4, color="#4C72B0", label="model")
    right.bar(xs + 0.2, data["human_signal"], 0.4, color="#999", label="people")
    right.set_xticks(xs, labels, fontsize=7)
    right.set_ylabel("variance between populations (answer / range)")
    right.legend(fontsize=7)
    fig.suptitle("Persona signal against prompt noise (95% interval over questions)")
    return save(fig, stem)


def robustness_position(summary: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Share of answers on the first and last option shown, original vs reversed order."""
    needed = {"first_shown_original", "first_shown_reversed"}
    if summary.empty or not needed <= set(summary) or summary[list(needed)].isna().all().all():
        return empty_figure(
            stem, "Robustness: position bias", "no reversed-order prompts were asked"
        )
    data = summary.dropna(subset=["first_shown_reversed"]).reset_index(drop=True)
    labels = [f"{r['model']}\n{_cell_label(r)}" for _, r in data.iterrows()]
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.4 * len(data), 3.4), squeeze=False,
                             constrained_layout=True)  # fmt: skip
    for ax, which in zip(axes[0], ("first", "last"), strict=True):
        interval_bars(ax, data, f"{which}_shown_original", "original order", "#4C72B0",
                       -0.2, 0.4)  # fmt: skip
        interval_bars(ax, data, f"{which}_shown_reversed", "reversed order", "#DD8452",
                       0.2, 0.4)  # fmt: skip
        ax.set_xticks(range(len(data)), labels, fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"answers on the {which} option shown")
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Position bias: a model that follows content moves its answer when the "
                 "order is reversed")  # fmt: skip
    return save(fig, stem)


def human_sensitive_items(human: pd.DataFrame, stem: str | Path, top: int = 12) -> list[Path]:
    """The items the people's zones split most (lowest q value), with each zone's mean
    answer (ordinal) or majority option (nominal) and the sensitive ones marked."""
    testable = human[human["testable"]] if not human.empty else human
    if testable.empty:
        return empty_figure(stem, "Zone-variable items (human data)",
                      "no testable item (needs two zones, one with two populations)")  # fmt: skip
    data = testable.sort_values(["q_value", "eta2"], ascending=[True, False]).head(top)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(data) + 1.8), constrained_layout=True)
    ys = np.arange(len(data))[::-1]
    palette = plt.get_cmap("tab10")
    zones = sorted({z for v in data["zone_majority"] for z in json.loads(v)})
    for y, row in zip(ys, data.itertuples(index=False), strict=True):
        means = json.loads(row.zone_means) or {}
        majority = json.loads(row.zone_majority)
        values = means if means else majority
        points = [(zones.index(z), float(v)) for z, v in values.items()]
        lo, hi = min(v for _, v in points), max(v for _, v in points)
        ax.plot([lo, hi], [y, y], color="#bbb", lw=1, zorder=1)
        for k, value in points:
            ax.scatter(value, y, color=palette(k % 10), s=32, zorder=3,
                       marker="o" if means else "s")  # fmt: skip
    labels = [f"{'● ' if r.sensitive else ''}{r.question_id} (q = {r.q_value:.3g}, "
              f"η² = {r.eta2:.2f})" for r in data.itertuples(index=False)]  # fmt: skip
    ax.set_yticks(ys, labels)
    for tick, sensitive in zip(ax.get_yticklabels(), data["sensitive"], strict=True):
        tick.set_color("#C44E52" if sensitive else "#333")
    handles = [plt.Line2D([], [], marker="o", ls="", color=palette(k % 10), label=z)
               for k, z in enumerate(zones)]  # fmt: skip
    ax.legend(handles=handles, fontsize=7, title="zone", loc="best")
    ax.set_xlabel("zone mean answer (circles; squares: majority option of a nominal item)")
    ax.grid(axis="x", alpha=0.3)
    n_sensitive = int(testable["sensitive"].sum())
    ax.set_title(f"Items whose answers differ between zones beyond within-zone differences "
                 f"(red ●: sensitive, {n_sensitive} of {len(testable)})")  # fmt: skip
    return save(fig, stem)


def triage_scores(triage: pd.DataFrame, stem: str | Path) -> list[Path]:
    """F1 and AUROC per model cell, with the always-sensitive and random baselines."""
    if triage.empty or "f1" not in triage or triage["f1"].isna().all():
        return empty_figure(stem, "Models as triage",
                      "no persona/observer cell or no human-sensitive item to recover")  # fmt: skip
    data = triage.dropna(subset=["f1"]).reset_index(drop=True)
    labels = [f"{r['model']}\n{_cell_label(r)}" for _, r in data.iterrows()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(4 + 1.5 * len(data), 3.8),
                                      constrained_layout=True)  # fmt: skip
    interval_bars(left, data, "f1", "model F1", "#4C72B0", -0.2, 0.4)
    interval_bars(left, data, "always_f1", "always sensitive", "#999", 0.2, 0.4)
    left.scatter(np.arange(len(data)), data["random_f1"], marker="_", s=300, color="#C44E52",
                 label="random at the model's flag rate", zorder=4)  # fmt: skip
    left.set_ylim(0, 1.05)
    left.set_ylabel("F1 recovering the human zone-variable items")
    left.set_xticks(range(len(data)), labels, fontsize=7)
    left.legend(fontsize=7)
    interval_bars(right, data, "auroc_spread", "spread across populations", "#55A868", -0.2, 0.4)
    interval_bars(right, data, "auroc_zone", "zone effect (F)", "#DD8452", 0.2, 0.4)
    right.axhline(0.5, color="#C44E52", ls="--", lw=1, label="chance")
    right.set_ylim(0, 1.05)
    right.set_ylabel("AUROC")
    right.set_xticks(range(len(data)), labels, fontsize=7)
    right.legend(fontsize=7)
    fig.suptitle("Can the model triage zone-variable items? (95% hierarchical bootstrap)")
    return save(fig, stem)


def triage_curves(items: pd.DataFrame, stem: str | Path) -> list[Path]:
    """ROC curves of the spread score per model cell against the human zone-variable items."""
    from sklearn.metrics import roc_curve

    usable = []
    if not items.empty:
        for key, group in items.groupby(["model", "language", "framing", "reasoning"], sort=True):
            truth = group["human_sensitive"].astype(bool)
            if truth.any() and not truth.all():
                usable.append((key, group))
    if not usable:
        return empty_figure(stem, "Triage curves", "needs sensitive and non-sensitive items")
    fig, ax = plt.subplots(figsize=(5.2, 4.6), constrained_layout=True)
    for key, group in usable:
        fpr, tpr, _ = roc_curve(group["human_sensitive"].astype(bool), group["spread"])
        ax.plot(fpr, tpr, lw=1.2, label="/".join(key))
    ax.plot([0, 1], [0, 1], color="#999", ls="--", lw=1, label="chance")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title("Ranking items by the model's spread across populations")
    ax.legend(fontsize=6)
    return save(fig, stem)


def persona_gain(gain: pd.DataFrame, stem: str | Path) -> list[Path]:
    """NVAS(persona) - NVAS(neutral) per population, per model, language and reasoning."""
    if gain.empty:
        return empty_figure(stem, "Persona gain", "no paired persona and neutral answers")
    panels = list(gain.groupby(["model", "language", "reasoning"], sort=True))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 0.32 * gain[
        "country"].nunique() + 1.8), squeeze=False, constrained_layout=True)  # fmt: skip
    for ax, (key, data) in zip(axes[0], panels, strict=True):
        data = data.sort_values("gain").reset_index(drop=True)
        ys = np.arange(len(data))
        colors = ["#333" if c == "all" else ("#55A868" if g > 0 else "#C44E52")
                  for c, g in zip(data["country"], data["gain"], strict=True)]  # fmt: skip
        ax.errorbar(data["gain"], ys, xerr=[np.maximum(data["gain"] - data["ci_low"], 0),
                                            np.maximum(data["ci_high"] - data["gain"], 0)],
                    fmt="none", ecolor="#999", elinewidth=1, capsize=2)  # fmt: skip
        ax.scatter(data["gain"], ys, color=colors, zorder=3, s=24)
        ax.axvline(0, color="#999", ls="--", lw=1)
        ax.set_yticks(ys, data["country"])
        ax.set_xlabel("NVAS persona − neutral (95% CI)")
        ax.set_title("/".join(key), fontsize=9)
    fig.suptitle("Does naming the population bring the model closer to its people?")
    return save(fig, stem)


def forest(stats: dict, stem: str | Path) -> list[Path]:
    """Fixed-effect coefficients of every zone model fit with 95% intervals; p < 0.05 red."""
    fits = [f for f in stats.get("fits", []) if f.get("coefficients")]
    if not fits:
        return empty_figure(stem, "Fixed effects", "no mixed-effects model was fitted")
    height = max(len([c for c in f["coefficients"] if c["term"] != "Intercept"]) for f in fits)
    fig, axes = plt.subplots(1, len(fits), figsize=(6 * len(fits), 0.35 * height + 1.8),
                             squeeze=False, constrained_layout=True)  # fmt: skip
    for ax, fit in zip(axes[0], fits, strict=True):
        rows = [c for c in fit["coefficients"] if c["term"] != "Intercept"]
        ys = np.arange(len(rows))[::-1]
        for y, c in zip(ys, rows, strict=True):
            color = "#C44E52" if c["p_value"] == c["p_value"] and c["p_value"] < 0.05 else "#333"
            ax.plot([c["ci_low"], c["ci_high"]], [y, y], color=color, lw=1.4)
            ax.scatter(c["estimate"], y, color=color, s=22, zorder=3)
        ax.axvline(0, color="#999", ls="--", lw=1)
        ax.set_yticks(ys, [textwrap.shorten(c["term"], 48) for c in rows], fontsize=7)
        ax.set_xlabel("NVAS points (95% Wald interval)")
        ax.set_title(f"{fit['scope']}: {fit['model']}", fontsize=9)
    fig.suptitle("Fixed effects of the zone models (red: p < 0.05)")
    return save(fig, stem)
