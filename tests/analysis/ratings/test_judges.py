"""Quadrant judges: F1 and AUROC against sklearn, the Always-Unsafe baseline, the
hierarchical bootstrap against a plain-loop reference, human labels, surrogacy, and the
bootstrap's speed at full size."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from culturalign.analysis.ratings.judges import (
    JudgeError,
    baseline_f1,
    bootstrap_draws,
    bootstrap_indices,
    judge_report,
    judge_scores,
    majority_labels,
    point_scores,
    score_quadrant,
    sensitivity_labels,
    surrogacy,
    surrogacy_summary,
    two_sided_p,
)
from culturalign.analysis.ratings.sensitivity import quadrant_posteriors, sensitive_items
from culturalign.analysis.ratings.simulation import QUADRANTS, simulate_ratings


def _judge_data(seed: int, n_items: int, n_replicates: int, *, ties: bool = False):
    """Labels and (items x replicates) probabilities of a fair judge with item and
    replicate noise; ``ties`` rounds them to one decimal (many ties, some exactly 0.5)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n_items) < 0.35).astype(int)
    item = rng.normal(size=(n_items, 1))
    noise = rng.normal(size=(n_items, n_replicates))
    p = 1 / (1 + np.exp(-(1.2 * (2 * labels[:, None] - 1) + 0.6 * item + 1.5 * noise)))
    return (np.round(p, 1) if ties else p), labels


