"""The ``inventory`` kind: scored dimensions (Hofstede VSM 2013): dimension indices per
population from the answers, Kendall's τ-b and index error against reference scores."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from culturalign.analysis import AnalysisKind, register_kind
from culturalign.analysis.inventory.report import report_content
from culturalign.reporting.numbers import fmt


def reference_input(block: Mapping[str, object]) -> dict[str, str]:
    """A benchmark block's reference scores file as a named rule input, when configured."""
    path = block.get("reference")
    return {"reference": str(path)} if path else {}


@register_kind("inventory")
class InventoryKind(AnalysisKind):
    description = "inventory dimensions scored from the answers and compared with references"
    summary = "hofstede/summary.csv"
    method_note = (
        "Indices follow the VSM 2013 manual's formulas from the mean item scores (expected "
        "answers of the exact option distributions; text answers in the tables), plus the "
        "configured constants. Kendall's τ-b compares the regions' ranking with the reference "
        "scores (95% bootstrap over regions)."
    )

    def index_line(self, summary: pd.DataFrame) -> str:
        expected = summary[summary["source"] == "expected"] if "source" in summary else summary
        if expected.empty or "n_regions" not in expected:
            return "no scored cells"
        if "mae" in expected and expected["mae"].notna().any():
            return (
                f"mean |index error| {fmt(expected['mae'].mean())} and mean Kendall τ-b "
                f"{fmt(expected['mean_tau_b'].mean(), 2)} against the reference scores "
                f"({int(expected['n_regions'].max())} regions, {len(expected)} cells)"
            )
        return f"dimension indices for {int(expected['n_regions'].max())} regions (no reference)"

    def tables_report(
        self, tables: Mapping[str, pd.DataFrame], publisher_measure: str | None = None
    ):

        return report_content(tables)
