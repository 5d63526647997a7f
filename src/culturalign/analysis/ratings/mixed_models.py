"""The Python side of the rater-level mixed models (``workflow/scripts/ratings_mixed_models.R``).

Why split this way: the models are fitted by lme4, the field's reference implementation of
crossed random-effects models and what Saakyan, Rastogi & Aroyo (2026) used, so a reader can
refit our numbers with their own lme4 call. Python only prepares the one input table, reads
the three output tables back and does what does not need R: the Benjamini-Hochberg
adjustment across comparisons and datasets, the headline numbers and the forest plots.

Exchange format: tab-separated text, missing values empty (the R script writes doubles with
17 significant digits, so nothing is lost on the way back).

- :func:`model_input`: ratings joined to their raters' zone and demographics for one
  dataset, the TSV the R script reads (:func:`write_model_input` writes several datasets).
- :func:`read_results`: the models, comparisons and fixed-effects tables, typed and checked,
  the comparisons with ``p_adjusted`` (BH, per family, across all comparisons and datasets).
- :func:`headline`: the numbers of "zone adds to demographics: chi2 = ..., df = ..., p = ...,
  delta AIC = ...", with a ready sentence that says when a model did not converge.
- :func:`forest_plot`: the fixed effects of one model with Wald 95% intervals, p < 0.05
  marked, one panel per dataset and family.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from culturalign.errors import CulturalignError
from culturalign.io.files import atomic_path
from culturalign.reporting.figures import empty_figure, plt, save

log = logging.getLogger("culturalign")

DEMOGRAPHICS = ("gender", "ethnicity", "age_group")
MODELS = ("base", "D", "CZ", "D+CZ", "DxCZ")
COMPARISONS = ("D vs base", "CZ vs base", "D+CZ vs D", "DxCZ vs D+CZ")
FAMILIES = ("gaussian", "binomial")
FAMILY_NAMES = {"gaussian": "linear mixed model", "binomial": "logistic mixed model"}
ALPHA = 0.05

MODEL_COLUMNS = {
    "dataset": "string", "family": "string", "model": "string", "formula": "string",
    "status": "string", "n": "Int64", "n_raters": "Int64", "n_items": "Int64",
    "n_fixed": "Int64", "logLik": "float64", "df": "Int64", "AIC": "float64",
    "BIC": "float64", "rater_variance": "float64", "item_variance": "float64",
    "residual_variance": "float64", "converged": "boolean", "singular": "boolean",
    "convergence_message": "string", "notes": "string",
}  # fmt: skip
COMPARISON_COLUMNS = {
    "dataset": "string", "family": "string", "comparison": "string", "model_big": "string",
    "model_small": "string", "chi2": "float64", "df": "Int64", "p_value": "float64",
    "delta_aic": "float64", "delta_bic": "float64", "rater_variance_small": "float64",
    "rater_variance_big": "float64", "rater_variance_change": "float64",
    "converged_big": "boolean", "converged_small": "boolean", "converged": "boolean",
    "message": "string",
}  # fmt: skip
FIXED_COLUMNS = {
    "dataset": "string", "family": "string", "model": "string", "term": "string",
    "variable": "string", "level": "string", "estimate": "float64", "std_error": "float64",
    "statistic": "float64", "conf_low": "float64", "conf_high": "float64",
    "p_value": "float64", "converged": "boolean",
}  # fmt: skip
MESSAGE_COLUMNS = ("convergence_message", "notes", "message", "level")

# what each comparison asks, for the headline sentences
QUESTIONS = {
    "D vs base": "demographics explain ratings",
    "CZ vs base": "zone explains ratings",
    "D+CZ vs D": "zone adds to demographics",
    "DxCZ vs D+CZ": "zone x demographic interaction adds to D+CZ",
}


class MixedModelsError(CulturalignError):
    """The ratings cannot be modelled, or the model tables are not what the R script writes."""


@dataclass(frozen=True)
class MixedModelResults:
    """The three tables of one run of the R script (see :func:`read_results`)."""

    models: pd.DataFrame
    comparisons: pd.DataFrame
    fixed_effects: pd.DataFrame


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MixedModelsError(
            f"{what}: missing column(s) {missing}; columns present: {list(frame.columns)}"
        )


def _missing(values: pd.Series) -> pd.Series:
    """Missing or blank (an empty country cell read as text is no zone either)."""
    return values.isna() | values.astype("string").str.strip().eq("")


def model_input(
    ratings: pd.DataFrame,
    raters: pd.DataFrame,
    dataset: str,
    demographics: Sequence[str] = DEMOGRAPHICS,
    zone_column: str = "zone",
) -> pd.DataFrame:
    """The R script's input for one dataset: dataset, item_id, rater_id, unsafe (0/1), the
    zone column and the demographic columns the raters table has.

    Dropped, counted and logged (never silently): ratings without a 0/1 ``unsafe`` (e.g.
    ``Unsure``), and the ratings of raters without a zone (a country the zone table has no
    data for). The counts are in ``frame.attrs["dropped"]``: ``ratings_without_value``,
    ``raters_without_zone``, ``ratings_without_zone``, ``demographics_absent`` (read them
    before concatenating frames, which may drop ``attrs``). A demographic the raters table
    lacks is left out here and the R script leaves it out of D with a note in its log.
    A rating by a rater the raters table does not know, a duplicate rater, or an ``unsafe``
    value other than 0/1/missing is an error.
    """
    _require(ratings, ("item_id", "rater_id", "unsafe"), f"ratings of {dataset!r}")
    _require(raters, ("rater_id", zone_column), f"raters of {dataset!r}")
    duplicated = raters.rater_id[raters.rater_id.duplicated()]
    if not duplicated.empty:
        raise MixedModelsError(
            f"raters of {dataset!r}: rater_id {duplicated.iloc[0]!r} appears more than once "
            f"({duplicated.size} duplicate row(s))"
        )
    unknown = sorted(set(ratings.rater_id) - set(raters.rater_id))
    if unknown:
        raise MixedModelsError(
            f"ratings of {dataset!r}: {len(unknown)} rater(s) not in the raters table, "
            f"e.g. {unknown[:5]}"
        )
    unsafe = pd.to_numeric(ratings.unsafe, errors="coerce").astype("Float64")
    bad = ratings.unsafe.notna() & ~unsafe.isin([0, 1])
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise MixedModelsError(
            f"ratings of {dataset!r}, row {row}: unsafe = {ratings.unsafe.iloc[row]!r}, "
            "expected 0, 1 or missing"
        )
    present = [c for c in demographics if c in raters.columns]
    absent = [c for c in demographics if c not in raters.columns]
    rated = ratings.assign(unsafe=unsafe)
    without_value = int(rated.unsafe.isna().sum())
    rated = rated[rated.unsafe.notna()]
    attributes = raters[["rater_id", zone_column, *present]]
    frame = rated[["item_id", "rater_id", "unsafe"]].merge(attributes, on="rater_id")
    no_zone = _missing(frame[zone_column])
    dropped = {
        "ratings_without_value": without_value,
        "raters_without_zone": int(frame.rater_id[no_zone].nunique()),
        "ratings_without_zone": int(no_zone.sum()),
        "demographics_absent": absent,
    }
    frame = frame[~no_zone.to_numpy()].reset_index(drop=True)
    frame.insert(0, "dataset", dataset)
    frame["unsafe"] = frame.unsafe.astype("int64")
    frame = frame[["dataset", "item_id", "rater_id", "unsafe", zone_column, *present]]
    frame.attrs["dropped"] = dropped
    log.info(
        "mixed models %s: %d ratings of %d raters; dropped %d rating(s) without a 0/1 value "
        "and %d rating(s) of %d rater(s) without a %s; demographics absent: %s",
        dataset, len(frame), frame.rater_id.nunique(), without_value,
        dropped["ratings_without_zone"], dropped["raters_without_zone"], zone_column,
        absent or "none",
    )  # fmt: skip
    return frame


def write_model_input(frames: Sequence[pd.DataFrame], path: str | Path) -> Path:
    """Write one or several :func:`model_input` frames (datasets) as the R script's TSV."""
    if not frames:
        raise MixedModelsError(f"{path}: no dataset to write")
    names = [name for frame in frames for name in frame.dataset.unique()]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise MixedModelsError(f"{path}: dataset name(s) {repeated} appear in two frames")
    table = pd.concat(frames, ignore_index=True)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="")
    return Path(path)


