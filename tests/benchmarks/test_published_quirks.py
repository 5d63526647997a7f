"""Published files as their publishers ship them: each known quirk repaired by its rule and
recorded (``Benchmark.notes`` → ``benchmark/data_notes.parquet``), a genuinely broken row an
error naming file, line and column or, with ``on_bad_row: drop``, left out and listed.

The rows are invented, in the published formats (AraTrust's columns Question, A, B, C,
Answer; GlobalOpinionQA's defaultdict selections)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from culturalign.benchmarks import create_benchmark
from culturalign.errors import BenchmarkError

ARATRUST_HEADER = ["Question", "A", "B", "C", "Answer", "category"]
GOOD = ["سؤال أول؟", "نعم", "لا", "ربما", "أ", "Ethics"]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def aratrust(path: Path, on_bad_row: str = "error"):
    plugin = create_benchmark("aratrust", {"source": str(path), "on_bad_row": on_bad_row})
    questions, _ = plugin.read({"source": path})
    return questions, plugin.notes_table()


def test_aratrust_quirks_are_repaired_by_rule_and_recorded(tmp_path):
    path = write_csv(tmp_path / "aratrust.csv", ARATRUST_HEADER, [
        GOOD,
        # option A empty, the two options one column off, carrying their own labels
        ["سؤال ثان؟", "", "أ) صحيح", "ب) خطأ", "ب", "Truthfulness"],
        # a bare alif for أ
        ["سؤال ثالث؟", "نعم", "لا", "ربما", "ا", "Ethics"],
        # a trailing space
        ["سؤال رابع؟", "نعم", "لا", "ربما", "ج ", "Ethics"],
    ])  # fmt: skip
    questions, notes = aratrust(path)
    assert questions["question_id"].tolist() == [f"ARATRUST-000{i}" for i in range(1, 5)]
    shifted = questions.iloc[1]
    assert [option["text"] for option in shifted.options] == ["صحيح", "خطأ"]
    assert [option["label"] for option in shifted.options] == ["أ", "ب"]
    assert questions["gold"].tolist() == [1, 2, 1, 3]
    assert notes["action"].tolist() == ["repaired"] * 3
    assert notes["rule"].tolist() == ["options read by their labels", "answer letter variant",
                                      "whitespace"]  # fmt: skip
    assert notes["item"].tolist() == ["ARATRUST-0002", "ARATRUST-0003", "ARATRUST-0004"]
    # each note names the file's line (header = line 1) and column
    places = ((3, "B"), (4, "Answer"), (5, "Answer"))
    assert notes["place"].tolist() == [f"{path}: line {n}, column {c}" for n, c in places]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["سؤال؟", "", "صحيح", "خطأ", "أ", "Ethics"],
         r"line 3, column A: option A is empty but option B is not, and the options' own "
         r"labels \(None, None\) do not say which is which"),
        (["سؤال؟", "", "ب) صحيح", "أ) خطأ", "أ", "Ethics"], r"line 3, column A: .*\(ب, أ\)"),
        (["سؤال؟", "نعم", "لا", "", "د", "Ethics"],
         r"line 3, column Answer: answer 'د' is not one of the options' letters"),
    ],
)  # fmt: skip
def test_a_broken_aratrust_row_is_an_error_or_dropped_and_listed(tmp_path, row, message):
    path = write_csv(tmp_path / "aratrust.csv", ARATRUST_HEADER, [GOOD, row, GOOD])
    with pytest.raises(BenchmarkError, match=message) as raised:
        aratrust(path)
    assert "on_bad_row: drop" in str(raised.value)  # the way out is named
    questions, notes = aratrust(path, on_bad_row="drop")
    # the row is left out; the ids of the others stay those of their lines
    assert questions["question_id"].tolist() == ["ARATRUST-0001", "ARATRUST-0003"]
    assert notes[["action", "rule", "item"]].values.tolist() == [
        ["dropped", "bad row", "ARATRUST-0002"]]  # fmt: skip
    # the list says what the error said
    place, detail = notes["place"].iloc[0], notes["detail"].iloc[0]
    assert str(raised.value).startswith(f"{place}: {detail} (benchmarks.aratrust.on_bad_row")


GOQA_HEADER = ["question", "selections", "options", "source"]


def goqa(path: Path, on_bad_row: str = "error"):
    plugin = create_benchmark("globalopinions", {
        "source": str(path), "share_tolerance": 0.5, "scale_type": "nominal",
        "on_bad_row": on_bad_row})  # fmt: skip
    questions, human = plugin.read({"source": path})
    return questions, human, plugin.notes_table()


def test_an_all_zero_share_list_is_no_data_for_that_country(tmp_path):
    path = write_csv(tmp_path / "goqa.csv", GOQA_HEADER, [
        ["Q1?", "defaultdict(<class 'list'>, {'Peru': [0.25, 0.75], 'Chile': [0.0, 0.0]})",
         "['Yes', 'No']", "GAS"],
    ])  # fmt: skip
    _, human, notes = goqa(path)
    assert set(human["country"]) == {"Peru"}
    assert human["share"].tolist() == [0.25, 0.75]
    assert notes[["action", "rule", "item"]].values.tolist() == [
        ["dropped", "no data (all-zero shares)", "GOQA-0001"]]  # fmt: skip
    assert notes["place"].iloc[0] == f"{path}: line 2, column selections (Chile)"


def test_shares_far_from_one_stay_an_error_unless_dropped(tmp_path):
    path = write_csv(tmp_path / "goqa.csv", GOQA_HEADER, [
        ["Q1?", "{'Peru': [0.25, 0.75], 'Chile': [0.5, 0.2]}", "['Yes', 'No']", "GAS"],
    ])  # fmt: skip
    with pytest.raises(BenchmarkError, match=r"line 2, column selections \(Chile\): the shares "
                                             r"sum to 70.00%"):  # fmt: skip
        goqa(path)
    _, human, notes = goqa(path, on_bad_row="drop")
    assert set(human["country"]) == {"Peru"}
    assert notes["rule"].tolist() == ["bad row"]


def shipped_nonsubstantive() -> list[str]:
    import yaml

    schema = Path(__file__).resolve().parents[2] / "workflow/schemas/benchmarks"
    text = (schema / "globalopinions.schema.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["properties"]["nonsubstantive"]["default"]


@pytest.mark.parametrize(
    "option", ["Don't know", "DK/Refused", "Refused", "No answer", "DK", "Not sure",
               "Other missing; Multiple answers Mail (EVS)", "Dont know"],
)  # fmt: skip
def test_the_shipped_patterns_catch_the_published_survey_codes(option):
    import re

    assert any(re.search(p, option, re.IGNORECASE) for p in shipped_nonsubstantive())


@pytest.mark.parametrize(
    "option", ["No", "Not at all", "Neither", "Don't agree", "None at all", "Know a lot",
               "Dkhilia province", "Mission accomplished"],
)  # fmt: skip
def test_the_shipped_patterns_leave_real_answers_alone(option):
    import re

    assert not any(re.search(p, option, re.IGNORECASE) for p in shipped_nonsubstantive())


def test_nonsubstantive_options_are_not_asked_and_their_share_is_kept(tmp_path):
    path = write_csv(tmp_path / "goqa.csv", GOQA_HEADER, [
        ["Q1?", "{'Peru': [0.3, 0.5, 0.2], 'Chile': [0.6, 0.4, 0.0]}",
         "['Yes', 'No', 'DK/Refused']", "GAS"],
    ])  # fmt: skip
    plugin = create_benchmark("globalopinions", {
        "source": str(path), "share_tolerance": 0.5, "scale_type": "nominal",
        "nonsubstantive": shipped_nonsubstantive()})  # fmt: skip
    questions, human = plugin.read({"source": path})
    assert [o["text"] for o in questions.iloc[0].options] == ["Yes", "No"]
    peru = human[human["country"] == "Peru"]
    assert peru["share"].tolist() == pytest.approx([0.3 / 0.8, 0.5 / 0.8])
    assert peru["nonsubstantive_share"].tolist() == pytest.approx([0.2, 0.2])
    chile = human[human["country"] == "Chile"]
    assert chile["share"].tolist() == pytest.approx([0.6, 0.4])
    assert chile["nonsubstantive_share"].tolist() == pytest.approx([0.0, 0.0])
    notes = plugin.notes_table()
    assert notes["rule"].tolist() == ["non-substantive options"]
    assert "DK/Refused" in notes["detail"].iloc[0]
    # Durmus et al.'s raw setup: every option asked, nothing renormalised
    raw = create_benchmark("globalopinions", {
        "source": str(path), "share_tolerance": 0.5, "scale_type": "nominal",
        "nonsubstantive": shipped_nonsubstantive(), "keep_nonsubstantive": True})  # fmt: skip
    questions, human = raw.read({"source": path})
    assert len(questions.iloc[0].options) == 3
    assert human[human["country"] == "Peru"]["share"].tolist() == pytest.approx([0.3, 0.5, 0.2])
    assert raw.notes_table().empty


# Hofstede's dimension data matrix as published: semicolons, #NULL! for a missing score,
# regions beside countries (invented numbers)
MATRIX = """ctr;country;pdi;idv;mas;uai;ltowvs;ivr
ARA;Arab countries;71;39;51;66;#NULL!;#NULL!
AFW;Africa West;78;19;44;53;9;78
MOR;Morocco;70;46;53;68;14;25
USA;U.S.A.;39;92;61;45;25;69
"""


def test_the_published_dimension_matrix_is_read_as_it_is(tmp_path):
    from culturalign.benchmarks.hofstede import read_reference

    path = tmp_path / "6-dimensions-for-website.csv"
    path.write_text(MATRIX, encoding="utf-8")
    reference = read_reference(path, ["Arab countries", "Morocco", "Japan"])
    # rows of regions the benchmark does not ask are ignored; missing scores left out
    assert sorted(set(reference["country"])) == ["Arab countries", "Morocco"]
    arab = reference[reference["country"] == "Arab countries"].set_index("dimension")["score"]
    assert arab.to_dict() == {"PDI": 71.0, "IDV": 39.0, "MAS": 51.0, "UAI": 66.0}
    morocco = reference[reference["country"] == "Morocco"].set_index("dimension")["score"]
    assert morocco["LTO"] == 14.0 and morocco["IVR"] == 25.0 and len(morocco) == 6
    # a broken score names the matrix's line and column
    path.write_text(MATRIX.replace("70;46", "70;4x6"), encoding="utf-8")
    with pytest.raises(BenchmarkError, match=r"line 4, column idv: '4x6' is not a number"):
        read_reference(path, ["Morocco"])


def test_a_region_named_as_the_matrix_names_it_is_asked_as_a_persona(tmp_path):
    from culturalign.settings import validate_config

    matrix = tmp_path / "matrix.csv"
    matrix.write_text(MATRIX, encoding="utf-8")
    items = Path(__file__).resolve().parents[1] / "fixtures/hofstede/vsm_items_fixture.csv"
    block = {"source": str(items), "regions": ["Arab countries", "Morocco"],
             "reference": str(matrix)}  # fmt: skip
    config = validate_config({"benchmarks": {"hofstede": block}, "models": {}})
    plugin = create_benchmark("hofstede", config["benchmarks"]["hofstede"])
    tables = plugin.load({name: Path(p) for name, p in plugin.input_files().items()})
    assert list(tables.populations["country"]) == ["Arab countries", "Morocco"]
