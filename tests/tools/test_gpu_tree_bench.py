"""The GPU bench (bench/gpu_tree_scoring.py) runs as the device would run it, on a model
shrunk to fit a CPU: a lent device's minutes must not go to a script that no longer runs."""

from __future__ import annotations

import json
import subprocess
import sys


def test_gpu_bench_runs_and_computes_each_countrys_framing_once(repo_root, tmp_path):
    """128 prompts = 8 questions x 16 countries: a shared 20-token system turn, then each
    country's 15-token framing (8 prompts each: one prefix group apiece), then a random
    question. The forward passes compute what follows the framings, plus each framing once
    and a little padding (under a tenth): without the framing groups it would be 15 more."""
    out = tmp_path / "gpu.json"
    subprocess.run(
        [sys.executable, "bench/gpu_tree_scoring.py", "--device", "cpu", "--layers", "1",
         "--hidden", "64", "--prompts", "128", "--batch-sizes", "8", "16", "--out", str(out)],
        cwd=repo_root, check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["prompts"] == 128
    assert [run["batch_size"] for run in report["runs"]] == [8, 16]
    after_framing = report["tokens_per_prompt"] - 20 - 15
    framings_once = 16 * 15 / 128
    for run in report["runs"]:
        assert run["prompts_per_second"] > 0 and run["forward_passes"] >= 128 // 16
        positions = run["forward_positions_per_prompt"]
        assert after_framing + framings_once <= positions <= 1.1 * after_framing + framings_once
