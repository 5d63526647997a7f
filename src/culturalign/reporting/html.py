"""The self-contained HTML report: figures inlined, headline sentences written from numbers."""

from __future__ import annotations

import base64
import datetime
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import yaml

from culturalign.io.files import write_text_atomic

TEMPLATE_DIR = Path(__file__).parent / "templates"


def image_data_uri(path: str | Path) -> str:
    """A PNG (or SVG) file as a ``data:`` URI, so the HTML needs no side files."""
    path = Path(path)
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def render_template(name: str, **context: Any) -> str:
    """Render one of the package's Jinja2 templates (autoescaped)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(name).render(**context)


# ----------------------------------------------------------------------------- numbers -> words


def _fmt(value: Any, digits: int = 1) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(number) else f"{number:.{digits}f}"


def _p(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    if math.isnan(number):
        return "n/a"
    return "p < 0.001" if number < 0.001 else f"p = {number:.3f}"


def pooled_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """The findings rows pooled over every other dimension (two of language, framing,
    reasoning are 'all')."""
    if findings.empty:
        return findings
    dims = findings[["language", "framing", "reasoning"]].astype(str)
    return findings[(dims == "all").sum(axis=1) == 2]


def robustness_note(robust: pd.DataFrame | None, row: Any) -> str:
    """' Robust …' / ' Not robust …' for a pooled finding, from robustness/findings.csv."""
    if robust is None or robust.empty:
        return ""
    keys = ("finding", "contrast", "metric", "model", "language", "framing", "reasoning")
    match = robust
    for key in keys:
        match = match[match[key].astype(str) == str(getattr(row, key))]
    if match.empty or pd.isna(match.iloc[0]["robust"]):
        return ""
    hit = match.iloc[0]
    n = int(hit["n_variants"])
    if str(hit["robust"]).lower() == "true":
        return f" Robust: sign and significance hold in all {n} prompt variant(s)."
    return f" Not robust to the prompt variants ({hit['variants_detail']})."


def headline_sentences(
    summary: pd.DataFrame,
    findings: pd.DataFrame,
    stats: Mapping[str, Any],
    collapse: pd.DataFrame,
    robust: pd.DataFrame | None = None,
) -> list[str]:
    """Plain-language findings written from the tables (every number comes from them)."""
    sentences: list[str] = []
    for model, rows in summary.groupby("model", sort=True):
        rows = rows.dropna(subset=["nvas_mean"])
        if rows.empty:
            continue
        best = rows.loc[rows["nvas_mean"].idxmax()]
        worst = rows.loc[rows["nvas_mean"].idxmin()]
        cell = "{language}/{framing}/{reasoning}"
        sentences.append(
            f"{model}: mean NVAS ranges from {_fmt(worst['nvas_mean'])} "
            f"(95% CI {_fmt(worst['nvas_ci_low'])}–{_fmt(worst['nvas_ci_high'])}, "
            f"{cell.format(**worst)}) to {_fmt(best['nvas_mean'])} "
            f"({_fmt(best['nvas_ci_low'])}–{_fmt(best['nvas_ci_high'])}, "
            f"{cell.format(**best)}) across {len(rows)} cells; 100 would mean the model's "
            "answers sit on every country's human mean."
        )
        refusal = rows["refusal_rate"].mean() if "refusal_rate" in rows else float("nan")
        leakage = rows["leakage_rate"].mean() if "leakage_rate" in rows else float("nan")
        sentences.append(
            f"{model}: refuses {_fmt(100 * refusal)}% of prompts on average across cells; "
            f"{_fmt(100 * leakage)}% are refusals whose option distribution still commits "
            "to an answer (logit leakage)."
        )
    labels = {
        "cross_lingual_shift": "Asking in the native language instead of English",
        "reasoning_change": "Reasoning before answering (cot) instead of answering directly",
        "framing_effect": "Framing",
    }
    for row in pooled_findings(findings).itertuples(index=False):
        if row.metric != "nvas":
            continue
        if pd.isna(row.mean_diff):
            continue
        lead = labels.get(row.finding, row.finding)
        if row.finding == "framing_effect":
            a, b = row.contrast.split(" - ")[::-1]
            lead = f"The {b} framing instead of {a}"
        significant = not (row.ci_low <= 0 <= row.ci_high)
        sentences.append(
            f"{row.model}: {lead} changes NVAS by {float(row.mean_diff):+.1f} points "
            f"(95% CI {_fmt(row.ci_low)} to {_fmt(row.ci_high)} over questions; Wilcoxon "
            f"{_p(row.p_value)} over {row.n_pairs} paired items, {_p(row.p_value_questions)} "
            f"over {row.n_questions} question means)"
            + ("." if significant else "; the interval includes zero.")
            + robustness_note(robust, row)
        )
    for lrt in stats.get("lrt", []):
        if lrt.get("chi2") is None or lrt.get("p_value") is None:
            continue
        verdict = "differs" if lrt["p_value"] < 0.05 else "does not differ detectably"
        sentences.append(
            f"{lrt['model']} ({lrt['scope']}): alignment {verdict} across cultural zones "
            f"(likelihood-ratio test of the zone terms: χ² = {lrt['chi2']:.2f}, "
            f"df = {lrt['df']}, {_p(lrt['p_value'])})."
        )
    for lrt in stats.get("lrt_variants", []):
        if lrt.get("chi2") is None or lrt.get("p_value") is None:
            continue
        verdict = "still differs" if lrt["p_value"] < 0.05 else "no longer differs detectably"
        sentences.append(
            f"{lrt['model']} ({lrt['scope']}): with the prompt variant as a fixed effect, "
            f"alignment {verdict} across zones (χ² = {lrt['chi2']:.2f}, df = {lrt['df']}, "
            f"{_p(lrt['p_value'])})."
        )
    for row in collapse.itertuples(index=False):
        if pd.isna(row.collapse_index):
            continue
        index = float(row.collapse_index)
        if index < 0.5:
            reading = "collapses the countries toward one answer"
        elif index <= 1.5:
            reading = "spreads the countries about as much as people differ"
        else:
            reading = "spreads the countries far more than people differ (mostly noise)"
        note = f" ({row.note})" if isinstance(row.note, str) and row.note else ""
        sentences.append(
            f"{row.model} ({row.language}, {row.reasoning}, {row.framing}): collapse index "
            f"{index:.2f} — it {reading}{note}."
        )
    return sentences


# ----------------------------------------------------------------------------- provenance


# Report column -> metadata keys (nested as the generate step writes them, or flat).
PROVENANCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "model path": ("model.path", "model_path"),
    "revision": ("model.revision", "model_revision"),
    "dtype": ("model.dtype", "dtype"),
    "engine": ("engine.name", "engine"),
    "engine version": ("engine.version", "engine_version"),
    "template hash": ("template_hash",),
    "git commit": ("git_commit",),
    "temperature": ("sampling.temperature",),
    "max tokens": ("sampling.max_tokens",),
    "seed": ("sampling.seed",),
    "prompts": ("n_prompts",),
    "startup s": ("startup_seconds",),
    "generation s": ("generation_seconds",),
    "scoring s": ("scoring_seconds",),
    "API model": ("model.api_model",),
    "requests sent": ("usage.requests_sent",),
    "cache hits": ("usage.cache_hits",),
    "input tokens": ("usage.input_tokens",),
    "output tokens": ("usage.output_tokens",),
    "cost": ("usage.cost",),
}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def shard_provenance(shards: Sequence[str | Path]) -> tuple[pd.DataFrame, str]:
    """The generate step's ``culturalign.*`` metadata of every shard: a table of the main
    keys (model path and revision, engine and version, template hash, commit, sampling,
    timings; one row per shard) and the complete metadata as pretty JSON."""
    from culturalign.io.tables import read_metadata

    rows, full = [], {}
    for path in shards:
        path = Path(path)
        cell = dict(
            zip(("model", "language", "framing", "reasoning"), path.with_suffix("").parts[-4:],
                strict=True)
        )  # fmt: skip
        meta = read_metadata(path)
        full["/".join(cell.values())] = meta
        flat = _flatten({k: v for k, v in meta.items() if k != "cell"})
        row: dict[str, Any] = dict(cell)
        for column, keys in PROVENANCE_COLUMNS.items():
            value = next((flat[key] for key in keys if key in flat), None)
            if column == "template hash" and isinstance(value, str) and len(value) > 16:
                value = value[:16] + "…"
            elif isinstance(value, str) and len(value) > 48:
                value = value[:47] + "…"  # complete in the JSON below the table
            row[column] = value if not isinstance(value, list | dict) else json.dumps(value)
        rows.append(row)
    return pd.DataFrame(rows), json.dumps(full, indent=1, default=str, ensure_ascii=False)


def software_versions() -> dict[str, str]:
    """Versions of the analysis side's libraries (no engine is imported)."""
    from culturalign.records.provenance import package_versions

    return package_versions(
        ("culturalign", "snakemake", "pandas", "numpy", "scikit-learn", "statsmodels",
         "matplotlib", "scipy", "pyarrow", "jinja2")
    )  # fmt: skip


