"""The ratings kind's report: headline sentences written from the numbers and the table
sections for :func:`culturalign.reporting.html.build_tables_report`."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from culturalign.analysis.ratings.mixed_models import FAMILY_NAMES, headline
from culturalign.reporting.numbers import fmt

PUBLISHED_SHARE = "13.1% on DICES-990, 10.9–13.9% on the other datasets"
"""What Saakyan, Rastogi & Aroyo (2026) report for the share of culturally sensitive items
(a reference for the reader, not a target)."""


def model_sentences(lrt: pd.DataFrame, models: pd.DataFrame) -> list[str]:
    """One sentence per (family, comparison), and one per model that did not converge."""
    sentences = [line.sentence for line in headline(lrt, None)] if len(lrt) else []
    if len(models) and "converged" in models:
        failed = models[~models["converged"].astype("boolean").fillna(False).astype(bool)]
        for row in failed.itertuples(index=False):
            sentences.append(
                f"The {FAMILY_NAMES.get(row.family, row.family)} {row.model} did not converge "
                f"({row.status}): {row.convergence_message or 'no message'}; its tests are "
                "reported as such."
            )
    return sentences


def sensitivity_sentence(items: pd.DataFrame, zone_scheme: str) -> str:
    """The share of culturally sensitive items, beside the published one."""
    testable = items[items["testable"].astype(bool)]
    sensitive = testable[testable["sensitive"].astype(bool)]
    if testable.empty:
        return "No item is testable for cultural sensitivity (too few valid quadrants)."
    by_quadrant = sensitive["quadrant"].value_counts()
    where = "; ".join(f"{quadrant}: {count}" for quadrant, count in by_quadrant.items())
    share = fmt(100 * len(sensitive) / len(testable))
    return (
        f"{len(sensitive)} of {len(testable)} testable items ({share}%) "
        f"are culturally sensitive by the paper's rule (S_q > threshold for a quadrant; zones "
        f"{zone_scheme})" + (f" — {where}" if where else "")
        + f". The paper reports {PUBLISHED_SHARE}."
    )  # fmt: skip


def judge_sentences(summary: pd.DataFrame) -> list[str]:
    """Per judge cell and task: mean F1 against the baseline, and surrogacy."""
    sentences = []
    for row in summary.itertuples(index=False):
        task = ("safe vs unsafe to the quadrant's majority" if row.task == "majority"
                else "safe vs culturally sensitive")  # fmt: skip
        text = (
            f"{row.model} ({row.language}, {row.reasoning}) as quadrant judge, {task}: mean F1 "
            f"{fmt(row.mean_f1, 3)} against {fmt(row.mean_baseline_f1, 3)} for Always Unsafe "
            f"over {row.n_quadrants} quadrants ({row.n_replicates} replicate(s)); "
            f"{row.n_above_baseline} quadrant(s) above and {row.n_below_baseline} below the "
            "baseline at p < 0.05; mean AUROC " + fmt(row.mean_auroc, 3) + "."
        )
        if not pd.isna(row.own_agreement):
            text += (f" Agreement with its own quadrant's raters {fmt(100 * row.own_agreement)}% "
                     f"vs {fmt(100 * row.other_agreement)}% with the others'.")  # fmt: skip
        if row.n_pairs_left_out:
            text += f" {row.n_pairs_left_out} (item, quadrant) pair(s) lacked probabilities."
        sentences.append(text)
    return sentences


def sensitive_shares(items: pd.DataFrame, posteriors: pd.DataFrame) -> pd.DataFrame:
    """The culturally sensitive items with each quadrant's share of 'unsafe' ratings (n)."""
    sensitive = items[items["sensitive"].astype(bool)][["item_id", "quadrant", "max_S"]]
    if sensitive.empty:
        return sensitive
    # a CSV read back types numeric ids (DICES) as numbers; the posteriors keep strings
    sensitive = sensitive.assign(item_id=sensitive["item_id"].astype(str))
    shares = (
        posteriors.assign(item_id=posteriors["item_id"].astype(str))
        .assign(
            share=lambda f: [
                f"{fmt(100 * u / n)}% of {n}" if n else "no ratings"
                for u, n in zip(f["n_unsafe"], f["n"], strict=True)
            ]  # fmt: skip
        )
        .pivot(index="item_id", columns="quadrant", values="share")
    )
    return sensitive.merge(shares.reset_index(), on="item_id", how="left")


def dropped_sentence(dropped: pd.DataFrame) -> str:
    if dropped.empty:
        return "Nothing was dropped when the ratings were read."
    parts = [f"{row.count} {row.what} ({row.reason})" for row in dropped.itertuples(index=False)]
    return "Dropped when the ratings were read: " + "; ".join(parts) + "."


def report_content(tables: Mapping[str, pd.DataFrame]) -> tuple[list[str], list[tuple]]:
    """Headlines and table sections of a ratings benchmark's report."""
    lrt, models = tables["lrt.csv"], tables["models.csv"]
    items, posteriors = tables["sensitive_items.csv"], tables["posteriors.parquet"]
    summary, scores = tables["summary.csv"], tables["judges.csv"]
    dropped = tables["dropped.csv"]
    raters = tables["raters.parquet"]
    scheme = ", ".join(sorted(raters["zone_source"].dropna().unique())) or "none"
    headlines = [
        *model_sentences(lrt, models),
        sensitivity_sentence(items, scheme),
        *judge_sentences(summary),
        dropped_sentence(dropped),
    ]
    sections = [
        ("Likelihood-ratio tests (BH-adjusted across comparisons and benchmarks)", "lrt.csv", lrt),
        ("Mixed models", "models.csv", models),
        (
            "Culturally sensitive items and their quadrants' shares of 'unsafe'",
            "sensitive_items.csv",
            sensitive_shares(items, posteriors),
        ),  # fmt: skip
        (
            "Share of sensitive items over the thresholds",
            "threshold_grid.csv",
            tables["threshold_grid.csv"],
        ),  # fmt: skip
        ("Judges per quadrant: F1, Always Unsafe baseline, AUROC", "judges.csv", scores),
        ("Judges per cell", "summary.csv", summary),
        (
            "Surrogacy: judge quadrant x rater quadrant agreement",
            "surrogacy.csv",
            tables["surrogacy.csv"],
        ),  # fmt: skip
        ("Dropped when reading the ratings", "dropped.csv", dropped),
    ]
    return headlines, sections
