"""Zone mixed-effects models: planted effects detected, the LRT held against independent fits
(statsmodels MixedLM written here, and a crossed-random-effects ML in numpy/scipy), its level
measured on null data and its power on planted effects; degenerate inputs produce notes
instead of crashes."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import patsy
import pytest
from scipy import optimize, stats
from threadpoolctl import threadpool_limits

from culturalign.analysis.survey import zone_models as S
from culturalign.io.files import json_safe

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from fakes import fake_zones  # noqa: E402

COUNTRIES = ("Egypt", "Sudan", "Iraq", "Jordan", "Morocco", "Tunisia", "Kuwait", "Qatar")
ZONE_EFFECT = {"Nile Valley": 0.0, "Levant & Iraq": 7.0, "Maghreb": -7.0, "Gulf": 3.5}


def synthetic_items(seed: int, zone_effect: dict[str, float] | None, models=("m",)) -> pd.DataFrame:
    """NVAS = 60 + question + country + zone + language/reasoning effects + noise."""
    rng = np.random.default_rng(seed)
    zones = fake_zones(COUNTRIES).set_index("country")["zone"]
    q_eff = rng.normal(0, 8, size=10)
    c_eff = dict(zip(COUNTRIES, rng.normal(0, 1.5, size=len(COUNTRIES)), strict=True))
    rows = []
    for model in models:
        for qi in range(10):
            for country in COUNTRIES:
                for language in ("en", "native"):
                    for reasoning in ("zero", "cot"):
                        effect = (zone_effect or {}).get(zones[country], 0.0)
                        shift = -3 if language == "native" else 0
                        value = 60 + q_eff[qi] + c_eff[country] + effect + shift
                        value += rng.normal(0, 8)
                        rows.append({"model": model, "language": language, "framing": "persona",
                                     "reasoning": reasoning, "question_id": f"Q{qi}",
                                     "country": country, "nvas": value})  # fmt: skip
    return pd.DataFrame(rows)


def test_planted_zone_effect_is_detected():
    items = synthetic_items(0, ZONE_EFFECT, models=("a", "b"))
    result, sensitivity = S.zone_models(items, fake_zones(COUNTRIES), S.StatsSettings("zone"))
    assert [(r["scope"], r["model"]) for r in result["lrt"]] == [
        ("model", "a"), ("model", "b"), ("pooled", "all"),
    ]  # fmt: skip
    for row in result["lrt"]:
        assert row["df"] == 3 and row["p_value"] < 0.05, row
    pooled = next(f for f in result["fits"] if f["scope"] == "pooled")
    terms = {c["term"]: c for c in pooled["coefficients"]}
    maghreb = terms["zone[Maghreb vs Gulf]"]  # reference: most rows, ties alphabetical
    assert maghreb["ci_low"] < -10.5 < maghreb["ci_high"]  # planted: -7 - 3.5
    assert {"question", "country", "residual"} <= set(pooled["variance_components"])
    assert "model[b vs a]" in terms
    json.dumps(json_safe(result), allow_nan=False)  # serialisable as strict JSON
    assert "chi2" in S.text_summary(result)
    assert not sensitivity.empty and sensitivity["top_decile"].any()


def with_zones(items: pd.DataFrame) -> pd.DataFrame:
    """``items`` with the zone of each country (from the fake populations table)."""
    zone_of = fake_zones(COUNTRIES).set_index("country")["zone"]
    return items.assign(zone=items["country"].map(zone_of))


def statsmodels_llf(data: pd.DataFrame, rhs: str) -> float:
    """ML log-likelihood of ``nvas ~ rhs`` with crossed random intercepts for question and
    country, fitted with statsmodels directly (variance components of one all-rows group);
    the best of two optimisers the code under test does not use."""
    import statsmodels.formula.api as smf

    model = smf.mixedlm(
        f"nvas ~ {rhs}", data.assign(everyone=0), groups="everyone", re_formula="0",
        vc_formula={"q": "0 + C(question_id)", "c": "0 + C(country)"},
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return max(model.fit(reml=False, method=[method]).llf for method in ("bfgs", "nm"))


def crossed_ml(data: pd.DataFrame, rhs: str) -> tuple[float, dict[str, float]]:
    """The same model from first principles: y = X b + Zq u + Zc v + e, u ~ N(0, s_q),
    v ~ N(0, s_c), e ~ N(0, s_e) independent; V = s_e (I + a Zq Zq' + c Zc Zc'). b and s_e
    are profiled out (GLS), (log a, log c) maximised with Nelder-Mead from several starts;
    H^-1 and log|H| through the Woodbury identity (small matrices only).

    Returns the maximised log-likelihood and the variance components."""
    y = data["nvas"].to_numpy(float)
    x = np.asarray(patsy.dmatrix(rhs, data))
    zq = pd.get_dummies(data["question_id"]).to_numpy(float)
    zc = pd.get_dummies(data["country"]).to_numpy(float)
    z, n = np.hstack([zq, zc]), len(y)
    ztz, zty, ztx = z.T @ z, z.T @ y[:, None], z.T @ x

    def profile(theta: np.ndarray) -> tuple[float, float]:
        d = np.sqrt(np.r_[np.full(zq.shape[1], np.exp(theta[0])),
                          np.full(zc.shape[1], np.exp(theta[1]))])  # fmt: skip
        chol = np.linalg.cholesky(np.eye(len(d)) + d[:, None] * ztz * d[None, :])

        def quad(a, b, zta, ztb):  # a' H^-1 b
            left = np.linalg.solve(chol, d[:, None] * zta)
            right = np.linalg.solve(chol, d[:, None] * ztb)
            return a.T @ b - left.T @ right

        beta = np.linalg.solve(quad(x, x, ztx, ztx), quad(x, y[:, None], ztx, zty))
        resid = y[:, None] - x @ beta
        rss = float(quad(resid, resid, z.T @ resid, z.T @ resid)[0, 0])
        log_det = 2.0 * float(np.log(np.diag(chol)).sum())
        return -0.5 * n * (np.log(2 * np.pi * rss / n) + 1) - 0.5 * log_det, rss / n

    fits = [
        optimize.minimize(lambda t: -profile(t)[0], start, method="Nelder-Mead",
                          options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 2000})
        for start in ((0.0, -2.0), (-1.0, -5.0), (-8.0, -8.0), (2.0, 0.0))
    ]  # fmt: skip
    best = min(fits, key=lambda fit: fit.fun)
    llf, scale = profile(best.x)
    return llf, {"question": float(np.exp(best.x[0]) * scale),
                 "country": float(np.exp(best.x[1]) * scale), "residual": scale}  # fmt: skip


FULL = "C(language) * C(reasoning) + C(zone)"
REDUCED = "C(language) * C(reasoning)"


@pytest.mark.parametrize("planted", [None, ZONE_EFFECT], ids=["null", "planted"])
def test_zone_lrt_equals_an_independent_refit(planted):
    """chi2, df and p of the zone LRT against the same ML fits done independently: statsmodels
    MixedLM called here (other optimisers, default treatment coding) and a crossed-effects
    likelihood maximised in numpy/scipy (which also checks that the variance-component
    construction is the crossed model, and that the components are reported under the right
    names)."""
    items = synthetic_items(0, planted)
    result, _ = S.zone_models(items, fake_zones(COUNTRIES), S.StatsSettings("zone"))
    (row,) = result["lrt"]
    (fit,) = result["fits"]
    data = with_zones(items)
    assert row["n"] == len(data) == 320
    with threadpool_limits(1):  # tiny matrices: BLAS threads only contend on a shared machine
        full, components = crossed_ml(data, FULL)
        reduced, _ = crossed_ml(data, REDUCED)
    sm_full, sm_reduced = statsmodels_llf(data, FULL), statsmodels_llf(data, REDUCED)
    assert sm_full == pytest.approx(full, abs=1e-4)
    assert sm_reduced == pytest.approx(reduced, abs=1e-4)
    assert row["llf_full"] == pytest.approx(full, abs=1e-4)
    assert row["llf_reduced"] == pytest.approx(reduced, abs=1e-4)
    df = data["zone"].nunique() - 1
    chi2 = 2 * (full - reduced)
    assert row["df"] == df == 3
    assert row["chi2"] == pytest.approx(chi2, abs=2e-4)
    assert row["p_value"] == pytest.approx(stats.chi2.sf(chi2, df), rel=1e-3)
    assert fit["llf"] == pytest.approx(full, abs=1e-4)
    reported = fit["variance_components"]
    assert reported["question"] == pytest.approx(components["question"], rel=0.01)
    assert reported["residual"] == pytest.approx(components["residual"], rel=0.01)
    assert reported["country"] == pytest.approx(components["country"], abs=0.05)
    if planted is None:
        assert row["p_value"] > 0.05
    else:
        assert row["p_value"] < 0.001


def small_zone_data(seed: int, zone_effect: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)):
    """96 rows: 6 questions x 16 countries in 4 zones of 4, one cell; NVAS = 60 + question
    (sd 8) + country (sd 1.5) + the planted zone effect + noise (sd 8)."""
    rng = np.random.default_rng(seed)
    question, country = rng.normal(0, 8, size=6), rng.normal(0, 1.5, size=16)
    rows = [
        {"model": "m", "language": "en", "framing": "persona", "reasoning": "zero",
         "question_id": f"Q{q}", "country": f"C{c:02d}", "zone": f"Z{c % 4}",
         "nvas": 60 + question[q] + country[c] + zone_effect[c % 4] + rng.normal(0, 8)}
        for q in range(6) for c in range(16)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_zone_lrt_level_on_null_data():
    """150 data sets without any zone effect: the share of p < 0.05 must lie in a binomial
    acceptance band around 5% that a 20% false-positive rate fails (the band's upper end is
    the 99.5% quantile at 5%, 15 of 150; a 20% rate stays under it with probability
    < 0.001). ~25 s."""
    runs, alpha = 150, 0.05
    upper = int(stats.binom.ppf(0.995, runs, alpha))
    assert upper == 15 and stats.binom.cdf(upper, runs, 0.20) < 0.001
    p_values = []
    with threadpool_limits(1):
        for run in range(runs):
            row, _ = S.zone_lrt(small_zone_data(2000 + run), "model", "m")
            assert row["df"] == 3, row
            p_values.append(row["p_value"])
    rejections = int(sum(p < alpha for p in p_values))
    print(f"\nzone LRT on null data: {rejections} of {runs} p values < {alpha}")
    assert 1 <= rejections <= upper, rejections
    # and not a test that hardly ever rejects: p values are spread over (0, 1)
    assert 0.3 < float(np.median(p_values)) < 0.7


def test_zone_lrt_power_on_a_planted_effect():
    """Zone effects 0, 6, -6, 3 on the same design: the zone contrast's noncentrality is
    ~24 (power ~0.99 for chi2 with 3 df at 5%): at least 17 of 20 data sets reject."""
    rejections = 0
    with threadpool_limits(1):
        for run in range(20):
            data = small_zone_data(5000 + run, (0.0, 6.0, -6.0, 3.0))
            row, _ = S.zone_lrt(data, "model", "m")
            rejections += row["p_value"] < 0.05
    assert rejections >= 17, rejections


def test_degenerate_inputs_give_notes():
    zones = fake_zones(COUNTRIES)
    one_zone = synthetic_items(1, None)
    one_zone = one_zone[one_zone["country"].isin(["Morocco", "Tunisia"])]
    result, _ = S.zone_models(one_zone, zones, S.StatsSettings("zone"))
    (row,) = result["lrt"]
    assert row["chi2"] is None and any("one zone" in n for n in row["notes"])
    assert result["fits"], "the zone-free model is still fitted and described"

    tiny = synthetic_items(2, ZONE_EFFECT).head(5)
    result, _ = S.zone_models(tiny, zones, S.StatsSettings("zone"))
    assert result["lrt"][0]["chi2"] is None and "not fitted" in " ".join(result["lrt"][0]["notes"])

    # iw_zone is empty for some countries: those rows are dropped with a note
    result, _ = S.zone_models(synthetic_items(3, None), zones, S.StatsSettings("iw_zone"))
    assert any("rows dropped" in n for n in result["notes"])

    with pytest.raises(S.StatsError, match="stats.zone_column: 'region'"):
        S.zone_models(synthetic_items(3, None), zones, S.StatsSettings("region"))


def test_sensitive_items_rank_the_planted_question_first():
    items = synthetic_items(4, None)
    zones = fake_zones(COUNTRIES).set_index("country")["zone"]
    boost = items["question_id"].eq("Q7") & items["country"].map(zones).eq("Gulf")
    items.loc[boost, "nvas"] += 40
    table = S.sensitive_items(items.assign(zone=items["country"].map(zones)), "m")
    assert table.iloc[0]["question_id"] == "Q7" and bool(table.iloc[0]["top_decile"])
    assert table["top_decile"].sum() == 1  # ceil(10% of 10 questions)
    assert table.iloc[0]["highest_zone"] == "Gulf"


def test_large_data_form_absorbs_questions_and_still_detects_zones():
    items = synthetic_items(0, ZONE_EFFECT)
    settings = S.StatsSettings("zone", max_crossed_rows=10)  # force the large-data form
    result, _ = S.zone_models(items, fake_zones(COUNTRIES), settings)
    (fit,) = result["fits"]
    assert fit["form"] == "question-absorbed"
    assert fit["variance_components"]["question"] == "absorbed as fixed effects"
    (row,) = result["lrt"]
    assert row["df"] == 3 and row["p_value"] < 0.05
    assert "form = question-absorbed" in S.text_summary(result)


def test_a_benchmark_without_zones_gets_a_note_not_an_error():
    items = synthetic_items(seed=1, zone_effect=None)
    zones = fake_zones(COUNTRIES)[["country", "iso3", "languages"]]
    result, sensitivity = S.zone_models(items, zones, S.StatsSettings("zone"), "populations")
    assert result["fits"] == [] and sensitivity.empty
    assert "populations has no zone columns" in result["notes"][0]
    assert all(row["chi2"] is None for row in result["lrt"])
    with pytest.raises(S.StatsError, match=r"'zone' is not a zone column of p \(zone columns: iw"):
        S.zone_models(items, fake_zones(COUNTRIES).drop(columns="zone"), S.StatsSettings(), "p")


def test_the_zone_lrt_is_repeated_with_the_variant_as_a_fixed_effect():
    base = synthetic_items(3, ZONE_EFFECT)
    rng = np.random.default_rng(4)
    variants = [base.assign(variant="original")]
    for name, shift in (("wording-2", 5.0), ("reversed", -5.0)):
        variants.append(base.assign(variant=name, nvas=base["nvas"] + shift
                                    + rng.normal(0, 2, len(base))))  # fmt: skip
    items = pd.concat(variants, ignore_index=True)
    result, _ = S.zone_models(items, fake_zones(COUNTRIES), S.StatsSettings("zone"))
    assert result["lrt"][0]["n"] == len(base)  # the main models use the original wording only
    (row,) = result["lrt_variants"]
    assert row["n"] == 3 * len(base) and row["df"] == 3 and row["p_value"] < 0.05
    assert "prompt variant as a fixed effect" in S.text_summary(result)
    terms, _ = S.fixed_terms(items.assign(zone="z"), True, False, with_variant=True)
    assert any("variant, Treatment(reference='original')" in term for term in terms)


def _second_scheme(countries=COUNTRIES) -> pd.DataFrame:
    """The fake zones with a coarser second scheme: Nile Valley + Levant vs the rest."""
    zones = fake_zones(countries)
    east = {"Nile Valley", "Levant & Iraq"}
    zones["iw_zone"] = ["East" if z in east else "West" for z in zones["zone"]]
    return zones


def test_model_comparison_reports_aic_bic_for_each_zone_scheme():
    items = synthetic_items(0, ZONE_EFFECT)
    zones = _second_scheme()
    result, _ = S.zone_models(items, zones, S.StatsSettings("zone"))
    table = pd.DataFrame(result["model_comparison"])
    assert list(table["zone_scheme"]) == ["zone", "iw_zone"]
    for row in table.itertuples():
        # AIC = -2 llf + 2 k: the zone model spends (zones - 1) more fixed effects
        extra = row.n_zones - 1
        assert row.aic_full - row.aic_reduced == pytest.approx(
            -2 * (row.llf_full - row.llf_reduced) + 2 * extra, abs=1e-6
        )
        assert row.bic_full - row.bic_reduced == pytest.approx(
            -2 * (row.llf_full - row.llf_reduced) + np.log(row.n) * extra, abs=1e-6
        )
        assert row.delta_aic == pytest.approx(row.aic_full - row.aic_reduced)
    primary = table.iloc[0]
    assert primary["p_value"] == result["lrt"][0]["p_value"]  # the same fits, not refitted
    assert primary["preferred_by_bic"] == "zone" and primary["delta_bic"] < 0


def test_model_comparison_prefers_no_zone_without_an_effect():
    items = synthetic_items(5, None)
    result, _ = S.zone_models(items, _second_scheme(), S.StatsSettings("zone"))
    table = pd.DataFrame(result["model_comparison"])
    assert (table["preferred_by_bic"] == "no zone").all()


def test_model_comparison_with_a_single_zone_scheme_notes_it():
    zones = fake_zones(COUNTRIES)
    zones["iw_zone"] = ["African-Islamic" if i < 4 else "" for i in range(len(zones))]
    result, _ = S.zone_models(synthetic_items(1, ZONE_EFFECT), zones, S.StatsSettings("zone"))
    iw = next(r for r in result["model_comparison"] if r["zone_scheme"] == "iw_zone")
    assert pd.isna(iw["p_value"]) and "one zone in the data" in iw["notes"]
    assert "rows dropped" in iw["notes"]


def test_unknown_zone_scheme_names_the_key():
    with pytest.raises(S.StatsError, match="stats.zone_schemes: 'nope'"):
        S.zone_models(synthetic_items(1, None), fake_zones(COUNTRIES),
                      S.StatsSettings("zone", zone_schemes=("nope",)))  # fmt: skip
