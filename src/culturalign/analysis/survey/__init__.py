"""The ``survey`` kind: human answer distributions per population (MENAValues,
GlobalOpinionQA, survey tables). Metrics (NVAS, KLD, peer measures, consistency), the
robustness of the answers to prompt variants, zone-variable items and models as triage, the
zone mixed models, PCA maps, figures and the report; the MENAValues authors' published
metrics (:mod:`.published`)."""

from __future__ import annotations

import pandas as pd

from culturalign.analysis import AnalysisKind, register_kind
from culturalign.reporting.numbers import fmt


@register_kind("survey")
class SurveyKind(AnalysisKind):
    description = "survey answers compared with human distributions per population"
    summary = "metrics/summary.csv"
    robustness_variants = True

    def index_line(self, summary: pd.DataFrame) -> str:
        if "nvas_mean" not in summary or summary["nvas_mean"].isna().all():
            return "no scored cells"
        scored = summary.dropna(subset=["nvas_mean"])
        best = scored.loc[scored["nvas_mean"].idxmax()]
        refusal = summary["refusal_rate"].mean() if "refusal_rate" in summary else float("nan")
        return (
            f"mean NVAS {fmt(scored['nvas_mean'].mean())} over {len(scored)} cells "
            f"(best {fmt(best['nvas_mean'])} in {best['language']}/{best['framing']}/"
            f"{best['reasoning']}); refusals {fmt(100 * refusal)}%"
        )
