"""The rater-level simulator plants what it says: a zone effect beyond demographics (or
none), sensitive items of one quadrant, valid quadrants, and writes the ratings_table CSVs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from culturalign.analysis.ratings.simulation import (
    COUNTRIES,
    QUADRANTS,
    ZONE_SHIFTS,
    SimulatedRatings,
    SimulationError,
    simulate_ratings,
    write_ratings_table,
)

DEMOGRAPHICS = ["gender", "ethnicity", "age_group"]


def _rater_residual_means(sim: SimulatedRatings) -> pd.DataFrame:
    """Each rater's unsafe share with the demographic effects regressed out (OLS on
    dummies), beside the rater's zone."""
    means = sim.ratings.groupby("rater_id").unsafe.mean().astype(float)
    raters = sim.raters.set_index("rater_id").loc[means.index]
    design = pd.get_dummies(raters[DEMOGRAPHICS], drop_first=True).astype(float)
    design.insert(0, "const", 1.0)
    coef, *_ = np.linalg.lstsq(design.to_numpy(), means.to_numpy(), rcond=None)
    residual = means.to_numpy() - design.to_numpy() @ coef
    return pd.DataFrame({"zone": raters.zone.to_numpy(), "residual": residual})


def test_tables_have_the_contracted_columns_and_are_fully_crossed():
    sim = simulate_ratings(n_raters=40, n_items=7, unsure_share=0.2, seed=3)
    assert list(sim.items.columns) == ["item_id", "text", "category"]
    assert list(sim.ratings.columns) == ["item_id", "rater_id", "rating", "unsafe"]
    assert list(sim.raters.columns) == [
        "rater_id", "country", "gender", "ethnicity", "age_group", "zone", "quadrant",
        "traditional_secular", "survival_selfexpression",
    ]  # fmt: skip
    assert str(sim.ratings.unsafe.dtype) == "Int64"
    assert len(sim.ratings) == 40 * 7
    assert not sim.ratings.duplicated(["item_id", "rater_id"]).any()
    assert set(sim.ratings.rater_id) == set(sim.raters.rater_id)
    assert set(sim.ratings.item_id) == set(sim.items.item_id)
    assert sim.raters.rater_id.is_unique and sim.items.item_id.is_unique
    assert set(sim.ratings.rating) <= {"Yes", "No", "Unsure"}
    by_rating = sim.ratings.groupby("rating").unsafe
    assert by_rating.apply(lambda s: s.isna().all())["Unsure"]
    assert (sim.ratings.loc[sim.ratings.rating == "Yes", "unsafe"] == 1).all()
    assert (sim.ratings.loc[sim.ratings.rating == "No", "unsafe"] == 0).all()
    for frame in (sim.items, sim.raters):
        assert all(isinstance(v, str) for v in frame.iloc[:, 0])


def test_same_seed_same_data_other_seed_other_data():
    a = simulate_ratings(n_raters=24, n_items=5, seed=11)
    b = simulate_ratings(n_raters=24, n_items=5, seed=11)
    c = simulate_ratings(n_raters=24, n_items=5, seed=12)
    pd.testing.assert_frame_equal(a.ratings, b.ratings)
    pd.testing.assert_frame_equal(a.raters, b.raters)
    assert not a.ratings.rating.equals(c.ratings.rating)
    assert a.truth["seed"] == 11 and a.truth["zone_effect"] == 0.0


def test_quadrants_follow_the_sign_convention_and_are_all_valid():
    # hand-checked map facts: Sweden is secular-rational / self-expression, Nigeria
    # traditional / survival, Russia secular-rational / survival, Mexico traditional /
    # self-expression
    assert COUNTRIES["Sweden"][1] > 0 and COUNTRIES["Sweden"][2] > 0
    assert COUNTRIES["Nigeria"][1] < 0 and COUNTRIES["Nigeria"][2] < 0
    assert COUNTRIES["Russia"][1] > 0 and COUNTRIES["Russia"][2] < 0
    assert COUNTRIES["Mexico"][1] < 0 and COUNTRIES["Mexico"][2] > 0
    for n_raters in (12, 120):
        raters = simulate_ratings(n_raters=n_raters, n_items=3, seed=5).raters
        first = np.where(raters.traditional_secular > 0, "secular-rational", "traditional")
        second = np.where(raters.survival_selfexpression > 0, "self-expression", "survival")
        expected = [f"{a} / {b}" for a, b in zip(first, second, strict=True)]
        assert raters.quadrant.tolist() == expected
        assert set(raters.quadrant) == set(QUADRANTS)
        counts = raters.groupby("quadrant")[DEMOGRAPHICS].nunique()
        assert (counts >= 2).all().all(), counts
        assert raters.quadrant.value_counts().min() >= 3


def test_zone_is_not_a_function_of_demographics():
    raters = simulate_ratings(n_raters=240, n_items=2, seed=2).raters
    for column in DEMOGRAPHICS:
        zones_per_level = raters.groupby(column).zone.nunique()
        assert (zones_per_level >= 6).all(), (column, zones_per_level)
    assert raters.country.nunique() >= 16


def test_demographics_have_their_own_effect_without_zone_effect():
    sim = simulate_ratings(n_raters=400, n_items=60, zone_effect=0.0, seed=7)
    means = sim.ratings.groupby("rater_id").unsafe.mean().astype(float)
    raters = sim.raters.set_index("rater_id")
    by_gender = means.groupby(raters.gender).mean()
    by_age = means.groupby(raters.age_group).mean()
    assert by_gender["Woman"] - by_gender["Man"] > 0.05
    assert by_age["gen z"] - by_age["gen x+"] > 0.05


