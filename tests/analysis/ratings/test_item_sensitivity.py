"""The paper's Bayesian culturally-sensitive rule: hand-worked posteriors and S on a tiny
table, each validity rule, untestable items, the threshold grid, and recovery of planted
items from simulated raters."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pandas as pd
import pytest

from culturalign.analysis.ratings.sensitivity import (
    SensitivityError,
    exceedance,
    quadrant_counts,
    quadrant_posteriors,
    sensitive_items,
    sensitive_share,
    threshold_grid,
)
from culturalign.analysis.ratings.simulation import simulate_ratings

MIXED = [
    ("Woman", "Asian", "gen z"),
    ("Man", "Black", "millennial"),
    ("Woman", "White", "gen x+"),
    ("Man", "Latine", "gen z"),
]


def _frames(spec: dict[str, dict[str, list[tuple]]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ratings and raters from {item: {quadrant: [(gender, ethnicity, age_group, unsafe)]}};
    the k-th rater of a quadrant is the same person across items."""
    raters: dict[str, dict] = {}
    ratings = []
    for item, quadrants in spec.items():
        for quadrant, rows in quadrants.items():
            for k, (gender, ethnicity, age, unsafe) in enumerate(rows):
                rater = f"{quadrant}-{k}"
                raters[rater] = {
                    "rater_id": rater, "quadrant": quadrant, "gender": gender,
                    "ethnicity": ethnicity, "age_group": age,
                }  # fmt: skip
                ratings.append({"item_id": item, "rater_id": rater, "unsafe": unsafe})
    ratings_frame = pd.DataFrame(ratings).astype({"unsafe": "Int64"})
    return ratings_frame, pd.DataFrame(list(raters.values()))


def _mixed(unsafe: list) -> list[tuple]:
    """Raters of mixed gender, ethnicity and age group with the given answers."""
    return [(*MIXED[k], value) for k, value in enumerate(unsafe)]


def _h_reference(u: int, n: int, tau: float) -> float:
    """P(theta > tau) under Beta(1 + u, 1 + n - u), by mpmath's regularized incomplete beta."""
    return float(mpmath.betainc(1 + u, 1 + n - u, tau, 1, regularized=True))


