"""Zone mixed-effects models: planted effects detected, null effects mostly not, degenerate
inputs produce notes instead of crashes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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


def test_no_zone_effect_is_mostly_not_detected():
    rejections = 0
    for seed in range(10):
        items = synthetic_items(100 + seed, None)
        result, _ = S.zone_models(items, fake_zones(COUNTRIES), S.StatsSettings("zone"))
        (row,) = result["lrt"]
        assert row["df"] == 3
        rejections += row["p_value"] < 0.05
    assert rejections <= 3


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
