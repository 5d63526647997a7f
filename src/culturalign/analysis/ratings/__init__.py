"""The ``ratings`` kind: rater-level safety ratings with the raters' demographics and country
(DICES, any rater table), after Saakyan, Rastogi & Aroyo (2026, "Quantifying the Salience of
Geo-Cultural Values for Pluralistic Safety Alignment").

- :mod:`mixed_models`: does the raters' Inglehart–Welzel zone explain their ratings beyond
  their demographics? lme4 fits (``workflow/scripts/ratings_mixed_models.R``), LRTs with
  Benjamini–Hochberg adjustment, forest plots;
- :mod:`sensitivity`: culturally sensitive items by the paper's Bayesian rule;
- :mod:`judges`, :mod:`judge_outputs`, :mod:`summary`: models told a quadrant's values as
  judges of that quadrant's raters (F1 against the "Always Unsafe" baseline, AUROC,
  hierarchical bootstrap, surrogacy);
- :mod:`simulation`: a seeded simulator with a planted zone effect and planted sensitive
  items (tests, bench scripts and ``config/ratings-demo.yaml``).

The judge prompts are persona cells whose populations are the four quadrants, so they run
in the same generate jobs as every other benchmark.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from culturalign.analysis import AnalysisKind, register_kind
from culturalign.reporting.numbers import fmt


@register_kind("ratings")
class RatingsKind(AnalysisKind):
    description = (
        "rater-level safety ratings: zone vs demographics mixed models, culturally sensitive "
        "items, models as cultural-quadrant judges"
    )
    summary = "ratings/summary.csv"
    method_note = (
        "Mixed models: lme4 fits of the rating (unsafe 0/1) with crossed random intercepts for "
        "rater and item, by maximum likelihood (linear) and as a logistic GLMM; "
        "likelihood-ratio tests Benjamini-Hochberg adjusted within each family across the "
        "comparisons of every ratings benchmark of the run. Culturally sensitive items: "
        "Beta(1, 1) posteriors per (item, quadrant), H = P(θ > τ_majority), S_q = H_q · Π over "
        "the other valid quadrants (1 − H_q'). Judges: P(unsafe) is the exact probability of "
        "option A; F1 against the Always Unsafe baseline 2p / (1 + p) with intervals and "
        "p-values from a hierarchical bootstrap over items, then replicates (prompt wordings "
        "and option order of a zero-shot cell)."
    )
    # the wordings and the reversed option order are the replicates of a zero-shot judge
    robustness_variants = True

    def index_line(self, summary: pd.DataFrame) -> str:
        majority = summary[summary["task"] == "majority"] if "task" in summary else summary
        if majority.empty or majority["mean_f1"].isna().all():
            return "no judge scores"
        best = majority.loc[majority["mean_f1"].idxmax()]
        return (
            f"as quadrant judge, mean F1 {fmt(majority['mean_f1'].mean(), 3)} against "
            f"{fmt(majority['mean_baseline_f1'].mean(), 3)} for Always Unsafe over "
            f"{len(majority)} cell(s) (best {fmt(best['mean_f1'], 3)} in {best['language']}/"
            f"{best['reasoning']})"
        )

    def tables_report(
        self, tables: Mapping[str, pd.DataFrame], publisher_measure: str | None = None
    ):
        from culturalign.analysis.ratings.report import report_content

        return report_content(tables)
