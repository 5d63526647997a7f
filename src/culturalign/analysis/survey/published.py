"""The MENAValues authors' published per-item metric tables: parse, tidy, average, re-draw.

The authors publish one spreadsheet per (metric, framing, model, mode) under folders
``NVAS/NPVAS`` (persona), ``NVAS/NOVAS`` (observer), ``CLCS/{Neutral,Persona,Observer}``,
``FCS``, ``SPD`` and ``KL``. Each sheet has a ``Code`` column (1-based question number in
the benchmark's column order) and one column per country (upstream spelling ``Tusnia``).
Some sheets carry empty rows past the last question and a final ``Average`` row; the
``Average`` row is excluded from the tidy table (it is kept only to check our averages
against it) and rows past the last question must be empty.

Everything unexpected (an unknown file-name token, column, code or value out of range)
raises :class:`~culturalign.errors.PaperError` naming the file, row and column.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from culturalign.benchmarks.menavalues import COUNTRIES as MENA_COUNTRIES
from culturalign.errors import CulturalignError
from culturalign.io.files import write_text_atomic
from culturalign.reporting.html import image_data_uri, render_template

LOG = logging.getLogger("culturalign.analysis.survey.published")


class PaperError(CulturalignError):
    """A published metric table is missing or not in the expected shape."""


COUNTRIES: tuple[str, ...] = tuple(sorted(MENA_COUNTRIES))
"""The benchmark's 16 countries, alphabetically (the published tables' column order)."""
# Upstream spellings -> benchmark spellings.
COUNTRY_ALIASES: dict[str, str] = {"Tusnia": "Tunisia"}

MODELS: dict[str, str] = {
    "llama": "Llama-3.1-8B-Instruct",
    "mistral": "Mistral-7B-Instruct",
    "aya": "Aya (8B)",
}
MODE_TOKENS: dict[str, str] = {
    "zero": "zero",
    "reason": "cot",
    "reasoning": "cot",
    "reasoner": "cot",
}
FRAMING_TOKENS: tuple[str, ...] = ("neutral", "persona", "observer")
# File-name tokens that carry no information of their own.
FILLER_TOKENS: frozenset[str] = frozenset({"results"})
# CLCS/Observer sheets have one column per native language instead of per country.
LANGUAGE_COLUMNS: dict[str, str] = {
    "CLCS_arabic": "ar",
    "CLCS_persian": "fa",
    "CLCS_turkish": "tr",
}
# KL sheets: a `source` column (Arab/WVS, checked against the benchmark) and empty
# spreadsheet columns.
SOURCE_VALUES: dict[str, str] = {"Arab": "AOI-2022", "WVS": "WVS-7"}
_SPD_COLUMN = re.compile(r"^SPD_(?P<group>.+?)_(?P<model>[^_]+)_extracted_number$")

PERCENT_METRICS: frozenset[str] = frozenset({"NVAS", "CLCS", "FCS", "SPD"})

PUBLISHED_COLUMNS: tuple[str, ...] = (
    "metric",
    "framing",
    "model",
    "reasoning",
    "code",
    "question_id",
    "country",
    "value",
    "native_language",
    "column",
    "file",
)


@dataclass(frozen=True)
class SheetKey:
    """What a published file holds, parsed from its folder and file name."""

    metric: str  # NVAS | CLCS | FCS | SPD | KL
    framing: str  # neutral | persona | observer | persona_vs_observer | neutral_vs_persona
    model: str  # llama | mistral | aya
    reasoning: str  # zero | cot


def parse_file_name(path: Path, root: Path) -> SheetKey:
    """Metric, framing, model and mode of one published file (robust to upstream casing)."""
    relative = path.relative_to(root)
    folders = [part.lower() for part in relative.parts[:-1]]
    tokens = [token for token in path.stem.lower().split("_") if token]
    where = f"{relative}"
    if not folders:
        raise PaperError(f"{where}: expected the file inside a metric folder (NVAS, CLCS, …)")
    top = folders[0]
    unknown: list[str] = []
    models = [token for token in tokens if token in MODELS]
    modes = [MODE_TOKENS[token] for token in tokens if token in MODE_TOKENS]
    framings = [token for token in tokens if token in FRAMING_TOKENS]
    if len(set(models)) != 1:
        raise PaperError(
            f"{where}: the file name must name exactly one model of {sorted(MODELS)}, "
            f"found {models or 'none'}"
        )
    if len(set(modes)) != 1:
        raise PaperError(
            f"{where}: the file name must name exactly one mode (zero, or "
            f"reason/reasoning/reasoner), found {modes or 'none'}"
        )
    if len(set(framings)) > 1:
        raise PaperError(f"{where}: the file name names several framings {framings}")
    metric_tokens = {"nvas", "npvas", "novas", "clcs", "fcs", "spd", "kl"}
    for token in tokens:
        known = (
            token in MODELS
            or token in MODE_TOKENS
            or token in FRAMING_TOKENS
            or token in FILLER_TOKENS
            or token in metric_tokens
        )
        if not known:
            unknown.append(token)
    if unknown:
        raise PaperError(f"{where}: unexpected file-name token(s) {unknown}")
    named = framings[0] if framings else None

    if top == "nvas":
        sub = folders[1] if len(folders) > 1 else (tokens[0] if tokens else "")
        from_folder = {"npvas": "persona", "novas": "observer"}.get(sub)
        if from_folder is None:
            raise PaperError(f"{where}: NVAS files must lie in NVAS/NPVAS or NVAS/NOVAS")
        if named is not None and named != from_folder:
            raise PaperError(f"{where}: folder says {from_folder}, file name says {named}")
        return SheetKey("NVAS", from_folder, models[0], modes[0])
    if top == "clcs":
        from_folder = folders[1] if len(folders) > 1 else None
        if from_folder not in FRAMING_TOKENS:
            raise PaperError(
                f"{where}: CLCS files must lie in CLCS/Neutral, CLCS/Persona or CLCS/Observer"
            )
        if named is not None and named != from_folder:
            raise PaperError(f"{where}: folder says {from_folder}, file name says {named}")
        return SheetKey("CLCS", from_folder, models[0], modes[0])
    if top == "fcs":
        if named is not None:
            raise PaperError(f"{where}: FCS compares persona with observer; no framing expected")
        return SheetKey("FCS", "persona_vs_observer", models[0], modes[0])
    if top == "spd":
        if named is not None:
            raise PaperError(f"{where}: SPD compares neutral with persona; no framing expected")
        return SheetKey("SPD", "neutral_vs_persona", models[0], modes[0])
    if top == "kl":
        if named == "observer":
            raise PaperError(f"{where}: no observer KL tables are known")
        # A KL file that names no framing holds the un-framed (neutral) prompts.
        return SheetKey("KL", named or "neutral", models[0], modes[0])
    raise PaperError(f"{where}: unknown metric folder {relative.parts[0]!r}")


def _column_target(column: str, key: SheetKey, where: str) -> tuple[str | None, str | None]:
    """(country, native_language) a sheet column holds; raises on unknown columns."""
    name = str(column).strip()
    if name in COUNTRIES or name in COUNTRY_ALIASES:
        return COUNTRY_ALIASES.get(name, name), None
    if key.metric == "CLCS" and name in LANGUAGE_COLUMNS:
        return None, LANGUAGE_COLUMNS[name]
    if key.metric == "SPD":
        match = _SPD_COLUMN.match(name)
        if match:
            model_part = match["model"].lower()
            if not model_part.startswith(key.model):
                raise PaperError(
                    f"{where}: column {name!r} names model {match['model']!r}, "
                    f"the file name says {key.model}"
                )
            group = match["group"]
            if group == "LLM":
                # The model's own (neutral, identity-free) answer column: no country.
                return None, None
            group = COUNTRY_ALIASES.get(group, group)
            if group in COUNTRIES:
                return group, None
    raise PaperError(f"{where}: unexpected column {name!r}")


def read_published_file(path: Path, root: Path, questions: pd.DataFrame) -> pd.DataFrame:
    """Tidy one published sheet: one row per (code, column) with a value."""
    key = parse_file_name(path, root)
    where = str(path.relative_to(root))
    try:
        sheets = pd.read_excel(path, sheet_name=None)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported by name
        raise PaperError(f"{where}: cannot read spreadsheet: {exc}") from exc
    if len(sheets) != 1:
        raise PaperError(f"{where}: expected one sheet, found {list(sheets)}")
    ((sheet_name, frame),) = sheets.items()
    where = f"{where} [{sheet_name}]"
    if "Code" not in frame.columns:
        raise PaperError(f"{where}: no 'Code' column (columns: {list(frame.columns)[:6]} …)")

    value_columns: dict[str, tuple[str | None, str | None]] = {}
    for column in frame.columns:
        name = str(column)
        if name == "Code":
            continue
        if name.startswith("Unnamed:"):
            if frame[column].notna().any():
                raise PaperError(f"{where}: unnamed column {name!r} holds values")
            continue
        if key.metric == "KL" and name == "source":
            continue
        value_columns[name] = _column_target(name, key, where)
    if not value_columns:
        raise PaperError(f"{where}: no value columns")

    codes = frame["Code"]
    is_average = codes.astype(str).str.strip().str.lower() == "average"
    if is_average.sum() > 1:
        raise PaperError(f"{where}: more than one 'Average' row")
    body = frame.loc[~is_average]
    numeric_code = pd.to_numeric(body["Code"], errors="coerce")
    bad = numeric_code.isna() | (numeric_code != np.floor(numeric_code)) | (numeric_code < 1)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0]) + 2  # spreadsheet row (header is row 1)
        raise PaperError(f"{where}: row {row}, column Code: not a question number or 'Average'")
    numeric_code = numeric_code.astype(int)
    if numeric_code.duplicated().any():
        dup = int(numeric_code[numeric_code.duplicated()].iloc[0])
        raise PaperError(f"{where}: Code {dup} appears twice")

    code_to_id = dict(zip(questions["code"].astype(int), questions["question_id"], strict=True))
    n_questions = len(code_to_id)
    values = body[list(value_columns)].apply(pd.to_numeric, errors="coerce")
    non_numeric = values.isna() & body[list(value_columns)].notna()
    if non_numeric.to_numpy().any():
        r, c = (int(i[0]) for i in non_numeric.to_numpy().nonzero())
        raise PaperError(
            f"{where}: row {r + 2}, column {list(value_columns)[c]}: not a number "
            f"({body[list(value_columns)].iloc[r, c]!r})"
        )
    beyond = numeric_code.to_numpy() > n_questions
    if beyond.any():
        if values.loc[beyond].notna().to_numpy().any():
            code = int(numeric_code[beyond & values.notna().any(axis=1).to_numpy()].iloc[0])
            raise PaperError(
                f"{where}: Code {code} holds values but the benchmark has {n_questions} questions"
            )
        LOG.info("%s: dropped %d empty rows past question %d", where, beyond.sum(), n_questions)
    if key.metric == "KL" and "source" in body.columns:
        _check_sources(body.loc[~beyond], numeric_code[~beyond], questions, where)

    kept = values.loc[~beyond].copy()
    kept.insert(0, "code", numeric_code[~beyond].to_numpy())
    long = kept.melt(id_vars="code", var_name="column", value_name="value").dropna(subset=["value"])
    infinite = ~np.isfinite(long["value"].to_numpy(dtype=float))
    if infinite.any():
        row = long.loc[infinite].iloc[0]
        raise PaperError(f"{where}: Code {row['code']}, column {row['column']}: not finite")
    long["country"] = long["column"].map(lambda name: value_columns[name][0])
    long["native_language"] = long["column"].map(lambda name: value_columns[name][1])
    long["question_id"] = long["code"].map(code_to_id)
    long["metric"] = key.metric
    long["framing"] = key.framing
    long["model"] = key.model
    long["reasoning"] = key.reasoning
    long["file"] = str(path.relative_to(root))
    long["value"] = long["value"].astype(float)
    long["code"] = long["code"].astype(int)
    return long[list(PUBLISHED_COLUMNS)].reset_index(drop=True)


def _check_sources(
    body: pd.DataFrame, codes: pd.Series, questions: pd.DataFrame, where: str
) -> None:
    """The KL sheets' `source` column must agree with the benchmark (checks the Code map)."""
    expected = dict(zip(questions["code"].astype(int), questions["source"], strict=True))
    for code, value in zip(codes, body["source"], strict=True):
        if pd.isna(value):
            continue
        if value not in SOURCE_VALUES:
            raise PaperError(f"{where}: Code {code}, column source: unknown value {value!r}")
        if SOURCE_VALUES[value] != expected[int(code)]:
            raise PaperError(
                f"{where}: Code {code}, column source: {value!r} but the benchmark's "
                f"question {code} comes from {expected[int(code)]}"
            )


