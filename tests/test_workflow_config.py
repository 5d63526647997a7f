"""The typed view of the config: model choice, dry-run detection, prompt counts."""

from __future__ import annotations

import pandas as pd
import pytest

from culturalign.errors import ConfigError
from culturalign.prompts import prompts_per_cell
from culturalign.workflow_config import WorkflowSettings, alternation, is_dry_run

CELLS = {"languages": ["en", "native"], "framings": ["neutral", "persona"], "reasoning": ["zero"]}


def test_cells_models_chooses_and_orders_models():
    config = {"cells": {**CELLS, "models": ["b"]}, "models": {"a": {}, "b": {}}}
    settings = WorkflowSettings.from_config(config)
    assert settings.model_keys == ("b",)
    assert len(settings.cells()) == 4
    every = WorkflowSettings.from_config({"cells": CELLS, "models": {"a": {}, "b": {}}})
    assert every.model_keys == ("a", "b")


def test_cells_models_unknown_key_is_named():
    config = {"cells": {**CELLS, "models": ["a", "zz"]}, "models": {"a": {}}}
    with pytest.raises(ConfigError, match=r"cells.models: unknown model key\(s\) zz"):
        WorkflowSettings.from_config(config)


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
    import re

    pattern = re.compile(f"^(?:{alternation(['a.b', 'c'])})$")
    assert pattern.match("a.b") and pattern.match("c")
    assert not pattern.match("axb")
    assert not re.compile(f"^(?:{alternation([])})$").match("")


def test_prompts_per_cell_counts_pairs_and_languages():
    questions = pd.DataFrame(
        {"question_id": ["Q1", "Q2"], "scale_min": [1, 1], "scale_max": [4, 4],
         "scale_type": ["ordinal", "ordinal"]}
    )  # fmt: skip
    human = pd.DataFrame(
        {"question_id": ["Q1", "Q1", "Q1", "Q2"], "country": ["Egypt", "Iran", "Morocco", "Iran"]}
    )
    languages = {"Egypt": "ar", "Iran": "fa", "Morocco": "ar", "Turkey": "tr"}
    counts = prompts_per_cell(
        questions, human, [("en", "neutral"), ("native", "neutral"), ("native", "persona")],
        country_languages=languages,
    )  # fmt: skip
    # en neutral: 2 questions; native neutral: Q1 in ar+fa, Q2 in fa; persona: 4 pairs.
    assert counts == {("en", "neutral"): 2, ("native", "neutral"): 3, ("native", "persona"): 4}
