"""Bad inputs as a user meets them: `snakemake` on a copy of the repository with one thing
wrong. Each run must stop with exit status != 0, say which file, row or config key is at
fault, and leave no output of the failed step behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKBOOK = REPO.parent / "shared" / "data" / "menavalues" / "MenaValues_Benchmark.xlsx"
GOQA = "tests/fixtures/globalopinions/goqa_fixture.csv"
MENA_TABLES = [f"results/menavalues/benchmark/{n}.parquet" for n in
               ("questions", "human", "populations")]  # fmt: skip
GOQA_TABLES = [t.replace("menavalues", "globalopinions") for t in MENA_TABLES]

needs_workbook = pytest.mark.skipif(not WORKBOOK.is_file(), reason="shared workbook absent")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from demo_model import copy_repo

    return copy_repo(tmp_path / "repo")


def run(repo: Path, config: dict, *targets: str, dry: bool = False):
    overlay = repo / "overlay.yaml"
    overlay.write_text(yaml.safe_dump(config), encoding="utf-8")
    command = [sys.executable, "-m", "snakemake", *targets, "--cores", "1",
               "--configfile", str(overlay)]  # fmt: skip
    if dry:
        command.append("-n")
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=600)
    return done.returncode, done.stdout + done.stderr


def mena(**block) -> dict:
    return {"benchmarks": {"menavalues": {"source": str(WORKBOOK), **block}}}


def goqa(source: str = GOQA, **block) -> dict:
    return {
        "benchmarks": {"globalopinions": {"source": source, **block}},
        "run": {"benchmarks": ["globalopinions"]},
    }


def assert_clean_failure(code: int, output: str, *needles: str, absent=()) -> None:
    assert code != 0, output[-3000:]
    for needle in needles:
        assert needle in output, f"{needle!r} not in:\n{output[-4000:]}"
    for path in absent:
        assert not Path(path).exists(), f"{path} was left behind"


def test_a_model_path_that_is_neither_a_directory_nor_a_hub_id(repo):
    config = {"models": {"smollm2-135m": {"path": "resources/models/no/such/model",
                                          "build": None}}}  # fmt: skip
    code, output = run(repo, config, dry=True)
    assert_clean_failure(code, output, "config key models.smollm2-135m.path",
                         "neither an existing directory nor a Hugging Face hub id")  # fmt: skip
    assert "HFValidationError" not in output and "rule generate" not in output


def test_an_unknown_benchmark_in_run_benchmarks(repo):
    code, output = run(repo, {"run": {"benchmarks": ["menavalue"]}}, dry=True)
    assert_clean_failure(code, output, "config key run.benchmarks: unknown benchmark key(s) "
                         "menavalue (defined under benchmarks: menavalues)")  # fmt: skip


def test_a_benchmark_source_that_does_not_exist(repo):
    code, output = run(repo, goqa("data/goqa.parquet"), dry=True)
    assert_clean_failure(code, output, "config key benchmarks.globalopinions.source: "
                         "data/goqa.parquet does not exist")  # fmt: skip


def test_a_globalopinions_row_whose_shares_do_not_sum_to_one(repo):
    from culturalign.benchmarks.globalopinions import parse_selections

    frame = pd.read_csv(repo / GOQA)
    selections = parse_selections(frame.loc[3, "selections"], "row 4")
    selections["Brazil"][0] += 0.2
    frame.loc[3, "selections"] = f"defaultdict(<class 'list'>, {selections!r})"
    frame.to_csv(repo / "bad.csv", index=False)
    code, output = run(repo, goqa("bad.csv"), *GOQA_TABLES)
    message = "bad.csv: line 5, column selections (Brazil): the shares sum to 120.00%"
    assert_clean_failure(code, output, message, absent=[repo / t for t in GOQA_TABLES])


def test_a_globalopinions_file_without_a_column(repo):
    pd.read_csv(repo / GOQA).drop(columns="options").to_csv(repo / "bad.csv", index=False)
    code, output = run(repo, goqa("bad.csv"), *GOQA_TABLES)
    assert_clean_failure(code, output, "bad.csv: missing column(s) options",
                         absent=[repo / t for t in GOQA_TABLES])  # fmt: skip


def test_a_survey_table_option_outside_its_scale(repo):
    distributions = pd.read_csv(repo / "tests/fixtures/survey/distributions.csv")
    distributions.to_csv(repo / "d.csv", index=False)  # -1 is a don't-know code
    config = {
        "benchmarks": {"survey": {"plugin": "survey_table", "distributions": "d.csv",
                                  "questions": "tests/fixtures/survey/questions.csv"}},
        "run": {"benchmarks": ["survey"]},
    }  # fmt: skip
    tables = [t.replace("menavalues", "survey") for t in MENA_TABLES]
    code, output = run(repo, config, *tables)
    assert_clean_failure(code, output, "d.csv: line 6, column option: option -1 lies outside",
                         "nonsubstantive_codes", absent=[repo / t for t in tables])  # fmt: skip


def test_a_misspelt_plugin_key(repo):
    config = goqa()
    config["benchmarks"]["globalopinions"]["share_tolerence"] = 1
    code, output = run(repo, config, dry=True)
    assert_clean_failure(code, output, "config key benchmarks.globalopinions: unknown key(s) "
                         "share_tolerence (allowed: ")  # fmt: skip


def test_a_native_cell_in_a_language_the_templates_lack(repo):
    # Japan's language (CLDR: ja) has no block in resources/prompts/templates.yaml
    translations = repo / "t.tsv"
    translations.write_text("question_id\tlanguage\ttext\toptions\n"
                            "GOQA-0001\tja\t質問\tA|B|C|D\n", "utf-8")  # fmt: skip
    config = goqa(subset={"questions": ["GOQA-0001"], "populations": ["Japan"]},
                  cells={"languages": ["native"], "framings": ["persona"],
                         "reasoning": ["zero"]},
                  prompts={"translations": "t.tsv"})  # fmt: skip
    target = "results/globalopinions/prompts/native/persona/zero.parquet"
    code, output = run(repo, config, target)
    assert_clean_failure(code, output, "templates.yaml: key languages.ja is missing",
                         absent=[repo / target])  # fmt: skip


def test_a_population_the_zones_table_lacks_is_named_with_the_file(repo):
    zones = repo / "resources" / "cultural_zones.csv"
    lines = zones.read_text("utf-8").splitlines()
    (repo / "zones.csv").write_text(
        "\n".join(line for line in lines if not line.startswith("Lebanon")) + "\n", "utf-8"
    )
    code, output = run(repo, mena(populations="zones.csv"), *MENA_TABLES)
    assert_clean_failure(code, output, "zones.csv: no row for population(s) 'Lebanon'",
                         absent=[repo / t for t in MENA_TABLES])  # fmt: skip
    assert "subset.populations" not in output.split("zones.csv: no row")[1].splitlines()[0]


@needs_workbook
def test_an_unknown_question_in_the_subset(repo):
    config = mena(subset={"questions": ["WVS-Q1", "WVS-Q9999"], "populations": ["Egypt"]})
    target = "results/menavalues/prompts/en/persona/zero.parquet"
    code, output = run(repo, config, target)
    assert_clean_failure(code, output, "config key benchmarks.menavalues.subset.questions: "
                         "unknown question id(s) 'WVS-Q9999'", absent=[repo / target])  # fmt: skip


def test_a_broken_phrase_file(repo):
    (repo / "phrases.yaml").write_text("answer_cues: {en: []}\n", "utf-8")
    config = {"parsing": {"phrases": "phrases.yaml"}}
    shard = Path("results/menavalues/generations/smollm2-135m/en/persona/zero.parquet")
    (repo / shard).parent.mkdir(parents=True)
    (repo / shard).write_bytes(b"")  # a damaged shard: named too, once the phrases are fixed
    answers = str(shard).replace("generations", "answers")
    code, output = run(repo, {**config, **mena()}, answers, "--allowed-rules", "parse_answers")
    assert_clean_failure(code, output, "phrases.yaml: key answer_cues.en: must be a non-empty",
                         absent=[repo / answers])  # fmt: skip

    (repo / "phrases.yaml").write_text(
        "answer_cues: {en: [answer]}\nrefusal_phrases: {en: [nope]}\n"
    )
    code, output = run(repo, {**config, **mena()}, answers, "--allowed-rules", "parse_answers")
    assert_clean_failure(code, output, f"{shard}: cannot read the table",
                         "delete it to rebuild it", absent=[repo / answers])  # fmt: skip
