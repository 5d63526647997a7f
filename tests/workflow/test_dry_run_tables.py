"""The dry run's prompt-count table (culturalign.snakemake_rules.prompt_count_table), called the way
workflow/rules/common.smk builds its arguments (validated config, WorkflowSettings, one
plug-in per benchmark) on the invented fixtures in tests/fixtures; every count below is
worked out by hand from the fixture files."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from culturalign.benchmarks import create_benchmark
from culturalign.settings import WorkflowSettings, validate_config
from culturalign.snakemake_rules import prompt_count_table

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
SURVEY_QUESTIONS = FIXTURES / "survey" / "questions.csv"
SURVEY_DISTRIBUTIONS = FIXTURES / "survey" / "distributions.csv"
GOQA = FIXTURES / "globalopinions" / "goqa_fixture.csv"
ARATRUST = FIXTURES / "aratrust" / "aratrust_fixture.csv"

# Invented populations table for the survey fixture: Japan is given German as its prompt
# language so that two populations share one (neutral native prompts are one per language).
POPULATIONS = (
    "country,iso3,language\nGermany,DEU,de\nBrazil,BRA,pt\nJapan,JPN,de\nKenya,KEN,sw;en\n"
)


def dry_run_table(config: dict) -> str:
    """What rule files print on ``snakemake -n`` (workflow/rules/common.smk, prompts.smk)."""
    config = validate_config(config)
    settings = WorkflowSettings.from_config(config)
    benchmarks = {key: create_benchmark(key, block) for key, block in config["benchmarks"].items()}
    return prompt_count_table(config, settings, benchmarks)


def parse(table: str) -> dict:
    """The table's numbers, per benchmark key (and ``total``), read back from its lines."""
    out: dict = {}
    current = None
    for line in table.splitlines():
        if match := re.fullmatch(r"culturalign: (\S+): prompts per cell \(.*\)", line):
            current = out.setdefault(match[1], {"cells": {}, "api": {}})
        elif match := re.fullmatch(r"culturalign: ([\d,]+) prompts in all benchmarks", line):
            out["total"] = int(match[1].replace(",", ""))
        elif match := re.fullmatch(r"culturalign: (\S+): API model (\S+) \((.*)\)", line):
            current = out[match[1]]
            current["api_models"] = {**current.get("api_models", {}), match[2]: match[3]}
        elif match := re.fullmatch(r"culturalign: (\S+): (.*)", line):
            out.setdefault(match[1], {"cells": {}, "api": {}})["note"] = match[2]
            current = out[match[1]]
        elif match := re.fullmatch(r"  (en|native) +(neutral|persona|observer) +([\d,]+)", line):
            current["cells"][(match[1], match[2])] = int(match[3].replace(",", ""))
        elif match := re.fullmatch(
            r"  ([\d,]+) prompts per model, ([\d,]+) in all \((\d+) model\(s\) x (\d+) cells\)",
            line,
        ):
            per_model, in_all, models, cells = (int(g.replace(",", "")) for g in match.groups())
            current.update(per_model=per_model, in_all=in_all, models=models, n_cells=cells)
        elif match := re.fullmatch(
            r"  \+ up to ([\d,]+) variant prompts per model, as rows of the same jobs "
            r"\((.*?); reversed only .*",
            line,
        ):
            current["variants"] = int(match[1].replace(",", ""))
            current["variant_names"] = match[2]
        elif match := re.fullmatch(r"  (\S+/\S+/\S+) +(.*)", line):
            current["api"][match[1]] = match[2]
        else:
            raise AssertionError(f"unexpected line: {line!r}")
    return out


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty run directory (no results/ yet), as the current directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "populations.csv").write_text(POPULATIONS)
    return tmp_path


def survey_block(**extra) -> dict:
    return {
        "plugin": "survey_table", "questions": str(SURVEY_QUESTIONS),
        "distributions": str(SURVEY_DISTRIBUTIONS), "nonsubstantive_codes": [-1],
        "populations": "populations.csv",
        "subset": {"questions": ["SV-01", "SV-03", "SV-05"],
                   "populations": ["Kenya", "Japan", "Germany"]},
        **extra,
    }  # fmt: skip