def _sk_scores(p: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The pooled (item, replicate) scores computed by sklearn."""
    truth = np.repeat(labels, p.shape[1])
    scores = p.ravel()
    f1 = f1_score(truth, scores > 0.5) if truth.any() else np.nan
    baseline = f1_score(truth, np.ones_like(truth), zero_division=0)
    auroc = roc_auc_score(truth, scores) if 0 < truth.sum() < len(truth) else np.nan
    return {"f1": f1, "baseline_f1": baseline, "difference": f1 - baseline, "auroc": auroc}


def _long(p: np.ndarray, quadrant: str, items: list[str]) -> pd.DataFrame:
    """Judge outputs in the long format for one quadrant."""
    n_items, n_replicates = p.shape
    return pd.DataFrame(
        {
            "item_id": np.repeat(items, n_replicates),
            "quadrant": quadrant,
            "replicate": np.tile(np.arange(n_replicates), n_items),
            "p_unsafe": p.ravel(),
        }
    )


@pytest.mark.parametrize("ties", [False, True])
def test_point_scores_match_sklearn(ties):
    p, labels = _judge_data(3, 60, 4, ties=ties)
    if ties:
        assert (p == 0.5).any()  # the decision is strict: 0.5 is "safe"
    ours = point_scores(p, labels)
    for name, value in _sk_scores(p, labels).items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name


@pytest.mark.parametrize("positives", [1, 7, 20, 39])
def test_baseline_is_the_f1_of_always_unsafe(positives):
    truth = np.r_[np.ones(positives, int), np.zeros(40 - positives, int)]
    expected = f1_score(truth, np.ones(40, int))
    assert baseline_f1(positives / 40) == pytest.approx(expected, abs=1e-12)
    always = point_scores(np.full((40, 2), 0.9), truth)
    assert always["f1"] == pytest.approx(expected, abs=1e-12)
    assert always["difference"] == pytest.approx(0.0, abs=1e-12)


def test_no_positive_labels_leave_f1_and_auroc_undefined():
    for p in (0.1, 0.9):
        scores = point_scores(np.full((5, 2), p), np.zeros(5, int))
        assert np.isnan(scores["f1"]) and np.isnan(scores["difference"])
        assert np.isnan(scores["auroc"]) and scores["baseline_f1"] == 0.0
    # positives present but never predicted: F1 is defined and 0, as in sklearn
    labels = np.array([1, 0, 0])
    assert point_scores(np.full((3, 2), 0.1), labels)["f1"] == 0.0
    assert f1_score(np.repeat(labels, 2), np.zeros(6, int), zero_division=0) == 0.0


def test_resamples_without_positives_are_left_out_and_counted():
    labels = np.r_[1, np.zeros(9, int)]
    p = np.where(labels[:, None] == 1, 0.9, 0.1) * np.ones((10, 2))
    draws = bootstrap_draws(p, labels, resamples=400, seed=4)
    undefined = np.isnan(draws["f1"])
    # P(the one positive item is never drawn) = 0.9^10 ~ 0.35
    assert 0.2 < undefined.mean() < 0.5
    assert (draws["f1"][~undefined] == 1.0).all()
    row = score_quadrant(p, labels, resamples=400, seed=4)
    assert row["n_undefined"] == undefined.sum()
    assert row["f1_low"] == 1.0
    assert row["p_value"] == pytest.approx(2 / (400 - undefined.sum() + 1))


def test_two_sided_p_counts_the_far_side_with_plus_one():
    assert two_sided_p(np.array([-1.0, 1.0, 2.0, 3.0])) == pytest.approx(2 * 2 / 5)
    assert two_sided_p(np.arange(1.0, 10.0)) == pytest.approx(2 * 1 / 10)
    assert two_sided_p(np.zeros(9)) == 1.0
    assert two_sided_p(np.array([np.nan, 1.0, 2.0])) == pytest.approx(2 * 1 / 3)


@pytest.mark.parametrize("ties", [False, True])
def test_bootstrap_matches_a_plain_loop_over_the_same_resamples(ties):
    p, labels = _judge_data(11, 15, 3, ties=ties)
    resamples, chunk = 40, 7  # several chunks, the last one short
    fast = bootstrap_draws(p, labels, resamples=resamples, seed=5, chunk_size=chunk)
    chunks = list(bootstrap_indices(15, 3, resamples, 5, chunk_size=chunk))
    items = np.concatenate([c[0] for c in chunks])
    replicates = np.concatenate([c[1] for c in chunks])
    assert items.shape == (resamples, 15) and replicates.shape == (resamples, 15, 3)
    for b in range(resamples):
        drawn = np.array(
            [[p[items[b, i], replicates[b, i, r]] for r in range(3)] for i in range(15)]
        )
        reference = _sk_scores(drawn, labels[items[b]])
        for name, value in reference.items():
            if np.isnan(value):
                assert np.isnan(fast[name][b]), (b, name)
            else:
                assert fast[name][b] == pytest.approx(value, abs=1e-12), (b, name)


def test_items_only_bootstrap_keeps_every_replicate_of_a_drawn_item():
    chunks = list(bootstrap_indices(6, 4, 5, 0, resample_replicates=False))
    replicates = chunks[0][1]
    assert (replicates == np.arange(4)).all()


def test_hierarchical_interval_is_wider_when_replicates_vary():
    p, labels = _judge_data(5, 200, 3)
    hierarchical = score_quadrant(p, labels, resamples=2000, seed=1)
    items_only = score_quadrant(p, labels, resamples=2000, seed=1, resample_replicates=False)
    for name in ("f1", "auroc"):
        wide = hierarchical[f"{name}_high"] - hierarchical[f"{name}_low"]
        narrow = items_only[f"{name}_high"] - items_only[f"{name}_low"]
        assert wide > 1.1 * narrow, (name, wide, narrow)


def test_identical_replicates_make_the_replicate_level_irrelevant():
    p, labels = _judge_data(6, 50, 1)
    p = np.repeat(p, 4, axis=1)
    # one chunk: both bootstraps draw the same items first
    a = bootstrap_draws(p, labels, resamples=300, seed=2, chunk_size=300)
    b = bootstrap_draws(p, labels, resamples=300, seed=2, chunk_size=300, resample_replicates=False)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-12)


def test_perfect_judge_has_a_degenerate_interval_and_beats_the_baseline():
    rng = np.random.default_rng(0)
    labels = (rng.random(80) < 0.3).astype(int)
    p = np.where(labels[:, None] == 1, 0.8, 0.2) + rng.uniform(-0.15, 0.15, size=(80, 5))
    row = score_quadrant(p, labels, resamples=2000, seed=3)
    assert row["f1"] == 1.0 and row["f1_low"] == 1.0 and row["f1_high"] == 1.0
    assert row["auroc_low"] == 1.0
    assert row["baseline_f1_high"] < 0.7
    assert row["p_value"] == pytest.approx(2 / 2001)


def test_always_unsafe_judge_does_not_beat_the_baseline():
    labels = (np.random.default_rng(1).random(50) < 0.4).astype(int)
    row = score_quadrant(np.full((50, 3), 0.95), labels, resamples=500, seed=0)
    assert row["difference_low"] == pytest.approx(0.0, abs=1e-12)
    assert row["difference_high"] == pytest.approx(0.0, abs=1e-12)
    assert row["p_value"] == 1.0


def test_judge_scores_per_quadrant_from_long_frames():
    p_a, y_a = _judge_data(21, 30, 3)
    p_b, y_b = _judge_data(22, 25, 3)
    ids_a = [f"a{i}" for i in range(30)]
    ids_b = [f"b{i}" for i in range(25)]
    judge = pd.concat([_long(p_a, "A", ids_a), _long(p_b, "B", ids_b)])
    judge = judge.sample(frac=1.0, random_state=0)  # order must not matter
    labels = pd.concat(
        [
            pd.DataFrame({"item_id": ids_a, "quadrant": "A", "label": y_a}),
            pd.DataFrame({"item_id": ids_b + ["b-unjudged"], "quadrant": "B",
                          "label": [*y_b, 1]}),
            pd.DataFrame({"item_id": ["c0"], "quadrant": "C", "label": [0]}),
        ]
    )  # fmt: skip
    table = judge_scores(judge, labels, resamples=200, seed=0).set_index("quadrant")
    assert list(table.index) == ["A", "B"]
    assert table.loc["B", "n_unjudged"] == 1 and table.loc["A", "n_unjudged"] == 0
    assert table.loc["A", "n_items"] == 30 and table.loc["A", "n_replicates"] == 3
    assert table.loc["B", "positive_share"] == pytest.approx(y_b.mean())
    for quadrant, (p, y) in {"A": (p_a, y_a), "B": (p_b, y_b)}.items():
        for name, value in _sk_scores(p, y).items():
            assert table.loc[quadrant, name] == pytest.approx(value, abs=1e-12)
        assert table.loc[quadrant, "f1_low"] <= table.loc[quadrant, "f1"]
        assert table.loc[quadrant, "f1"] <= table.loc[quadrant, "f1_high"]
        assert 0 < table.loc[quadrant, "p_value"] <= 1


def test_bad_judge_outputs_are_named():
    p, y = _judge_data(1, 4, 2)
    judge = _long(p, "A", ["i0", "i1", "i2", "i3"])
    labels = pd.DataFrame({"item_id": ["i0", "i1", "i2", "i3"], "quadrant": "A", "label": y})
    with pytest.raises(JudgeError, match="item 'i2'.*no replicate 1"):
        judge_scores(judge.drop(index=5), labels)
    bad = judge.copy()
    bad.loc[3, "p_unsafe"] = 1.5
    with pytest.raises(JudgeError, match="item 'i1'.*replicate 1 holds 1.5"):
        judge_scores(bad, labels)
    with pytest.raises(JudgeError, match="more than one row for item 'i0'"):
        judge_scores(pd.concat([judge, judge.iloc[[0]]]), labels)
    with pytest.raises(JudgeError, match="no quadrant"):
        judge_scores(judge.assign(quadrant="B"), labels)
    with pytest.raises(JudgeError, match="missing column.*p_unsafe"):
        judge_scores(judge.drop(columns="p_unsafe"), labels)


def _posteriors() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A hand-made posteriors table (n, n_unsafe, valid) and its item table."""
    rows = [
        # item, quadrant, n, n_unsafe, valid
        ("s1", "A", 10, 9, True), ("s1", "B", 10, 1, True),   # sensitive with A
        ("s2", "B", 10, 8, True), ("s2", "A", 10, 2, True),   # sensitive with B
        ("ok", "A", 10, 5, True), ("ok", "B", 10, 0, True),   # safe (5/10 is not > 0.5)
        ("un", "A", 10, 9, True), ("un", "B", 10, 9, True),   # unsafe everywhere
        ("iv", "A", 2, 2, False), ("iv", "B", 10, 1, True),   # A invalid: untestable
        ("z0", "A", 0, 0, False), ("z0", "B", 10, 2, True),   # A has no ratings
    ]  # fmt: skip
    posteriors = pd.DataFrame(rows, columns=["item_id", "quadrant", "n", "n_unsafe", "valid"])
    items = pd.DataFrame(
        {
            "item_id": ["s1", "s2", "ok", "un", "iv", "z0"],
            "sensitive": [True, True, False, False, False, False],
            "quadrant": ["A", "B", None, None, None, None],
            "testable": [True, True, True, True, False, False],
        }
    )
    return posteriors, items


def test_majority_labels_follow_the_share_above_one_half():
    posteriors, _ = _posteriors()
    labels = majority_labels(posteriors).set_index(["item_id", "quadrant"]).label
    assert labels[("s1", "A")] == 1 and labels[("s1", "B")] == 0
    assert labels[("ok", "A")] == 0  # exactly one half is not a majority
    assert ("iv", "A") not in labels.index and ("z0", "A") not in labels.index
    loose = majority_labels(posteriors, valid_only=False).set_index(["item_id", "quadrant"])
    assert loose.label[("iv", "A")] == 1 and ("z0", "A") not in loose.index


def test_sensitivity_labels_are_sensitive_vs_safe_per_quadrant():
    posteriors, items = _posteriors()
    labels = sensitivity_labels(posteriors, items)
    as_sets = {
        (q, label): set(g.item_id) for (q, label), g in labels.groupby(["quadrant", "label"])
    }
    assert as_sets == {("A", 1): {"s1"}, ("A", 0): {"ok"}, ("B", 1): {"s2"}, ("B", 0): {"ok"}}


def test_surrogacy_diagonal_and_off_diagonal_agreement():
    majority = pd.DataFrame(
        {
            "item_id": ["i1", "i2", "i3", "i4"] * 2,
            "quadrant": ["A"] * 4 + ["B"] * 4,
            "label": [1, 0, 1, 0, 1, 1, 0, 0],
        }
    )
    # judge A reproduces A's raters on both replicates; judge B says "unsafe" to all
    judge = pd.concat(
        [
            _long(np.array([[0.9, 0.8], [0.1, 0.2], [0.7, 0.6], [0.3, 0.4]]), "A",
                  ["i1", "i2", "i3", "i4"]),
            _long(np.full((4, 2), 0.9), "B", ["i1", "i2", "i3", "i4"]),
        ]
    )  # fmt: skip
    matrix = surrogacy(judge, majority).set_index(["judge_quadrant", "rater_quadrant"])
    assert matrix.agreement[("A", "A")] == 1.0
    assert matrix.agreement[("A", "B")] == 0.5  # A and B raters agree on i1 and i4
    assert matrix.agreement[("B", "B")] == 0.5 and matrix.agreement[("B", "A")] == 0.5
    assert matrix.own[("A", "A")] and not matrix.own[("A", "B")]
    assert (matrix.n_items == 4).all()
    summary = surrogacy_summary(matrix.reset_index()).set_index("judge_quadrant")
    assert summary.gap["A"] == pytest.approx(0.5) and summary.gap["B"] == pytest.approx(0.0)


def test_judge_report_on_simulated_raters():
    sim = simulate_ratings(n_raters=120, n_items=40, sensitive_items=8, seed=2)
    posteriors = quadrant_posteriors(sim.ratings, sim.raters)
    items = sensitive_items(posteriors)
    # an informed judge: each quadrant's observed unsafe share, blurred per replicate
    rng = np.random.default_rng(0)
    share = posteriors.n_unsafe / posteriors.n
    judge = pd.concat(
        [
            posteriors[["item_id", "quadrant"]].assign(
                replicate=r, p_unsafe=np.clip(share + rng.normal(0, 0.05, len(share)), 0, 1)
            )
            for r in range(3)
        ]
    )
    report = judge_report(judge, posteriors, items, resamples=500, seed=0)
    assert set(report.task) == {"majority", "sensitive"}
    assert set(report.quadrant) == set(QUADRANTS)
    majority = report[report.task == "majority"]
    assert (majority.f1 > 0.8).all() and (majority.auroc > 0.9).all()
    sensitive = report[report.task == "sensitive"].set_index("quadrant")
    flagged = items[items.sensitive].quadrant.value_counts()
    assert sensitive.n_positive.to_dict() == flagged.reindex(sensitive.index).to_dict()
    planted = pd.Series(sim.truth["sensitive_items"]).value_counts()
    assert (sensitive.n_positive >= planted.reindex(sensitive.index)).all()
    assert (sensitive.difference_low > 0).all() and (sensitive.p_value < 0.05).all()


def test_full_size_bootstrap_gives_every_quadrant_its_interval():
    """10,000 resamples over 1,000 items x 5 replicates x 4 quadrants (its time is measured by
    bench/ratings_bootstrap.py, not asserted here)."""
    frames, labels = [], []
    ids = [f"item-{i}" for i in range(1000)]
    for k, quadrant in enumerate(QUADRANTS):
        p, y = _judge_data(100 + k, 1000, 5)
        frames.append(_long(p, quadrant, ids))
        labels.append(pd.DataFrame({"item_id": ids, "quadrant": quadrant, "label": y}))
    judge, labels = pd.concat(frames), pd.concat(labels)
    start = time.perf_counter()
    table = judge_scores(judge, labels, resamples=10_000, seed=0)
    elapsed = time.perf_counter() - start
    print(f"\nhierarchical bootstrap, B=10,000, 1,000 items x 5 replicates x 4 quadrants: "
          f"{elapsed:.1f} s")  # fmt: skip
    assert len(table) == 4 and table.f1_low.notna().all()
    assert (table.f1_low <= table.f1).all() and (table.f1 <= table.f1_high).all()
