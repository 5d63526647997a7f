"""Benchmark plug-ins: the registry, GlobalOpinionQA and survey-table importers on the
project's own invented fixtures, populations from pycountry/babel and the zones CSV, and
every bad input each one meets (file, line/row and column named)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from culturalign.benchmarks import Benchmark, create_benchmark, get_benchmark, register_benchmark
from culturalign.benchmarks.base import (
    ARABIC_LETTERS,
    BenchmarkTables,
    check_tables,
    labelled_options,
    missing_sources,
    option_labels,
)
from culturalign.benchmarks.globalopinions import read_globalopinions
from culturalign.benchmarks.populations import build_populations, main_language
from culturalign.benchmarks.survey_table import read_distributions, read_questions
from culturalign.errors import BenchmarkError, ConfigError
from culturalign.settings import validate_config

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOQA = FIXTURES / "globalopinions" / "goqa_fixture.csv"
SURVEY_QUESTIONS = FIXTURES / "survey" / "questions.csv"
SURVEY_DISTRIBUTIONS = FIXTURES / "survey" / "distributions.csv"


def load(key: str, block: dict) -> BenchmarkTables:
    """Validate a config block as the workflow does, then import it."""
    config = validate_config({"benchmarks": {key: block}, "models": {}})
    plugin = create_benchmark(key, config["benchmarks"][key])
    tables = plugin.load({name: Path(path) for name, path in plugin.input_files().items()})
    check_tables(tables, key)
    return tables


# --------------------------------------------------------------------------- registry


def test_plugins_are_found_by_name_and_by_module_path():
    assert get_benchmark("menavalues").name == "menavalues"
    assert get_benchmark("survey_table").kind == "survey"
    cls = get_benchmark("culturalign.benchmarks.globalopinions:GlobalOpinions")
    assert cls is get_benchmark("globalopinions")
    with pytest.raises(ConfigError, match=r"unknown benchmark plug-in 'wvs8' \(known: .*menaval"):
        get_benchmark("wvs8")
    with pytest.raises(ConfigError, match="is not a Benchmark subclass"):
        get_benchmark("culturalign.settings:WorkflowSettings")


@register_benchmark("tiny-test")
class TinyBenchmark(Benchmark):
    """A plug-in defined in a test module: two questions, one country."""

    description = "tiny"
    schema = str(Path(__file__).resolve().parents[1] / "fixtures" / "tiny.schema.yaml")

    def source_files(self) -> dict[str, str]:
        return {}

    def read(self, files):
        questions = pd.DataFrame(
            [{"question_id": f"T{i}", "source": "tiny", "text_en": "?", "scale_min": 1,
              "scale_max": 2, "scale_type": "ordinal", "category": None, "subcategory": None,
              "options": labelled_options([1, 2], ["A", "B"], ["yes", "no"]),
              "show_options": True, "gold": None} for i in (1, 2)]
        )  # fmt: skip
        human = pd.DataFrame(
            [{"question_id": q, "country": "Chile", "option": o, "share": 0.5,
              "nonsubstantive_share": 0.0} for q in ("T1", "T2") for o in (1, 2)]
        )  # fmt: skip
        return questions, human


def test_a_plugin_outside_the_package_needs_only_its_module_schema_and_config(tmp_path):
    schema = Path(TinyBenchmark.schema)
    schema.write_text(
        "type: object\nproperties: {}\nallOf: [{$ref: "
        f"'{(REPO / 'workflow/schemas/benchmarks/common.schema.yaml')}'}}]\n"
        "unevaluatedProperties: false\n",
        encoding="utf-8",
    )
    try:
        tables = load("tiny", {"plugin": "tiny-test"})
    finally:
        schema.unlink()
    assert tables.populations.loc[0, "iso3"] == "CHL"
    assert list(tables.populations.loc[0, "languages"]) == ["es"]


# --------------------------------------------------------------------------- GlobalOpinionQA


def test_globalopinions_fixture_imports_with_letter_options():
    tables = load("globalopinions", {"source": str(GOQA)})
    questions, human, populations = tables
    assert len(questions) == 12 and questions["question_id"].iloc[0] == "GOQA-0001"
    first = questions.iloc[0]
    assert [o["label"] for o in first.options] == ["A", "B", "C", "D"]
    assert [o["text"] for o in first.options][:2] == ["A lot", "Somewhat"]
    assert bool(first.show_options) and first.scale_type == "nominal"
    assert set(questions["category"]) == {"GAS", "WVS"}
    sums = human.groupby(["question_id", "country"])["share"].sum()
    assert (sums - 1).abs().max() < 1e-12
    # two-option questions were asked in four countries, the others in five
    assert human[human["question_id"] == "GOQA-0002"]["country"].nunique() == 4
    raw = next(csv.DictReader(GOQA.open(encoding="utf-8")))
    germany = human[(human["question_id"] == "GOQA-0001") & (human["country"] == "Germany")]
    assert germany["share"].tolist() == pytest.approx(
        json.loads(raw["selections"].split("'Germany': ")[1].split("]")[0] + "]")
    )
    by_country = populations.set_index("country")
    assert by_country.loc["Japan", "iso3"] == "JPN" and list(
        by_country.loc["Japan", "languages"]
    ) == ["ja"]
    assert pd.isna(by_country.loc["Britain", "iso3"])  # not an ISO 3166 name: left empty


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_globalopinions_parquet_and_jsonl_exports_read_the_same(tmp_path, suffix):
    frame = pd.read_csv(GOQA)
    path = tmp_path / f"goqa{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True)
    expected = read_globalopinions(GOQA)
    got = read_globalopinions(path)
    pd.testing.assert_frame_equal(got[1], expected[1])
    assert got[0]["question_id"].tolist() == expected[0]["question_id"].tolist()


def goqa_row(**overrides) -> dict:
    row = {"question": "Q?", "selections": "defaultdict(<class 'list'>, {'Peru': [0.5, 0.5]})",
           "options": "['Yes', 'No']", "source": "GAS"}  # fmt: skip
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (goqa_row(question=""), r"line 3, column question: empty question"),
        (goqa_row(options="Yes, No"), r"line 3, column options: not a list"),
        (goqa_row(options="['Only one']"), r"line 3, column options: needs a list of at least two"),
        (goqa_row(selections="{'Peru': 0.5}"), r"line 3, column selections: the shares of 'Peru'"),
        (goqa_row(selections="defaultdict(garbage"), r"line 3, column selections: cannot read"),
        (goqa_row(selections="{'Peru': [0.5, 0.3, 0.2]}"),
         r"line 3, column selections \(Peru\): 3 shares for 2 options"),
        (goqa_row(selections="{'Peru': [0.7, 0.2]}"),
         r"line 3, column selections \(Peru\): the shares sum to 90.00%, not 100%"),
        (goqa_row(selections="{'Peru': [0.5, 'x']}"), r"a share of 'Peru' is not a number"),
        (goqa_row(selections="{'Peru': [1.5, -0.5]}"), r"a share of 'Peru' is negative"),
    ],
)  # fmt: skip
def test_bad_globalopinions_rows_name_file_line_and_column(tmp_path, row, message):
    path = tmp_path / "goqa.csv"
    pd.DataFrame([goqa_row(), row]).to_csv(path, index=False)
    with pytest.raises(BenchmarkError, match=message) as raised:
        read_globalopinions(path)
    assert str(path) in str(raised.value)


def test_globalopinions_file_problems(tmp_path):
    with pytest.raises(BenchmarkError, match="not found"):
        read_globalopinions(tmp_path / "absent.csv")
    bad = tmp_path / "goqa.xlsx"
    bad.write_text("x")
    with pytest.raises(BenchmarkError, match=r"unknown file type '.xlsx'"):
        read_globalopinions(bad)
    missing = tmp_path / "goqa.csv"
    pd.DataFrame([{"question": "Q?", "options": "['a', 'b']"}]).to_csv(missing, index=False)
    with pytest.raises(BenchmarkError, match=r"missing column\(s\) selections"):
        read_globalopinions(missing)
    broken = tmp_path / "goqa.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(BenchmarkError, match="cannot read the GlobalOpinionQA export"):
        read_globalopinions(broken)


def test_share_tolerance_is_configurable():
    with pytest.raises(ConfigError, match=r"share_tolerance: 20 is greater than the maximum"):
        load("globalopinions", {"source": str(GOQA), "share_tolerance": 20})


# --------------------------------------------------------------------------- survey table


SURVEY = {"plugin": "survey_table", "questions": str(SURVEY_QUESTIONS),
          "distributions": str(SURVEY_DISTRIBUTIONS), "nonsubstantive_codes": [-1]}  # fmt: skip


def test_survey_table_fixture_imports():
    questions, human, populations = load("survey", SURVEY)
    assert questions["question_id"].tolist() == [f"SV-0{i}" for i in range(1, 7)]
    by_id = questions.set_index("question_id")
    assert (by_id.loc["SV-02", "scale_min"], by_id.loc["SV-02", "scale_max"]) == (1, 4)
    assert bool(by_id.loc["SV-02", "show_options"]) and not bool(by_id.loc["SV-01", "show_options"])
    assert by_id.loc["SV-04", "scale_type"] == "nominal"
    assert [o["label"] for o in by_id.loc["SV-03", "options"]] == [str(i) for i in range(1, 11)]
    sv01 = human[(human["question_id"] == "SV-01") & (human["country"] == "Germany")]
    assert sv01["nonsubstantive_share"].iloc[0] == pytest.approx(0.03)
    assert sv01["share"].sum() == pytest.approx(1.0)
    assert not ((human["question_id"] == "SV-03") & (human["country"] == "Kenya")).any()
    raw = pd.read_csv(SURVEY_DISTRIBUTIONS)
    raw_sv05 = raw[(raw["question_id"] == "SV-05") & (raw["population"] == "Brazil")]
    got = human[(human["question_id"] == "SV-05") & (human["country"] == "Brazil")]
    assert got["share"].tolist() == pytest.approx((raw_sv05["share"] / 100).tolist())
    assert list(populations["country"]) == ["Germany", "Brazil", "Japan", "Kenya"]
    assert list(populations.set_index("country").loc["Kenya", "languages"]) == ["sw"]


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


QUESTION = {"question_id": "Q1", "text": "How?", "scale_min": 1, "scale_max": 3}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([QUESTION, QUESTION], r"line 3, column question_id: 'Q1' already used on line 2"),
        ([{**QUESTION, "question_id": "Q 1"}], r"line 2, column question_id: 'Q 1' is not"),
        ([{**QUESTION, "text": ""}], r"line 2, column text: empty question text"),
        ([{**QUESTION, "scale_min": "one"}], r"line 2, column scale_min: 'one' is not an integer"),
        ([{**QUESTION, "scale_max": 1}], r"line 2, column scale_max: 1 must be above scale_min 1"),
        ([{**QUESTION, "scale_max": ""}], r"line 2, column scale_max: empty value"),
        ([{"question_id": "Q1", "text": "How?"}], r"line 2: give scale_min and scale_max"),
        ([{**QUESTION, "options": "a|b"}], r"line 2, column options: 2 option texts for the 3"),
        ([{**QUESTION, "options": "a||b"}], r"line 2, column options: needs at least two"),
        ([{**QUESTION, "scale_type": "likert"}], r"line 2, column scale_type: 'likert'"),
        ([{**QUESTION, "labels": "roman"}], r"line 2, column labels: 'roman'"),
    ],
)
def test_bad_survey_questions_name_file_line_and_column(tmp_path, rows, message):
    path = write_csv(tmp_path / "questions.csv", rows)
    with pytest.raises(BenchmarkError, match=message) as raised:
        read_questions(path)
    assert str(path) in str(raised.value)


def share(option, value, question="Q1", population="Chile"):
    return {"question_id": question, "population": population, "option": option, "share": value}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([share(1, 50), share(2, 50, question="Q9")],
         r"line 3, column question_id: unknown question 'Q9'"),
        ([share(1, 50), share(4, 50)],
         r"line 3, column option: option 4 lies outside the scale 1..3"),
        ([share(1, 50), share(1, 50)], r"line 3, column option: \(Q1, Chile, 1\) appears twice"),
        ([share(1, 50), share(2, 40)],
         r"line 2, column share: the shares of \(Q1, Chile\) sum to 90.00%"),
        ([share(1, 50), share("two", 50)], r"line 3, column option: 'two' is not an integer"),
        ([share(1, 50), share(2, -1)], r"line 3, column share: '-1' is negative"),
        ([share(1, 50), share(2, "lots")], r"line 3, column share: 'lots' is not a number"),
        ([share(1, 50), share(2, 50, population="")], r"line 3, column population: empty value"),
    ],
)  # fmt: skip
def test_bad_survey_distributions_name_file_line_and_column(tmp_path, rows, message):
    questions = read_questions(write_csv(tmp_path / "q.csv", [QUESTION]))
    path = write_csv(tmp_path / "d.csv", rows)
    with pytest.raises(BenchmarkError, match=message) as raised:
        read_distributions(path, questions)
    assert str(path) in str(raised.value)


def test_share_units_and_nonsubstantive_codes(tmp_path):
    questions = read_questions(write_csv(tmp_path / "q.csv", [QUESTION]))
    fractions = write_csv(tmp_path / "f.csv", [share(1, 0.25), share(3, 0.75)])
    human = read_distributions(fractions, questions)
    assert human["share"].tolist() == pytest.approx([0.25, 0.0, 0.75])
    with_dk = write_csv(tmp_path / "dk.csv", [share(1, 40), share(2, 40), share(99, 20)])
    human = read_distributions(with_dk, questions, nonsubstantive_codes=(99,))
    assert human["share"].tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert human["nonsubstantive_share"].iloc[0] == pytest.approx(0.2)
    with pytest.raises(BenchmarkError, match="outside the scale"):
        read_distributions(with_dk, questions)
    only_dk = write_csv(tmp_path / "only.csv", [share(99, 100)])
    with pytest.raises(BenchmarkError, match="has no substantive answers"):
        read_distributions(only_dk, questions, nonsubstantive_codes=(99,))
    parquet = tmp_path / "d.parquet"
    pd.read_csv(fractions).to_parquet(parquet)
    with pytest.raises(BenchmarkError, match=r"d.parquet: row 1, column option: option 7"):
        bad = pd.read_csv(fractions).assign(option=[7, 3])
        bad.to_parquet(parquet)
        read_distributions(parquet, questions)


# --------------------------------------------------------------------------- populations


def zones_csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zones.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_populations_from_pycountry_babel_and_the_csv(tmp_path):
    path = zones_csv(tmp_path, "country,iso3,language,zone\nGermany,,,West\nBasque speakers,,eu,\n")
    frame = build_populations(["Basque speakers", "Germany", "Egypt"], path,
                              subset=["Germany", "Basque speakers"])  # fmt: skip
    assert frame["country"].tolist() == ["Germany", "Basque speakers", "Egypt"]  # CSV order
    rows = frame.set_index("country")
    assert rows.loc["Germany", "iso3"] == "DEU" and list(rows.loc["Germany", "languages"]) == ["de"]
    assert rows.loc["Germany", "zone"] == "West"
    assert pd.isna(rows.loc["Basque speakers", "iso3"])
    assert list(rows.loc["Basque speakers", "languages"]) == ["eu"]
    assert pd.isna(rows.loc["Egypt", "zone"])  # not in the CSV: no zone guessed
    assert main_language("SD") == "ar" and main_language("IR") == "fa"  # most speakers


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("country,zone\nEgypt,Nile\n", r"zones.csv: no row for population\(s\) 'Iran'"),
        ("name,zone\nEgypt,x\n", r"zones.csv: line 1: missing column 'country'"),
        ("country,iso3\nEgypt,EGY\nIran,XXX\n", r"zones.csv: line 3, column iso3: 'XXX' is not"),
        ("country,language\nEgypt,ar\nIran,Farsi\n", r"line 3, column language: 'Farsi'"),
        ("country\nEgypt\nEgypt\n", r"line 3: population 'Egypt' appears twice"),
        ("country,zone\nEgypt,x\n,y\n", r"line 3, column country: empty value"),
        ("country,zone\nEgypt,a,b\n", r"line 2: more fields than columns"),
    ],
)
def test_bad_populations_tables_name_file_line_and_column(tmp_path, text, message):
    path = zones_csv(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        build_populations(["Egypt", "Iran"], path)


def test_a_zones_table_lacking_a_selected_country_names_the_file_and_the_country(tmp_path):
    zones = Path(__file__).resolve().parents[2] / "resources" / "cultural_zones.csv"
    lines = [line for line in zones.read_text("utf-8").splitlines() if not line.startswith("Iran")]
    path = zones_csv(tmp_path, "\n".join(lines) + "\n")
    from culturalign.benchmarks.menavalues import COUNTRIES

    with pytest.raises(ConfigError) as raised:
        build_populations(COUNTRIES, path, subset=["Egypt", "Iran"], where="benchmarks.menavalues")
    message = str(raised.value)
    assert str(path) in message and "'Iran'" in message
    assert "subset" not in message  # the zones file is at fault, not subset.populations
    # a country outside the subset may be missing
    assert "Iran" in set(build_populations(COUNTRIES, path, subset=["Egypt"])["country"])


def test_unknown_subset_population_is_named():
    with pytest.raises(ConfigError, match=r"benchmarks\.x\.subset\.populations: unknown popula"):
        build_populations(["Egypt"], None, subset=["Atlantis"], where="benchmarks.x")


def test_missing_sources_name_their_config_key(tmp_path):
    plugin = create_benchmark("goqa", {"plugin": "globalopinions", "source": str(tmp_path / "x")})
    with pytest.raises(ConfigError, match=r"benchmarks\.goqa\.source: .*x does not exist"):
        missing_sources([plugin])
    survey = create_benchmark("s", {**SURVEY, "populations": str(tmp_path / "zones.csv")})
    with pytest.raises(ConfigError, match=r"benchmarks\.s\.populations: .*zones.csv does not"):
        missing_sources([survey])


# --------------------------------------------------------------------------- contract


def test_check_tables_enforces_the_contract():
    questions = pd.DataFrame(
        [{"question_id": "Q1", "scale_min": 1, "scale_max": 2, "show_options": False,
          "gold": None, "options": labelled_options([1, 2], ["1", "2"])}]
    )  # fmt: skip
    populations = build_populations(["Peru"], None)
    human = pd.DataFrame({"question_id": ["Q1", "Q1"], "country": ["Peru", "Peru"],
                          "option": [1, 2], "share": [0.5, 0.5]})  # fmt: skip
    check_tables(BenchmarkTables(questions, human, populations))
    cases = [
        (questions.assign(gold=3), "gold answer 3 is not one of the codes"),
        (questions.assign(scale_max=3), r"option codes \[1, 2\] are not 1..3"),
        (questions.assign(show_options=True), "an option shown in the prompt has no text"),
        (pd.concat([questions, questions]), "question id 'Q1' appears twice"),
    ]
    for bad, message in cases:
        with pytest.raises(BenchmarkError, match=message):
            check_tables(BenchmarkTables(bad, human, populations))
    with pytest.raises(BenchmarkError, match=r"\(Q1, Peru\) sum to 0.800000"):
        check_tables(BenchmarkTables(questions, human.assign(share=[0.5, 0.3]), populations))
    with pytest.raises(BenchmarkError, match=r"population\(s\) \['Chile'\] missing"):
        check_tables(BenchmarkTables(questions, human.assign(country="Chile"), populations))


def test_option_labels():
    assert option_labels(3) == ["1", "2", "3"]
    assert option_labels(3, start=0) == ["0", "1", "2"]
    assert option_labels(3, "letter") == ["A", "B", "C"]
    assert option_labels(4, "letter", letters="arabic") == list(ARABIC_LETTERS[:4]) == [
        "أ", "ب", "ج", "د"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="exceed"):
        option_labels(27, "letter")
