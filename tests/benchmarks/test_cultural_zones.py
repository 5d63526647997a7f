"""The Inglehart–Welzel zone table: built from the shared reference data (../shared; IVS
survsagg negated, latest survey year, quadrants from the signs), country names matched
through ISO 3166 and the aliases, the two schemes compared, and a user-edited table read
with errors naming file, line and column.

Expected values come from the reference data's README and from the raw files read here
with plain pandas, never from the module under test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from culturalign.benchmarks.cultural_zones import (
    QUADRANTS,
    ZONE_COLUMNS,
    build_zone_table,
    compare_schemes,
    country_zone_table,
    quadrant_of,
    read_located_table,
    read_zone_table,
    resolve_country,
    select_scheme,
    write_zone_table,
)
from culturalign.errors import BenchmarkError, ConfigError
from culturalign.io.tables import load_schema, validate_table

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data" / "inglehart_welzel"
SCHEMA = REPO / "workflow" / "schemas" / "cultural_zones.schema.yaml"


@pytest.fixture(scope="module")
def zones() -> pd.DataFrame:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED}: the shared reference data is not here")
    return build_zone_table(SHARED)


def row(zones: pd.DataFrame, scheme: str, country: str) -> pd.Series:
    table = select_scheme(zones, scheme)
    match = table[table["country"] == country]
    assert len(match) == 1, f"{country} under {scheme}: {len(match)} rows"
    return match.iloc[0]


def signs(x: float, y: float) -> str:
    """The quadrant as the README defines it, written independently of the module."""
    return {
        (True, True): "secular-rational / self-expression",
        (True, False): "secular-rational / survival",
        (False, True): "traditional / self-expression",
        (False, False): "traditional / survival",
    }[(x > 0, y > 0)]


# ------------------------------------------------------------------ the shared sources


def test_ivs_survsagg_is_negated_so_that_higher_means_self_expression(zones):
    # README: Sweden 2017 survsagg -3.11, Zimbabwe 2020 +1.93 (higher = survival in the data)
    sweden = row(zones, "ivs_latest_wave", "Sweden")
    zimbabwe = row(zones, "ivs_latest_wave", "Zimbabwe")
    assert sweden["survival_selfexpression"] == pytest.approx(3.11, abs=0.01)
    assert zimbabwe["survival_selfexpression"] == pytest.approx(-1.93, abs=0.01)
    raw = pd.read_csv(SHARED / "ivs_survsagg_by_country_year.csv")
    sweden_raw = raw[(raw["geo"] == "sweden") & (raw["year"] == 2017)]["survsagg"].iloc[0]
    assert sweden["survival_selfexpression"] == pytest.approx(-sweden_raw)
    # the WVS-7 map already reads higher = self-expression (Sweden 1.50 / 2.60)
    assert row(zones, "wvs7_map", "Sweden")["survival_selfexpression"] == pytest.approx(
        2.60, abs=0.01
    )
    assert row(zones, "wvs7_map", "Zimbabwe")["survival_selfexpression"] < 0


def test_japan_is_secular_and_ghana_traditional(zones):
    japan = row(zones, "ivs_latest_wave", "Japan")
    assert japan["traditional_secular"] == pytest.approx(1.64, abs=0.01)  # README: 2019
    assert japan["year"] == 2019
    assert row(zones, "wvs7_map", "Japan")["traditional_secular"] > 0
    assert row(zones, "ivs_latest_wave", "Ghana")["traditional_secular"] < 0


@pytest.mark.parametrize(
    "country, year",
    [("United States", 2017), ("India", 2023), ("Egypt", 2001), ("Iran", 2020),
     ("Libya", 2022), ("Iraq", 2013), ("Turkey", 2018), ("Palestine", 2013)],
)  # fmt: skip
def test_each_country_gets_its_latest_survey_year(zones, country, year):
    assert row(zones, "ivs_latest_wave", country)["year"] == year


def test_a_country_spelled_two_ways_across_waves_is_one_row_with_the_latest_year(zones):
    ivs = select_scheme(zones, "ivs_latest_wave")
    # russia (… 2017) and russian_federation (1999, 2008); moldova (… 2006), moldova_rep_of
    # (2008); bosnia_and_herzegovina (… 2019), bosnia_herzegovina (2008)
    for iso3, year in (("RUS", 2017), ("MDA", 2008), ("BIH", 2019)):
        match = ivs[ivs["iso3"] == iso3]
        assert len(match) == 1 and match["year"].iloc[0] == year
    assert row(zones, "ivs_latest_wave", "Moldova")["iso3"] == "MDA"  # the map's spelling


ALTERNATE_SPELLINGS = {"Russia", "Moldova", "Montenegro", "Slovakia", "North Macedonia",
                       "Bosnia and Herzegovina", "Russian Federation", "Moldova, Rep. of",
                       "Montenegro, Rep. of", "Slovak Republic", "Macedonia",
                       "Bosnia Herzegovina"}  # fmt: skip
"""Countries the IVS file names two ways across waves (left out of the plain-pandas checks)."""


def test_the_latest_year_is_the_maximum_of_the_raw_file_for_every_country(zones):
    raw = pd.read_csv(SHARED / "ivs_tradagg_by_country_year.csv")
    names = pd.read_csv(SHARED / "ivs_countries.csv").set_index("country")["name"]
    latest = raw.groupby("geo")["year"].max()
    ivs = select_scheme(zones, "ivs_latest_wave").set_index("country")
    checked = 0
    for geo, year in latest.items():
        if names[geo] in ALTERNATE_SPELLINGS:
            continue
        assert ivs.loc[names[geo], "year"] == year, geo
        checked += 1
    assert checked > 100


def test_quadrants_follow_the_signs_of_both_coordinates(zones):
    assert row(zones, "wvs7_map", "Sweden")["quadrant"] == "secular-rational / self-expression"
    assert row(zones, "wvs7_map", "Zimbabwe")["quadrant"] == "traditional / survival"
    assert row(zones, "wvs7_map", "Ireland")["quadrant"] == "traditional / self-expression"
    assert row(zones, "wvs7_map", "China")["quadrant"] == "secular-rational / survival"
    for record in zones.itertuples(index=False):
        assert record.quadrant == signs(record.traditional_secular, record.survival_selfexpression)
    assert set(zones["quadrant"]) == set(QUADRANTS)


def test_quadrant_of_leaves_missing_or_axis_values_empty():
    assert quadrant_of(0.2, -0.1) == "secular-rational / survival"
    assert quadrant_of(-0.2, 0.1) == "traditional / self-expression"
    assert quadrant_of(None, 1.0) is None
    assert quadrant_of(float("nan"), 1.0) is None
    assert quadrant_of(0.0, 1.0) is None


def test_the_table_keeps_its_source_and_matches_its_schema(zones):
    assert list(zones.columns) == list(ZONE_COLUMNS)
    assert set(zones["source"]) == {"wvs7_map", "ivs_latest_wave"}
    assert len(select_scheme(zones, "wvs7_map")) == 116  # README: 116 countries
    validate_table(zones, load_schema(SCHEMA), "zones")
    # IVS has no zones: a country's zone is the map's, or empty
    assert row(zones, "ivs_latest_wave", "Iran")["zone"] == "West & South Asia"
    assert pd.isna(row(zones, "ivs_latest_wave", "Northern Cyprus")["zone"])


def test_regions_without_a_code_of_their_own_are_not_merged_into_a_country(zones):
    wvs7 = select_scheme(zones, "wvs7_map").set_index("country")
    assert wvs7.loc["Hong Kong SAR", "iso3"] == "HKG"  # not China
    assert wvs7.loc["Taiwan ROC", "iso3"] == "TWN"
    assert pd.isna(wvs7.loc["Northern Ireland", "iso3"])  # not the United Kingdom
    assert pd.isna(wvs7.loc["Germany West", "iso3"])
    assert wvs7.loc["Germany", "iso3"] == "DEU"


# ------------------------------------------------------------------------ name matching


def test_users_spellings_find_the_sources_rows(zones):
    asked = ["US", "IN", "United States of America", "UK", "Türkiye", "Russian Federation",
             "West Germany", "Germany", "Northern Ireland", "Hong Kong", "USA"]  # fmt: skip
    table, dropped = country_zone_table(zones, asked, scheme="wvs7_map")
    assert dropped == []
    found = dict(zip(table["requested"], table["country"], strict=True))
    assert found == {
        "US": "United States", "IN": "India", "United States of America": "United States",
        "UK": "Great Britain", "Türkiye": "Turkey", "Russian Federation": "Russia",
        "West Germany": "Germany West", "Germany": "Germany",
        "Northern Ireland": "Northern Ireland", "Hong Kong": "Hong Kong SAR",
        "USA": "United States",
    }  # fmt: skip
    us = table[table["requested"] == "US"].iloc[0]
    assert us["traditional_secular"] == pytest.approx(0.470406565)  # the file's value
    assert us["source"] == "wvs7_map"


def test_countries_without_data_are_kept_empty(zones):
    # README: no IVS data for Saudi Arabia, Kuwait; the WVS-7 map has Saudi Arabia
    table, _ = country_zone_table(zones, ["Saudi Arabia", "Kuwait", "Sweden"],
                                  scheme="ivs_latest_wave")  # fmt: skip
    by = table.set_index("requested")
    for name, iso3 in (("Saudi Arabia", "SAU"), ("Kuwait", "KWT")):
        assert by.loc[name, "iso3"] == iso3
        for column in ("zone", "traditional_secular", "survival_selfexpression", "quadrant",
                       "source", "year"):  # fmt: skip
            assert pd.isna(by.loc[name, column]), (name, column)
    assert by.loc["Sweden", "quadrant"] == "secular-rational / self-expression"
    wvs7, _ = country_zone_table(zones, ["Saudi Arabia"], scheme="wvs7_map")
    assert wvs7["zone"].iloc[0] == "West & South Asia"


def test_an_unknown_name_is_an_error_naming_it_or_dropped_when_asked(zones):
    with pytest.raises(BenchmarkError, match="unknown country 'Atlantis'"):
        country_zone_table(zones, ["India", "Atlantis"], scheme="wvs7_map")
    table, dropped = country_zone_table(
        zones, ["India", "Atlantis", "Narnia"], scheme="wvs7_map", on_unknown_country="drop"
    )
    assert dropped == ["Atlantis", "Narnia"]
    assert list(table["country"]) == ["India"]
    with pytest.raises(ConfigError, match="on_unknown_country"):
        country_zone_table(zones, ["India"], scheme="wvs7_map", on_unknown_country="ignore")


def test_a_scheme_the_table_does_not_hold_is_a_config_error(zones):
    with pytest.raises(ConfigError, match="'wvs8'.*wvs7_map, ivs_latest_wave"):
        select_scheme(zones, "wvs8")
    with pytest.raises(ConfigError, match="choose one"):
        select_scheme(zones, None)


def test_resolve_country_does_no_fuzzy_matching():
    assert resolve_country("Hong Kong SAR").iso3 == "HKG"
    assert resolve_country("Kosovo").iso3 is None
    assert resolve_country("Atlantis") is None
    assert resolve_country("Korea") is None  # two Koreas: never guessed


# --------------------------------------------------------------------- comparing schemes


def test_compare_schemes_counts_the_countries_that_change_quadrant(zones):
    # an independent count over countries spelled alike in both files
    wvs7 = pd.read_csv(SHARED / "wvs7_map_zones.csv")
    trad = pd.read_csv(SHARED / "ivs_tradagg_by_country_year.csv")
    surv = pd.read_csv(SHARED / "ivs_survsagg_by_country_year.csv")
    names = pd.read_csv(SHARED / "ivs_countries.csv")
    both = trad.merge(surv, on=["geo", "year"])
    latest = both.loc[both.groupby("geo")["year"].idxmax()].merge(
        names, left_on="geo", right_on="country"
    )
    simple = set(names["name"]) - ALTERNATE_SPELLINGS
    expected = set()
    compared = 0
    for record in wvs7.itertuples(index=False):
        if record.country not in simple:
            continue
        ivs = latest[latest["name"] == record.country].iloc[0]
        compared += 1
        a = signs(record.traditional_secular, record.survival_selfexpression)
        b = signs(ivs["tradagg"], -ivs["survsagg"])
        if a != b:
            expected.add(record.country)
    assert compared > 90
    comparison = compare_schemes(zones, countries=sorted(
        set(wvs7["country"]) & simple))  # fmt: skip
    assert comparison.compared == compared
    assert set(comparison.disagreements["country"]) == expected
    assert "Portugal" in expected  # secular by a hair in WVS-7, traditional in the IVS
    full = compare_schemes(zones)
    assert full.compared >= compared
    assert set(expected) <= set(full.disagreements["country"])


# -------------------------------------------------------------- a user-edited zone table


HEADER = "country,iso3,zone,traditional_secular,survival_selfexpression,quadrant,source,year\n"


def test_write_then_read_gives_the_same_table(zones, tmp_path):
    path = write_zone_table(zones, tmp_path / "zones.csv")
    again = read_zone_table(path)
    pd.testing.assert_frame_equal(again, zones.reset_index(drop=True), check_exact=True)


def test_a_user_table_fills_iso3_and_quadrant_and_keeps_blanks(tmp_path):
    path = tmp_path / "zones.tsv"
    path.write_text(
        HEADER.replace(",", "\t")
        + "Atlantis\t\tMythic\t0.5\t-0.5\t\tmine\t\n"
        + "Egypt\t\tAfrican-Islamic\t\t\ttraditional / survival\tmine\t2018\n"
        + "Sweden\t\t\t1.2\t2.0\t\tmine\t\n",
        encoding="utf-8",
    )
    table = read_zone_table(path).set_index("country")
    assert table.loc["Atlantis", "quadrant"] == "secular-rational / survival"
    assert pd.isna(table.loc["Atlantis", "iso3"])
    assert table.loc["Egypt", "iso3"] == "EGY"
    assert table.loc["Egypt", "quadrant"] == "traditional / survival"  # the user's own
    assert table.loc["Egypt", "year"] == 2018
    assert pd.isna(table.loc["Sweden", "zone"])
    found, _ = country_zone_table(read_zone_table(path), ["Atlantis"])
    assert found["zone"].iloc[0] == "Mythic"


BAD_USER_TABLES = [
    ("Chile,,Latin America,0.1,zero,,mine,\n",
     r"line 2, column survival_selfexpression: 'zero' is not a number"),
    ("Chile,,Latin America,0.1,0.2,northern,mine,\n",
     r"line 2, column quadrant: 'northern' is not a quadrant"),
    ("Chile,,Latin America,0.1,0.2,traditional / survival,mine,\n",
     r"line 2, column quadrant: .*lie in 'secular-rational / self-expression'"),
    ("Chile,,Latin America,0.1,0.2,,,\n", r"line 2, column source: empty source"),
    ("Chile,XXX,Latin America,0.1,0.2,,mine,\n", r"line 2, column iso3: 'XXX' is not an ISO"),
    ("Chile,PER,Latin America,0.1,0.2,,mine,\n",
     r"line 2, column iso3: PER but 'Chile' is CHL"),
    ("Chile,,Latin America,0.1,0.2,,mine,1999.5\n",
     r"line 2, column year: '1999.5' is not a whole year"),
    ("Chile,,x,0.1,0.2,,mine,\nCHL,,y,0.3,0.2,,mine,\n",
     r"line 3, column country: 'CHL' appears twice for source 'mine' \(first on line 2\)"),
    (",,x,0.1,0.2,,mine,\n", r"line 2, column country: empty country name"),
    ("Chile,,x,0.1,0.2,mine,\n", r"line 2: 7 fields, the header has 8"),
]  # fmt: skip


@pytest.mark.parametrize("body, message", BAD_USER_TABLES)
def test_bad_user_tables_name_file_line_and_column(tmp_path, body, message):
    path = tmp_path / "zones.csv"
    path.write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(BenchmarkError, match=message) as error:
        read_zone_table(path)
    assert str(path) in str(error.value)


def test_a_user_table_without_a_required_column_says_which(tmp_path):
    path = tmp_path / "zones.csv"
    path.write_text("country,zone,source\nChile,Latin America,mine\n", encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"line 1: missing column\(s\) traditional_secular, "
                                             r"survival_selfexpression"):  # fmt: skip
        read_zone_table(path)


def test_located_records_keep_their_first_line_across_quoted_newlines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('a,b\n1,"x\ny, ""z"""\n\n2,plain\n3,"one\ntwo\nthree"\n4,end\n',
                    encoding="utf-8")  # fmt: skip
    table = read_located_table(path)
    assert table.lines == [2, 5, 6, 9]
    assert table.rows[0]["b"] == 'x\ny, "z"'
    assert table.at(3, "b") == f"{path}: line 9, column b"
    path.write_text('a,b\n1,"never closed\n2,x\n', encoding="utf-8")
    with pytest.raises(BenchmarkError, match=str(path)):
        read_located_table(path)


def test_the_shipped_table_is_the_build_from_the_shared_sources(zones, tmp_path):
    """resources/inglehart_welzel_zones.csv (the ratings benchmarks' default) is exactly what
    the CLI builds from ../shared; an edit or a rebuild from other sources shows here."""
    from culturalign.benchmarks.cultural_zones import main

    assert main([str(SHARED), str(tmp_path / "zones.csv")]) == 0
    shipped = REPO / "resources" / "inglehart_welzel_zones.csv"
    assert shipped.read_bytes() == (tmp_path / "zones.csv").read_bytes()
    assert set(read_zone_table(shipped)["source"]) == {"wvs7_map", "ivs_latest_wave"}
