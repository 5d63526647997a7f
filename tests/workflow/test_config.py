"""The config: schema validation with defaults, benchmark selection and cells, dry runs."""

from __future__ import annotations

import copy
import re

import pandas as pd
import pytest
import yaml

from culturalign.benchmarks.populations import build_populations
from culturalign.errors import ConfigError
from culturalign.prompts.building import prompts_per_cell
from culturalign.settings import WorkflowSettings, validate_config
from culturalign.snakemake_rules import alternation, is_dry_run

CELLS = {"languages": ["en", "native"], "framings": ["neutral", "persona"], "reasoning": ["zero"]}


def config(**extra) -> dict:
    base = {"benchmarks": {"menavalues": {}}, "models": {"a": {"path": "x"}, "b": {"path": "y"}}}
    base.update(extra)
    return validate_config(base)


def test_defaults_are_filled_in_from_the_schemas():
    filled = config()
    assert filled["generation"] == {"mode": "run", "jobs": "cell", "logprobs": 20,
                                    "logprob_positions": 4, "max_tokens": {"zero": 8, "cot": 64},
                                    "seed": 0}  # fmt: skip
    assert filled["cells"]["framings"] == ["neutral", "persona", "observer"]
    assert filled["models"]["a"]["engine"] == "vllm" and filled["models"]["a"]["device"] == "cpu"
    block = filled["benchmarks"]["menavalues"]
    assert block["source"] == "resources/benchmark/MenaValues_Benchmark.xlsx"  # the plug-in's
    assert block["subset"] == {"questions": None, "populations": None}  # the common schema's
    # defaults are copies: filling one model or benchmark never changes another
    filled["models"]["a"]["engine_options"]["x"] = 1
    assert filled["models"]["b"]["engine_options"] == {}


def test_the_default_and_paper_configs_validate(repo_root):
    for name in ("config.yaml", "paper.yaml"):
        loaded = yaml.safe_load((repo_root / "config" / name).read_text("utf-8"))
        validate_config(copy.deepcopy(loaded))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(cellz={}), r"config key \(top level\): unknown key\(s\) cellz"),
        (lambda c: c["models"]["a"].update(engine="llama"), r"models\.a\.engine: 'llama' is not"),
        (lambda c: c["models"]["a"].pop("path"), r"models\.a: 'path' is required"),
        (lambda c: c["models"].update({"bad key": {"path": "x"}}), r"models: 'bad key'"),
        (lambda c: c.update(generation={"logprobs": 50}), r"generation\.logprobs: 50 is greater"),
        (lambda c: c.update(generation={"max_tokens": {"zero": 0}}), r"max_tokens\.zero: 0"),
        (lambda c: c["benchmarks"]["menavalues"].update(sorce="x"),
         r"benchmarks\.menavalues: unknown key\(s\) sorce \(allowed: cells, files, on_bad_row, "
         r"plugin, populations"),
        (lambda c: c["benchmarks"]["menavalues"].update(subset={"countries": ["Egypt"]}),
         r"benchmarks\.menavalues\.subset: unknown key\(s\) countries"),
        (lambda c: c["benchmarks"]["menavalues"].update(cells={"framings": ["hero"]}),
         r"benchmarks\.menavalues\.cells\.framings\.0: 'hero' is not one of"),
        (lambda c: c["benchmarks"].update(atlas={}),
         r"benchmarks\.atlas\.plugin: unknown benchmark plug-in 'atlas' \(known: "),
        (lambda c: c["benchmarks"].update(goqa={"plugin": "globalopinions"}),
         r"benchmarks\.goqa: 'source' is required"),
        (lambda c: c["benchmarks"].update(s={"plugin": "survey_table", "questions": "q.csv"}),
         r"benchmarks\.s: 'distributions' is required"),
        (lambda c: c["benchmarks"].update(s={"plugin": "no.such:Thing"}),
         r"benchmarks\.s\.plugin: cannot load plug-in 'no.such:Thing'"),
        (lambda c: c.update(benchmarks={}), r"benchmarks: .* should be non-empty"),
        (lambda c: c["benchmarks"]["menavalues"].update(sha256="abc"), r"sha256: 'abc' does not"),
    ],
)  # fmt: skip
def test_bad_config_values_name_the_key(edit, message):
    raw = {"benchmarks": {"menavalues": {}}, "models": {"a": {"path": "x"}}}
    edit(raw)
    with pytest.raises(ConfigError, match=message):
        validate_config(raw)