# ----------------------------------------------------------------------------- the report


def _table(frame: pd.DataFrame, digits: int = 2, max_rows: int | None = None) -> str:
    """A DataFrame as an HTML table with rounded floats."""
    if frame is None or frame.empty:
        return '<p class="note">(no rows)</p>'
    shown = frame.head(max_rows) if max_rows else frame
    return shown.to_html(
        index=False,
        classes="data",
        border=0,
        na_rep="",
        float_format=lambda v: f"{v:.{digits}f}",
        escape=True,
    )


def _pooled_robust(robust: pd.DataFrame) -> pd.DataFrame:
    if robust.empty:
        return robust
    pooled = pooled_findings(robust)
    return pooled[pooled["metric"] == "nvas"]


def build_report(
    *,
    summary: pd.DataFrame,
    consistency_summary: pd.DataFrame,
    findings: pd.DataFrame,
    stats: Mapping[str, Any],
    sensitivity: pd.DataFrame,
    collapse: pd.DataFrame,
    leakage: pd.DataFrame,
    figures: Mapping[str, str | Path],
    provenance: pd.DataFrame,
    config: Mapping[str, Any],
    provenance_json: str = "",
    commit: str,
    out_path: str | Path,
    stats_text: str = "",
    benchmark: str = "",
    description: str = "",
    robustness: pd.DataFrame | None = None,
    robustness_coverage: pd.DataFrame | None = None,
    robust_findings: pd.DataFrame | None = None,
    findings_by_category: pd.DataFrame | None = None,
    model_comparison: pd.DataFrame | None = None,
    sensitivity_tables: SensitivityTables | None = None,
    run_aggregates: pd.DataFrame | None = None,
    translations: TranslationTables | None = None,
) -> Path:
    """Render results/{benchmark}/report.html: one self-contained file (figures inlined)."""
    tables = sensitivity_tables or SensitivityTables()
    translated = translations or TranslationTables()
    uri = {name: image_data_uri(path) for name, path in figures.items()}
    lrt = pd.DataFrame(stats.get("lrt", []))
    if not lrt.empty:
        lrt["notes"] = lrt["notes"].map(lambda n: "; ".join(n) if isinstance(n, list) else n)
        lrt = lrt[[c for c in ("scope", "model", "n", "n_zones", "chi2", "df", "p_value",
                               "llf_full", "llf_reduced", "notes") if c in lrt]]  # fmt: skip
    sensitive = pd.DataFrame(stats.get("sensitive_items", []))
    if not sensitive.empty:
        sensitive = sensitive[[c for c in ("model", "rank", "question_id", "n_zones", "variance",
                                           "range", "lowest_zone", "highest_zone") if c in
                               sensitive]]  # fmt: skip
    coefficients = []
    for fit in stats.get("fits", []):
        coefficients.append(
            {
                "title": f"{fit.get('scope')}: {fit.get('model')}",
                "formula": fit.get("formula", ""),
                "meta": f"n = {fit.get('n')}, questions = {fit.get('n_questions')}, "
                f"countries = {fit.get('n_countries')}, zones = {fit.get('n_zones')}, "
                f"converged = {fit.get('converged')}",
                "table": _table(pd.DataFrame(fit.get("coefficients", []))),
            }
        )
    if commit == "unknown" and "git commit" in provenance:
        shard_commits = sorted({str(c) for c in provenance["git commit"].dropna()})
        if shard_commits:
            commit = "unknown (shards generated at " + ", ".join(shard_commits) + ")"
    if not provenance.empty:
        provenance = provenance.dropna(axis=1, how="all")
    leak = leakage.drop(columns=["option_probs"], errors="ignore")
    shards = provenance
    models = sorted(summary["model"].unique()) if not summary.empty else []
    html = render_template(
        "report.html.j2",
        title="culturalign report: whose values does the model speak for?",
        benchmark=benchmark,
        description=description,
        built=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        commit=commit,
        models=models,
        headlines=[
            *headline_sentences(summary, findings, stats, collapse, robust_findings),
            *sensitivity_sentences(tables),
            *category_sentences(findings_by_category),
            *roundtrip_sentences(translated.roundtrip),
        ],
        figures=uri,
        summary_table=_table(summary),
        consistency_table=_table(consistency_summary),
        findings_table=_table(pooled_findings(findings)),
        findings_all=_table(findings),
        lrt_table=_table(lrt, 3),
        random_effects=stats.get("random_effects", ""),
        zone_column=stats.get("zone_column", ""),
        stats_notes=stats.get("notes", []),
        coefficients=coefficients,
        sensitive_table=_table(sensitive),
        collapse_table=_table(collapse, 3),
        leakage_table=_table(leak, 3, max_rows=20),
        shard_table=_table(shards),
        software=software_versions(),
        config_yaml=yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True),
        stats_text=stats_text,
        provenance_json=provenance_json,
        n_sensitivity=len(sensitivity),
        robustness_table=_table(robustness if robustness is not None else pd.DataFrame(), 3),
        robustness_on=robustness is not None and not robustness.empty,
        coverage_table=_table(
            robustness_coverage if robustness_coverage is not None else pd.DataFrame(), 3
        ),
        robust_findings_table=_table(
            _pooled_robust(robust_findings) if robust_findings is not None else pd.DataFrame()
        ),
        lrt_variants_table=_table(
            pd.DataFrame(stats.get("lrt_variants", [])).drop(columns=["notes"], errors="ignore"), 3
        ),
        comparison_table=_table(_frame(model_comparison), 3),
        category_table=_table(_pooled_categories(findings_by_category)),
        category_all=_table(_frame(findings_by_category), max_rows=400),
        sensitivity_summary=tables.summary,
        human_sensitive_table=_table(_sensitive_rows(tables.human), 3),
        triage_table=_table(_frame(tables.triage), 3),
        persona_gain_table=_table(_frame(tables.persona_gain)),
        surrogate_table=_table(_frame(tables.surrogate), 3),
        aggregates_table=_table(_frame(run_aggregates), 2),
        aggregates_matched=bool(
            run_aggregates is not None
            and not run_aggregates.empty
            and run_aggregates["published"].notna().any()
        ),
        metrics_mode=str(dict(config).get("metrics", {}).get("mode", "default")),
        text_provenance_table=_table(translated.provenance),
        review_table=_table(review_summary(translated.review), 1),
        roundtrip_table=_table(translated.roundtrip, 2),
        roundtrip_sentences=roundtrip_sentences(translated.roundtrip),
        translations_on=not translated.review.empty,
    )
    return write_text_atomic(html, out_path)