def two_benchmarks(models=("a", "b", "c")) -> dict:
    return {
        "benchmarks": {
            "survey": survey_block(),
            "goqa": {
                "plugin": "globalopinions",
                "source": str(GOQA),
                "cells": {"languages": ["en"], "framings": ["persona"]},
            },
        },  # fmt: skip
        "models": {
            "a": {"path": "x"},
            "b": {"path": "y"},
            "c": {"path": "z"},
            "api": {
                "engine": "openai",
                "model": "gpt-x",
                "base_url": "http://localhost:9/v1",
                "api_key_env": "CULTURALIGN_TEST_NO_KEY",
            },
        },  # fmt: skip
        "run": {"models": list(models)},
        "cells": {
            "languages": ["en", "native"],
            "framings": ["neutral", "persona"],
            "reasoning": ["zero", "cot"],
        },  # fmt: skip
        "robustness": {
            "variants": ["wording-2", "wording-3", "reversed"],
            "cells": {"languages": ["en"], "reasoning": ["zero"]},
        },  # fmt: skip
        "prompts": {"templates": str(REPO / "resources" / "prompts" / "templates.yaml")},
    }


# Worked out by hand from tests/fixtures/survey/distributions.csv restricted to the subset
# (SV-01, SV-03, SV-05 x Kenya, Japan, Germany): SV-01 has data for all three, SV-03 for
# Germany and Japan (no Kenya row), SV-05 for all three.
SURVEY_CELLS = {
    ("en", "neutral"): 3,  # one English prompt per question with data
    ("en", "persona"): 8,  # one per (question, population) pair: 3 + 2 + 3
    # one per question and prompt language among its populations (Germany and Japan: de,
    # Kenya: sw, its first language): SV-01 {de, sw}, SV-03 {de}, SV-05 {de, sw}
    ("native", "neutral"): 5,
    ("native", "persona"): 8,
}
# goqa_fixture.csv: 12 questions, 9 with 5 countries and 3 with 4 (no Britain): 57 pairs
GOQA_PERSONA = 9 * 5 + 3 * 4


def test_prompts_per_cell_variants_and_total(workdir):
    table = parse(dry_run_table(two_benchmarks()))
    survey, goqa = table["survey"], table["goqa"]
    assert survey["cells"] == SURVEY_CELLS
    per_model = sum(SURVEY_CELLS.values()) * 2  # both reasoning modes
    assert per_model == 48
    assert survey["per_model"] == per_model and survey["in_all"] == 3 * per_model
    assert (survey["models"], survey["n_cells"]) == (3, 2 * 2 * 2)
    # robustness variants in en cells, zero-shot only: 3 variants per original prompt
    assert survey["variants"] == 3 * (3 + 8) == 33
    assert survey["variant_names"] == "wording-2, wording-3, reversed"
    assert goqa["cells"] == {("en", "persona"): GOQA_PERSONA}
    assert goqa["per_model"] == 2 * 57 and goqa["in_all"] == 3 * 2 * 57
    assert (goqa["models"], goqa["n_cells"]) == (3, 2)
    assert goqa["variants"] == 3 * 57
    # every benchmark's prompts and variant rows, for every model
    assert table["total"] == 3 * (48 + 33) + 3 * (114 + 171) == 1098
    assert survey["api"] == {} and goqa["api"] == {}  # no API model selected


def test_one_benchmark_prints_no_total(workdir):
    config = two_benchmarks(models=("a",))
    config["run"]["benchmarks"] = ["survey"]
    config["robustness"]["variants"] = []
    table = parse(dry_run_table(config))
    assert set(table) == {"survey"}  # no total line, no goqa section
    assert table["survey"]["per_model"] == table["survey"]["in_all"] == 48
    assert "variants" not in table["survey"]