def test_nested_command_line_values_are_read_as_yaml_would_read_them():
    """``snakemake --config`` hands nested values over as strings (YAML's base loader): where
    the schema wants a number, a boolean or null, the string is read as YAML reads it; where
    it wants a string, or YAML reads no such value, it stays a string (and is refused)."""
    from snakemake.cli import parse_config

    given = parse_config([
        "generation={seed: 7}",
        "robustness={sample: 0.5}",
        "metrics={bootstrap_resamples: 99, kld_smoothing: 1e-3}",
        "translation={check_human: true, back_model: '12'}",
    ])  # fmt: skip
    assert given["metrics"]["bootstrap_resamples"] == "99"  # what Snakemake gives
    filled = config(**given)
    assert filled["generation"]["seed"] == 7
    assert filled["robustness"]["sample"] == 0.5
    assert filled["metrics"]["bootstrap_resamples"] == 99
    assert filled["metrics"]["kld_smoothing"] == 0.001
    assert filled["translation"]["check_human"] is True
    assert filled["translation"]["back_model"] == "12"  # a string where a string is wanted
    with pytest.raises(ConfigError, match=r"metrics\.bootstrap_resamples: 'many' is not of"):
        config(**parse_config(["metrics={bootstrap_resamples: many}"]))
    with pytest.raises(ConfigError, match=r"metrics\.bootstrap_resamples: '0\.5' is not of"):
        config(**parse_config(["metrics={bootstrap_resamples: 0.5}"]))


def test_run_models_chooses_and_orders_models():
    settings = WorkflowSettings.from_config(config(cells=CELLS, run={"models": ["b"]}))
    assert settings.model_keys == ("b",)
    assert len(settings.cells("menavalues")) == 4
    every = WorkflowSettings.from_config(config(cells=CELLS))
    assert every.model_keys == ("a", "b")


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ({"models": ["a", "zz"]}, r"run\.models: unknown model key\(s\) zz"),
        (
            {"benchmarks": ["menavalues", "goqa"]},
            r"run\.benchmarks: unknown benchmark key\(s\) goqa",
        ),
    ],
)
def test_unknown_run_keys_are_named(run, message):
    with pytest.raises(ConfigError, match=message):
        WorkflowSettings.from_config(config(run=run))


def test_each_benchmark_keeps_the_cells_that_apply_to_it():
    raw = config(
        benchmarks={
            "menavalues": {"cells": {"languages": ["en"]}},
            "goqa": {"plugin": "globalopinions", "source": "g.csv"},
        },
        cells=CELLS,
        run={"benchmarks": ["goqa", "menavalues"]},
    )
    settings = WorkflowSettings.from_config(raw)
    assert list(settings.benchmarks) == ["goqa", "menavalues"]
    assert settings.benchmarks["menavalues"].languages == ("en",)
    assert settings.benchmarks["goqa"].languages == ("en", "native")
    assert settings.values("languages") == ("en", "native")
    jobs = list(settings.jobs())
    assert len(jobs) == 2 * 4 + 2 * 2 and {job["benchmark"] for job in jobs} == {
        "goqa",
        "menavalues",
    }


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["snakemake", "-n"], True),
        (["snakemake", "-np", "--cores", "2"], True),
        (["snakemake", "--dry-run"], True),
        (["snakemake", "--cores", "2", "--config", "a=n"], False),
        (["snakemake", "--notemp"], False),
        (["snakemake", "-c2"], False),
    ],
)
def test_is_dry_run(argv, expected):
    assert is_dry_run(argv) is expected


def test_alternation_matches_whole_values_only():
    pattern = re.compile(f"^(?:{alternation(['a.b', 'c'])})$")
    assert pattern.match("a.b") and pattern.match("c")
    assert not pattern.match("axb")
    assert not re.compile(f"^(?:{alternation([])})$").match("")


def test_prompts_per_cell_counts_pairs_and_languages():
    questions = pd.DataFrame(
        {"question_id": ["Q1", "Q2"], "scale_min": [1, 1], "scale_max": [4, 4],
         "scale_type": ["ordinal", "ordinal"]}
    )  # fmt: skip
    pairs = pd.DataFrame(
        {"question_id": ["Q1", "Q1", "Q1", "Q2"], "country": ["Egypt", "Iran", "Morocco", "Iran"]}
    )
    populations = build_populations(["Egypt", "Iran", "Morocco", "Turkey"], None)
    counts = prompts_per_cell(
        questions, pairs, populations, [("en", "neutral"), ("native", "neutral"),
                                        ("native", "persona")],
    )  # fmt: skip
    # en neutral: 2 questions; native neutral: Q1 in ar+fa, Q2 in fa; persona: 4 pairs.
    assert counts == {("en", "neutral"): 2, ("native", "neutral"): 3, ("native", "persona"): 4}