def native_text_provenance(items: pd.DataFrame) -> pd.DataFrame:
    """Native items (original wording) per prompt language and text provenance, with how
    many passed, failed or skipped the back-translation check."""
    columns = ["prompt_language", "text_provenance", "items", "questions", "roundtrip_passed",
               "roundtrip_failed", "not_checked"]  # fmt: skip
    if items.empty or "text_provenance" not in items:
        return pd.DataFrame(columns=columns)
    native = items[(items["language"] == "native") & (items["variant"] == "original")]
    rows = []
    for (language, provenance), group in native.groupby(
        ["prompt_language", native["text_provenance"].fillna("unrecorded")], sort=True
    ):
        passed = group["roundtrip_passed"]
        rows.append({"prompt_language": language, "text_provenance": provenance,
                     "items": len(group), "questions": group["question_id"].nunique(),
                     "roundtrip_passed": int(passed.eq(True).sum()),
                     "roundtrip_failed": int(passed.eq(False).sum()),
                     "not_checked": int(passed.isna().sum())})  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def review_summary(review: pd.DataFrame) -> pd.DataFrame:
    """translations/review.csv per language and provenance: counts and median scores."""
    if review.empty:
        return review
    rows = []
    for (language, provenance), group in review.groupby(["language", "provenance"], sort=True):
        rows.append({"language": language, "provenance": provenance, "texts": len(group),
                     "rejected": int((group["status"] == "rejected").sum()),
                     "flagged": int(group["flagged"].astype(bool).sum()),
                     "passed": int(group["roundtrip_passed"].astype(bool).sum()),
                     "median_chrf": group["chrf"].median(),
                     "median_bleu": group["bleu"].median()})  # fmt: skip
    return pd.DataFrame(rows)


