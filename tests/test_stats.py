"""Zone mixed-effects models: planted effects detected, null effects mostly not, degenerate
inputs produce notes instead of crashes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from culturalign import stats as S
from culturalign.io import json_safe

sys.path.insert(0, str(Path(__file__).parent))
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