def range_notes(published: pd.DataFrame) -> list[str]:
    """Values outside the metric's range (percent metrics outside 0-100, negative KL).

    The authors' tables hold a few such values (e.g. an answer outside the scale gives a
    negative NVAS); they are kept as published, so averages match the files, and listed.
    """
    percent = published["metric"].isin(PERCENT_METRICS)
    bad = published[
        (percent & ((published["value"] < 0) | (published["value"] > 100)))
        | (~percent & (published["value"] < 0))
    ]
    return [
        f"{row.file}: Code {row.code}, column {row.column}: {row.value:g} lies outside the "
        "metric's range (kept as published)"
        for row in bad.itertuples()
    ]


def aggregates_input(benchmark: str, config: Mapping[str, Any]) -> list[str]:
    """The authors' aggregates a run's MENAValues report prints beside its own, when the
    ``paper`` target is on (config ``paper.published_metrics``)."""
    if benchmark == "menavalues" and config["paper"]["published_metrics"]:
        return ["results/menavalues/paper/aggregates.csv"]
    return []


def rule_inputs(config: dict) -> list[str]:
    """The spreadsheets rule ``paper`` reads (its inputs); a clear error when unconfigured."""
    folder = (config.get("paper") or {}).get("published_metrics")
    if not folder:
        raise PaperError(
            "rule paper needs config key paper.published_metrics (a folder); e.g. --config "
            "'paper={published_metrics: ../shared/data/menavalues/published_metrics}'"
        )
    return [str(path) for path in published_files(folder)]


