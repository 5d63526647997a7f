"""PCA of countries in answer space and the collapse index, on synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from culturalign.analysis.survey import pca

COUNTRIES = ["Egypt", "Iran", "Lebanon", "Morocco", "Tunisia", "Turkey"]


def synthetic(n_questions: int = 8, countries=COUNTRIES, seed: int = 0):
    """Ordinal 1..10 questions (plus one nominal) with random human distributions."""
    rng = np.random.default_rng(seed)
    ids = [f"WVS-Q{i}" for i in range(1, n_questions + 1)] + ["AOI-0300"]
    questions = pd.DataFrame(
        {
            "question_id": ids,
            "scale_min": 1,
            "scale_max": 10,
            "scale_type": ["ordinal"] * n_questions + ["nominal"],
        }
    )
    rows = []
    for qid in ids:
        for country in countries:
            shares = rng.dirichlet(np.full(10, 0.5))
            rows += [
                {"question_id": qid, "country": country, "option": o, "share": s}
                for o, s in zip(range(1, 11), shares, strict=True)
            ]
    human = pd.DataFrame(rows)
    means = (
        human.assign(w=human["option"] * human["share"])
        .groupby(["question_id", "country"])["w"]
        .sum()
    )
    return questions, human, means


def items_from(values: dict[tuple[str, str], float], model="m", language="en", **extra):
    """Persona items rows for one model/language/reasoning with the given answers."""
    rows = [
        {"model": model, "language": language, "framing": "persona", "reasoning": "zero",
         "question_id": q, "country": c, "answer": v, "expected": v, **extra}
        for (q, c), v in values.items()
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["answer"] = frame["answer"].astype("Float64")
    return frame


def test_models_equal_to_humans_give_one_and_share_coordinates():
    questions, human, means = synthetic()
    items = items_from(means.to_dict())
    result = pca.run_pca(items, human, questions)
    row = result.collapse.iloc[0]
    assert row["collapse_index"] == pytest.approx(1.0, abs=1e-12)
    assert row["n_questions"] == 8  # the nominal question is left out
    assert row["n_imputed"] == 0 and row["note"] == ""
    coords = result.coordinates.set_index(["source", "country"])
    for country in COUNTRIES:
        assert coords.loc[("model", country), "pc1"] == pytest.approx(
            coords.loc[("human", country), "pc1"], abs=1e-9
        )


def test_identical_countries_collapse_to_zero():
    questions, human, means = synthetic()
    same = {(q, c): 5.0 + int(q[5:]) % 3 for (q, c) in means.index}
    result = pca.run_pca(items_from(same), human, questions)
    assert result.collapse.iloc[0]["collapse_index"] == pytest.approx(0.0, abs=1e-12)
    model = result.coordinates[result.coordinates["source"] == "model"]
    assert model["pc1"].nunique() == 1


@pytest.mark.parametrize("scaling", ["range", "zscore"])
@pytest.mark.parametrize("factor", [0.25, 0.5, 2.0])
def test_scaled_copy_gives_the_scale_factor(factor, scaling):
    questions, human, means = synthetic(seed=3)
    centre = means.groupby("question_id").mean()
    scaled = {
        (q, c): centre[q] + factor * (v - centre[q]) + 0.7  # a shift changes no distance
        for (q, c), v in means.items()
    }
    result = pca.run_pca(items_from(scaled), human, questions, scaling=scaling)
    assert result.collapse.iloc[0]["collapse_index"] == pytest.approx(factor, rel=1e-9)


def test_refusals_use_expected_then_impute():
    questions, human, means = synthetic()
    values = means.to_dict()
    items = items_from(values)
    first = items.index[items["question_id"] == "WVS-Q1"][0]
    items.loc[first, "answer"] = pd.NA  # expected still given: used instead
    result = pca.run_pca(items, human, questions)
    assert result.collapse.iloc[0]["collapse_index"] == pytest.approx(1.0, abs=1e-12)
    items.loc[first, "expected"] = np.nan  # nothing left: imputed with the human mean
    result = pca.run_pca(items, human, questions)
    row = result.collapse.iloc[0]
    assert row["n_imputed"] == 1
    assert "imputed" in row["note"]
    assert row["collapse_index"] != pytest.approx(1.0, abs=1e-6)


def test_few_countries_or_questions_are_flagged():
    questions, human, means = synthetic(n_questions=2, countries=COUNTRIES[:2])
    result = pca.run_pca(items_from(means.to_dict()), human, questions)
    note = result.collapse.iloc[0]["note"]
    assert "only 2 countries" in note and "only 2 questions" in note
    assert "not meaningful" in note


def test_pca_is_fitted_on_humans_only():
    """A wild model moves its own points but not the human map."""
    questions, human, means = synthetic()
    base = pca.run_pca(items_from(means.to_dict()), human, questions).coordinates
    wild = {key: 10.0 if i % 2 else 1.0 for i, key in enumerate(means.index)}
    both = pd.concat([items_from(means.to_dict()), items_from(wild, model="wild")])
    other = pca.run_pca(both, human, questions).coordinates
    humans = lambda frame: frame[frame["source"] == "human"].reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(humans(base), humans(other))


def test_mean_pairwise_distance_by_hand():
    points = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 8.0]])
    assert pca.mean_pairwise_distance(points) == pytest.approx((5 + 8 + 5) / 3)
    assert np.isnan(pca.mean_pairwise_distance(points[:1]))


def test_scaling_changes_weights_not_identity():
    """zscore weighs a question by 1/human sd, range by 1/scale range: different indices for
    the same noisy model, both 1 for a perfect copy."""
    questions, human, means = synthetic(seed=5)
    rng = np.random.default_rng(1)
    noisy = {key: float(np.clip(v + rng.normal(0, 2), 1, 10)) for key, v in means.items()}
    ranged = pca.run_pca(items_from(noisy), human, questions, scaling="range").collapse
    zscored = pca.run_pca(items_from(noisy), human, questions, scaling="zscore").collapse
    assert ranged.iloc[0]["collapse_index"] != pytest.approx(zscored.iloc[0]["collapse_index"])
    with pytest.raises(ValueError, match="scaling"):
        pca.run_pca(items_from(noisy), human, questions, scaling="minmax")
