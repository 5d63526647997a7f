"""The ``mcq`` kind: multiple-choice questions with a gold answer (AraTrust): accuracy and
CircularEval over option rotations, refusal and leakage, per category."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from culturalign.analysis import AnalysisKind, register_kind
from culturalign.analysis.mcq.report import report_content
from culturalign.reporting.numbers import fmt


@register_kind("mcq")
class MultipleChoiceKind(AnalysisKind):
    description = "multiple-choice questions scored against their gold answer"
    summary = "mcq/summary.csv"
    method_note = (
        "Accuracy counts a refusal or an unreadable answer as wrong; the most probable option "
        "comes from the exact option distribution. Circular accuracy (OpenCompass's "
        "CircularEval) counts a question only when it is answered correctly in the original "
        "order and in every rotation of its options. Intervals: 95% percentile bootstrap over "
        "questions."
    )

    def index_line(self, summary: pd.DataFrame) -> str:
        if "accuracy" not in summary or summary["accuracy"].isna().all():
            return "no scored cells"
        overall = summary[summary["category"] == "all"] if "category" in summary else summary
        best = overall.loc[overall["accuracy"].idxmax()]
        circular = ""
        if "circular_accuracy" in overall and overall["circular_accuracy"].notna().any():
            circular = f", circular {fmt(100 * overall['circular_accuracy'].mean())}%"
        return (
            f"accuracy {fmt(100 * overall['accuracy'].mean())}% over {len(overall)} cells "
            f"(best {fmt(100 * best['accuracy'])}% in {best['language']}/{best['reasoning']})"
            f"{circular}; refusals {fmt(100 * overall['refusal_rate'].mean())}%"
        )

    def tables_report(
        self, tables: Mapping[str, pd.DataFrame], publisher_measure: str | None = None
    ):

        return report_content(tables, publisher_measure)
