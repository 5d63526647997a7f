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


def category_accuracy(summary: pd.DataFrame) -> pd.DataFrame:
    """AraTrust's accuracy as lighteval reports it: per cell, the accuracy of the most
    probable option (lighteval scores the answer letters' log-likelihoods) in each category
    (lighteval's subsets, e.g. ``aratrust:Ethics``) and their unweighted mean (lighteval's
    ``all``), beside the mean over questions. Percentages; one row per cell."""
    columns = ["model", "language", "framing", "reasoning"]
    if summary.empty or "top_accuracy" not in summary:
        return pd.DataFrame(columns=columns)
    categories = summary[summary["category"] != "all"]
    wide = categories.pivot_table(index=columns, columns="category", values="top_accuracy",
                                  sort=True) * 100  # fmt: skip
    wide.columns = [str(column) for column in wide.columns]
    wide.insert(0, "mean over categories", wide.mean(axis=1))
    overall = summary[summary["category"] == "all"].set_index(columns)["top_accuracy"] * 100
    wide.insert(1, "mean over questions", overall.reindex(wide.index))
    return wide.reset_index()


def category_sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per cell of :func:`category_accuracy`."""
    sentences = []
    fixed = {"model", "language", "framing", "reasoning", "mean over categories",
             "mean over questions"}  # fmt: skip
    for row in table.to_dict("records"):
        parts = [f"{name} {fmt(value)}%" for name, value in row.items()
                 if name not in fixed and not pd.isna(value)]  # fmt: skip
        sentences.append(
            f"{row['model']} ({row['language']}, {row['reasoning']}): as lighteval reports "
            f"AraTrust, {fmt(row['mean over categories'])}% — the mean over "
            f"{len(parts)} categories of the most probable option's accuracy ("
            + "; ".join(parts)
            + ")."
        )
    return sentences


def report_content(
    tables: Mapping[str, pd.DataFrame], publisher_measure: str | None = None
) -> tuple[list[str], list[tuple]]:
    """Headlines and table sections of a multiple-choice benchmark's report, led by accuracy
    per category as lighteval reports it where that is the publisher's measure."""
    summary = tables["summary.csv"]
    sentences = mcq_sentences(summary)
    sections = [
        ("Accuracy per category", "summary.csv", summary),
        ("Circular accuracy per question", "circular.csv", tables["circular.csv"]),
    ]
    if publisher_measure == "category_accuracy":
        by_category = category_accuracy(summary)
        sentences = [*category_sentences(by_category), *sentences]
        sections.insert(0, ("Accuracy per category as lighteval reports it (most probable "
                            "option, %; lighteval's all = mean over categories)",
                            "summary.csv", by_category))  # fmt: skip
    return sentences, sections
