"""The multiple-choice (mcq) kind's report: headline sentences and table sections for
:func:`culturalign.reporting.html.build_tables_report`."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from culturalign.reporting.numbers import fmt


def mcq_sentences(summary: pd.DataFrame) -> list[str]:
    """Headlines of a multiple-choice benchmark."""
    sentences = []
    overall = summary[summary["category"] == "all"] if len(summary) else summary
    for row in overall.itertuples(index=False):
        cell = f"{row.model} ({row.language}, {row.reasoning})"
        text = (f"{cell}: accuracy {fmt(100 * row.accuracy)}% (95% CI "
                f"{fmt(100 * row.accuracy_ci_low)}–{fmt(100 * row.accuracy_ci_high)}) over "
                f"{row.n_questions} questions; the most probable option is right "
                f"{fmt(100 * row.top_accuracy)}% of the time; refusals "
                f"{fmt(100 * row.refusal_rate)}%, leaked refusals "
                f"{fmt(100 * row.leakage_rate)}%.")  # fmt: skip
        if not pd.isna(row.circular_accuracy):
            text += (f" Correct in all {int(row.n_orders)} option orders (CircularEval): "
                     f"{fmt(100 * row.circular_accuracy)}% (95% CI "
                     f"{fmt(100 * row.circular_accuracy_ci_low)}–"
                     f"{fmt(100 * row.circular_accuracy_ci_high)}); "
                     f"{fmt(100 * row.first_shown_rate)}% of the answers pick the option "
                     f"shown first (chance {fmt(100 / row.n_orders)}%).")  # fmt: skip
        sentences.append(text)
    return sentences


def report_content(tables: Mapping[str, pd.DataFrame]) -> tuple[list[str], list[tuple]]:
    """Headlines and table sections of a multiple-choice benchmark's report."""
    summary = tables["summary.csv"]
    sections = [
        ("Accuracy per category", "summary.csv", summary),
        ("Circular accuracy per question", "circular.csv", tables["circular.csv"]),
    ]
    return mcq_sentences(summary), sections
