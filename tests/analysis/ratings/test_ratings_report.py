"""The ratings kind in the registry, and its report's sentences against the tables they come
from (numbers worked out by hand here)."""

from __future__ import annotations

import pandas as pd

from culturalign.analysis import get_kind

CELL = {"model": "demo", "language": "en", "framing": "persona", "reasoning": "zero"}


def tables() -> dict[str, pd.DataFrame]:
    lrt = pd.DataFrame([{
        "dataset": "dices", "family": "gaussian", "comparison": "D+CZ vs D", "model_big": "D+CZ",
        "model_small": "D", "chi2": 12.5, "df": 3, "p_value": 0.00585, "delta_aic": -6.5,
        "delta_bic": 2.0, "rater_variance_small": 0.02, "rater_variance_big": 0.015,
        "rater_variance_change": -0.25, "converged_big": True, "converged_small": True,
        "converged": True, "message": None, "p_adjusted": 0.0117,
    }])  # fmt: skip
    models = pd.DataFrame([
        {"dataset": "dices", "family": "binomial", "model": "DxCZ", "status": "warning",
         "converged": False, "convergence_message": "Model failed to converge"},
        {"dataset": "dices", "family": "gaussian", "model": "D", "status": "ok",
         "converged": True, "convergence_message": None},
    ])  # fmt: skip
    items = pd.DataFrame({
        "item_id": ["a", "b", "c", "d", "e"], "sensitive": [True, False, True, False, False],
        "quadrant": ["traditional / survival", None, "traditional / survival", None, None],
        "max_S": [0.9, 0.1, 0.7, 0.2, None], "n_valid_quadrants": [2, 2, 2, 2, 1],
        "testable": [True, True, True, True, False],
    })  # fmt: skip
    posteriors = pd.DataFrame({
        "item_id": ["a", "a"],
        "quadrant": ["traditional / survival", "secular-rational / self-expression"],
        "n": [4, 5], "n_unsafe": [3, 1],
    })  # fmt: skip
    summary = pd.DataFrame([
        {**CELL, "task": "majority", "n_quadrants": 2, "n_items": 5, "n_replicates": 4,
         "mean_f1": 0.6, "mean_baseline_f1": 0.5, "mean_auroc": 0.7, "n_above_baseline": 1,
         "n_below_baseline": 0, "own_agreement": 0.75, "other_agreement": 0.5,
         "n_pairs_left_out": 0},
        {**CELL, "reasoning": "cot", "task": "majority", "n_quadrants": 2, "n_items": 5,
         "n_replicates": 1, "mean_f1": 0.8, "mean_baseline_f1": 0.5, "mean_auroc": 0.9,
         "n_above_baseline": 2, "n_below_baseline": 0, "own_agreement": None,
         "other_agreement": None, "n_pairs_left_out": 3},
    ])  # fmt: skip
    reason = "Q_overall is 'Unsure' (declared dropped)"
    dropped = pd.DataFrame([{"what": "ratings", "reason": reason, "count": 5, "ids": "x y",
                             "file": "f.csv"}])  # fmt: skip
    raters = pd.DataFrame({"rater_id": ["r1", "r2"], "zone_source": ["wvs7_map", "wvs7_map"]})
    empty = pd.DataFrame()
    return {"lrt.csv": lrt, "models.csv": models, "sensitive_items.csv": items,
            "posteriors.parquet": posteriors, "summary.csv": summary, "judges.csv": empty,
            "threshold_grid.csv": empty, "surrogacy.csv": empty, "dropped.csv": dropped,
            "raters.parquet": raters}  # fmt: skip


def test_the_registry_gives_the_ratings_kind_with_replicate_variants():
    kind = get_kind("ratings")
    assert kind.summary == "ratings/summary.csv"
    assert kind.robustness_variants  # zero-shot replicates are the wordings and the order


def test_headlines_carry_the_tables_numbers():
    headlines, sections = get_kind("ratings").tables_report(tables())
    text = "\n".join(headlines)
    # the LRT: chi2, df, BH-adjusted p and delta AIC of the one comparison
    assert "zone adds to demographics" in text and "12.5" in text
    assert "-6.5" in text.replace("−", "-")
    # the model that did not converge is named
    assert "did not converge" in text and "DxCZ" in text
    # 2 of 4 testable items (item e is not testable) = 50.0%, both with traditional / survival
    assert "2 of 4 testable items (50.0%)" in text
    assert "traditional / survival: 2" in text and "wvs7_map" in text
    # judges: mean F1 against the baseline, surrogacy as percentages, pairs left out
    assert "mean F1 0.600 against 0.500" in text and "75.0% vs 50.0%" in text
    assert "3 (item, quadrant) pair(s) lacked probabilities" in text
    assert "5 ratings (Q_overall is 'Unsure' (declared dropped))" in text
    shares = dict((name, table) for _, name, table in sections)["sensitive_items.csv"]
    assert shares.set_index("item_id").loc["a", "traditional / survival"] == "75.0% of 4"
    assert list(shares["item_id"]) == ["a", "c"]


def test_index_line_reads_the_majority_task():
    line = get_kind("ratings").index_line(tables()["summary.csv"])
    assert line.startswith("as quadrant judge, mean F1 0.700 against 0.500")
    assert "best 0.800 in en/cot" in line