def roundtrip_sentences(roundtrip: pd.DataFrame) -> list[str]:
    """Per model and finding, the pooled cross-lingual figure over every item beside the one
    restricted to native texts that passed their round trip."""
    if roundtrip.empty:
        return []
    pooled = roundtrip[roundtrip["framing"] == "all"]
    names = {
        ("clcs", "clcs"): "CLCS",
        ("cross_lingual_shift", "nvas"): "the cross-lingual shift of NVAS (native - en)",
        ("cross_lingual_shift", "kld"): "the cross-lingual shift of KL (native - en)",
    }
    sentences = []
    for (model, finding, metric), group in pooled.groupby(["model", "finding", "metric"]):
        rows = group.set_index("items")
        if not {"all", "roundtrip_passed"} <= set(rows.index) or not rows.loc["all", "n"]:
            continue
        every, kept = rows.loc["all"], rows.loc["roundtrip_passed"]
        sentences.append(
            f"{model}: {names.get((finding, metric), f'{finding} ({metric})')} is "
            f"{_number(every['mean'])} over all {int(every['n'])} en/native pairs and "
            f"{_number(kept['mean'])} over the {int(kept['n'])} whose native text passed its "
            f"back-translation check ({int(kept['n_excluded'])} native items excluded)."
        )
    return sentences


