"""The analysis-kind registry: one place decides which analysis a benchmark gets.

The last test adds a stand-in kind to a copy of the repository the way docs/architecture.md
says (a package, a rule file, a benchmark plug-in declaring it, a config) and checks that the
workflow plans its rules without any existing file being edited.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from culturalign.analysis import AnalysisKind, builtin_kinds, get_kind, register_kind
from culturalign.benchmarks import create_benchmark
from culturalign.errors import ConfigError
from culturalign.snakemake_rules import benchmark_kinds, kind_rule_files

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def test_builtin_kinds_declare_what_the_workflow_needs():
    assert builtin_kinds() == ["inventory", "mcq", "ratings", "survey"]
    summaries = {"survey": "metrics/summary.csv", "mcq": "mcq/summary.csv",
                 "inventory": "hofstede/summary.csv", "ratings": "ratings/summary.csv"}  # fmt: skip
    for name, summary in summaries.items():
        kind = get_kind(name)
        assert kind.name == name
        assert kind.summary == summary
        assert (REPO / "workflow" / kind.rule_file).is_file()
    # the survey kind analyses robustness; the ratings kind's zero-shot judges use the
    # variants as replicates; the others ask the original prompts only
    with_variants = [n for n in builtin_kinds() if get_kind(n).robustness_variants]
    assert with_variants == ["ratings", "survey"]


def test_an_unknown_kind_names_the_plugin_and_the_known_kinds():
    with pytest.raises(ConfigError) as caught:
        get_kind("ratingz", plugin="dices")
    message = str(caught.value)
    assert "benchmark plug-in 'dices'" in message
    assert "'ratingz'" in message
    assert "inventory, mcq, ratings, survey" in message


def test_a_kind_name_is_registered_once():
    @register_kind("test_once")
    class Once(AnalysisKind):
        summary = "x/summary.csv"

    assert get_kind("test_once").summary == "x/summary.csv"
    with pytest.raises(ConfigError, match="registered twice"):

        @register_kind("test_once")
        class Again(AnalysisKind):
            summary = "y/summary.csv"

    assert get_kind("test_once").summary == "x/summary.csv"  # the first one stays


def test_benchmarks_get_their_plugins_kinds_and_rule_files():
    plugins = {
        "menavalues": create_benchmark("menavalues", {"source": "x.xlsx"}),
        "aratrust": create_benchmark("aratrust", {"source": "x.csv"}),
    }
    kinds = benchmark_kinds(plugins)
    assert {key: kind.name for key, kind in kinds.items()} == {
        "menavalues": "survey",
        "aratrust": "mcq",
    }
    assert kind_rule_files(kinds) == ["rules/kinds/mcq.smk", "rules/kinds/survey.smk"]


def test_index_lines_come_from_each_kinds_summary():
    survey = pd.DataFrame({"model": ["m", "m"], "language": ["en", "native"],
                           "framing": ["persona", "persona"], "reasoning": ["zero", "zero"],
                           "nvas_mean": [60.0, 80.0], "refusal_rate": [0.1, 0.3]})  # fmt: skip
    line = get_kind("survey").index_line(survey)
    assert line == "mean NVAS 70.0 over 2 cells (best 80.0 in native/persona/zero); refusals 20.0%"
    mcq = pd.DataFrame({"model": ["m"] * 3, "language": ["ar"] * 3, "reasoning": ["zero"] * 3,
                        "category": ["a", "b", "all"], "accuracy": [0.2, 0.6, 0.4],
                        "refusal_rate": [0.0, 0.0, 0.5]})  # fmt: skip
    assert get_kind("mcq").index_line(mcq) == (
        "accuracy 40.0% over 1 cells (best 40.0% in ar/zero); refusals 50.0%"
    )


STANDIN_KIND = '''
"""A stand-in kind: counts the parsed answers of each cell."""

from culturalign.analysis import AnalysisKind, register_kind


@register_kind("standin")
class StandInKind(AnalysisKind):
    description = "answers counted per cell"
    summary = "standin/summary.csv"

    def index_line(self, summary):
        return f"{int(summary['answers'].sum())} answers"
'''

STANDIN_RULES = '''
"""The stand-in kind's rules."""


rule standin_summary:
    wildcard_constraints:
        benchmark=kind_constraint("standin"),
    input:
        answers=lambda w: answers(w.benchmark),
    output:
        summary="results/{benchmark}/standin/summary.csv",
    run:
        import pandas as pd

        counts = [len(pd.read_parquet(path)) for path in input.answers]
        pd.DataFrame({"model": "m", "answers": counts}).to_csv(output.summary, index=False)


rule standin_report:
    wildcard_constraints:
        benchmark=kind_constraint("standin"),
    input:
        summary=rules.standin_summary.output.summary,
    output:
        html="results/{benchmark}/report.html",
    run:
        Path(output.html).write_text("<html></html>")


for _key in benchmarks_of_kind("standin"):
    FINAL_TARGETS.append(f"results/{_key}/standin/summary.csv")
'''

STANDIN_PLUGIN = '''
"""A survey table whose results get the stand-in analysis."""

from culturalign.benchmarks import register_benchmark
from culturalign.benchmarks.survey_table import SurveyTable


@register_benchmark("standin_table")
class StandInTable(SurveyTable):
    kind = "standin"
    schema = "survey_table.schema.yaml"
'''


def _digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not {"__pycache__", ".snakemake"} & set(path.parts)
    }


def test_a_new_kind_needs_new_files_only(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("Snakefile", "config", "resources", "workflow", "src", "envs", "profiles"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns(
                "__pycache__", "models", "wheels", "benchmark", ".cache"))  # fmt: skip
        else:
            shutil.copy2(source, repo / name)
    before = _digest(repo)
    new_files = {
        "src/culturalign/analysis/standin/__init__.py": STANDIN_KIND,
        "workflow/rules/kinds/standin.smk": STANDIN_RULES,
        "src/culturalign/benchmarks/standin_table.py": STANDIN_PLUGIN,
    }
    for relative, text in new_files.items():
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    config = tmp_path / "standin.yaml"
    config.write_text(textwrap.dedent(f"""
        benchmarks:
          standin_table:
            questions: {FIXTURES / "survey" / "questions.csv"}
            distributions: {FIXTURES / "survey" / "distributions.csv"}
            nonsubstantive_codes: [-1]
            cells: {{languages: [en], framings: [neutral], reasoning: [zero]}}
        run: {{benchmarks: [standin_table], models: null}}
        """), encoding="utf-8")  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--configfile",
         str(config), "--directory", str(repo), "--snakefile", str(repo / "Snakefile")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    planned = done.stdout + done.stderr
    for rule in ("standin_summary", "standin_report", "index", "generate", "parse_answers"):
        assert rule in planned, f"{rule} not planned:\n{planned[-2000:]}"
    for rule in ("compute_metrics", "mcq_metrics", "inventory_metrics", "robustness"):
        assert rule not in planned, f"{rule} planned for a stand-in benchmark"
    after = _digest(repo)
    changed = sorted(path for path, digest in before.items() if after.get(path) != digest)
    assert changed == []
    assert sorted(set(after) - set(before)) == sorted(new_files)


def test_benchmark_and_engine_registries_reject_a_second_plugin_under_a_name():
    from culturalign.benchmarks import Benchmark, register_benchmark
    from culturalign.engines import register_engine

    with pytest.raises(ConfigError, match="registered twice"):

        @register_benchmark("menavalues")
        class Impostor(Benchmark):
            pass

    with pytest.raises(ConfigError, match="registered twice"):
        register_engine("vllm", "my.package:FasterEngine")