def _tiny() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Item i1: A 3/3 unsafe, B 0/3, C 1/4, D 2/2 (invalid: two ratings); item i2: every
    valid quadrant 1 of 3 unsafe."""
    return _frames(
        {
            "i1": {
                "A": _mixed([1, 1, 1]),
                "B": _mixed([0, 0, 0]),
                "C": _mixed([1, 0, 0, 0]),
                "D": _mixed([1, 1]),
            },
            "i2": {q: _mixed([1, 0, 0]) for q in "ABCD"},
        }
    )


def _row(post: pd.DataFrame, item: str, quadrant: str) -> pd.Series:
    return post.set_index(["item_id", "quadrant"]).loc[(item, quadrant)]


def test_hand_worked_posteriors_and_salience():
    post = quadrant_posteriors(*_tiny())
    # P(Beta(a, b) > 1/2) = P(Binomial(a + b - 1, 1/2) <= a - 1):
    h_a = 1 - 0.5**4  # Beta(4, 1)
    h_b = 0.5**4  # Beta(1, 4)
    h_c = (1 + 5) / 32  # Beta(2, 4)
    h_d = 1 - 0.5**3  # Beta(3, 1)
    for quadrant, h, n, u in [
        ("A", h_a, 3, 3),
        ("B", h_b, 3, 0),
        ("C", h_c, 4, 1),
        ("D", h_d, 2, 2),
    ]:
        row = _row(post, "i1", quadrant)
        assert (row.n, row.n_unsafe) == (n, u)
        assert row["H"] == pytest.approx(h, abs=1e-12)
        assert row.theta_mean == pytest.approx((1 + u) / (2 + n))
    assert not _row(post, "i1", "D").valid
    # D is invalid: it has no S and stays out of the other quadrants' products
    assert math.isnan(_row(post, "i1", "D").S)
    assert _row(post, "i1", "A")["S"] == pytest.approx(h_a * (1 - h_b) * (1 - h_c), abs=1e-12)
    assert _row(post, "i1", "A")["S"] == pytest.approx(0.714111328125, abs=1e-12)
    assert _row(post, "i1", "B")["S"] == pytest.approx(h_b * (1 - h_a) * (1 - h_c), abs=1e-12)
    assert _row(post, "i1", "C")["S"] == pytest.approx(h_c * (1 - h_a) * (1 - h_b), abs=1e-12)
    assert (post.loc[post.item_id == "i1", "n_valid_quadrants"] == 3).all()

    items = sensitive_items(post).set_index("item_id")
    assert items.loc["i1", "sensitive"] and items.loc["i1", "quadrant"] == "A"
    assert items.loc["i1", "max_S"] == pytest.approx(0.714111328125, abs=1e-12)
    assert not items.loc["i2", "sensitive"] and items.loc["i2", "quadrant"] is None
    assert items.loc["i2", "n_valid_quadrants"] == 4 and items.loc["i2", "testable"]
    assert sensitive_share(sensitive_items(post)) == {
        "n_items": 2, "n_testable": 2, "n_sensitive": 1, "share": 0.5,
    }  # fmt: skip
    # a stricter S threshold than the item's S leaves nothing
    assert not sensitive_items(post, s_threshold=0.72).sensitive.any()


@pytest.mark.parametrize("tau", [0.2, 0.5, 0.7, 0.9])
def test_exceedance_matches_the_regularized_incomplete_beta(tau):
    counts = [(0, 0), (0, 5), (3, 5), (5, 5), (12, 40), (37, 40)]
    u = np.array([c[0] for c in counts])
    n = np.array([c[1] for c in counts])
    expected = [_h_reference(a, b, tau) for a, b in counts]
    np.testing.assert_allclose(exceedance(u, n, tau), expected, rtol=1e-10, atol=1e-14)


def test_tau_enters_the_posteriors():
    post = quadrant_posteriors(*_tiny(), tau=0.7)
    assert _row(post, "i1", "C")["H"] == pytest.approx(_h_reference(1, 4, 0.7), rel=1e-10)
    assert _row(post, "i1", "A")["H"] == pytest.approx(1 - 0.7**4, rel=1e-10)


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([("Woman", "Asian", "gen z", 1), ("Woman", "Black", "millennial", 1),
          ("Woman", "White", "gen x+", 0)], "gender"),
        ([("Woman", "Asian", "gen z", 1), ("Man", "Asian", "millennial", 1),
          ("Woman", "Asian", "gen x+", 0)], "ethnicity"),
        ([("Woman", "Asian", "gen z", 1), ("Man", "Black", "gen z", 1),
          ("Woman", "White", "gen z", 0)], "age_group"),
        (_mixed([1, 1]), "2 rating(s) < 3"),
    ],
)  # fmt: skip
def test_each_validity_rule_invalidates_a_quadrant(rows, reason):
    ratings, raters = _frames({"i": {"A": rows, "B": _mixed([0, 0, 0])}})
    table = quadrant_counts(ratings, raters).set_index("quadrant")
    assert not table.loc["A", "valid"]
    assert reason in table.loc["A", "invalid_reason"]
    rules = {"gender", "ethnicity", "age_group", "rating(s)"}
    failed = {rule for rule in rules if rule in table.loc["A", "invalid_reason"]}
    assert len(failed) == 1, table.loc["A", "invalid_reason"]
    assert table.loc["B", "valid"] and table.loc["B", "invalid_reason"] is None


def test_validity_thresholds_and_demographics_are_configurable():
    one_age = [("Woman", "Asian", "gen z", 1), ("Man", "Black", "gen z", 0),
               ("Woman", "White", "gen z", 1)]  # fmt: skip
    ratings, raters = _frames({"i": {"A": _mixed([1, 1]), "B": one_age}})
    default = quadrant_counts(ratings, raters).set_index("quadrant").valid
    assert not default["A"] and not default["B"]
    loose = quadrant_counts(ratings, raters, min_ratings=2).set_index("quadrant").valid
    assert loose["A"] and not loose["B"]
    no_age = quadrant_counts(ratings, raters, demographics=("gender", "ethnicity"))
    assert no_age.set_index("quadrant").valid["B"]
    strict = quadrant_counts(ratings, raters, min_ratings=2, min_groups=3)
    # A has 2 raters: 2 genders, 2 ethnicities, 2 ages -> fewer than 3 groups of each
    assert "fewer than 3 gender" in strict.set_index("quadrant").invalid_reason["A"]


def test_unsure_ratings_and_raters_without_quadrant_are_left_out():
    ratings, raters = _frames({"i": {"A": _mixed([1, 1, pd.NA, 0]), "B": _mixed([0, 0, 0])}})
    raters.loc[raters.rater_id == "B-0", "quadrant"] = None
    table = quadrant_counts(ratings, raters).set_index("quadrant")
    assert (table.loc["A", "n"], table.loc["A", "n_unsafe"]) == (3, 2)
    assert table.loc["B", "n"] == 2 and not table.loc["B", "valid"]


def test_item_with_fewer_than_two_valid_quadrants_is_not_testable():
    ratings, raters = _frames({"i": {"A": _mixed([1, 1, 1, 1]), "B": _mixed([0, 0])}})
    post = quadrant_posteriors(ratings, raters)
    assert _row(post, "i", "A").valid and _row(post, "i", "A").H > 0.9
    assert post.S.isna().all()
    item = sensitive_items(post).iloc[0]
    assert not item.sensitive and not item.testable and item.n_valid_quadrants == 1
    assert math.isnan(item.max_S) and item.quadrant is None
    grid = threshold_grid(post, [0.5], [0.5])
    assert grid.n_testable.iloc[0] == 0 and grid.n_sensitive.iloc[0] == 0
    assert math.isnan(grid.share_sensitive.iloc[0])


def test_threshold_grid_recomputes_h_for_each_tau():
    post = quadrant_posteriors(*_tiny())  # computed with tau = 0.5
    grid = threshold_grid(post, [0.3, 0.5], [0.5, 0.9]).set_index(["tau", "s_threshold"])
    assert grid.loc[(0.5, 0.5), "n_sensitive"] == 1
    assert grid.loc[(0.5, 0.5), "share_sensitive"] == 0.5
    # tau = 0.9: H_A = 1 - 0.9^4, H_B = 0.1^4, H_C = P(Bin(5, 0.9) <= 1)
    s_a = (1 - 0.9**4) * (1 - 0.1**4) * (1 - (0.1**5 + 5 * 0.9 * 0.1**4))
    assert 0.3 < s_a < 0.5
    assert grid.loc[(0.9, 0.5), "n_sensitive"] == 0
    assert grid.loc[(0.9, 0.3), "n_sensitive"] == 1
    direct = sensitive_items(quadrant_posteriors(*_tiny(), tau=0.9), s_threshold=0.3)
    assert direct.sensitive.sum() == 1
    assert (grid.n_items == 2).all() and (grid.n_testable == 2).all()


def test_threshold_grid_is_monotone_in_the_s_threshold():
    sim = simulate_ratings(n_raters=80, n_items=30, sensitive_items=4, seed=21)
    post = quadrant_posteriors(sim.ratings, sim.raters)
    thresholds = [0.1, 0.3, 0.5, 0.7, 0.9]
    grid = threshold_grid(post, thresholds, [0.4, 0.5, 0.6])
    for _, rows in grid.groupby("tau"):
        assert (np.diff(rows.sort_values("s_threshold").n_sensitive) <= 0).all()
    at_default = grid[(grid.tau == 0.5) & (grid.s_threshold == 0.5)].n_sensitive.iloc[0]
    assert at_default == sensitive_items(post).sensitive.sum()


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_planted_sensitive_items_are_recovered_with_their_quadrant(seed):
    sim = simulate_ratings(n_raters=120, n_items=40, sensitive_items=5, seed=seed)
    items = sensitive_items(quadrant_posteriors(sim.ratings, sim.raters))
    flagged = dict(
        zip(items.item_id[items.sensitive], items.quadrant[items.sensitive], strict=True)
    )
    planted = sim.truth["sensitive_items"]
    assert {item: flagged.get(item) for item in planted} == planted
    extra = set(flagged) - set(planted)
    assert len(extra) <= 2, extra
    assert items.testable.all()


def test_no_planted_items_flags_few_items():
    flagged = 0
    for seed in range(5):
        sim = simulate_ratings(n_raters=120, n_items=40, seed=100 + seed)
        flagged += sensitive_items(quadrant_posteriors(sim.ratings, sim.raters)).sensitive.sum()
    assert flagged / (5 * 40) <= 0.05


def test_bad_tables_are_named():
    ratings, raters = _tiny()
    with pytest.raises(SensitivityError, match="missing column.*age_group"):
        quadrant_counts(ratings, raters.drop(columns="age_group"))
    stranger = pd.concat([ratings, pd.DataFrame({"item_id": ["i1"], "rater_id": ["Z-9"]})])
    with pytest.raises(SensitivityError, match="Z-9"):
        quadrant_counts(stranger.astype({"unsafe": "Int64"}), raters)
    twice = pd.concat([ratings, ratings.iloc[[0]]])
    with pytest.raises(SensitivityError, match="duplicate"):
        quadrant_counts(twice, raters)
    bad = ratings.astype({"unsafe": object})
    bad.loc[2, "unsafe"] = 2
    with pytest.raises(SensitivityError, match="row 2 holds 2"):
        quadrant_counts(bad, raters)
    with pytest.raises(SensitivityError, match="tau"):
        quadrant_posteriors(ratings, raters, tau=1.0)
    with pytest.raises(SensitivityError, match="s_threshold"):
        sensitive_items(quadrant_posteriors(ratings, raters), s_threshold=1.5)
