"""The inventory kind's report: headline sentences and table sections for
:func:`culturalign.reporting.html.build_tables_report`."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from culturalign.reporting.numbers import fmt


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
        parts = [f"{r.dimension} {fmt(r.kendall_tau_b, 2)} ({fmt(r.tau_ci_low, 2)} to "
                 f"{fmt(r.tau_ci_high, 2)})" for r in mine.itertuples(index=False)]  # fmt: skip
        sentences.append(
            f"{cell}: mean absolute index error {fmt(row.mae)} points against the reference; "
            f"Kendall's τ-b of the regions' ranking per dimension: " + "; ".join(parts) + "."
        )
    return sentences


def report_content(tables: Mapping[str, pd.DataFrame]) -> tuple[list[str], list[tuple]]:
    """Headlines and table sections of an inventory benchmark's report."""
    summary = tables["summary.csv"]
    sections = [
        ("Summary per cell", "summary.csv", summary),
        ("Dimension indices", "indices.csv", tables["indices.csv"]),
        ("Against the reference scores", "comparison.csv", tables["comparison.csv"]),
    ]
    return inventory_sentences(summary, tables["comparison.csv"]), sections