def _number(value: Any) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{float(value):.1f}"


@dataclass
class TranslationTables:
    """Where the native prompts' text comes from, as the report shows it."""

    provenance: pd.DataFrame = field(default_factory=pd.DataFrame)
    review: pd.DataFrame = field(default_factory=pd.DataFrame)
    roundtrip: pd.DataFrame = field(default_factory=pd.DataFrame)


@dataclass
class SensitivityTables:
    """The sensitivity rule's outputs, as the report reads them."""

    human: pd.DataFrame = field(default_factory=pd.DataFrame)
    triage: pd.DataFrame = field(default_factory=pd.DataFrame)
    persona_gain: pd.DataFrame = field(default_factory=pd.DataFrame)
    surrogate: pd.DataFrame = field(default_factory=pd.DataFrame)
    summary: dict[str, Any] = field(default_factory=dict)


def _frame(frame: pd.DataFrame | None) -> pd.DataFrame:
    return frame if frame is not None else pd.DataFrame()


def _sensitive_rows(human: pd.DataFrame) -> pd.DataFrame:
    if human.empty:
        return human
    columns = ["question_id", "category", "subcategory", "scale_type", "n_countries", "n_zones",
               "eta2", "f_stat", "p_value", "q_value", "majority_differs", "zone_means",
               "zone_majority"]  # fmt: skip
    rows = human[human["sensitive"].astype(bool)]
    return rows.sort_values("q_value")[[c for c in columns if c in rows]]


