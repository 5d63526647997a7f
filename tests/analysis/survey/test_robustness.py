"""Robustness measures on synthetic items with known flip rates, Kendall's W, position bias
and signal/noise (culturalign.analysis.survey.robustness); expected values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from culturalign.analysis.kit import MetricsSettings
from culturalign.analysis.survey.robustness import (
    kendall_w,
    robust_findings,
    robustness_items,
    robustness_summary,
)

CELL = {"model": "m", "language": "en", "framing": "persona", "reasoning": "zero"}
COUNTRIES = ["Egypt", "Iran", "Turkey", "Morocco"]
SETTINGS = MetricsSettings(bootstrap_resamples=200)


def row(question, country, variant, answer, shown=None, probs=None, **extra):
    codes = [1, 2, 3, 4] if variant != "reversed" else [4, 3, 2, 1]
    vector = np.array(probs if probs is not None else [0.25] * 4)
    return {**CELL, "variant": variant, "question_id": question, "country": country,
            "prompt_language": "en", "scale_type": "ordinal", "scale_min": 1, "scale_max": 4,
            "answer": answer, "expected": float(np.dot([1, 2, 3, 4], vector)),
            "refusal": answer is None, "_probs": vector,
            "shown_position": codes.index(answer) if answer is not None else None,
            "n_options": 4, **extra}  # fmt: skip


def frame(rows) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    out["answer"] = out["answer"].astype("Int64")
    out["shown_position"] = out["shown_position"].astype("Int64")
    return out


def test_flip_rate_shift_and_distance():
    rows = []
    for country in COUNTRIES[:2]:
        rows += [row("Q1", country, v, 2) for v in ("original", "wording-2", "reversed")]
        # reversed flips from 1 to 3: two of the three pairs differ, by 2/3 of the range
        rows += [row("Q2", country, "original", 1, probs=[1, 0, 0, 0]),
                 row("Q2", country, "wording-2", 1, probs=[1, 0, 0, 0]),
                 row("Q2", country, "reversed", 3, probs=[0, 0, 1, 0])]  # fmt: skip
    items = robustness_items(frame(rows))
    by_question = items.groupby("question_id")[["flip_rate", "mean_shift", "mean_tv"]].mean()
    assert by_question.loc["Q1"].tolist() == pytest.approx([0.0, 0.0, 0.0])
    assert by_question.loc["Q2", "flip_rate"] == pytest.approx(2 / 3)
    assert by_question.loc["Q2", "mean_shift"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert by_question.loc["Q2", "mean_tv"] == pytest.approx((1 + 1 + 0) / 3)
    assert set(items["n_variants"]) == {3} and set(items["n_pairs"]) == {3}


def test_unforced_and_single_variant_items_are_left_out():
    rows = [row("Q1", "Egypt", "original", 2), row("Q1", "Egypt", "unforced", None),
            row("Q2", "Egypt", "original", 2)]  # fmt: skip
    assert robustness_items(frame(rows)).empty


def test_kendall_w_known_values():
    same = np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]], dtype=float)
    assert kendall_w(same) == pytest.approx(1.0)
    opposite = np.array([[1, 4], [2, 3], [3, 2], [4, 1]], dtype=float)
    assert kendall_w(opposite) == pytest.approx(0.0)
    # two raters, three items, ranks (1,2,3) and (1,3,2): rank sums (2,5,5) about 4, S = 6,
    # W = 12 S / (m^2 (n^3 - n)) = 72 / 96
    assert kendall_w(np.array([[1, 1], [2, 3], [3, 2]], dtype=float)) == pytest.approx(0.75)
    assert math.isnan(kendall_w(np.array([[1.0, 2.0]])))


def test_pure_position_bias_and_signal_to_noise():
    rows = []
    for q in ("Q1", "Q2", "Q3"):
        for country in COUNTRIES:
            # a model that always picks the first option shown: code 1, then code 4
            rows.append(row(q, country, "original", 1))
            rows.append(row(q, country, "reversed", 4))
    items = frame(rows)
    human = pd.DataFrame(
        [{"question_id": q, "country": c, "option": o, "share": 1.0 if o == 1 + i % 4 else 0.0}
         for q in ("Q1", "Q2", "Q3") for i, c in enumerate(COUNTRIES) for o in range(1, 5)]
    )  # fmt: skip
    questions = pd.DataFrame({"question_id": ["Q1", "Q2", "Q3"], "scale_min": 1, "scale_max": 4,
                              "scale_type": "ordinal"})  # fmt: skip
    summary = robustness_summary(items, robustness_items(items), human, questions, SETTINGS)
    cell = summary.iloc[0]
    assert cell["first_shown_original"] == 1.0 and cell["first_shown_reversed"] == 1.0
    assert cell["last_shown_original"] == 0.0 and cell["last_shown_reversed"] == 0.0
    assert cell["flip_rate"] == 1.0
    # no country differs from another (signal 0) while the variants differ (noise > 0)
    assert cell["snr"] == 0.0
    # humans: the four countries answer 1, 2, 3 and 4: variance of (0..3)/3 = 5/36
    assert cell["human_signal"] == pytest.approx(np.var(np.arange(4) / 3))
    # every variant ranks the countries the same (all tied): W undefined -> nan
    assert math.isnan(cell["kendall_w"])


def test_signal_to_noise_of_a_model_that_tracks_countries():
    rows = []
    for q in ("Q1", "Q2"):
        for i, country in enumerate(COUNTRIES):
            rows.append(row(q, country, "original", 1 + i % 4))
            rows.append(row(q, country, "wording-2", 1 + i % 4))
            rows.append(row(q, country, "wording-3", min(4, 2 + i % 4) if i == 0 else 1 + i % 4))
    items = frame(rows)
    human = pd.DataFrame(columns=["question_id", "country", "option", "share"])
    questions = pd.DataFrame({"question_id": ["Q1", "Q2"], "scale_min": 1, "scale_max": 4,
                              "scale_type": "ordinal"})  # fmt: skip
    cell = robustness_summary(items, robustness_items(items), human, questions, SETTINGS).iloc[0]
    # per question: y/3 for countries (mean over variants): Egypt (0 + 0 + 1/3)/3, then 1/3,
    # 2/3, 1; noise: only Egypt varies, var(0, 0, 1/3) / 4 countries
    means = np.array([1 / 9, 1 / 3, 2 / 3, 1.0])
    noise = np.var([0, 0, 1 / 3]) / 4
    assert cell["snr"] == pytest.approx(np.var(means) / noise)
    # wording-3 ties Egypt with Iran: rank sums (3.5, 5.5, 9, 12), S = 42.5, one tie of two:
    # W = 12 S / (m^2 (n^3 - n) - m T) = 510 / (540 - 18)
    assert cell["kendall_w"] == pytest.approx(510 / 522)


def test_robust_findings_flag_a_shift_that_survives_every_variant():
    rng = np.random.default_rng(0)
    rows = []
    for q in range(10):
        for c in COUNTRIES:
            base = rng.normal(60, 5)
            for variant in ("original", "wording-2", "reversed"):
                for language, shift in (("en", 0.0), ("native", -10.0)):
                    rows.append({**CELL, "language": language, "variant": variant,
                                 "question_id": f"Q{q}", "country": c,
                                 "nvas": base + shift + rng.normal(0, 1), "kld": 1.0})  # fmt: skip
    table = robust_findings(pd.DataFrame(rows), MetricsSettings(bootstrap_resamples=100))
    shift = table[(table["finding"] == "cross_lingual_shift") & (table["metric"] == "nvas")
                  & (table["framing"] == "all")]  # fmt: skip
    assert shift["robust"].tolist() == [True] and shift["n_variants"].tolist() == [2]
    detail = shift["variants_detail"].iloc[0]
    assert detail.startswith("reversed: -9.") and "; wording-2: -10." in detail
