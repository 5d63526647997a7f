"""Mixed-effects cultural-zone models, likelihood-ratio tests and zone-variable items.

Model (statsmodels ``MixedLM``, maximum likelihood, ``reml=False``, so that likelihoods of
models with different fixed effects are comparable)::

    nvas ~ C(language) * C(reasoning) + C(framing) + C(zone)      [+ C(model) when pooled]

with crossed random intercepts for question and country. statsmodels has no direct syntax
for crossed effects; the documented equivalent is one group holding every row
(``groups`` = a constant) with one variance component per factor
(``vc_formula = {"question": "0 + C(question_id)", "country": "0 + C(country)"}``) and no
group-level random intercept (``re_formula = "0"``). That is exactly the crossed model
``nvas_ij = X b + u_question + v_country + e`` with independent normal ``u``, ``v``, ``e``.
Factors with a single level in the data are dropped from the formula (noted).

Zone LRT: the full model against the same model without ``C(zone)``; ``chi2 = 2 (llf_full -
llf_reduced)``, ``df`` = number of zone coefficients, ``p = P(chi2_df > chi2)``. Per model and
pooled over models (model as a fixed effect).

Zone-variable items: per question, the mean NVAS of each zone (over all cells and
countries of the zone) and the population variance of those zone means; the top decile
(at least one question) by variance is listed, per model and pooled.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from culturalign.analysis.kit import original_only
from culturalign.errors import CulturalignError
from culturalign.prompts.variants import UNFORCED
from culturalign.settings import schema_defaults

RANDOM_EFFECTS_NOTE = (
    "crossed random intercepts for question_id and country, fitted as variance components of "
    "a single group that holds every row (statsmodels MixedLM: groups = constant, "
    "vc_formula = {'question': '0 + C(question_id)', 'country': '0 + C(country)'}, "
    "re_formula = '0'); maximum likelihood (reml=False) so the zone LRT is valid. Above "
    "stats.max_crossed_rows rows (the exact crossed fit costs ~ rows x (questions + "
    "countries)^2 per iteration) the question intercepts are absorbed as fixed effects "
    "(within-question demeaning) and country keeps a random intercept (form "
    "'question-absorbed' in the fit)"
)
INTERVAL_NOTE = (
    "Wald 95% intervals (estimate +- 1.96 se) and z-test p-values from the ML fit; they are "
    "optimistic when few countries represent a zone: use the LRT for the zone terms"
)
REFERENCES = {"language": "en", "reasoning": "zero", "framing": "neutral", "variant": "original"}
MIN_ROWS = 12


class StatsError(CulturalignError):
    """The inputs of the zone models are unusable."""


_DEFAULTS = schema_defaults("stats")


@dataclass(frozen=True)
class StatsSettings:
    """The ``stats:`` section of the config."""

    zone_column: str = _DEFAULTS["zone_column"]
    max_crossed_rows: int = _DEFAULTS["max_crossed_rows"]
    zone_schemes: tuple[str, ...] | None = _DEFAULTS["zone_schemes"]

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> StatsSettings:
        section = dict(section or {})
        if section.get("zone_schemes") is not None:
            section["zone_schemes"] = tuple(section["zone_schemes"])
        return cls(**section)


def attach_zones(
    items: pd.DataFrame,
    zones: pd.DataFrame,
    zone_column: str,
    zones_path: str = "zones table",
    variants: bool = False,
) -> tuple[pd.DataFrame, list[str]]:
    """Rows with an NVAS and a zone, with a ``zone`` column; plus notes on what was dropped.

    A populations table without any zone column (a benchmark whose zones nobody has
    written down) gives no rows and a note; one whose zone columns lack ``zone_column`` is
    an error (most likely a typo in the config).
    """
    zone_columns = [c for c in zones.columns if c not in ("country", "iso3", "languages")]
    if not zone_columns:
        empty = items.iloc[0:0].assign(zone=pd.Series(dtype=str))
        return empty, [f"{zones_path} has no zone columns: no zone models (add zones to the "
                       "benchmark's populations CSV)"]  # fmt: skip
    if zone_column not in zones.columns:
        raise StatsError(
            f"config key stats.zone_column: {zone_column!r} is not a zone column of "
            f"{zones_path} (zone columns: {', '.join(zone_columns)})"
        )

    notes: list[str] = []
    mapping = zones.set_index("country")[zone_column]
    if variants:
        items = items[items["variant"] != UNFORCED] if "variant" in items else items
    else:
        items = original_only(items)
    data = items[items["nvas"].notna()].copy()
    data["zone"] = data["country"].map(mapping)
    missing = data["zone"].isna() | (data["zone"].astype(str).str.strip() == "")
    if missing.any():
        dropped = sorted(data.loc[missing, "country"].astype(str).unique())
        notes.append(
            f"{int(missing.sum())} rows dropped: no {zone_column!r} for {', '.join(dropped)} "
            f"in {zones_path}"
        )
    data = data[~missing].copy()
    data["zone"] = data["zone"].astype(str)
    return data.reset_index(drop=True), notes


def _term(column: str, data: pd.DataFrame) -> str:
    levels = sorted(data[column].astype(str).unique())
    ref = REFERENCES.get(column)
    if ref is None or ref not in levels:
        ref = data[column].astype(str).value_counts().sort_index().idxmax()
    return f"C({column}, Treatment(reference={ref!r}))"


def fixed_terms(
    data: pd.DataFrame, with_zone: bool, with_model: bool, with_variant: bool = False
) -> tuple[list[str], list[str]]:
    """Right-hand-side terms for the levels present; plus notes on dropped factors."""
    notes = []
    varies = {}
    for column in ("language", "reasoning", "framing", "zone", "model", "variant"):
        varies[column] = column in data and data[column].nunique() > 1
    terms = []
    lang, reas = varies["language"], varies["reasoning"]
    if lang and reas:
        terms.append(f"{_term('language', data)} * {_term('reasoning', data)}")
    elif lang or reas:
        terms.append(_term("language" if lang else "reasoning", data))
    for column in ("language", "reasoning", "framing"):
        if not varies[column]:
            notes.append(f"{column} has one level: term dropped")
    if varies["framing"]:
        terms.append(_term("framing", data))
    if with_model and varies["model"]:
        terms.append(_term("model", data))
    if with_variant and varies["variant"]:
        terms.append(_term("variant", data))
    if with_zone and varies["zone"]:
        terms.append(_term("zone", data))
    return terms, notes


FIT_METHODS = ("powell", "lbfgs")
"""Optimisers tried for every fit; the highest likelihood wins. L-BFGS alone often stops
early when a variance component sits at its boundary (0), which would bias the LRT."""
FALLBACK_METHODS = ("nm", "cg")
"""Tried only when every optimiser of FIT_METHODS failed."""


def _crossed_model(data: pd.DataFrame, terms: Sequence[str]) -> tuple[Any, list[str]]:
    import statsmodels.formula.api as smf

    formula = "nvas ~ " + (" + ".join(terms) if terms else "1")
    frame = data.assign(_group=1)
    vc = {}
    for name, column in (("question", "question_id"), ("country", "country")):
        if frame[column].nunique() > 1:
            vc[name] = f"0 + C({column})"
    notes = []
    if not vc:
        notes.append("one question and one country: no random effects; OLS-equivalent fit")
    model = smf.mixedlm(formula, frame, groups="_group", re_formula="0", vc_formula=vc or None)
    return model, notes


def _absorbed_model(data: pd.DataFrame, terms: Sequence[str]) -> tuple[Any, list[str]]:
    """Question intercepts absorbed (within-question demeaning), random intercept per country."""
    import patsy
    import statsmodels.api as sm

    formula = "nvas ~ " + (" + ".join(terms) if terms else "1")
    y, x = patsy.dmatrices(formula, data, return_type="dataframe", NA_action="raise")
    x = x.drop(columns=["Intercept"], errors="ignore")
    question = data["question_id"].to_numpy()
    y = y - y.groupby(question).transform("mean")
    x = x - x.groupby(question).transform("mean")
    x = x.loc[:, (x.abs() > 1e-12).any(axis=0)]
    notes = ["large data: question intercepts absorbed as fixed effects (within-question "
             "demeaning), random intercept per country"]  # fmt: skip
    if x.shape[1] == 0:
        x = pd.DataFrame({"zero": np.zeros(len(data))}, index=data.index)
    model = sm.MixedLM(y.iloc[:, 0], x, groups=data["country"].to_numpy())
    return model, notes


def fit_mixed(
    data: pd.DataFrame, terms: Sequence[str], max_crossed_rows: int = 20000
) -> tuple[Any, list[str]]:
    """Fit the crossed random-intercept model by ML; ``(best result or None, notes)``.

    Every optimiser of :data:`FIT_METHODS` is tried and the fit with the highest
    log-likelihood is kept (ties: the first), so nested models compare at their optima.
    Above ``max_crossed_rows`` rows the exact crossed fit (cost ~ rows x (questions +
    countries)^2 per iteration) is replaced by the question-absorbed form
    (:func:`_absorbed_model`), which is noted.
    """
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    build = _crossed_model if len(data) <= max_crossed_rows else _absorbed_model
    try:
        model, notes = build(data, terms)
    except (np.linalg.LinAlgError, ValueError) as exc:
        return None, [f"model could not be built: {exc}"]
    best, best_messages, failures = None, [], []
    tried = []
    for method in (*FIT_METHODS, *FALLBACK_METHODS):
        if method in FALLBACK_METHODS and best is not None:
            break
        tried.append(method)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = model.fit(reml=False, method=[method])
            except (np.linalg.LinAlgError, ValueError) as exc:
                failures.append(f"{method} failed: {exc}")
                continue
        if not np.isfinite(result.llf):
            failures.append(f"{method}: non-finite likelihood")
            continue
        if best is None or result.llf > best.llf + 1e-8:
            best = result
            best_messages = sorted({str(w.message).splitlines()[0] for w in caught
                                    if issubclass(w.category, ConvergenceWarning)})  # fmt: skip
            best.method_used = method
    if best is None:
        notes.extend(failures)
        return None, notes
    notes.append(f"best of {', '.join(tried)}: {best.method_used}")
    notes.extend(f"{best.method_used}: {m}" for m in best_messages)
    if not best.converged:
        notes.append(f"{best.method_used}: optimiser reports no convergence")
    vcomp = np.atleast_1d(best.vcomp)
    if len(vcomp) and np.any(vcomp < 1e-6 * max(float(best.scale), 1e-12)):
        notes.append("a variance component is at its boundary (~0): singular fit")
    return best, notes


_TERM = re.compile(r"C\((\w+), Treatment\(reference=('[^']*'|\"[^\"]*\")\)\)(\[T\.([^\]]*)\])?")


def _pretty(term: str) -> str:
    """``C(zone, Treatment(reference='A'))[T.B]`` -> ``zone[B vs A]``; formula terms likewise."""

    def repl(match: re.Match) -> str:
        column, ref, level = match.group(1), match.group(2).strip("'\""), match.group(4)
        return f"{column}[{level} vs {ref}]" if level is not None else f"{column}(ref {ref})"

    return _TERM.sub(repl, term)


def describe_fit(result: Any, data: pd.DataFrame, formula_terms: Sequence[str]) -> dict[str, Any]:
    """Coefficients with 95% Wald intervals, variance components and fit statistics."""
    fe = result.fe_params
    bse = result.bse_fe
    coefficients = []
    for name in fe.index:
        est, se = float(fe[name]), float(bse[name])
        z = est / se if se > 0 else math.nan
        coefficients.append({
            "term": _pretty(str(name)), "estimate": est, "se": se,
            "ci_low": est - 1.959963984540054 * se, "ci_high": est + 1.959963984540054 * se,
            "z": z, "p_value": float(2 * sps.norm.sf(abs(z))) if np.isfinite(z) else math.nan,
        })  # fmt: skip
    vcomp: dict[str, Any] = {}
    if result.model.k_vc > 0:
        names = list(result.model.exog_vc.names)
        for name, value in zip(names, np.atleast_1d(result.vcomp), strict=False):
            vcomp[str(name)] = float(value)
    elif result.model.k_re > 0:  # question-absorbed form: country random intercept
        vcomp["country"] = float(np.asarray(result.cov_re)[0, 0])
        vcomp["question"] = "absorbed as fixed effects"
    vcomp["residual"] = float(result.scale)
    return {
        "formula": "nvas ~ " + (" + ".join(_pretty(t) for t in formula_terms) or "1"),
        "n": int(len(data)),
        "n_questions": int(data["question_id"].nunique()),
        "n_countries": int(data["country"].nunique()),
        "n_zones": int(data["zone"].nunique()),
        "form": "question-absorbed" if result.model.k_re > 0 else "crossed",
        "llf": float(result.llf),
        "converged": bool(result.converged),
        "coefficients": coefficients,
        "variance_components": vcomp,
    }


def zone_lrt(
    data: pd.DataFrame,
    scope: str,
    model: str,
    max_crossed_rows: int = 20000,
    with_variant: bool = False,
) -> tuple[dict, dict | None]:
    """Fit full and zone-free models on ``data``; ``(lrt_row, fit_description or None)``.

    ``with_variant``: the prompt variant enters both models as a fixed effect.
    """
    with_model = scope == "pooled"
    row: dict[str, Any] = {"scope": scope, "model": model, "n": int(len(data)),
                           "n_zones": int(data["zone"].nunique()) if len(data) else 0,
                           "chi2": None, "df": None, "p_value": None, "llf_full": None,
                           "llf_reduced": None, "aic_full": None, "bic_full": None,
                           "aic_reduced": None, "bic_reduced": None, "notes": []}  # fmt: skip
    full_terms, notes = fixed_terms(data, True, with_model, with_variant)
    row["notes"].extend(notes)
    if len(data) < MIN_ROWS:
        row["notes"].append(
            f"only {len(data)} rows with NVAS and a zone (< {MIN_ROWS}): not fitted"
        )
        return row, None
    reduced_terms, _ = fixed_terms(data, False, with_model, with_variant)
    full, full_notes = fit_mixed(data, full_terms, max_crossed_rows)
    row["notes"].extend(f"full model: {n}" for n in full_notes)
    if full is None:
        row["notes"].append("full model could not be fitted")
        return row, None
    description = describe_fit(full, data, full_terms)
    row.update(llf_full=float(full.llf), **_information(full, "full"))
    if data["zone"].nunique() < 2:
        row["notes"].append("one zone in the data: zone terms not testable")
        return row, description
    n_params = len(full.fe_params)
    if n_params >= len(data):
        row["notes"].append("more fixed effects than rows: LRT not computed")
        return row, description
    reduced, reduced_notes = fit_mixed(data, reduced_terms, max_crossed_rows)
    row["notes"].extend(f"reduced model: {n}" for n in reduced_notes)
    if reduced is None:
        row["notes"].append("model without zone could not be fitted")
        return row, description
    chi2 = max(0.0, 2.0 * (float(full.llf) - float(reduced.llf)))
    df = int(n_params - len(reduced.fe_params))
    row.update(
        chi2=chi2,
        df=df,
        p_value=float(sps.chi2.sf(chi2, df)) if df > 0 else None,
        llf_full=float(full.llf),
        llf_reduced=float(reduced.llf),
        **_information(reduced, "reduced"),
    )
    if df <= 0:
        row["notes"].append("zone terms are collinear with other terms: df = 0")
    return row, description


def _information(result: Any, which: str) -> dict[str, float | None]:
    """AIC and BIC of an ML fit (statsmodels counts fixed effects and variance parameters)."""
    out = {}
    for name in ("aic", "bic"):
        value = float(getattr(result, name, math.nan))
        out[f"{name}_{which}"] = value if np.isfinite(value) else None
    return out


COMPARISON_COLUMNS = [
    "zone_scheme", "scope", "model", "n", "n_zones", "llf_reduced", "aic_reduced",
    "bic_reduced", "llf_full", "aic_full", "bic_full", "delta_aic", "delta_bic", "chi2", "df",
    "p_value", "preferred_by_bic", "notes",
]  # fmt: skip


def _scopes(data: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    scopes = [("model", str(m), g) for m, g in data.groupby("model", sort=True)]
    if data["model"].nunique() > 1:
        scopes.append(("pooled", "all", data))
    return scopes


def comparison_row(lrt: Mapping[str, Any], scheme: str) -> dict[str, Any]:
    """One row of the model comparison (no zone vs ``scheme``) from a :func:`zone_lrt` row."""
    row = {key: lrt.get(key) for key in COMPARISON_COLUMNS if key in lrt}
    row["zone_scheme"] = scheme
    for name in ("aic", "bic"):
        full, reduced = lrt.get(f"{name}_full"), lrt.get(f"{name}_reduced")
        row[f"delta_{name}"] = None if full is None or reduced is None else full - reduced
    delta = row["delta_bic"]
    row["preferred_by_bic"] = None if delta is None else ("zone" if delta < 0 else "no zone")
    row["notes"] = "; ".join(lrt.get("notes", []))
    return row


def model_comparison(
    items: pd.DataFrame, zones: pd.DataFrame, settings: StatsSettings, zones_path: str,
    done: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> pd.DataFrame:  # fmt: skip
    """The mixed model without zone against the model with each zone scheme: LRT, AIC, BIC.

    Each scheme is fitted on the rows whose population has a zone in it (so AIC and BIC
    compare the zone-free and zone models of one scheme, not schemes with each other when
    they cover different populations). ``done``: LRT rows already fitted, per scheme.
    """
    zone_cols = [c for c in zones.columns if c not in ("country", "iso3", "languages")]
    schemes = list(settings.zone_schemes) if settings.zone_schemes is not None else zone_cols
    unknown = [s for s in schemes if s not in zone_cols]
    if unknown:
        raise StatsError(
            f"config key stats.zone_schemes: {', '.join(map(repr, unknown))} not a zone column "
            f"of {zones_path or 'the zones table'} (zone columns: {', '.join(zone_cols)})"
        )
    rows = []
    for scheme in schemes:
        if done and scheme in done:
            rows.extend(comparison_row(lrt, scheme) for lrt in done[scheme])
            continue
        data, notes = attach_zones(items, zones, scheme, zones_path)
        for scope, model, group in _scopes(data):
            lrt, _ = zone_lrt(group, scope, model, settings.max_crossed_rows)
            lrt["notes"] = [*notes, *lrt["notes"]]
            rows.append(comparison_row(lrt, scheme))
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def sensitive_items(data: pd.DataFrame, scope_model: str) -> pd.DataFrame:
    """Per question: zone means of NVAS, their variance and range; ``top_decile`` flagged."""
    rows = []
    for qid, group in data.groupby("question_id", sort=True):
        means = group.groupby("zone")["nvas"].mean()
        if len(means) < 2:
            continue
        rows.append({"model": scope_model, "question_id": qid, "n_zones": int(len(means)),
                     "variance": float(np.var(means.to_numpy())),
                     "range": float(means.max() - means.min()),
                     "lowest_zone": str(means.idxmin()), "highest_zone": str(means.idxmax()),
                     "zone_means": {str(k): float(v) for k, v in means.items()}})  # fmt: skip
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.sort_values(["variance", "question_id"], ascending=[False, True])
    frame["rank"] = np.arange(1, len(frame) + 1)
    frame["top_decile"] = frame["rank"] <= max(1, math.ceil(0.1 * len(frame)))
    return frame.reset_index(drop=True)


def zone_models(
    items: pd.DataFrame, zones: pd.DataFrame, settings: StatsSettings, zones_path: str = ""
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Everything mixed_effects.json holds, plus the full sensitivity table."""
    data, notes = attach_zones(items, zones, settings.zone_column, zones_path or "zones table")
    fits, lrts, sensitivity = [], [], []
    scopes: list[tuple[str, str, pd.DataFrame]] = [
        ("model", str(m), g) for m, g in data.groupby("model", sort=True)
    ]
    if data["model"].nunique() != 1 or not scopes:
        scopes.append(("pooled", "all", data))
    else:
        notes.append("one model: the pooled fit equals the per-model fit and is not repeated")
    for scope, model, group in scopes:
        lrt, description = zone_lrt(group, scope, model, settings.max_crossed_rows)
        lrts.append(lrt)
        if description is not None:
            fits.append({"scope": scope, "model": model, **description})
        table = sensitive_items(group, model)
        if not table.empty:
            sensitivity.append(table)
    sens = pd.concat(sensitivity, ignore_index=True) if sensitivity else pd.DataFrame()
    top = sens[sens["top_decile"]] if not sens.empty else sens
    lrt_variants = []
    with_variants, _ = attach_zones(items, zones, settings.zone_column, zones_path, True)
    if "variant" in with_variants and with_variants["variant"].nunique() > 1:
        groups = [("model", str(m), g) for m, g in with_variants.groupby("model", sort=True)]
        if with_variants["model"].nunique() > 1:
            groups.append(("pooled", "all", with_variants))
        for scope, model, group in groups:
            row, _ = zone_lrt(group, scope, model, settings.max_crossed_rows, with_variant=True)
            lrt_variants.append(row)
    result = {
        "zone_column": settings.zone_column,
        "random_effects": RANDOM_EFFECTS_NOTE,
        "max_crossed_rows": settings.max_crossed_rows,
        "coefficient_intervals": INTERVAL_NOTE,
        "zones": {str(c): str(z) for c, z in zip(data["country"], data["zone"], strict=True)},
        "n_rows": int(len(data)),
        "fits": fits,
        "lrt": lrts,
        "lrt_variants": lrt_variants,
        "model_comparison": model_comparison(
            items, zones, settings, zones_path, {settings.zone_column: lrts}
        ).to_dict(orient="records")
        if len(data)
        else [],
        "sensitive_items": top.to_dict(orient="records") if not top.empty else [],
        "notes": notes,
    }
    return result, sens