def _pooled_categories(by_category: pd.DataFrame | None) -> pd.DataFrame:
    """Category rows pooled over the strata, NVAS only."""
    if by_category is None or by_category.empty:
        return pd.DataFrame()
    pooled = pooled_findings(by_category)
    pooled = pooled[(pooled["subcategory"].astype(str) == "all") & (pooled["metric"] == "nvas")]
    columns = ["category", "finding", "contrast", "model", "n_questions", "mean_diff", "ci_low",
               "ci_high", "p_value_questions"]  # fmt: skip
    return pooled[columns]


def sensitivity_sentences(tables: SensitivityTables) -> list[str]:
    """Headlines on the human-sensitive items, triage and persona gain."""
    sentences: list[str] = []
    summary = tables.summary
    if summary.get("n_testable"):
        share = summary.get("share_sensitive") or 0.0
        settings = summary.get("settings", {})
        sentences.append(
            f"{summary['n_sensitive']} of {summary['n_testable']} testable questions "
            f"({_fmt(100 * share)}%) are culturally sensitive by the human data alone (their "
            f"answers differ between zones beyond within-zone differences: permutation test, "
            f"{settings.get('correction', 'fdr_bh')} q < {settings.get('alpha', 0.05)}); the "
            "geo-cultural salience study found about 10% of its items sensitive."
        )
    triage = tables.triage
    if not triage.empty and "f1" in triage:
        for model, rows in triage.dropna(subset=["f1"]).groupby("model", sort=True):
            best = rows.loc[rows["f1"].idxmax()]
            sentences.append(
                f"{model}: as a triage of the sensitive questions its best cell "
                f"({best['language']}/{best['framing']}/{best['reasoning']}) reaches F1 "
                f"{_fmt(best['f1'], 2)} (95% CI {_fmt(best['f1_ci_low'], 2)}–"
                f"{_fmt(best['f1_ci_high'], 2)}) against {_fmt(best['always_f1'], 2)} for "
                f"flagging every question; AUROC of its spread across populations "
                f"{_fmt(best['auroc_spread'], 2)}."
            )
    gain = tables.persona_gain
    if not gain.empty:
        for row in gain[gain["country"] == "all"].itertuples(index=False):
            significant = not (row.ci_low <= 0 <= row.ci_high)
            sentences.append(
                f"{row.model} ({row.language}, {row.reasoning}): naming the population "
                f"changes NVAS by {float(row.gain):+.1f} points on average (95% CI "
                f"{_fmt(row.ci_low)} to {_fmt(row.ci_high)})"
                + ("." if significant else "; the interval includes zero.")
            )
    return sentences


def category_sentences(by_category: pd.DataFrame | None) -> list[str]:
    """One sentence per model and finding: the NVAS change per question category."""
    pooled = _pooled_categories(by_category)
    sentences = []
    if pooled.empty:
        return sentences
    for (model, finding, contrast), rows in pooled.groupby(["model", "finding", "contrast"],
                                                           sort=True):  # fmt: skip
        if finding != "reasoning_change":
            continue
        parts = [f"{r.category.lower()} {float(r.mean_diff):+.1f} ({_fmt(r.ci_low)} to "
                 f"{_fmt(r.ci_high)})" for r in rows.itertuples(index=False)
                 if not pd.isna(r.mean_diff)]  # fmt: skip
        if parts:
            sentences.append(f"{model}: reasoning ({contrast}) changes NVAS by category: "
                             + "; ".join(parts) + ".")  # fmt: skip
    return sentences


