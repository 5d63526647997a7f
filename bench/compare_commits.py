"""One bench measurement at two commits, interleaved on one machine in one session.

Checks out each commit into a git worktree and runs the same child measurement there (by
default the generation bench's ``culturalign_vllm``: generation of the zero-shot cell, then
its exact scoring), alternating commits for ``--repeats`` rounds, so that whether a change
in a figure is the code's or the machine's can be read off one file. Each child imports the
worktree's own ``src`` (the bench scripts put it first on ``sys.path``); the bench script
itself is run from each worktree, as that commit had it. Writes every run and each commit's
median to ``--out``::

    python bench/compare_commits.py 2d3f554 HEAD --out bench/results/scoring_commits.json \\
        --model resources/models/smollm2-135m
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_generation import run_child  # noqa: E402


def resolve(commit: str) -> str:
    return subprocess.run(["git", "rev-parse", commit], cwd=REPO, check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip


def distribution_gap(first: list[list[float]], second: list[list[float]]) -> dict:
    """How far two runs' option distributions (one list per prompt) lie apart: the median
    and the largest total variation over the prompts."""
    gaps = [0.5 * sum(abs(a - b) for a, b in zip(p, q, strict=True))
            for p, q in zip(first, second, strict=True)]  # fmt: skip
    return {"prompts": len(gaps), "median_total_variation": statistics.median(gaps),
            "max_total_variation": max(gaps)}  # fmt: skip


def build_report(script: str, method: str, key: str, runs: dict[str, list[dict]]) -> dict:
    """The JSON written: each commit's runs and median of ``key``. A child's option
    distributions (``probs``: bench_peer's) are compared between the commits' first runs
    and then left out: they would make the file hundreds of kilobytes."""
    first = [commit_runs[0].get("probs") for commit_runs in runs.values()]
    report = {
        "what": f"{script} --only {method} at two commits, interleaved; "
        f"compared: {key} (median of the runs)",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commits": {
            commit: {
                "median": statistics.median(run[key] for run in commit_runs),
                "runs": [{k: v for k, v in run.items() if k != "probs"} for run in commit_runs],
            }
            for commit, commit_runs in runs.items()
        },
    }
    if all(probs is not None for probs in first):
        report["distributions"] = distribution_gap(*first)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("commits", nargs=2, help="two commits (anything git rev-parse takes)")
    parser.add_argument("--script", default="bench/bench_generation.py")
    parser.add_argument("--method", default="culturalign_vllm")
    parser.add_argument("--key", default="scoring_seconds", help="the figure compared")
    parser.add_argument("--model", type=Path, default=REPO / "resources/models/smollm2-135m")
    tables = REPO / "results/menavalues/benchmark"
    parser.add_argument("--questions", type=Path, default=tables / "questions.parquet")
    parser.add_argument("--human", type=Path, default=tables / "human.parquet")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/compare_commits.json")
    args = parser.parse_args()

    commits = [resolve(commit) for commit in args.commits]
    arguments = ["--model", str(args.model.resolve()), "--questions",
                 str(args.questions.resolve()), "--human", str(args.human.resolve())]  # fmt: skip
    folder = Path(tempfile.mkdtemp(prefix="compare-commits-"))
    trees: list[Path] = []
    runs: dict[str, list[dict]] = {commit: [] for commit in commits}
    try:
        for commit in commits:
            trees.append(folder / commit[:12])
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(trees[-1]), commit],
                           cwd=REPO, check=True)  # fmt: skip
        for repeat in range(args.repeats):
            for commit, tree in zip(commits, trees, strict=True):
                print(f"== {commit[:12]} run {repeat + 1}/{args.repeats}", file=sys.stderr,
                      flush=True)  # fmt: skip
                runs[commit].append(run_child(args.method, tree / args.script, arguments, cwd=tree))
                print(json.dumps(runs[commit][-1]), file=sys.stderr, flush=True)
    finally:
        for tree in trees:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO,
                           check=False)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
    report = build_report(args.script, args.method, args.key, runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({c[:12]: v["median"] for c, v in report["commits"].items()}, indent=2))


if __name__ == "__main__":
    main()
