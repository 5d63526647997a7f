"""tools/compare_results.py and tools/dry_run_jobs.py: the scripts that hold a refactoring to
"every table and job identical" must see every difference."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare_results = load("compare_results")
dry_run_jobs = load("dry_run_jobs")


def write(root: Path, frame: pd.DataFrame, metadata: dict | None = None) -> None:
    (root / "m").mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        raw = {f"culturalign.{k}".encode(): json.dumps(v).encode() for k, v in metadata.items()}
        table = table.replace_schema_metadata({**table.schema.metadata, **raw})
    pq.write_table(table, root / "m" / "items.parquet")
    frame.drop(columns=["probs"]).to_csv(root / "m" / "summary.csv", index=False)


FRAME = pd.DataFrame({"q": ["a", "b"], "nvas": [50.0, None], "probs": [[0.25, 0.75], None]})


def test_identical_tables_pass_and_timings_do_not_count(tmp_path):
    write(tmp_path / "before", FRAME, {"generation_seconds": 1.0, "model": "x"})
    write(tmp_path / "after", FRAME.copy(), {"generation_seconds": 9.0, "model": "x"})
    report = compare_results.compare(tmp_path / "before", tmp_path / "after")
    assert sorted(report["identical"]) == ["m/items.parquet", "m/summary.csv"]
    assert report["differ"] == {} and report["metadata_differ"] == {}


def test_a_changed_value_a_changed_list_and_a_missing_table_are_reported(tmp_path):
    write(tmp_path / "before", FRAME, {"model": "x"})
    changed = FRAME.copy()
    changed.loc[0, "nvas"] = 50.5
    changed.at[1, "probs"] = [1.0, 0.0]
    write(tmp_path / "after", changed, {"model": "y"})
    (tmp_path / "before" / "m" / "extra.csv").write_text("a\n1\n")
    report = compare_results.compare(tmp_path / "before", tmp_path / "after")
    problems = report["differ"]["m/items.parquet"]
    assert "nvas: values differ (max abs difference 0.5)" in problems
    assert "probs: values differ" in problems
    assert report["differ"]["m/summary.csv"] == ["nvas: values differ"]
    assert report["only_before"] == ["m/extra.csv"]
    assert report["metadata_differ"] == {"m/items.parquet": ["culturalign.model"]}
    assert compare_results.main([str(tmp_path / "before"), str(tmp_path / "after")]) == 1


def test_nested_numbers_that_moved_are_measured_and_other_changes_only_named():
    options = [[{"code": 1, "prob": 0.25}, {"code": 2, "prob": 0.75}]] * 3
    moved = [options[0], [{"code": 1, "prob": 0.2500003}, {"code": 2, "prob": 0.7499997}],
             [{"code": 1, "prob": 0.25}, {"code": 2, "prob": 0.75 - 2e-6}]]  # fmt: skip
    relabelled = [[{"code": 1, "prob": 0.25}, {"code": 3, "prob": 0.75}]] * 3
    shorter = [[{"code": 1, "prob": 1.0}]] * 3
    before = pd.DataFrame({"option_probs": options})
    problems = compare_results.compare_frames(before, pd.DataFrame({"option_probs": moved}))
    assert problems == ["option_probs: values differ (max abs difference 2e-06, in 2 of 3 rows)"]
    for other in (relabelled, shorter):
        after = pd.DataFrame({"option_probs": other})
        assert compare_results.compare_frames(before, after) == ["option_probs: values differ"]
    assert compare_results.nested_difference({"a": [1, 2.5]}, {"a": [1, 2.0]}) == 0.5
    assert compare_results.nested_difference({"a": 1}, {"b": 1}) is None
    assert compare_results.nested_difference([True], [False]) is None
    assert compare_results.nested_difference([0.5], [None]) is None
    assert compare_results.nested_difference([float("nan")], [0.5]) is None  # "NaN" vs a number


def test_the_dry_run_job_list_has_every_job_with_its_outputs():
    output = """Building DAG of jobs...
[Wed Dec  2 19:47:07 2026]
rule compute_metrics:
    input: a.parquet
    output: results/m/items.parquet, results/m/consistency.parquet
    jobid: 3
[Wed Dec  2 19:47:07 2026]
localrule all:
    input: results/m/items.parquet
    jobid: 0
[Wed Dec  2 19:47:07 2026]
rule generate:
    output: results/m/generations/x.parquet
"""
    assert dry_run_jobs.jobs(output) == [
        ["all", []],
        ["compute_metrics", ["results/m/consistency.parquet", "results/m/items.parquet"]],
        ["generate", ["results/m/generations/x.parquet"]],
    ]