def summary_line(rows: pd.DataFrame) -> str:
    """One sentence per model for the index page, from a benchmark's summary.csv rows
    (survey: NVAS; mcq: accuracy; inventory: index error and rank agreement)."""
    if "accuracy" in rows and rows["accuracy"].notna().any():
        overall = rows[rows["category"] == "all"] if "category" in rows else rows
        best = overall.loc[overall["accuracy"].idxmax()]
        circular = ""
        if "circular_accuracy" in overall and overall["circular_accuracy"].notna().any():
            circular = f", circular {_fmt(100 * overall['circular_accuracy'].mean())}%"
        return (
            f"accuracy {_fmt(100 * overall['accuracy'].mean())}% over {len(overall)} cells "
            f"(best {_fmt(100 * best['accuracy'])}% in {best['language']}/{best['reasoning']})"
            f"{circular}; refusals {_fmt(100 * overall['refusal_rate'].mean())}%"
        )
    if "mean_tau_b" in rows and "source" in rows:
        expected = rows[rows["source"] == "expected"]
        if expected["mae"].notna().any():
            return (
                f"mean |index error| {_fmt(expected['mae'].mean())} and mean Kendall τ-b "
                f"{_fmt(expected['mean_tau_b'].mean(), 2)} against the reference scores "
                f"({int(expected['n_regions'].max())} regions, {len(expected)} cells)"
            )
        return f"dimension indices for {int(expected['n_regions'].max())} regions (no reference)"
    if "nvas_mean" in rows and rows["nvas_mean"].notna().any():
        scored = rows.dropna(subset=["nvas_mean"])
        best = scored.loc[scored["nvas_mean"].idxmax()]
        refusal = rows["refusal_rate"].mean() if "refusal_rate" in rows else float("nan")
        return (
            f"mean NVAS {_fmt(scored['nvas_mean'].mean())} over {len(scored)} cells "
            f"(best {_fmt(best['nvas_mean'])} in {best['language']}/{best['framing']}/"
            f"{best['reasoning']}); refusals {_fmt(100 * refusal)}%"
        )
    return "no scored cells"


def build_index(
    benchmarks: Mapping[str, str],
    summaries: Mapping[str, pd.DataFrame],
    out_path: str | Path,
    commit: str,
) -> Path:
    """results/index.html: a link to every benchmark's report and one line per model."""
    out_path = Path(out_path)
    entries = []
    for key, description in benchmarks.items():
        summary = summaries.get(key, pd.DataFrame())
        lines = [
            {"model": model, "text": summary_line(rows)}
            for model, rows in (summary.groupby("model", sort=True) if len(summary) else [])
        ]
        entries.append({"key": key, "description": description, "href": f"{key}/report.html",
                        "lines": lines})  # fmt: skip
    html = render_template(
        "index.html.j2",
        built=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        commit=commit,
        benchmarks=entries,
    )
    return write_text_atomic(html, out_path)


# ----------------------------------------------------------------------------- mcq, inventory


def mcq_sentences(summary: pd.DataFrame) -> list[str]:
    """Headlines of a multiple-choice benchmark."""
    sentences = []
    overall = summary[summary["category"] == "all"] if len(summary) else summary
    for row in overall.itertuples(index=False):
        cell = f"{row.model} ({row.language}, {row.reasoning})"
        text = (f"{cell}: accuracy {_fmt(100 * row.accuracy)}% (95% CI "
                f"{_fmt(100 * row.accuracy_ci_low)}–{_fmt(100 * row.accuracy_ci_high)}) over "
                f"{row.n_questions} questions; the most probable option is right "
                f"{_fmt(100 * row.top_accuracy)}% of the time; refusals "
                f"{_fmt(100 * row.refusal_rate)}%, leaked refusals "
                f"{_fmt(100 * row.leakage_rate)}%.")  # fmt: skip
        if not pd.isna(row.circular_accuracy):
            text += (f" Correct in all {int(row.n_orders)} option orders (CircularEval): "
                     f"{_fmt(100 * row.circular_accuracy)}% (95% CI "
                     f"{_fmt(100 * row.circular_accuracy_ci_low)}–"
                     f"{_fmt(100 * row.circular_accuracy_ci_high)}); "
                     f"{_fmt(100 * row.first_shown_rate)}% of the answers pick the option "
                     f"shown first (chance {_fmt(100 / row.n_orders)}%).")  # fmt: skip
        sentences.append(text)
    return sentences