def published_files(root: str | Path) -> list[Path]:
    """Every spreadsheet under the published-metrics folder, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise PaperError(f"paper.published_metrics: {root} is not a folder")
    files = sorted(p for p in root.rglob("*.xlsx") if not p.name.startswith("~$"))
    if not files:
        raise PaperError(f"paper.published_metrics: no .xlsx files under {root}")
    return files


def read_published(root: str | Path, questions: pd.DataFrame) -> pd.DataFrame:
    """The tidy table of every published file under ``root``."""
    root = Path(root)
    frames = [read_published_file(path, root, questions) for path in published_files(root)]
    tidy = pd.concat(frames, ignore_index=True)
    keys = ["metric", "framing", "model", "reasoning"]
    duplicated = tidy.duplicated(subset=[*keys, "code", "column"])
    if duplicated.any():
        row = tidy.loc[duplicated].iloc[0]
        clash = tidy.loc[
            (tidy[[*keys]] == row[keys]).all(axis=1) & (tidy["code"] == row["code"]), "file"
        ].unique()
        raise PaperError(f"two files hold the same table: {', '.join(map(str, clash))}")
    return tidy.sort_values([*keys, "code", "column"]).reset_index(drop=True)


def average_rows(root: str | Path) -> pd.DataFrame:
    """The files' own ``Average`` rows (file, column, value), to check our averages."""
    root = Path(root)
    rows = []
    for path in published_files(root):
        frame = pd.read_excel(path)
        average = frame.loc[frame["Code"].astype(str).str.strip().str.lower() == "average"]
        if average.empty:
            continue
        for column, value in average.iloc[0].items():
            if column == "Code" or str(column).startswith("Unnamed:") or column == "source":
                continue
            numeric = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
            if pd.notna(numeric):
                rows.append(
                    {"file": str(path.relative_to(root)), "column": column, "value": numeric}
                )
    return pd.DataFrame(rows, columns=["file", "column", "value"])


