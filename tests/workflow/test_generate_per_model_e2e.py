"""End to end: ``generation.jobs: model`` (one generate job per benchmark x model, one engine
start for all of its cells) through vLLM on the CPU with the demo model, against the default
one job per cell: the same shards (responses identical, option_probs within float32
rounding), one engine start instead of four."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from culturalign.io.tables import read_metadata

pytestmark = pytest.mark.e2e

MODEL = "smollm2-135m"
CELLS = [(language, "neutral", reasoning) for language in ("en", "native")
         for reasoning in ("zero", "cot")]  # fmt: skip
SHARDS = Path("results/menavalues/generations") / MODEL


def overlay(jobs: str) -> dict:
    return {
        "benchmarks": {
            "menavalues": {
                "subset": {"questions": ["WVS-Q1", "AOI-0466"], "populations": ["Egypt"]},
                "cells": {
                    "languages": ["en", "native"],
                    "framings": ["neutral"],
                    "reasoning": ["zero", "cot"],
                },  # fmt: skip
            }
        },
        "run": {"benchmarks": ["menavalues"]},
        "robustness": {"variants": []},
        "generation": {"jobs": jobs, "logprobs": 5, "max_tokens": {"zero": 4, "cot": 16}},
    }


def snakemake(repo: Path, jobs: str, *args: str) -> subprocess.CompletedProcess:
    from demo_model import snakemake_command

    (repo / "jobs.yaml").write_text(yaml.safe_dump(overlay(jobs)), encoding="utf-8")
    command = snakemake_command(*args, "--configfile", str(repo / "jobs.yaml"))
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, benchmark_xlsx):
    """The shards made with one job per model, then with one job per cell."""
    pytest.importorskip("vllm")
    from demo_model import MODEL_PATH, copy_repo, demo_model_dir

    repo = copy_repo(tmp_path_factory.mktemp("per-model") / "repo")
    (repo / MODEL_PATH).parent.mkdir(parents=True, exist_ok=True)
    (repo / MODEL_PATH).symlink_to(demo_model_dir(), target_is_directory=True)
    target = [str(SHARDS / "/".join(cell)) + ".parquet" for cell in CELLS]
    per_model = snakemake(repo, "model", "--cores", "2", *target)
    assert per_model.returncode == 0, per_model.stdout[-4000:] + per_model.stderr[-4000:]
    kept = repo / "per-model"
    shutil.copytree(repo / SHARDS, kept)
    log = (repo / f"logs/generate/menavalues/{MODEL}.log").read_text(encoding="utf-8")
    per_cell = snakemake(repo, "cell", "--cores", "2", "--forcerun", "generate", *target)
    assert per_cell.returncode == 0, per_cell.stdout[-4000:] + per_cell.stderr[-4000:]
    return repo, kept, per_model.stdout + per_model.stderr, log


def test_one_job_starts_the_engine_once_for_every_cell(runs):
    repo, kept, output, log = runs
    assert "generate_menavalues_smollm2_135m" in output
    assert "4 cells of smollm2-135m" in log and log.count("vLLM started in") == 1
    starts = []
    for cell in CELLS:
        metadata = read_metadata(kept / ("/".join(cell) + ".parquet"))
        assert metadata["cell"] == {"benchmark": "menavalues", "model": MODEL,
                                    "language": cell[0], "framing": cell[1],
                                    "reasoning": cell[2]}  # fmt: skip
        assert metadata["job"]["jobs"] == "model" and metadata["job"]["cells"] == len(CELLS)
        starts.append(metadata["startup_seconds"])
    ordered = sorted(starts, reverse=True)
    assert ordered[0] > 1.0 and ordered[1:] == [0.0] * (len(CELLS) - 1)


def test_the_shards_equal_those_of_one_job_per_cell(runs):
    repo, kept, _, _ = runs
    worst = 0.0
    for cell in CELLS:
        name = "/".join(cell) + ".parquet"
        one = pd.read_parquet(kept / name)
        other = pd.read_parquet(repo / SHARDS / name)
        assert "job" not in read_metadata(repo / SHARDS / name)
        assert one["prompt"].tolist() == other["prompt"].tolist()
        assert one["response"].tolist() == other["response"].tolist(), name
        for a, b in zip(one["option_probs"], other["option_probs"], strict=True):
            pa = np.array([entry["prob"] for entry in a])
            pb = np.array([entry["prob"] for entry in b])
            worst = max(worst, float(np.abs(pa - pb).max()))
    print(f"largest option_probs difference, one job per model vs per cell: {worst:.2e}")
    assert worst <= 1e-5
