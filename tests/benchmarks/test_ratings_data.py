"""Rater-level ratings: the invented DICES-350/990 fixtures read as published (RFC 4180
quoting, Unsure dropped and counted), the three-file ratings table, every bad row named by
file, line and column, on_unknown_country: drop, and the dices / ratings_table plug-ins'
tables meeting the plug-in contract and their schemas.

Expected counts and shares are worked out by hand from the fixtures' design (see
tests/fixtures/dices/README.md) or read from the files here with the csv module."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest

from culturalign.benchmarks import create_benchmark, get_benchmark
from culturalign.benchmarks.base import BenchmarkTables, check_tables
from culturalign.benchmarks.cultural_zones import build_zone_table, write_zone_table
from culturalign.benchmarks.ratings_data import (
    RatingsTables,
    RatingValues,
    read_dices,
    read_ratings_table,
)
from culturalign.errors import BenchmarkError, ConfigError
from culturalign.io.tables import load_schema, validate_table
from culturalign.settings import validate_config

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "workflow" / "schemas"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dices"
DICES990 = FIXTURES / "dices990_fixture.csv"
DICES350 = FIXTURES / "dices350_fixture.csv"
SHARED = REPO.parent / "shared" / "data" / "inglehart_welzel"

US = "secular-rational / self-expression"
IN = "traditional / survival"

# An invented zone table (not the surveys' numbers): enough to place the fixtures' raters.
ZONES_CSV = """country,iso3,zone,traditional_secular,survival_selfexpression,quadrant,source,year
United States,USA,English-Speaking,0.5,1.1,,test_map,
India,IND,West & South Asia,-0.4,-0.8,,test_map,
Japan,JPN,Confucian,2.0,1.0,,test_map,
Nigeria,NGA,African-Islamic,-1.1,-1.0,,test_map,
Poland,POL,Catholic Europe,-0.1,0.4,,test_map,
Russia,RUS,Orthodox Europe,0.7,-0.6,,test_map,
"""


@pytest.fixture
def zones_file(tmp_path) -> Path:
    path = tmp_path / "zones.csv"
    path.write_text(ZONES_CSV, encoding="utf-8")
    return path


@pytest.fixture
def zones(zones_file) -> pd.DataFrame:
    from culturalign.benchmarks.cultural_zones import read_zone_table

    return read_zone_table(zones_file)


def fixture_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> list[int]:
    """Write a CSV; return the first line of each record (header = line 1)."""
    lines, line = [], 2
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(header) + "\n")
        for row in rows:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerow([row[c] for c in header])
            text = buffer.getvalue()
            handle.write(text)
            lines.append(line)
            line += text.count("\n")
    return lines


def dices(path: Path, zones: pd.DataFrame, **kwargs) -> RatingsTables:
    return read_dices(path, zones, scheme="test_map", **kwargs)


def shares(tables: RatingsTables) -> dict[tuple[str, str], float]:
    """Unsafe share per (item, quadrant), computed here with plain pandas."""
    merged = tables.ratings.merge(tables.raters[["rater_id", "quadrant"]], on="rater_id")
    means = merged.groupby(["item_id", "quadrant"])["unsafe"].mean()
    return {(str(i), str(q)): float(v) for (i, q), v in means.items()}


# ------------------------------------------------------------------------------ DICES-990


def test_dices990_fixture_is_read_as_published(zones):
    tables = dices(DICES990, zones)
    # 6 items x 12 raters, 2 pairs not rated = 70 rows; 5 Unsure
    assert len(tables.items) == 6
    assert len(tables.raters) == 12
    assert len(tables.ratings) == 65
    dropped = tables.dropped.set_index("reason")
    assert dropped.loc["Q_overall is 'Unsure' (declared dropped)", "count"] == 5
    assert sorted(dropped.loc["Q_overall is 'Unsure' (declared dropped)", "ids"]) == sorted(
        ["102/9003", "103/9008", "104/9009", "106/9004", "106/9011"]
    )
    assert set(tables.ratings["rating"]) == {"Yes", "No"}
    assert tables.ratings.groupby("rating")["unsafe"].first().to_dict() == {"Yes": 1, "No": 0}
    raters = tables.raters.set_index("rater_id")
    assert raters["country"].value_counts().to_dict() == {"United States": 6, "India": 6}
    assert raters.loc["9003", "ethnicity"] == "LatinX, Latino, Hispanic or Spanish Origin"
    assert raters.loc["9011", "gender"] == "Self-describe (below)"
    assert raters.loc["9004", "age_group"] == "gen z"
    assert raters.loc["9010", "education"] == "Other"
    assert raters.loc["9007", "quadrant"] == IN and raters.loc["9001", "quadrant"] == US
    assert raters.loc["9007", "zone"] == "West & South Asia"
    assert raters.loc["9007", "zone_source"] == "test_map"
    assert raters.loc["9007", "traditional_secular"] == pytest.approx(-0.4)
    assert tables.zone_scheme == "test_map"


def test_multi_line_context_with_quotes_and_commas_is_intact(zones):
    items = dices(DICES990, zones).items.set_index("item_id")
    context = items.loc["106", "context"]
    assert context == (
        'A: What does the phrase "break a leg" mean?\n'
        'B: It\'s an idiom, used in theatre, that means "good luck".\n'
        "\n"
        "A: Why would anyone say that, though?"
    )
    text = items.loc["106", "text"]
    assert text.index(context) < text.index(items.loc["106", "response"])
    assert "Last response" in text and text.rstrip().endswith("when applauded.")
    assert items.loc["104", "degree_of_harm"] == "Extreme"
    assert items.loc["102", "harm_type"] == "Health and safety claims, Misinformation"
    assert items.loc["101", "category"] == "Benign"


def test_dices990_shares_per_quadrant(zones):
    got = shares(dices(DICES990, zones))
    # by hand from the fixture's design: item 103 US YYYNYY, IN Y(U)YYYY; item 102 US
    # YN(U)YNY, IN NNNN-N; item 105 US NYN-NN, IN YYYNYY; item 104: all Yes but one Unsure
    assert got[("103", US)] == pytest.approx(5 / 6)
    assert got[("103", IN)] == pytest.approx(1.0)
    assert got[("102", US)] == pytest.approx(3 / 5)
    assert got[("102", IN)] == pytest.approx(0.0)
    assert got[("105", US)] == pytest.approx(1 / 5)
    assert got[("105", IN)] == pytest.approx(5 / 6)
    assert got[("104", US)] == got[("104", IN)] == 1.0


def test_the_rating_values_are_configurable(zones):
    tables = dices(DICES990, zones, values=RatingValues(unsafe=("Yes", "Unsure"), safe=("no",)))
    assert len(tables.ratings) == 70 and tables.dropped.empty
    first_q = dices(DICES990, zones, rating_column="Q2_harmful_content_overall")
    assert len(first_q.ratings) + int(first_q.dropped["count"].sum()) == 70
    with pytest.raises(ConfigError, match="'yes' is declared both unsafe and safe"):
        RatingValues(unsafe=("Yes",), safe=("No", "yes"))


def test_dices350_fixture_has_us_raters_and_gold_labels(zones):
    tables = dices(DICES350, zones, variant="dices350")
    assert len(tables.ratings) == 21  # 4 x 6 - 1 not rated - 2 Unsure
    assert int(tables.dropped["count"].sum()) == 2
    assert set(tables.raters["country"]) == {"United States"}
    assert set(tables.raters["quadrant"]) == {US}
    items = tables.items.set_index("item_id")
    assert items.loc["2", "safety_gold"] == "Yes"
    assert items.loc["2", "safety_gold_reason"] == 'Stereotypes a group, with a "joke".'
    assert items.loc["3", "context"].startswith("USER: which party")
    assert "\n\nUSER: just pick one for me" in items.loc["3", "context"]
    assert shares(tables)[("2", US)] == pytest.approx(4 / 5)  # YY(U)YNY
    other = dices(DICES350, zones, variant="dices350", country="Japan")
    assert set(other.raters["quadrant"]) == {US}  # Japan is secular / self-expression too
    assert set(other.raters["zone"]) == {"Confucian"}


def test_the_wrong_variant_says_which_header_the_file_has(zones):
    expected = (
        r"line 1: not the DICES-990 header.*rater_locale.*set the benchmark's variant to dices350"
    )
    with pytest.raises(BenchmarkError, match=expected):
        dices(DICES350, zones, variant="dices990")
    with pytest.raises(BenchmarkError, match=r"missing column\(s\) Q_nope"):
        dices(DICES990, zones, rating_column="Q_nope")


def test_a_rater_whose_demographics_change_is_an_error_naming_both_lines(tmp_path, zones):
    header, rows = fixture_rows(DICES990)
    positions = [i for i, row in enumerate(rows) if row["rater_id"] == "9002"]
    rows[positions[2]]["rater_gender"] = "Man"
    lines = write_rows(tmp_path / "d.csv", header, rows)
    pattern = (
        rf"d\.csv: line {lines[positions[2]]}, column rater_gender: rater '9002' has 'Man' "
        rf"here but 'Woman' on line {lines[positions[0]]}"
    )
    with pytest.raises(BenchmarkError, match=pattern):
        dices(tmp_path / "d.csv", zones)
    assert lines[positions[2]] != positions[2] + 2  # multi-line cells: lines are not rows


@pytest.mark.parametrize(
    "column, value, message",
    [
        ("Q_overall", "Maybe", r"column Q_overall: 'Maybe' is not a declared rating value"),
        ("response", "changed", r"column response: item '\d+' differs from its row on line"),
        ("rater_locale", "XX", r"column rater_locale: unknown country 'XX'"),
        ("rater_locale", "", r"column rater_locale: empty locale"),
        ("item_id", "", r"column item_id: empty item id"),
        ("item_id", "a b", r"column item_id: item id 'a b' may hold only"),
        ("rater_id", "", r"column rater_id: empty rater id"),
    ],
)
def test_bad_dices_rows_name_file_line_and_column(tmp_path, zones, column, value, message):
    header, rows = fixture_rows(DICES990)
    # the first row of a new rater would dodge the rater checks: take a later row
    index = 30
    if column == "rater_locale":
        for row in rows:
            if row["rater_id"] == rows[index]["rater_id"]:
                row[column] = value
        index = next(i for i, row in enumerate(rows) if row[column] == value)
    else:
        rows[index][column] = value
    lines = write_rows(tmp_path / "bad.csv", header, rows)
    with pytest.raises(BenchmarkError, match=rf"bad\.csv: line {lines[index]}, {message}"):
        dices(tmp_path / "bad.csv", zones)


def test_a_locale_the_zone_table_lacks_is_kept_with_empty_zones(tmp_path, zones):
    header, rows = fixture_rows(DICES990)
    for row in rows:
        if row["rater_id"] == "9012":
            row["rater_locale"] = "FR"
    write_rows(tmp_path / "fr.csv", header, rows)
    tables = dices(tmp_path / "fr.csv", zones)
    rater = tables.raters.set_index("rater_id").loc["9012"]
    assert rater["country"] == "France"
    assert pd.isna(rater["zone"]) and pd.isna(rater["quadrant"])


def test_duplicate_ratings_keep_the_first_by_default_or_stop(tmp_path, zones):
    header, rows = fixture_rows(DICES990)
    copy = dict(rows[0], Q_overall="Yes" if rows[0]["Q_overall"] == "No" else "No")
    lines = write_rows(tmp_path / "dup.csv", header, [*rows, copy])
    tables = dices(tmp_path / "dup.csv", zones)
    assert len(tables.ratings) == 65
    second = tables.dropped[tables.dropped["reason"].str.startswith("a second rating")]
    assert second["count"].tolist() == [1]
    assert second["ids"].iloc[0] == [f"{rows[0]['item_id']}/{rows[0]['rater_id']}"]
    first = tables.ratings.iloc[0]
    assert first["rating"] == rows[0]["Q_overall"]
    expected = (
        rf"line {lines[-1]}, column rater_id: rater '{rows[0]['rater_id']}' rated item "
        rf"'{rows[0]['item_id']}' already on line 2"
    )
    with pytest.raises(BenchmarkError, match=expected):
        dices(tmp_path / "dup.csv", zones, on_duplicate_rating="error")


# ------------------------------------------------------------------- the three-file table


ITEMS = (
    "item_id,text,category,gold\n"
    'i1,"Text one, with a comma",cat1,1\n'
    "i2,Text two,cat2,0\n"
    'i3,"two\nlines",cat1,\n'
)
RATERS = (
    "rater_id,longterm,birth,nationality,sex,race,age\n"
    "r1,,India,Indian,F,South Asian,30-39\n"
    "r2,United States,India,,M,South Asian,40-49\n"
    "r3,,,JP,F,East Asian,18-29\n"
    "r4,Nigeria,,,M,Black,30-39\n"
    "r5,Kuwait,,,F,Arab,18-29\n"
)
RATINGS = (
    "item_id,rater_id,rating\n"
    "i1,r1,unsafe\ni1,r2,safe\ni1,r3,Safe\ni1,r4,unsafe\ni1,r5,unsure\n"
    "i2,r1,safe\ni2,r2,UNSAFE\ni2,r4,unsafe\ni3,r3,safe\n"
)
TABLE_OPTIONS = {
    "values": RatingValues(unsafe=("unsafe",), safe=("safe",), dropped=("unsure",)),
    "country_columns": ("longterm", "birth", "nationality"),
    "demographics": {"gender": "sex", "ethnicity": "race", "age_group": "age"},
    "item_columns": ("gold",),
    "scheme": "test_map",
}


def write_table(tmp_path: Path, ratings: str = RATINGS, raters: str = RATERS,
                items: str = ITEMS) -> tuple[Path, Path, Path]:  # fmt: skip
    paths = tmp_path / "ratings.csv", tmp_path / "raters.csv", tmp_path / "items.csv"
    for path, text in zip(paths, (ratings, raters, items), strict=True):
        path.write_text(text, encoding="utf-8")
    return paths


def test_a_ratings_table_is_read_with_country_priority_and_renamed_demographics(tmp_path, zones):
    tables = read_ratings_table(*write_table(tmp_path), zones, **TABLE_OPTIONS)
    raters = tables.raters.set_index("rater_id")
    # long-term residence, else birth, else nationality
    assert raters["country"].to_dict() == {"r1": "India", "r2": "United States", "r3": "Japan",
                                           "r4": "Nigeria", "r5": "Kuwait"}  # fmt: skip
    assert raters.loc["r1", "gender"] == "F" and raters.loc["r4", "ethnicity"] == "Black"
    assert raters.loc["r3", "age_group"] == "18-29"
    assert "sex" not in tables.raters.columns
    assert raters.loc["r4", "quadrant"] == IN and raters.loc["r3", "quadrant"] == US
    assert pd.isna(raters.loc["r5", "zone"])  # a real country the table lacks: kept, empty
    assert len(tables.ratings) == 8
    assert tables.dropped["count"].tolist() == [1]
    assert tables.ratings.set_index(["item_id", "rater_id"]).loc[("i2", "r2"), "unsafe"] == 1
    items = tables.items.set_index("item_id")
    assert items.loc["i3", "text"] == "two\nlines"
    assert items.loc["i1", "gold"] == "1" and pd.isna(items.loc["i3", "gold"])
    assert items.loc["i2", "category"] == "cat2"


BAD_TABLES = [
    ("ratings", RATINGS + "i3,r9,safe\n",
     r"ratings\.csv: line 11, column rater_id: unknown rater 'r9'"),
    ("ratings", RATINGS + "i9,r1,safe\n",
     r"ratings\.csv: line 11, column item_id: unknown item 'i9'"),
    ("ratings", RATINGS + "i1,r2,unsafe\n",
     r"ratings\.csv: line 11, column rater_id: rater 'r2' rated item 'i1' already on line 3"),
    ("ratings", RATINGS + "i3,r1,maybe\n",
     r"ratings\.csv: line 11, column rating: 'maybe' is not a declared rating value"),
    ("ratings", RATINGS + "i3,r1,\n",
     r"ratings\.csv: line 11, column rating: '' is not a declared"),
    ("ratings", RATINGS.replace("rating\n", "score\n"),
     r"ratings\.csv: line 1: missing column\(s\) rating"),
    ("raters", RATERS + "r6,,Atlantis,,F,x,y\n",
     r"raters\.csv: line 7, column birth: unknown country 'Atlantis'"),
    ("raters", RATERS + "r6,,,,F,x,y\n",
     r"raters\.csv: line 7, column longterm: no country \(columns longterm, birth, "
     r"nationality all empty\)"),
    ("raters", RATERS + "r2,Japan,,,F,x,y\n",
     r"raters\.csv: line 7, column rater_id: rater 'r2' appears twice \(first on line 3\)"),
    ("raters", RATERS.replace(",sex,", ",gender,"),
     r"raters\.csv: line 1: missing column\(s\) sex"),
    ("items", ITEMS + "i2,again,,\n",
     r"items\.csv: line 6, column item_id: item 'i2' appears twice \(first on line 3\)"),
    ("items", ITEMS + "i4,,,\n", r"items\.csv: line 6, column text: empty item text"),
    ("items", ITEMS + "i/4,x,,\n", r"items\.csv: line 6, column item_id: item id 'i/4'"),
]  # fmt: skip
"""(file to change, its new text, the error expected). Line 6 of the items file: its third
item spans lines 4-5."""


@pytest.mark.parametrize("which, text, message", BAD_TABLES)
def test_bad_table_rows_name_file_line_and_column(tmp_path, zones, which, text, message):
    files = {"ratings": RATINGS, "raters": RATERS, "items": ITEMS, which: text}
    with pytest.raises(BenchmarkError, match=message):
        read_ratings_table(*write_table(tmp_path, **files), zones, **TABLE_OPTIONS)


def test_unknown_countries_are_dropped_and_counted_when_asked(tmp_path, zones):
    raters = RATERS + "r6,,Atlantis,,F,x,y\nr7,,,,M,x,y\nr8,Narnia,,,M,x,y\n"
    ratings = RATINGS + "i1,r6,unsafe\ni2,r6,safe\ni1,r7,safe\ni3,r8,unsafe\n"
    tables = read_ratings_table(*write_table(tmp_path, ratings, raters), zones,
                                **TABLE_OPTIONS, on_unknown_country="drop")  # fmt: skip
    assert set(tables.raters["rater_id"]) == {"r1", "r2", "r3", "r4", "r5"}
    assert len(tables.ratings) == 8
    dropped = tables.dropped.groupby("what")["count"].sum().to_dict()
    assert dropped == {"raters": 3, "ratings": 5}  # 4 of dropped raters + 1 unsure
    by_reason = tables.dropped.set_index("reason")
    assert by_reason.loc["unknown country 'Atlantis'", "ids"] == ["r6"]
    assert by_reason.loc["the rater was dropped (country)", "count"] == 4


def test_parquet_tables_are_named_by_row(tmp_path, zones):
    ratings, raters, items = write_table(tmp_path)
    frame = pd.read_csv(ratings, dtype=str)
    frame.loc[2, "rater_id"] = "r9"
    frame.to_parquet(tmp_path / "ratings.parquet")
    with pytest.raises(BenchmarkError, match=r"ratings\.parquet: row 3, column rater_id: unknown"):
        read_ratings_table(tmp_path / "ratings.parquet", raters, items, zones, **TABLE_OPTIONS)


def test_the_default_demographics_are_the_known_names_present(tmp_path, zones):
    raters = RATERS.replace(",sex,race,age", ",gender,ethnicity,age_group")
    options = {**TABLE_OPTIONS, "demographics": None}
    tables = read_ratings_table(*write_table(tmp_path, raters=raters), zones, **options)
    assert list(tables.raters.columns[:5]) == ["rater_id", "country", "gender", "ethnicity",
                                               "age_group"]  # fmt: skip
    with pytest.raises(ConfigError, match="'zone' cannot name a demographic column"):
        read_ratings_table(*write_table(tmp_path), zones,
                           **{**TABLE_OPTIONS, "demographics": {"zone": "sex"}})  # fmt: skip


# ------------------------------------------------------------------------------ plug-ins


def load(key: str, block: dict) -> tuple[object, BenchmarkTables]:
    """Validate a config block as the workflow does, then import it."""
    config = validate_config({"benchmarks": {key: block}, "models": {}})
    plugin = create_benchmark(key, config["benchmarks"][key])
    tables = plugin.load({name: Path(path) for name, path in plugin.input_files().items()})
    check_tables(tables, key)
    return plugin, tables


def check_schemas(plugin, tables: BenchmarkTables) -> None:
    for name, frame in zip(("questions", "human", "populations"), tables, strict=True):
        validate_table(frame, load_schema(SCHEMAS / f"{name}.schema.yaml"), name)
    ratings = plugin.read_ratings({k: Path(v) for k, v in plugin.input_files().items()})
    for name, frame in (("ratings_items", ratings.items), ("ratings", ratings.ratings),
                        ("raters", ratings.raters)):  # fmt: skip
        validate_table(frame, load_schema(SCHEMAS / f"{name}.schema.yaml"), name)


def test_the_dices_plugin_gives_judge_questions_and_quadrant_shares(zones_file):
    block = {"plugin": "dices", "source": str(DICES990), "zones": str(zones_file),
             "zone_scheme": "test_map"}  # fmt: skip
    plugin, tables = load("dices990", block)
    questions, human, populations = tables
    assert plugin.kind == "ratings"
    assert set(plugin.input_files()) == {"source", "zones"}
    assert len(questions) == 6
    question = questions.set_index("question_id").loc["105"]
    assert question["text_en"].endswith("Is the last response unsafe?")
    assert "end the relationship" in question["text_en"]
    assert [(o["code"], o["label"], o["text"]) for o in question["options"]] == [
        (1, "A", "Unsafe"), (2, "B", "Safe")]  # fmt: skip
    assert question["scale_type"] == "nominal" and bool(question["show_options"])
    assert pd.isna(question["gold"]) and question["source"] == "DICES-990"
    unsafe = human[human["option"] == 1].set_index(["question_id", "country"])["share"]
    assert unsafe[("105", US)] == pytest.approx(1 / 5)
    assert unsafe[("105", IN)] == pytest.approx(5 / 6)
    assert (human["nonsubstantive_share"] == 0).all()
    assert len(human) == 6 * 2 * 2  # every item rated in both quadrants, two options
    assert list(populations["country"]) == [
        "traditional / survival", "traditional / self-expression",
        "secular-rational / survival", "secular-rational / self-expression"]  # fmt: skip
    assert populations["iso3"].isna().all()
    assert [list(x) for x in populations["languages"]] == [["en"]] * 4
    check_schemas(plugin, tables)


def test_the_dices_plugin_defaults_and_downloads():
    config = validate_config({"benchmarks": {"dices": {}}, "models": {}})
    plugin = create_benchmark("dices", config["benchmarks"]["dices"])
    assert plugin.options["variant"] == "dices990"
    assert plugin.options["values"] == {"unsafe": ["Yes"], "safe": ["No"],
                                        "dropped": ["Unsure", ""]}  # fmt: skip
    path = "resources/benchmark/dices/diverse_safety_adversarial_dialog_990.csv"
    assert plugin.source_files() == {"source": path,
                                     "zones": "resources/inglehart_welzel_zones.csv"}  # fmt: skip
    url, sha256 = plugin.downloads()[path]
    assert url == ("https://raw.githubusercontent.com/google-research-datasets/dices-dataset/"
                   "c6bc01a37eace39c904eb0a3944fc6c4230a9157/990/"
                   "diverse_safety_adversarial_dialog_990.csv")  # fmt: skip
    assert sha256 == "14332b6391cdee80383b765c734de3bebf6d8553141ee7d2f47ef0910a12fcf7"
    config = validate_config({"benchmarks": {"d": {"plugin": "dices", "variant": "dices350"}},
                              "models": {}})  # fmt: skip
    plugin = create_benchmark("d", config["benchmarks"]["d"])
    ((url, sha256),) = plugin.downloads().values()
    assert "/350/diverse_safety_adversarial_dialog_350.csv" in url
    assert sha256 == "63cb8620eb04e64957f9e45b1f7cb3d079c4eed8e8b28909f46e0b7038ce4301"
    assert get_benchmark("ratings_table").kind == "ratings"
    with pytest.raises(ConfigError, match=r"benchmarks\.d\.variant"):
        validate_config({"benchmarks": {"d": {"plugin": "dices", "variant": "dices500"}},
                         "models": {}})  # fmt: skip


def test_dices350_through_the_plugin(zones_file):
    block = {"plugin": "dices", "variant": "dices350", "source": str(DICES350),
             "zones": str(zones_file), "zone_scheme": "test_map"}  # fmt: skip
    plugin, tables = load("d350", block)
    assert set(tables.human["country"]) == {US}
    assert tables.questions["source"].iloc[0] == "DICES-350"
    check_schemas(plugin, tables)


def test_the_ratings_table_plugin(tmp_path, zones_file):
    ratings, raters, items = write_table(tmp_path)
    block = {
        "plugin": "ratings_table", "ratings": str(ratings), "raters": str(raters),
        "items": str(items), "zones": str(zones_file), "zone_scheme": "test_map",
        "values": {"unsafe": ["unsafe"], "safe": ["safe"], "dropped": ["unsure"]},
        "country_columns": ["longterm", "birth", "nationality"],
        "demographics": {"gender": "sex", "ethnicity": "race", "age_group": "age"},
    }  # fmt: skip
    plugin, tables = load("mine", block)
    assert set(plugin.input_files()) == {"ratings", "raters", "items", "zones"}
    assert plugin.downloads() == {}
    unsafe = tables.human[tables.human["option"] == 1].set_index(["question_id", "country"])
    # i1: r1 (India) unsafe, r4 (Nigeria) unsafe -> traditional / survival 2/2;
    # r2 (US) safe, r3 (Japan) safe -> secular-rational / self-expression 0/2; r5 no quadrant
    assert unsafe.loc[("i1", IN), "share"] == 1.0
    assert unsafe.loc[("i1", US), "share"] == 0.0
    assert unsafe.loc[("i2", US), "share"] == 1.0
    assert ("i3", IN) not in unsafe.index
    check_schemas(plugin, tables)


def test_ratings_plugins_reject_a_populations_table_and_unknown_subsets(tmp_path, zones_file):
    block = {"plugin": "dices", "source": str(DICES990), "zones": str(zones_file),
             "zone_scheme": "test_map"}  # fmt: skip
    config = validate_config({"benchmarks": {"d": {**block, "populations": str(zones_file)}},
                              "models": {}})  # fmt: skip
    plugin = create_benchmark("d", config["benchmarks"]["d"])
    with pytest.raises(ConfigError, match=r"benchmarks\.d\.populations: a ratings benchmark"):
        plugin.load({k: Path(v) for k, v in plugin.input_files().items()})
    subset = {**block, "subset": {"populations": ["India"]}}
    config = validate_config({"benchmarks": {"d": subset}, "models": {}})
    plugin = create_benchmark("d", config["benchmarks"]["d"])
    with pytest.raises(ConfigError, match=r"subset\.populations: unknown population\(s\) 'India'"):
        plugin.load({k: Path(v) for k, v in plugin.input_files().items()})


def test_the_dices_plugin_with_the_zone_table_built_from_the_shared_data(tmp_path):
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED}: the shared reference data is not here")
    zones = write_zone_table(build_zone_table(SHARED), tmp_path / "zones.csv")
    for scheme in ("wvs7_map", "ivs_latest_wave"):
        block = {"plugin": "dices", "source": str(DICES990), "zones": str(zones),
                 "zone_scheme": scheme}  # fmt: skip
        plugin, tables = load("dices", block)
        raters = plugin.read_ratings({k: Path(v) for k, v in plugin.input_files().items()})
        by_country = raters.raters.drop_duplicates("country").set_index("country")
        assert by_country.loc["United States", "quadrant"] == US
        assert by_country.loc["India", "quadrant"] == IN
        assert set(raters.raters["zone_source"]) == {scheme}
        assert set(tables.human["country"]) == {US, IN}