def text_summary(result: Mapping[str, Any]) -> str:
    """A readable plain-text version of :func:`zone_models`' result."""
    lines = [
        "Mixed-effects models of NVAS (culturalign)",
        "",
        f"Zones: column '{result['zone_column']}'",
    ]
    lines += ["Random effects: " + result["random_effects"], f"Rows used: {result['n_rows']}"]
    lines += ["Coefficient intervals: " + result["coefficient_intervals"], ""]
    for note in result["notes"]:
        lines.append(f"Note: {note}")
    lines += ["", "Likelihood-ratio tests of the zone terms"]
    for row in result["lrt"]:
        if row["chi2"] is None:
            stat = "not computed"
        else:
            p = "n/a" if row["p_value"] is None else f"{row['p_value']:.4g}"
            stat = f"chi2 = {row['chi2']:.3f}, df = {row['df']}, p = {p}"
        lines.append(f"  {row['scope']:<6} {row['model']:<24} n = {row['n']:<6} {stat}")
        lines += [f"      note: {n}" for n in row["notes"]]
    if result.get("lrt_variants"):
        lines += ["", "Zone LRT with the prompt variant as a fixed effect (all forced variants)"]
        for row in result["lrt_variants"]:
            stat = "not computed" if row["chi2"] is None else (
                f"chi2 = {row['chi2']:.3f}, df = {row['df']}, p = "
                f"{'n/a' if row['p_value'] is None else format(row['p_value'], '.4g')}"
            )  # fmt: skip
            lines.append(f"  {row['scope']:<6} {row['model']:<24} n = {row['n']:<6} {stat}")
    if result.get("model_comparison"):
        lines += ["", "Model comparison: no zone vs each zone scheme (ML fits; lower AIC/BIC "
                  "is better; delta = with zone - without)"]  # fmt: skip
        for row in result["model_comparison"]:

            def fmt(value, spec=".1f"):
                return "n/a" if value is None or value != value else format(value, spec)

            lines.append(
                f"  {row['zone_scheme']:<10} {row['scope']:<6} {row['model']:<24} n = "
                f"{row['n']:<6} dAIC = {fmt(row['delta_aic'])}, dBIC = {fmt(row['delta_bic'])}, "
                f"LRT p = {fmt(row['p_value'], '.4g')}"
            )
    for fit in result["fits"]:
        lines += ["", f"Fit ({fit['scope']}: {fit['model']}): {fit['formula']}",
                  f"  n = {fit['n']}, questions = {fit['n_questions']}, countries = "
                  f"{fit['n_countries']}, zones = {fit['n_zones']}, form = {fit['form']}, "
                  f"log-likelihood = {fit['llf']:.3f}, converged = {fit['converged']}"]  # fmt: skip
        lines.append(f"  {'term':<56} {'estimate':>9} {'95% CI':>22} {'p':>8}")
        for c in fit["coefficients"]:
            ci = f"[{c['ci_low']:.2f}, {c['ci_high']:.2f}]"
            lines.append(f"  {c['term']:<56} {c['estimate']:>9.2f} {ci:>22} {c['p_value']:>8.3g}")
        comps = ", ".join(
            f"{k} = {v:.3f}" if isinstance(v, float) else f"{k}: {v}"
            for k, v in fit["variance_components"].items()
        )
        lines.append(f"  variance components: {comps}")
    lines += ["", "Zone-variable items (top decile by variance of zone mean NVAS)"]
    for item in result["sensitive_items"]:
        lines.append(
            f"  {item['model']:<24} {item['question_id']:<14} variance = {item['variance']:.2f}"
            f", range = {item['range']:.2f} ({item['lowest_zone']} lowest, "
            f"{item['highest_zone']} highest)"
        )
    if not result["sensitive_items"]:
        lines.append("  none (fewer than two zones per question)")
    return "\n".join(lines) + "\n"