def test_no_zone_effect_leaves_zone_without_effect_beyond_demographics():
    frame = _rater_residual_means(simulate_ratings(n_raters=400, n_items=60, seed=7))
    groups = [g.residual.to_numpy() for _, g in frame.groupby("zone")]
    assert sps.f_oneway(*groups).pvalue > 0.01


def test_zone_effect_shifts_raters_by_zone_beyond_demographics():
    frame = _rater_residual_means(
        simulate_ratings(n_raters=400, n_items=60, zone_effect=1.0, seed=7)
    )
    groups = {zone: g.residual.to_numpy() for zone, g in frame.groupby("zone")}
    assert sps.f_oneway(*groups.values()).pvalue < 1e-6
    zone_means = pd.Series({zone: values.mean() for zone, values in groups.items()})
    planted = pd.Series(ZONE_SHIFTS).loc[zone_means.index]
    assert np.corrcoef(zone_means, planted)[0, 1] > 0.8
    assert zone_means["African-Islamic"] > zone_means["Protestant Europe"] + 0.1


def test_planted_sensitive_items_split_their_quadrant_from_the_others():
    sim = simulate_ratings(n_raters=200, n_items=30, sensitive_items=6, seed=4)
    planted = sim.truth["sensitive_items"]
    assert len(planted) == 6 and set(planted) <= set(sim.items.item_id)
    assert set(planted.values()) == set(QUADRANTS)
    rated = sim.ratings.merge(sim.raters[["rater_id", "quadrant"]], on="rater_id")
    shares = rated.groupby(["item_id", "quadrant"]).unsafe.mean().astype(float).unstack()
    for item, quadrant in planted.items():
        assert shares.loc[item, quadrant] > 0.75
        others = shares.loc[item].drop(quadrant)
        assert (others < 0.25).all(), (item, shares.loc[item])


def test_ordinary_items_do_not_differ_by_quadrant_without_zone_effect():
    sim = simulate_ratings(n_raters=200, n_items=40, sensitive_items=4, seed=9)
    rated = sim.ratings.merge(sim.raters[["rater_id", "quadrant"]], on="rater_id")
    ordinary = rated[~rated.item_id.isin(sim.truth["sensitive_items"])]
    p_values = []
    for _, item in ordinary.groupby("item_id"):
        table = pd.crosstab(item.quadrant, item.unsafe.astype(int))
        if table.shape[1] == 2:
            p_values.append(sps.chi2_contingency(table).pvalue)
    assert len(p_values) >= 30
    assert np.mean(np.asarray(p_values) < 0.01) <= 0.1


def test_unsure_share_is_respected():
    sim = simulate_ratings(n_raters=100, n_items=50, unsure_share=0.2, seed=1)
    share = (sim.ratings.rating == "Unsure").mean()
    assert 0.17 < share < 0.23
    assert sim.ratings.unsafe.isna().mean() == pytest.approx(share)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_raters": 11}, "n_raters"),
        ({"n_items": 0}, "n_items"),
        ({"n_items": 3, "sensitive_items": 4}, "sensitive_items"),
        ({"unsure_share": 1.0}, "unsure_share"),
        ({"zone_effect": float("nan")}, "zone_effect"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(SimulationError, match=message):
        simulate_ratings(**kwargs)


def test_write_ratings_table_round_trips_through_csv(tmp_path):
    sim = simulate_ratings(n_raters=16, n_items=4, unsure_share=0.3, seed=8)
    paths = write_ratings_table(sim, tmp_path / "new" / "dir")
    assert set(paths) == {"ratings", "raters", "items"}
    assert [p.name for p in paths.values()] == ["ratings.csv", "raters.csv", "items.csv"]
    ratings = pd.read_csv(paths["ratings"], dtype=str)
    raters = pd.read_csv(paths["raters"], dtype=str)
    items = pd.read_csv(paths["items"], dtype=str)
    assert list(ratings.columns) == ["item_id", "rater_id", "rating"]
    assert list(raters.columns) == ["rater_id", "country", *DEMOGRAPHICS]
    assert list(items.columns) == ["item_id", "text", "category"]
    assert ratings.equals(sim.ratings[["item_id", "rater_id", "rating"]].astype(str))
    assert raters.equals(sim.raters[["rater_id", "country", *DEMOGRAPHICS]])
    assert items.text.tolist() == sim.items.text.tolist()
    assert any("\n" in t and "," in t and '"' in t for t in items.text)


def test_the_demo_data_is_the_simulators_output_with_its_recorded_truth(tmp_path):
    """resources/ratings-demo (config/ratings-demo.yaml) is what the CLI writes with the
    parameters truth.json records, byte for byte."""
    import json
    from pathlib import Path

    from culturalign.analysis.ratings.simulation import main

    demo = Path(__file__).resolve().parents[3] / "resources" / "ratings-demo"
    truth = json.loads((demo / "truth.json").read_text("utf-8"))
    args = [str(tmp_path), "--raters", str(truth["n_raters"]), "--items", str(truth["n_items"]),
            "--zone-effect", str(truth["zone_effect"]), "--sensitive-items",
            str(len(truth["sensitive_items"])), "--unsure-share", str(truth["unsure_share"]),
            "--seed", str(truth["seed"])]  # fmt: skip
    assert main(args) == 0
    for name in ("ratings.csv", "raters.csv", "items.csv", "truth.json"):
        assert (tmp_path / name).read_bytes() == (demo / name).read_bytes(), name
    assert len(truth["sensitive_items"]) == 3 and truth["zone_effect"] > 0
