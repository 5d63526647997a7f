"""What a new user waits for: the README's default run (`snakemake --cores all`) in a fresh
clone, timed, with its peak memory — once with the demo model built by the workflow (as a
first run does) and once with it already built (as every later clone on that machine).

Each mode clones the repository's committed HEAD into a temporary folder, places the
MENAValues workbook (``--workbook``; the default run downloads it from GitHub, which some
machines cannot reach) and, in ``prebuilt`` mode, a copy of the built model, then runs the
command while sampling the resident memory of the whole process tree (Snakemake, its jobs,
the engine) every half second. The clone's jobs import the culturalign this Python has
installed (the README's editable install of the same commit: run it from a clean checkout).
Writes ``bench/results/default_run_cpu.json``::

    python bench/default_run.py --model-dir resources/models/smollm2-135m
"""

from __future__ import annotations

import argparse
import contextlib
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

from bench_generation import machine  # noqa: E402

COMMAND = [sys.executable, "-m", "snakemake", "--cores", "all"]
MODEL = Path("resources/models/smollm2-135m")
WORKBOOK = Path("resources/benchmark/MenaValues_Benchmark.xlsx")


def tree_rss(process) -> int:
    """Resident bytes of a process and all of its descendants (0 for those gone)."""
    import psutil

    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def run_mode(mode: str, args: argparse.Namespace) -> dict:
    import psutil

    folder = Path(tempfile.mkdtemp(prefix=f"default-run-{mode}-"))
    clone = folder / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=clone, check=True,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    if args.workbook:
        (clone / WORKBOOK).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.workbook, clone / WORKBOOK)
    if mode == "prebuilt":
        # fresh modification times, as a model built or copied just now has: Snakemake
        # re-runs build_model for a placed directory that is older than the workflow's code
        # and that it has no record of ("Code has changed since last execution")
        shutil.copytree(args.model_dir, clone / MODEL, copy_function=shutil.copy)
    log = folder / "snakemake.log"
    started = time.perf_counter()
    peak = 0
    with log.open("w") as handle:
        child = subprocess.Popen(COMMAND, cwd=clone, stdout=handle, stderr=subprocess.STDOUT)
        watched = psutil.Process(child.pid)
        while child.poll() is None:
            peak = max(peak, tree_rss(watched))
            time.sleep(0.5)
    seconds = time.perf_counter() - started
    text = log.read_text(errors="replace")
    if child.returncode != 0:
        raise SystemExit(f"{mode}: the default run failed (log: {log})\n{text[-3000:]}")
    if mode == "prebuilt" and re.search(r"^(?:local)?rule build_model:", text, re.MULTILINE):
        raise SystemExit(f"prebuilt: Snakemake rebuilt the placed model (log: {log})")
    steps = re.findall(r"(\d+) of (\d+) steps \(100%\) done", text)
    result = {
        "mode": mode, "commit": commit, "seconds": round(seconds, 1),
        "minutes": round(seconds / 60, 2), "peak_memory_gib": round(peak / 2**30, 2),
        "jobs": int(steps[-1][1]) if steps else None,
        "generate_jobs": len(re.findall(r"^(?:local)?rule generate\w*:", text, re.MULTILINE)),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }  # fmt: skip
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", nargs="+", default=["fresh", "prebuilt"],
                        choices=["fresh", "prebuilt"])  # fmt: skip
    parser.add_argument("--model-dir", type=Path, default=REPO / MODEL,
                        help="a built demo model to place in prebuilt mode")  # fmt: skip
    shared = REPO.parent / "shared/data/menavalues/MenaValues_Benchmark.xlsx"
    parser.add_argument("--workbook", type=Path, default=shared if shared.is_file() else None)
    parser.add_argument("--keep", action="store_true", help="keep the clones and logs")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/default_run_cpu.json")
    args = parser.parse_args()
    if "prebuilt" in args.modes and not (args.model_dir / "config.json").is_file():
        parser.error(f"--model-dir {args.model_dir}: no built model there")
    # a mode not run now keeps its last measurement (each run carries its date and commit)
    earlier = json.loads(args.out.read_text()).get("runs", []) if args.out.is_file() else []
    runs = [run for run in earlier if run.get("mode") not in args.modes]
    for mode in args.modes:
        print(f"== {mode}", file=sys.stderr, flush=True)
        runs.append(run_mode(mode, args))
        print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    report = {
        "what": "the README's default run (`snakemake --cores all`) in a fresh clone: wall "
        "time and peak resident memory of the whole process tree, with the demo model built "
        "by the workflow (fresh) or already built (prebuilt); each run has its own date",
        "command": "snakemake --cores all",
        "workbook_placed_beforehand": bool(args.workbook),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