def test_api_models_get_requests_and_output_token_bounds(workdir):
    table = parse(dry_run_table(two_benchmarks(models=("a", "api"))))
    goqa = table["goqa"]
    assert goqa["api_models"] == {"api": "openai: gpt-x at http://localhost:9/v1"}
    assert "api_models" not in parse(dry_run_table(two_benchmarks()))["goqa"]
    # zero-shot: each original prompt plus its 3 variants (GlobalOpinionQA lists its options
    # after the question, so every question reverses); cot: originals only. Output tokens
    # are bounded by generation.max_tokens (zero 8, cot 64) per request.
    zero = re.fullmatch(
        r"228 requests \(57 original \+ 171 variant\); ~([\d,]+) input tokens, <= 1,824 "
        r"output tokens",
        goqa["api"]["en/persona/zero"],
    )
    cot = re.fullmatch(r"57 requests; ~([\d,]+) input tokens, <= 3,648 output tokens",
                       goqa["api"]["en/persona/cot"])  # fmt: skip
    assert zero and cot
    # input estimate: characters / 4 + 10 per request, so at least 10 per request
    assert int(zero[1].replace(",", "")) > 10 * 228 and int(cot[1].replace(",", "")) > 10 * 57
    survey = table["survey"]["api"]
    # the survey fixture's SV-01/03/05 texts name their scale in prose ("1 means ... and 4
    # means ...", "from 1 (...) to 10 (...)", "1 agree, 2 disagree"), which no reversal form
    # matches: only the two wordings are added
    assert survey["en/neutral/zero"].startswith("9 requests (3 original + 6 variant);")
    assert survey["en/neutral/zero"].endswith("<= 72 output tokens")
    assert survey["en/persona/zero"].startswith("24 requests (8 original + 16 variant);")
    assert survey["en/persona/cot"].startswith("8 requests;")
    assert survey["en/persona/cot"].endswith("<= 512 output tokens")
    # native prompts need translations the test config does not give: said per cell
    for cell in ("native/neutral/zero", "native/persona/cot"):
        assert survey[cell].startswith("requests unknown (question SV-01: the native/")
        assert "no translation table is configured" in survey[cell]
    assert table["total"] == 2 * (48 + 33) + 2 * (114 + 171)


def test_circular_eval_rotations_count_only_where_a_question_has_more_options(workdir):
    config = {"benchmarks": {"aratrust": {"source": str(ARATRUST)}}, "models": {"m": {"path": "x"}},
              "robustness": {"variants": ["reversed", "wording-2"]}}  # fmt: skip
    table = parse(dry_run_table(config))["aratrust"]
    # 9 questions for one population, native neutral only; zero and cot
    assert table["cells"] == {("native", "neutral"): 9}
    assert table["per_model"] == table["in_all"] == 18 and table["n_cells"] == 2
    # each question has 3 options (A, B, C): rotated-1 and rotated-2 exist, rotated-3.. do
    # not; the survey robustness variants do not apply to a multiple-choice benchmark
    assert table["variants"] == 9 * 2 * 2
    assert table["variant_names"] == "rotated-K (CircularEval)"


def test_imported_tables_are_preferred_to_the_source(workdir):
    """Once results/<key>/benchmark/*.parquet exist, the counts come from them."""
    config = validate_config(two_benchmarks())
    plugin = create_benchmark("survey", config["benchmarks"]["survey"])
    questions, human, populations = plugin.load(
        {name: Path(path) for name, path in plugin.input_files().items()}
    )
    folder = workdir / "results" / "survey" / "benchmark"
    folder.mkdir(parents=True)
    questions.to_parquet(folder / "questions.parquet")
    human[human["question_id"] == "SV-01"].to_parquet(folder / "human.parquet")
    populations.to_parquet(folder / "populations.parquet")
    table = parse(dry_run_table(two_benchmarks()))["survey"]
    # only SV-01 has human data now: 1 neutral English prompt, Germany/Japan/Kenya, {de, sw}
    assert table["cells"] == {("en", "neutral"): 1, ("en", "persona"): 3,
                              ("native", "neutral"): 2, ("native", "persona"): 3}  # fmt: skip
    assert table["per_model"] == 18 and table["variants"] == 3 * (1 + 3)


def test_missing_and_broken_sources_are_notes_not_errors(workdir):
    config = two_benchmarks()
    config["benchmarks"]["survey"]["distributions"] = str(workdir / "not-there.csv")
    table = parse(dry_run_table(config))
    assert table["survey"]["note"] == "prompts per cell are known once its source is there"
    assert table["survey"]["cells"] == {}
    # the other benchmark is still counted, and the total holds only what is known
    assert table["goqa"]["cells"] == {("en", "persona"): 57}
    assert table["total"] == 3 * (114 + 171)

    broken = workdir / "broken.csv"
    pd.DataFrame({"question_id": ["SV-01"], "population": ["Germany"], "option": [9],
                  "share": [100]}).to_csv(broken, index=False)  # fmt: skip
    config = two_benchmarks()
    config["benchmarks"]["survey"]["distributions"] = str(broken)
    table = parse(dry_run_table(config))
    assert table["survey"]["note"].startswith(f"{broken}: line 2, column option: option 9 ")
    assert table["survey"]["cells"] == {} and table["total"] == 3 * (114 + 171)
