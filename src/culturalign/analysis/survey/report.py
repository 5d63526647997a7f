"""The survey kind's report (results/{benchmark}/report.html): headline sentences written
from the numbers, every figure inlined, the tables, the translation and sensitivity sections
and the provenance of every shard."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from culturalign.analysis.survey.metrics import DURMUS_CONDITIONS
from culturalign.io.files import write_text_atomic
from culturalign.reporting.html import (
    data_notes_context,
    html_table,
    image_data_uri,
    render_template,
    software_versions,
)
from culturalign.reporting.numbers import fmt, p_text


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
            f"{model}: mean NVAS ranges from {fmt(worst['nvas_mean'])} "
            f"(95% CI {fmt(worst['nvas_ci_low'])}–{fmt(worst['nvas_ci_high'])}, "
            f"{cell.format(**worst)}) to {fmt(best['nvas_mean'])} "
            f"({fmt(best['nvas_ci_low'])}–{fmt(best['nvas_ci_high'])}, "
            f"{cell.format(**best)}) across {len(rows)} cells; 100 would mean the model's "
            "answers sit on every country's human mean."
        )
        refusal = rows["refusal_rate"].mean() if "refusal_rate" in rows else float("nan")
        leakage = rows["leakage_rate"].mean() if "leakage_rate" in rows else float("nan")
        sentences.append(
            f"{model}: refuses {fmt(100 * refusal)}% of prompts on average across cells; "
            f"{fmt(100 * leakage)}% are refusals whose option distribution still commits "
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
            f"(95% CI {fmt(row.ci_low)} to {fmt(row.ci_high)} over questions; Wilcoxon "
            f"{p_text(row.p_value)} over {row.n_pairs} paired items, "
            f"{p_text(row.p_value_questions)} over {row.n_questions} question means)"
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
            f"df = {lrt['df']}, {p_text(lrt['p_value'])})."
        )
    for lrt in stats.get("lrt_variants", []):
        if lrt.get("chi2") is None or lrt.get("p_value") is None:
            continue
        verdict = "still differs" if lrt["p_value"] < 0.05 else "no longer differs detectably"
        sentences.append(
            f"{lrt['model']} ({lrt['scope']}): with the prompt variant as a fixed effect, "
            f"alignment {verdict} across zones (χ² = {lrt['chi2']:.2f}, df = {lrt['df']}, "
            f"{p_text(lrt['p_value'])})."
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


def country_similarity_sentences(table: pd.DataFrame) -> list[str]:
    """Per model and zero-shot cell of Durmus et al.'s conditions: the countries the model's
    answers are most and least similar to (from metrics/country_similarity.csv)."""
    sentences: list[str] = []
    if table.empty:
        return sentences
    for language, framing, condition in DURMUS_CONDITIONS:
        cell = table[(table["language"] == language) & (table["framing"] == framing)
                     & (table["reasoning"] == "zero")].dropna(subset=["similarity"])  # fmt: skip
        for model, rows in cell.groupby("model", sort=True):
            rows = rows.sort_values("similarity", ascending=False)
            top, bottom = rows.iloc[0], rows.iloc[-1]
            sentences.append(
                f"{model} ({condition} prompting: {language}/{framing}/zero): most similar to "
                f"{top['country']} ({top['similarity']:.3f}, 95% CI {top['ci_low']:.3f}–"
                f"{top['ci_high']:.3f}), least to {bottom['country']} "
                f"({bottom['similarity']:.3f}) of {len(rows)} countries; mean over countries "
                f"{rows['similarity'].mean():.3f}."
            )
    return sentences


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
    data_notes: pd.DataFrame | None = None,
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
    country_similarity: pd.DataFrame | None = None,
    publisher_measure: str | None = None,
) -> Path:
    """Render results/{benchmark}/report.html: one self-contained file (figures inlined).

    ``publisher_measure`` (the plug-in's): ``country_similarity`` (GlobalOpinionQA) leads the
    report with similarity per country; ``nvas`` (MENAValues) adds the paper-level aggregates
    as its authors quote them; other benchmarks get neither lead nor aggregates."""
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
                "table": html_table(pd.DataFrame(fit.get("coefficients", []))),
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
        publisher_measure=publisher_measure,
        country_similarity_table=html_table(_frame(country_similarity), 3, max_rows=400),
        headlines=[
            *(
                country_similarity_sentences(_frame(country_similarity))
                if publisher_measure == "country_similarity"
                else []
            ),
            *headline_sentences(summary, findings, stats, collapse, robust_findings),
            *sensitivity_sentences(tables),
            *category_sentences(findings_by_category),
            *roundtrip_sentences(translated.roundtrip),
        ],
        figures=uri,
        summary_table=html_table(summary),
        consistency_table=html_table(consistency_summary),
        findings_table=html_table(pooled_findings(findings)),
        findings_all=html_table(findings),
        lrt_table=html_table(lrt, 3),
        random_effects=stats.get("random_effects", ""),
        zone_column=stats.get("zone_column", ""),
        stats_notes=stats.get("notes", []),
        coefficients=coefficients,
        sensitive_table=html_table(sensitive),
        collapse_table=html_table(collapse, 3),
        leakage_table=html_table(leak, 3, max_rows=20),
        shard_table=html_table(shards),
        software=software_versions(),
        config_yaml=yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True),
        stats_text=stats_text,
        provenance_json=provenance_json,
        **data_notes_context(data_notes),
        n_sensitivity=len(sensitivity),
        robustness_table=html_table(robustness if robustness is not None else pd.DataFrame(), 3),
        robustness_on=robustness is not None and not robustness.empty,
        coverage_table=html_table(
            robustness_coverage if robustness_coverage is not None else pd.DataFrame(), 3
        ),
        robust_findings_table=html_table(
            _pooled_robust(robust_findings) if robust_findings is not None else pd.DataFrame()
        ),
        lrt_variants_table=html_table(
            pd.DataFrame(stats.get("lrt_variants", [])).drop(columns=["notes"], errors="ignore"), 3
        ),
        comparison_table=html_table(_frame(model_comparison), 3),
        category_table=html_table(_pooled_categories(findings_by_category)),
        category_all=html_table(_frame(findings_by_category), max_rows=400),
        sensitivity_summary=tables.summary,
        human_sensitive_table=html_table(_sensitive_rows(tables.human), 3),
        triage_table=html_table(_frame(tables.triage), 3),
        persona_gain_table=html_table(_frame(tables.persona_gain)),
        surrogate_table=html_table(_frame(tables.surrogate), 3),
        aggregates_table=html_table(_frame(run_aggregates), 2),
        aggregates_matched=bool(
            run_aggregates is not None
            and not run_aggregates.empty
            and run_aggregates["published"].notna().any()
        ),
        metrics_mode=str(dict(config).get("metrics", {}).get("mode", "default")),
        text_provenance_table=html_table(translated.provenance),
        review_table=html_table(review_summary(translated.review), 1),
        roundtrip_table=html_table(translated.roundtrip, 2),
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
    """Headlines on the human zone-variable items, triage and persona gain."""
    sentences: list[str] = []
    summary = tables.summary
    if summary.get("n_testable"):
        share = summary.get("share_sensitive") or 0.0
        settings = summary.get("settings", {})
        sentences.append(
            f"{summary['n_sensitive']} of {summary['n_testable']} testable questions "
            f"({fmt(100 * share)}%) are zone-variable in the human data alone (their "
            f"answers differ between zones beyond within-zone differences: permutation test, "
            f"{settings.get('correction', 'fdr_bh')} q < {settings.get('alpha', 0.05)}). Not the "
            "geo-cultural salience study's culturally sensitive items, which need rater-level "
            "ratings (the ratings kind)."
        )
    triage = tables.triage
    if not triage.empty and "f1" in triage:
        for model, rows in triage.dropna(subset=["f1"]).groupby("model", sort=True):
            best = rows.loc[rows["f1"].idxmax()]
            sentences.append(
                f"{model}: as a triage of the zone-variable questions its best cell "
                f"({best['language']}/{best['framing']}/{best['reasoning']}) reaches F1 "
                f"{fmt(best['f1'], 2)} (95% CI {fmt(best['f1_ci_low'], 2)}–"
                f"{fmt(best['f1_ci_high'], 2)}) against {fmt(best['always_f1'], 2)} for "
                f"flagging every question; AUROC of its spread across populations "
                f"{fmt(best['auroc_spread'], 2)}."
            )
    gain = tables.persona_gain
    if not gain.empty:
        for row in gain[gain["country"] == "all"].itertuples(index=False):
            significant = not (row.ci_low <= 0 <= row.ci_high)
            sentences.append(
                f"{row.model} ({row.language}, {row.reasoning}): naming the population "
                f"changes NVAS by {float(row.gain):+.1f} points on average (95% CI "
                f"{fmt(row.ci_low)} to {fmt(row.ci_high)})"
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
        parts = [f"{r.category.lower()} {float(r.mean_diff):+.1f} ({fmt(r.ci_low)} to "
                 f"{fmt(r.ci_high)})" for r in rows.itertuples(index=False)
                 if not pd.isna(r.mean_diff)]  # fmt: skip
        if parts:
            sentences.append(f"{model}: reasoning ({contrast}) changes NVAS by category: "
                             + "; ".join(parts) + ".")  # fmt: skip
    return sentences