def _read_table(path: str | Path, columns: dict[str, str], what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise MixedModelsError(f"{what} table {path}: no such file")
    frame = pd.read_csv(
        path, sep="\t", dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8"
    )
    _require(frame, list(columns), f"{what} table {path}")
    typed = {}
    for column, dtype in columns.items():
        values = frame[column]
        if dtype == "boolean":
            unknown = set(values.dropna()) - {"TRUE", "FALSE"}
            if unknown:
                raise MixedModelsError(
                    f"{what} table {path}, column {column}: values {sorted(unknown)}, "
                    "expected TRUE / FALSE / empty"
                )
            typed[column] = values.map({"TRUE": True, "FALSE": False}).astype("boolean")
        elif dtype == "string":
            typed[column] = values.astype("string")
        else:
            try:
                # Python's float() per value: an exact round trip of R's 17 digits, which
                # pandas' fast parsers do not promise (a p-value near 1 hangs on the last bit)
                typed[column] = values.astype("float64").astype(dtype)
            except (ValueError, TypeError) as exc:
                raise MixedModelsError(
                    f"{what} table {path}, column {column}: not numeric ({exc})"
                ) from None
    frame = pd.DataFrame(typed)
    for column in MESSAGE_COLUMNS:
        if column in frame:
            frame[column] = frame[column].fillna("")
    return frame


def adjust_bh(comparisons: pd.DataFrame) -> pd.DataFrame:
    """``comparisons`` with ``p_adjusted``: Benjamini-Hochberg within each family, across all
    comparisons and datasets (the paper's correction; the linear and the logistic models are
    two analyses of the same question, not more tests of it). A comparison without a p-value
    (a model not fitted) is no test: its ``p_adjusted`` is missing and it does not count."""
    _require(comparisons, ("family", "p_value"), "comparisons")
    adjusted = pd.Series(np.nan, index=comparisons.index, dtype="float64")
    for _, group in comparisons.groupby("family", sort=False):
        p = group.p_value.astype("float64")
        tested = p.notna()
        if tested.any():
            adjusted[p.index[tested]] = multipletests(p[tested].to_numpy(), method="fdr_bh")[1]
    return comparisons.assign(p_adjusted=adjusted)


def read_results(
    models_path: str | Path, comparisons_path: str | Path, fixed_path: str | Path
) -> MixedModelResults:
    """The R script's three tables, typed (booleans as pandas ``boolean``, counts ``Int64``,
    messages ``""`` when none) and checked; comparisons with ``p_adjusted`` (:func:`adjust_bh`).
    """
    models = _read_table(models_path, MODEL_COLUMNS, "models")
    comparisons = _read_table(comparisons_path, COMPARISON_COLUMNS, "comparisons")
    fixed = _read_table(fixed_path, FIXED_COLUMNS, "fixed effects")
    for frame, path in ((models, models_path), (comparisons, comparisons_path)):
        unknown = set(frame.family.dropna()) - set(FAMILIES)
        if unknown:
            raise MixedModelsError(f"{path}: unknown family {sorted(unknown)}")
    for _, row in models[~models.converged.fillna(False)].iterrows():
        log.warning(
            "mixed model %s %s %s not converged (%s): %s", row.dataset, row.family, row.model,
            row.status, row.convergence_message,
        )  # fmt: skip
    return MixedModelResults(models, adjust_bh(comparisons), fixed)


def _number(value: float, digits: int = 2) -> str:
    """A statistic for a sentence: fixed decimals, or scientific when tiny."""
    if value is None or pd.isna(value):
        return "n/a"
    if value != 0 and abs(value) < 10 ** (-digits - 1):
        return f"{value:.1e}"
    return f"{value:.{digits}f}".replace("-", "\N{MINUS SIGN}")


def _p(value: float) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


@dataclass(frozen=True)
class Headline:
    """One likelihood-ratio test's numbers for a sentence, and the sentence."""

    dataset: str
    family: str
    comparison: str
    chi2: float
    df: int | None
    p_value: float
    p_adjusted: float
    delta_aic: float
    rater_variance_change: float
    converged: bool
    message: str

    @property
    def significant(self) -> bool:
        """BH-adjusted p below 0.05 (False when there is no test)."""
        return bool(not pd.isna(self.p_adjusted) and self.p_adjusted < ALPHA)

    @property
    def sentence(self) -> str:
        """E.g. "zone adds to demographics (DICES-990, linear mixed model): χ² = 65.25,
        df = 7, p = 1.3e-11 (BH-adjusted p = 5.2e-11), ΔAIC = −51.25; rater variance
        −12.0%"; a model that did not converge, or no test, is said in words."""
        question = QUESTIONS.get(self.comparison, self.comparison)
        where = f"{self.dataset}, {FAMILY_NAMES.get(self.family, self.family)}"
        if pd.isna(self.chi2):
            return f"{question} ({where}): not tested ({self.message or 'no fit'})."
        df = "n/a" if self.df is None else str(self.df)
        text = (
            f"{question} ({where}): \N{GREEK SMALL LETTER CHI}\N{SUPERSCRIPT TWO} = "
            f"{_number(self.chi2)}, df = {df}, p = {_p(self.p_value)} (BH-adjusted p = "
            f"{_p(self.p_adjusted)}), \N{GREEK CAPITAL LETTER DELTA}AIC = "
            f"{_number(self.delta_aic, 1)}"
        )
        if not pd.isna(self.rater_variance_change):
            text += f"; rater variance {_number(100 * self.rater_variance_change, 1)}%"
        if not self.converged:
            text += f" (caution: {self.message or 'a model did not converge'})"
        return text + "."


def headline(comparisons: pd.DataFrame, comparison: str | None = "D+CZ vs D") -> list[Headline]:
    """The numbers of one comparison (all four with ``None``) per dataset and family, in
    table order; ``comparisons`` as :func:`read_results` returns them (``p_adjusted`` is
    computed here if absent)."""
    if comparison is not None and comparison not in COMPARISONS:
        raise MixedModelsError(f"headline: unknown comparison {comparison!r}; known: {COMPARISONS}")
    if "p_adjusted" not in comparisons:
        comparisons = adjust_bh(comparisons)
    rows = comparisons if comparison is None else comparisons[comparisons.comparison == comparison]
    return [
        Headline(
            dataset=str(row.dataset),
            family=str(row.family),
            comparison=str(row.comparison),
            chi2=float(row.chi2),
            df=None if pd.isna(row.df) else int(row.df),
            p_value=float(row.p_value),
            p_adjusted=float(row.p_adjusted),
            delta_aic=float(row.delta_aic),
            rater_variance_change=float(row.rater_variance_change),
            converged=bool(row.converged) if not pd.isna(row.converged) else False,
            message="" if pd.isna(row.message) else str(row.message),
        )
        for row in rows.itertuples(index=False)
    ]


SIGNIFICANT_COLOR = "#C44E52"
OTHER_COLOR = "#7F7F7F"
SCALES = {"gaussian": "estimate (probability of unsafe)", "binomial": "estimate (log-odds)"}


def forest_plot(fixed_effects: pd.DataFrame, model: str, path: str | Path) -> list[Path]:
    """Forest plot of ``model``'s fixed effects (intercept left out: it is on another scale
    than the contrasts) with Wald 95% intervals; p < 0.05 filled red, others open grey.
    Panels: a row per dataset, a column per family, each with its own axis (probability vs
    log-odds). ``path`` is the output stem: writes ``stem.png`` and ``stem.svg``; an empty
    selection writes a figure saying so. A panel whose model did not converge says so in red
    in its title."""
    if model not in MODELS:
        raise MixedModelsError(f"forest_plot: unknown model {model!r}; known: {MODELS}")
    _require(fixed_effects, list(FIXED_COLUMNS), "fixed effects")
    rows = fixed_effects[(fixed_effects.model == model) & (fixed_effects.term != "(Intercept)")]
    title = f"Fixed effects of model {model}"
    if rows.empty:
        return empty_figure(path, title, f"no fixed effects besides the intercept for {model}")
    datasets = list(dict.fromkeys(rows.dataset))
    families = [f for f in FAMILIES if f in set(rows.family)]
    n_terms = int(rows.groupby(["dataset", "family"]).size().max())
    fig, axes = plt.subplots(
        len(datasets),
        len(families),
        figsize=(5.0 * len(families) + 1.5, len(datasets) * (1.0 + 0.24 * n_terms)),
        squeeze=False,
        layout="constrained",
    )
    for i, dataset in enumerate(datasets):
        for j, family in enumerate(families):
            group = rows[(rows.dataset == dataset) & (rows.family == family)]
            _forest_panel(axes[i][j], group, str(dataset), family)
    fig.suptitle(
        f"{title}: estimates with Wald 95% intervals (each level against its variable's "
        "reference level)"
    )
    return save(fig, path)


def _forest_panel(ax, group: pd.DataFrame, dataset: str, family: str) -> None:
    """One dataset and family of :func:`forest_plot`."""
    where = f"{dataset} \N{EM DASH} {FAMILY_NAMES[family]}"
    if group.empty:
        ax.axis("off")
        ax.set_title(f"{where}: no fit")
        return
    group = group.iloc[::-1]  # first term at the top
    ys = np.arange(len(group))
    significant = (group.p_value < ALPHA).fillna(False).to_numpy(bool)
    labels = [
        f"{var}: {level}" if level else var
        for var, level in zip(group.variable, group.level, strict=True)
    ]
    for mask, color, face, label in (
        (~significant, OTHER_COLOR, "white", "p \N{GREATER-THAN OR EQUAL TO} 0.05"),
        (significant, SIGNIFICANT_COLOR, SIGNIFICANT_COLOR, "p < 0.05"),
    ):
        if not mask.any():
            continue
        ax.hlines(ys[mask], group.conf_low[mask], group.conf_high[mask], color=color, lw=1.2)
        ax.plot(group.estimate[mask], ys[mask], "o", color=color, mfc=face, ms=4.5, label=label)
    ax.axvline(0, color="#333", lw=0.7, ls="--")
    ax.set_yticks(ys, labels)
    ax.set_xlabel(SCALES[family])
    converged = bool(group.converged.fillna(False).all())
    ax.set_title(
        where + ("" if converged else "\nmodel did NOT converge: see the model table"),
        color="#000" if converged else SIGNIFICANT_COLOR,
    )
    ax.legend(loc="best", frameon=False)