def inventory_sentences(summary: pd.DataFrame, comparison: pd.DataFrame) -> list[str]:
    """Headlines of the Hofstede inventory."""
    sentences = []
    for row in summary[summary["source"] == "expected"].itertuples(index=False):
        cell = f"{row.model} ({row.language}, {row.reasoning})"
        if pd.isna(row.mae):
            sentences.append(f"{cell}: six dimension indices for {row.n_regions} regions; no "
                             "reference scores to compare with.")  # fmt: skip
            continue
        mine = comparison[(comparison["model"] == row.model) & (comparison["source"] == "expected")
                          & (comparison["reasoning"] == row.reasoning)
                          & (comparison["language"] == row.language)]  # fmt: skip
        parts = [f"{r.dimension} {_fmt(r.kendall_tau_b, 2)} ({_fmt(r.tau_ci_low, 2)} to "
                 f"{_fmt(r.tau_ci_high, 2)})" for r in mine.itertuples(index=False)]  # fmt: skip
        sentences.append(
            f"{cell}: mean absolute index error {_fmt(row.mae)} points against the reference; "
            f"Kendall's τ-b of the regions' ranking per dimension: " + "; ".join(parts) + "."
        )
    return sentences


def build_benchmark_report(
    *,
    kind: str,
    tables: Mapping[str, pd.DataFrame],
    figures: Mapping[str, str | Path],
    provenance: pd.DataFrame,
    provenance_json: str,
    config: Mapping[str, Any],
    commit: str,
    out_path: str | Path,
    benchmark: str,
    description: str,
    cells: Sequence[Mapping[str, str]],
) -> Path:
    """results/{benchmark}/report.html for an ``mcq`` or ``inventory`` benchmark."""
    if kind == "mcq":
        summary = tables["summary.csv"]
        headlines = mcq_sentences(summary)
        sections = [
            ("Accuracy per category", "summary.csv", summary),
            ("Circular accuracy per question", "circular.csv", tables["circular.csv"]),
        ]
    else:
        summary = tables["summary.csv"]
        headlines = inventory_sentences(summary, tables["comparison.csv"])
        sections = [
            ("Summary per cell", "summary.csv", summary),
            ("Dimension indices", "indices.csv", tables["indices.csv"]),
            ("Against the reference scores", "comparison.csv", tables["comparison.csv"]),
        ]
    framings = sorted({c["framing"] for c in cells})
    languages = sorted({c["language"] for c in cells})
    html = render_template(
        "benchmark_report.html.j2",
        title=f"culturalign report: {benchmark}",
        benchmark=benchmark,
        description=description,
        kind=kind,
        built=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        commit=commit,
        models=sorted(summary["model"].unique()) if len(summary) else [],
        headlines=headlines,
        cells_note=(
            f"Cells: languages {', '.join(languages)}; framings {', '.join(framings)}"
            + (
                "; framings do not apply to this benchmark (it is asked without a persona)"
                if framings == ["neutral"]
                else ""
            )
            + "."
        ),  # fmt: skip
        figures={name: image_data_uri(path) for name, path in figures.items()},
        sections=[
            {"title": t, "file": f, "table": _table(frame, 3, max_rows=200)}
            for t, f, frame in sections
        ],  # fmt: skip
        shard_table=_table(provenance.dropna(axis=1, how="all") if len(provenance) else provenance),
        software=software_versions(),
        config_yaml=yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True),
        provenance_json=provenance_json,
    )
    return write_text_atomic(html, out_path)
