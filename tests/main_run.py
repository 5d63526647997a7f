"""The shared end-to-end run: the whole workflow through vLLM on the CPU with the demo model,
on four benchmarks at once, made once per test session (fixture ``main_run`` in conftest.py)
and read by every module that checks what a real run writes.

MENAValues (3 questions x 2 countries, en and native, neutral and persona, zero and cot:
numbered options), a GlobalOpinionQA-format fixture (3 questions x 2 countries, lettered
options) and, through config/three-benchmarks.yaml, the AraTrust fixture (9 Arabic
multiple-choice questions in three option orders) and the Hofstede stand-in items (24 items x
3 regions). ``generation.jobs: model``: one generate job (one engine start) per benchmark;
tests/workflow/test_generate_per_model_e2e.py holds its shards against one job per cell.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

QUESTIONS = ["WVS-Q1", "WVS-Q46", "AOI-0300"]  # 4, 4 and 21 options (nominal)
COUNTRIES = ["Egypt", "Iran"]  # native: ar and fa
MENA_CELLS = [
    (language, framing, reasoning)
    for language in ("en", "native")
    for framing in ("neutral", "persona")
    for reasoning in ("zero", "cot")
]
GOQA_QUESTIONS = ["GOQA-0001", "GOQA-0002", "GOQA-0003"]  # 4, 2 and 3 lettered options
GOQA_COUNTRIES = ["Germany", "Japan"]
GOQA_CELLS = [("en", "neutral", "zero"), ("en", "persona", "zero")]
ARATRUST_CELLS = [("native", "neutral", "zero"), ("native", "neutral", "cot")]
HOFSTEDE_REGIONS = ["United States", "China", "Morocco"]
HOFSTEDE_CELLS = [("en", "persona", "zero")]
MODEL = "smollm2-135m"


def shard(language: str, framing: str, reasoning: str, benchmark: str = "menavalues") -> str:
    return f"results/{benchmark}/generations/{MODEL}/{language}/{framing}/{reasoning}.parquet"


def e2e_config(mode: str = "run") -> dict:
    """Overrides of config/config.yaml for the test run (written as a --configfile)."""
    return {
        "benchmarks": {
            "menavalues": {
                "subset": {"questions": QUESTIONS, "populations": COUNTRIES},
                "cells": {
                    "languages": ["en", "native"],
                    "framings": ["neutral", "persona"],
                    "reasoning": ["zero", "cot"],
                },  # fmt: skip
            },
            "globalopinions": {
                "source": "tests/fixtures/globalopinions/goqa_fixture.csv",
                "subset": {"questions": GOQA_QUESTIONS, "populations": GOQA_COUNTRIES},
                "cells": {
                    "languages": ["en"],
                    "framings": ["neutral", "persona"],
                    "reasoning": ["zero"],
                },  # fmt: skip
            },
            # the invented fixture instead of the publisher's dataset (no network in tests)
            "aratrust": {"source": "tests/fixtures/aratrust/aratrust_fixture.csv"},
            "hofstede": {
                "regions": HOFSTEDE_REGIONS,
                "cells": {"languages": ["en"], "reasoning": ["zero"]},
            },
        },
        "generation": {
            "mode": mode,
            "logprobs": 5,
            "logprob_positions": 3,
            "max_tokens": {"zero": 6, "cot": 24},
            "seed": 0,
            # one engine start per benchmark: the 13 cells' starts were most of the run
            "jobs": "model",
        },
        "metrics": {"bootstrap_resamples": 100},
    }


def write_config(repo: Path, mode: str = "run") -> Path:
    path = repo / "test-config.yaml"
    path.write_text(yaml.safe_dump(e2e_config(mode)), encoding="utf-8")
    return path


def snakemake_args(repo: Path, *args: str) -> list[str]:
    from demo_model import snakemake_command

    return [*snakemake_command(*args, "--configfile", "config/three-benchmarks.yaml",
                               str(repo / "test-config.yaml"))]  # fmt: skip


def run_snakemake(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        snakemake_args(repo, *args), cwd=repo, capture_output=True, text=True, check=False
    )


def planned(output: str) -> dict[str, int]:
    """Jobs per rule from a dry run's job-stats table."""
    counts = {}
    lines = output.splitlines()
    if "Job stats:" not in lines:
        return counts
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def make_main_run(root: Path) -> Path:
    """A git repository copy under ``root`` with the demo model linked in and the whole test
    workflow run in it (fails loudly, with Snakemake's output, if the run fails)."""
    from demo_model import MODEL_PATH, copy_repo, demo_model_dir

    model_dir = demo_model_dir()
    repo = copy_repo(root / "repo")
    (repo / MODEL_PATH).parent.mkdir(parents=True, exist_ok=True)
    (repo / MODEL_PATH).symlink_to(model_dir, target_is_directory=True)
    git = ["git", "-c", "user.email=test@example.org", "-c", "user.name=test"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=repo, check=True)
    write_config(repo)
    result = run_snakemake(repo, "--cores", "2")
    if result.returncode != 0:
        raise AssertionError(result.stdout[-5000:] + result.stderr[-5000:])
    return repo