def averages(published: pd.DataFrame, average_row: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per (metric, framing, model, reasoning): the pooled mean over every published value,
    the mean of the per-column (country or language) means, and counts.

    When the files' ``Average`` rows are given, also the largest absolute difference
    between our per-column means and theirs (they are rounded to 2 decimals in some files).
    """
    keys = ["metric", "framing", "model", "reasoning"]
    per_column = published.groupby([*keys, "file", "column"], as_index=False)["value"].mean()
    grouped = published.groupby(keys)
    out = grouped["value"].agg(mean="mean", sd="std", n="size").reset_index()
    out["n_questions"] = grouped["code"].nunique().to_numpy()
    out["n_columns"] = grouped["column"].nunique().to_numpy()
    column_means = per_column.groupby(keys)["value"].mean().rename("mean_of_column_means")
    out = out.merge(column_means.reset_index(), on=keys)
    if average_row is not None and not average_row.empty:
        merged = per_column.merge(
            average_row.rename(columns={"value": "published_average"}),
            on=["file", "column"],
            how="left",
        )
        merged["diff"] = (merged["value"] - merged["published_average"]).abs()
        check = merged.groupby(keys)["diff"].max().rename("max_abs_diff_vs_average_row")
        out = out.merge(check.reset_index(), on=keys, how="left")
    out.insert(3, "model_label", out["model"].map(MODELS))
    return out.sort_values(keys).reset_index(drop=True)


AGGREGATE_COLUMNS = ["metric", "framing", "model", "model_label", "zero", "cot",
                     "mean_over_reasoning", "pooled_mean", "n_zero", "n_cot"]  # fmt: skip


def aggregates(table: pd.DataFrame) -> pd.DataFrame:
    """Per (metric, framing, model) the paper-level figure: the zero-shot and reasoning means
    (each the mean over every published item x country value), their average
    ``mean_over_reasoning`` (the authors quote each metric averaged over the two modes), and
    the mean over every value of both modes (``pooled_mean``)."""
    keys = ["metric", "framing", "model"]
    wide = table.pivot_table(index=keys, columns="reasoning", values=["mean", "n"],
                             aggfunc="first")  # fmt: skip
    out = pd.DataFrame(index=wide.index)
    for mode in ("zero", "cot"):
        out[mode] = wide["mean"].get(mode, np.nan)
        out[f"n_{mode}"] = wide["n"].get(mode, 0)
    out = out.reset_index()
    out["mean_over_reasoning"] = out[["zero", "cot"]].mean(axis=1, skipna=False)
    weights = out[["n_zero", "n_cot"]].fillna(0).to_numpy(float)
    values = out[["zero", "cot"]].fillna(0).to_numpy(float)
    total = weights.sum(axis=1)
    out["pooled_mean"] = np.where(total > 0, (values * weights).sum(axis=1) / np.where(
        total > 0, total, 1), np.nan)  # fmt: skip
    out["model_label"] = out["model"].map(MODELS)
    for column in ("n_zero", "n_cot"):
        out[column] = out[column].fillna(0).astype(int)
    return out[AGGREGATE_COLUMNS].sort_values(keys).reset_index(drop=True)


RUN_AGGREGATE_COLUMNS = ["metric", "framing", "model", "language", "zero", "cot",
                         "mean_over_reasoning", "published_as", "published"]  # fmt: skip
# (paper metric, paper framing) -> (source table, metric column or name, our framing/by)
RUN_METRICS: tuple[tuple[str, str, str, str, str], ...] = (
    ("NVAS", "persona", "summary", "nvas_mean", "persona"),
    ("NVAS", "observer", "summary", "nvas_mean", "observer"),
    ("KL", "neutral", "summary", "kld_mean", "neutral"),
    ("KL", "persona", "summary", "kld_mean", "persona"),
    ("CLCS", "neutral", "consistency", "clcs", "neutral"),
    ("CLCS", "persona", "consistency", "clcs", "persona"),
    ("CLCS", "observer", "consistency", "clcs", "observer"),
    ("FCS", "persona_vs_observer", "consistency", "fcs", ""),
    ("SPD", "neutral_vs_persona", "consistency", "spd", ""),
)


def run_aggregates(
    summary: pd.DataFrame,
    consistency_summary: pd.DataFrame,
    published_as: dict[str, str | None],
    published: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """This run's figures in the layout of :func:`aggregates` (per language; CLCS compares
    the languages, so its rows have language ``en vs native``), with the authors' figure
    beside each model that ``published_as`` maps to one of theirs."""
    rows = []
    for metric, framing, source, column, ours in RUN_METRICS:
        if source == "summary":
            if summary.empty or column not in summary:
                continue
            subset = summary[summary["framing"] == ours]
            groups = subset.groupby(["model", "language"], sort=True)
            value = column
        else:
            if consistency_summary.empty:
                continue
            subset = consistency_summary[consistency_summary["metric"] == column]
            if column == "clcs":
                subset = subset[subset["framing"] == ours].assign(language="en vs native")
            groups = subset.groupby(["model", "language"], sort=True)
            value = "mean"
        for (model, language), group in groups:
            by_mode = group.groupby("reasoning")[value].mean()
            zero, cot = by_mode.get("zero", np.nan), by_mode.get("cot", np.nan)
            rows.append({"metric": metric, "framing": framing, "model": model,
                         "language": language, "zero": zero, "cot": cot,
                         "mean_over_reasoning": np.nanmean([zero, cot])
                         if not (np.isnan(zero) and np.isnan(cot)) else np.nan,
                         "published_as": published_as.get(model)})  # fmt: skip
    out = pd.DataFrame(rows, columns=RUN_AGGREGATE_COLUMNS[:-1])
    out["published"] = np.nan
    if published is not None and not published.empty and not out.empty:
        lookup = published.set_index(["metric", "framing", "model"])["mean_over_reasoning"]
        out["published"] = [
            lookup.get((m, f, p), np.nan) if isinstance(p, str) else np.nan
            for m, f, p in zip(out["metric"], out["framing"], out["published_as"], strict=True)
        ]
    return out[RUN_AGGREGATE_COLUMNS]


# ----------------------------------------------------------------------------- figures

PANELS: tuple[tuple[str, str, str], ...] = (
    ("NVAS", "persona", "NVAS — persona"),
    ("NVAS", "observer", "NVAS — observer"),
    ("CLCS", "neutral", "CLCS — neutral"),
    ("CLCS", "persona", "CLCS — persona"),
    ("CLCS", "observer", "CLCS — observer"),
    ("FCS", "persona_vs_observer", "FCS (persona vs observer)"),
    ("SPD", "neutral_vs_persona", "SPD (neutral vs persona)"),
    ("KL", "neutral", "KL divergence — neutral"),
    ("KL", "persona", "KL divergence — persona"),
)
REASONING_LABELS: dict[str, str] = {"zero": "zero-shot", "cot": "reasoning"}
REASONING_COLORS: dict[str, str] = {"zero": "#4C72B0", "cot": "#DD8452"}


def _bar_panel(ax, table: pd.DataFrame, metric: str, framing: str, title: str) -> None:
    """Grouped bars: models on x, zero vs reasoning side by side, ±1.96·SE whiskers."""
    rows = table[(table["metric"] == metric) & (table["framing"] == framing)]
    models = [model for model in MODELS if model in set(rows["model"])]
    width = 0.38
    for offset, reasoning in zip((-width / 2, width / 2), ("zero", "cot"), strict=True):
        heights, errors, xs = [], [], []
        for index, model in enumerate(models):
            hit = rows[(rows["model"] == model) & (rows["reasoning"] == reasoning)]
            if hit.empty:
                continue
            row = hit.iloc[0]
            xs.append(index + offset)
            heights.append(row["mean"])
            errors.append(1.96 * row["sd"] / np.sqrt(row["n"]) if row["n"] > 1 else 0.0)
        if xs:
            bars = ax.bar(
                xs,
                heights,
                width,
                yerr=errors,
                capsize=3,
                color=REASONING_COLORS[reasoning],
                label=REASONING_LABELS[reasoning],
            )
            ax.bar_label(bars, fmt="%.1f" if metric != "KL" else "%.2f", fontsize=7, padding=2)
    ax.set_xticks(range(len(models)), [MODELS[model] for model in models], fontsize=8)
    ax.set_title(title, fontsize=10)
    if metric in PERCENT_METRICS:
        ax.set_ylim(0, 105)
        ax.set_ylabel("score (%)", fontsize=8)
    else:
        ax.set_ylabel("KL divergence (as published)", fontsize=8)
        ax.set_ylim(0, max(1e-9, rows["mean"].max()) * 1.25 if not rows.empty else 1)
    if rows.empty:
        ax.text(0.5, 0.5, "no published table", ha="center", va="center", transform=ax.transAxes)
    ax.grid(axis="y", alpha=0.3)


def draw_figures(table: pd.DataFrame, out_dir: str | Path) -> dict[str, Path]:
    """The paper's model comparison: one overview and one figure per metric (PNG + SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    fig, axes = plt.subplots(3, 3, figsize=(15, 12), constrained_layout=True)
    for ax, (metric, framing, title) in zip(axes.flat, PANELS, strict=True):
        _bar_panel(ax, table, metric, framing, title)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper right", title="mode")
    fig.suptitle(
        "MENAValues published metrics: model comparison, zero-shot vs reasoning\n"
        "(mean over items × countries; whiskers ±1.96 SE, values treated as independent)",
        fontsize=12,
    )
    written["overview"] = _save(fig, out_dir / "model_comparison")
    plt.close(fig)

    for metric in ("NVAS", "CLCS", "FCS", "SPD", "KL"):
        panels = [panel for panel in PANELS if panel[0] == metric]
        fig, axes = plt.subplots(
            1, len(panels), figsize=(5.2 * len(panels), 4.2), constrained_layout=True, squeeze=False
        )
        for ax, (m, framing, title) in zip(axes.flat, panels, strict=True):
            _bar_panel(ax, table, m, framing, title)
        axes.flat[0].legend(fontsize=8, title="mode", title_fontsize=8)
        written[metric.lower()] = _save(fig, out_dir / f"{metric.lower()}_comparison")
        plt.close(fig)
    return written


def _save(fig, stem: Path) -> Path:
    # imported here: the workflow reads this module's rule inputs at parse time, and
    # reporting.figures loads matplotlib (0.8 s of every Snakemake start)
    from culturalign.reporting.figures import save_figure

    save_figure(fig, stem.with_suffix(".png"), dpi=110)
    save_figure(fig, stem.with_suffix(".svg"))
    return stem.with_suffix(".png")


def render_index(
    table: pd.DataFrame,
    figures: dict[str, Path],
    out_path: str | Path,
    source: str,
    notes: Iterable[str] = (),
) -> Path:
    """results/paper/index.html: the averages table and the figures, inlined (base64 PNG)."""
    out_path = Path(out_path)
    shown = table.copy()
    for column in ("mean", "sd", "mean_of_column_means", "max_abs_diff_vs_average_row"):
        if column in shown:
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    html = render_template(
        "paper.html.j2",
        title="MENAValues published metrics, re-drawn",
        source=source,
        notes=list(notes),
        table_html=shown.to_html(index=False, classes="data", border=0),
        figures=[{"name": name, "uri": image_data_uri(path)} for name, path in figures.items()],
    )

    return write_text_atomic(html, out_path)
