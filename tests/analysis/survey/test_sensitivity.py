"""Human-side cultural sensitivity, triage and surrogate measures on synthetic data with
planted zone effects (a sensitive item must be found, a null item must not)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from culturalign.analysis.kit import MetricsSettings
from culturalign.analysis.survey.sensitivity import (
    SensitivityError,
    SensitivitySettings,
    analyse,
    human_profiles,
    human_sensitivity,
    persona_gain,
    surrogate_items,
    triage,
    zone_f,
)

ZONES = {"A": ["a1", "a2", "a3", "a4"], "B": ["b1", "b2", "b3", "b4"],
         "C": ["c1", "c2", "c3", "c4"]}  # fmt: skip
COUNTRIES = [c for members in ZONES.values() for c in members]
SENSITIVE = {"Q-ord-zone", "Q-nom-zone"}
SETTINGS = SensitivitySettings(zone_column="zone", permutations=499, bootstrap_resamples=60)


def _ordinal_shares(mean: float, k: int = 4) -> np.ndarray:
    """A peaked share vector over k options whose mean position (0..1) is ``mean``."""
    positions = np.linspace(0, 1, k)
    weights = np.exp(-((positions - mean) ** 2) / 0.02)
    return weights / weights.sum()


def synthetic_benchmark(seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """12 populations in 3 zones; two planted sensitive items and ten null items."""
    rng = np.random.default_rng(seed)
    zone_of = {c: z for z, members in ZONES.items() for c in members}
    shares: dict[str, dict[str, np.ndarray]] = {}
    centre = {"A": 0.15, "B": 0.5, "C": 0.85}
    shares["Q-ord-zone"] = {c: _ordinal_shares(centre[zone_of[c]] + rng.normal(0, 0.02))
                            for c in COUNTRIES}  # fmt: skip
    majority = {"A": 0, "B": 1, "C": 2}
    shares["Q-nom-zone"] = {}
    for c in COUNTRIES:
        vector = np.full(3, 0.1) + rng.uniform(0, 0.02, 3)
        vector[majority[zone_of[c]]] = 0.8
        shares["Q-nom-zone"][c] = vector / vector.sum()
    for i in range(8):  # ordinal nulls: population means vary, zones do not explain them
        shares[f"Q-ord-null{i}"] = {c: _ordinal_shares(rng.uniform(0.3, 0.7)) for c in COUNTRIES}
    for i in range(2):  # nominal nulls: every zone's majority is option 1
        noisy = {c: np.array([0.6, 0.2, 0.2]) + rng.uniform(0, 0.05, 3) for c in COUNTRIES}
        shares[f"Q-nom-null{i}"] = {c: v / v.sum() for c, v in noisy.items()}
    human_rows, question_rows = [], []
    for qid, by_country in shares.items():
        k = len(next(iter(by_country.values())))
        question_rows.append({"question_id": qid, "source": "synthetic", "scale_min": 1,
                              "scale_max": k, "scale_type": "nominal" if "nom" in qid
                              else "ordinal", "category": "social" if "ord" in qid
                              else "governance", "subcategory": None})  # fmt: skip
        for country, vector in by_country.items():
            for option, share in enumerate(vector, start=1):
                human_rows.append({"question_id": qid, "country": country, "option": option,
                                   "share": float(share)})  # fmt: skip
    populations = pd.DataFrame({"country": COUNTRIES, "iso3": None,
                                "languages": [["en"]] * len(COUNTRIES),
                                "zone": [zone_of[c] for c in COUNTRIES]})  # fmt: skip
    return pd.DataFrame(question_rows), pd.DataFrame(human_rows), populations


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_benchmark()


@pytest.fixture(scope="module")
def human_result(synthetic):
    questions, human, populations = synthetic
    return human_sensitivity(human, questions, populations, COUNTRIES, SETTINGS)


def test_planted_items_are_found_and_null_items_are_not(human_result):
    table, _, _ = human_result
    assert set(table.loc[table["sensitive"], "question_id"]) == SENSITIVE
    assert table["testable"].all()
    planted = table.set_index("question_id").loc[sorted(SENSITIVE)]
    assert (planted["eta2"] > 0.9).all()
    assert (planted["majority_differs"] > 0.95).all()
    nominal_null = table.set_index("question_id").loc[["Q-nom-null0", "Q-nom-null1"]]
    assert (nominal_null["majority_differs"] == 0).all()


def test_zone_f_is_the_one_way_anova_f_for_ordinal_items(synthetic):
    questions, human, _ = synthetic
    profiles, _ = human_profiles(human, questions, COUNTRIES)
    zone_of = {c: z for z, members in ZONES.items() for c in members}
    for qid in ("Q-ord-zone", "Q-ord-null3"):
        values = [[profiles[qid][c][0] for c in ZONES[z]] for z in sorted(ZONES)]
        expected = sps.f_oneway(*values).statistic
        stack = np.array([[profiles[qid][c] for c in COUNTRIES]])
        labels = np.array([sorted(ZONES).index(zone_of[c]) for c in COUNTRIES])
        assert zone_f(stack, labels, 3)["f_stat"][0] == pytest.approx(expected, rel=1e-12)


def test_permutation_p_recomputed_by_brute_force(synthetic, human_result):
    """p = (1 + #perm F >= F) / (1 + B) over the stored permutations, F by scipy."""
    questions, human, _ = synthetic
    table, analysis, zone_of = human_result
    profiles, _ = human_profiles(human, questions, COUNTRIES)
    group = analysis.groups[0]
    qid = "Q-ord-null5"
    assert qid in group.question_ids
    values = np.array([profiles[qid][c][0] for c in group.countries])

    def anova(labels):
        return sps.f_oneway(*[values[labels == z] for z in range(group.n_zones)]).statistic

    observed = anova(group.labels)
    hits = sum(anova(perm) >= observed - 1e-12 for perm in group.permutations)
    expected = (1 + hits) / (1 + len(group.permutations))
    assert table.set_index("question_id").loc[qid, "p_value"] == pytest.approx(expected)


def test_nominal_f_is_a_permanova_on_share_vectors(synthetic, human_result):
    questions, human, _ = synthetic
    _, _, zone_of = human_result
    profiles, _ = human_profiles(human, questions, COUNTRIES)
    qid = "Q-nom-zone"
    x = np.array([profiles[qid][c] for c in COUNTRIES])
    labels = [zone_of[c] for c in COUNTRIES]
    # PERMANOVA pseudo-F from the distance matrix (Anderson 2001, eq. 1-3)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    n, g = len(x), 3
    ss_t = d2[np.triu_indices(n, 1)].sum() / n
    ss_w = 0.0
    for z in ZONES:
        idx = [i for i, lab in enumerate(labels) if lab == z]
        sub = d2[np.ix_(idx, idx)]
        ss_w += sub[np.triu_indices(len(idx), 1)].sum() / len(idx)
    expected = ((ss_t - ss_w) / (g - 1)) / (ss_w / (n - g))
    table, _, _ = human_result
    assert table.set_index("question_id").loc[qid, "f_stat"] == pytest.approx(expected, rel=1e-9)


def test_oracle_model_triage_is_perfect(synthetic, human_result):
    questions, human, _ = synthetic
    _, analysis, zone_of = human_result
    oracle, _ = human_profiles(human, questions, COUNTRIES)
    cell = ("oracle", "en", "persona", "zero")
    items, summary = triage(analysis, {cell: oracle}, zone_of, SETTINGS)
    row = summary.iloc[0]
    assert row["f1"] == 1.0 and row["precision"] == 1.0 and row["recall"] == 1.0
    assert row["f1_ci_low"] == 1.0 and row["f1_ci_high"] == 1.0
    assert row["auroc_zone"] == 1.0
    assert row["prevalence"] == pytest.approx(2 / 12)
    assert row["always_f1"] == pytest.approx(2 * (2 / 12) / (1 + 2 / 12))
    assert (items["flagged"] == items["human_sensitive"]).all()


def test_a_model_that_ignores_the_country_finds_nothing(synthetic, human_result):
    questions, human, _ = synthetic
    _, analysis, zone_of = human_result
    oracle, _ = human_profiles(human, questions, COUNTRIES)
    flat = {q: {c: by[COUNTRIES[0]] for c in by} for q, by in oracle.items()}
    items, summary = triage(analysis, {("flat", "en", "persona", "zero"): flat}, zone_of,
                            SETTINGS)  # fmt: skip
    row = summary.iloc[0]
    assert row["n_flagged"] == 0 and row["recall"] == 0.0 and row["f1"] == 0.0
    assert (items["spread"] == 0).all()
    assert math.isnan(row["precision"])
    # no interval around an estimate the data leave undefined (it was [1, 1])
    assert math.isnan(row["precision_ci_low"]) and math.isnan(row["precision_ci_high"])
    assert row["recall_ci_low"] == row["recall_ci_high"] == 0.0  # defined: an interval
    assert row["auroc_spread"] == 0.5  # every score tied


def test_a_shuffled_model_is_worse_than_the_oracle(synthetic, human_result):
    questions, human, _ = synthetic
    _, analysis, zone_of = human_result
    oracle, _ = human_profiles(human, questions, COUNTRIES)
    # Swap item profiles: the model's planted-item answers come from a null item.
    shuffled = dict(oracle)
    shuffled["Q-ord-zone"], shuffled["Q-ord-null0"] = oracle["Q-ord-null0"], oracle["Q-ord-zone"]
    _, summary = triage(analysis, {("swap", "en", "persona", "zero"): shuffled}, zone_of,
                        SETTINGS)  # fmt: skip
    row = summary.iloc[0]
    assert row["precision"] == 0.5 and row["recall"] == 0.5 and row["f1"] == 0.5
    assert row["f1_ci_low"] <= 0.5 <= row["f1_ci_high"]


def test_untestable_items_are_listed_not_flagged(synthetic):
    questions, human, populations = synthetic
    one_each = ["a1", "b1", "c1"]  # three zones, one population each: no within variation
    table, _, _ = human_sensitivity(human, questions, populations, one_each, SETTINGS)
    assert not table["testable"].any() and not table["sensitive"].any()
    assert table["note"].str.contains("within-zone").all()


def test_bad_zone_column_names_the_key(synthetic):
    questions, human, populations = synthetic
    settings = SensitivitySettings(zone_column="zones")
    with pytest.raises(SensitivityError, match="sensitivity.zone_column: 'zones'"):
        human_sensitivity(human, questions, populations, COUNTRIES, settings)


def test_settings_defaults_and_errors():
    settings = SensitivitySettings.from_config({}, stats_zone="iw_zone")
    assert settings.zone_column == "iw_zone" and settings.correction == "fdr_bh"
    with pytest.raises(SensitivityError, match="sensitivity.correction"):
        SensitivitySettings.from_config({"correction": "holm"})
    with pytest.raises(SensitivityError, match="sensitivity.alpha"):
        SensitivitySettings.from_config({"alpha": 1.5})


def test_fdr_correction_is_applied(synthetic, human_result):
    questions, human, populations = synthetic
    raw = SensitivitySettings(zone_column="zone", permutations=499, bootstrap_resamples=10,
                              correction="none")  # fmt: skip
    table_raw, _, _ = human_sensitivity(human, questions, populations, COUNTRIES, raw)
    table_bh, _, _ = human_result
    assert (table_raw["q_value"] == table_raw["p_value"]).all()
    m = len(table_bh)
    ranked = table_bh.sort_values("p_value")
    # BH: q_(i) = min_{j >= i} p_(j) m / j
    expected = np.minimum.accumulate((ranked["p_value"].to_numpy() * m /
                                      np.arange(1, m + 1))[::-1])[::-1]  # fmt: skip
    assert np.allclose(ranked["q_value"].to_numpy(), np.minimum(expected, 1.0))


def _items_frame() -> pd.DataFrame:
    """A tiny items table: persona vs neutral NVAS for two countries, two questions."""
    rows = []
    values = {("persona", "X", "q1"): 80.0, ("neutral", "X", "q1"): 60.0,
              ("persona", "X", "q2"): 70.0, ("neutral", "X", "q2"): 75.0,
              ("persona", "Y", "q1"): 50.0, ("neutral", "Y", "q1"): 50.0,
              ("persona", "Y", "q2"): 90.0, ("neutral", "Y", "q2"): 40.0}  # fmt: skip
    for (framing, country, qid), nvas in values.items():
        rows.append({"model": "m", "language": "en", "framing": framing, "reasoning": "zero",
                     "variant": "original", "question_id": qid, "country": country,
                     "nvas": nvas})  # fmt: skip
    rows.append({**rows[0], "variant": "reversed", "nvas": 0.0})  # variants do not count
    return pd.DataFrame(rows)


def test_persona_gain_pairs_questions_per_country():
    gain = persona_gain(_items_frame(), MetricsSettings(bootstrap_resamples=200))
    by_country = gain.set_index("country")
    assert by_country.loc["X", "gain"] == pytest.approx(((80 - 60) + (70 - 75)) / 2)
    assert by_country.loc["Y", "gain"] == pytest.approx(((50 - 50) + (90 - 40)) / 2)
    assert by_country.loc["all", "gain"] == pytest.approx((20 - 5 + 0 + 50) / 4)
    assert by_country.loc["X", "n_questions"] == 2
    assert (
        by_country.loc["X", "ci_low"]
        <= by_country.loc["X", "gain"]
        <= by_country.loc["X", "ci_high"]
    )


def test_surrogate_correlation():
    rows = []
    for i, country in enumerate(["u", "v", "w", "x"]):
        for qid, (value, human) in {"q1": (1 + i, 2 + 2 * i), "q2": (4 - i, 1 + i)}.items():
            rows.append({"model": "m", "language": "en", "framing": "persona",
                         "reasoning": "zero", "variant": "original", "question_id": qid,
                         "country": country, "scale_type": "ordinal", "expected": float(value),
                         "answer": pd.NA, "human_mean": float(human)})  # fmt: skip
    per_item = surrogate_items(pd.DataFrame(rows)).set_index("question_id")
    assert per_item.loc["q1", "pearson_r"] == pytest.approx(1.0)
    assert per_item.loc["q2", "pearson_r"] == pytest.approx(-1.0)


def test_analyse_gives_identical_results_for_identical_inputs(synthetic):
    questions, human, _ = synthetic
    profiles, _ = human_profiles(human, questions, COUNTRIES)
    zone_of = {c: z for z, members in ZONES.items() for c in members}
    first = analyse(profiles, zone_of, SETTINGS).table
    second = analyse(profiles, zone_of, SETTINGS).table
    pd.testing.assert_frame_equal(first, second)
    assert set(itertools.chain(first["question_id"])) == set(profiles)


def test_weighted_auroc_equals_sklearn_with_ties_and_weights():
    from sklearn.metrics import roc_auc_score

    from culturalign.analysis.survey.sensitivity import weighted_auroc

    rng = np.random.default_rng(3)
    for _ in range(20):
        truth = rng.random(40) < 0.3
        score = rng.integers(0, 6, size=40).astype(float)  # many ties
        score[0] = np.inf
        weights = rng.integers(0, 4, size=40).astype(float)
        keep = weights > 0
        if truth[keep].all() or not truth[keep].any():
            continue
        finite = np.where(np.isfinite(score), score, 1e300)
        expected = roc_auc_score(truth[keep], finite[keep], sample_weight=weights[keep])
        assert weighted_auroc(truth, score, weights) == pytest.approx(expected, abs=1e-12)
    assert math.isnan(weighted_auroc(np.array([True, True]), np.array([1.0, 2.0]), np.ones(2)))


def test_an_undefined_estimate_gets_no_interval_even_when_resamples_define_it():
    from culturalign.analysis.survey.sensitivity import interval_if_defined

    resampled = [1.0] * 50 + [math.nan] * 50  # some resamples flag an item, all correctly
    low, high = interval_if_defined(math.nan, resampled)
    assert math.isnan(low) and math.isnan(high)
    assert interval_if_defined(1.0, resampled) == (1.0, 1.0)
    assert interval_if_defined(0.5, [0.0, 1.0]) == pytest.approx((0.025, 0.975))
