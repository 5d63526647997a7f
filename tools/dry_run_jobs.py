"""The job list of a Snakemake dry run, as JSON: one [rule, sorted outputs] pair per job.

    snakemake -n --configfile config/paper.yaml > dry.txt 2>&1
    python tools/dry_run_jobs.py dry.txt > jobs.json

Two such files compare with `diff` (or tools/compare_results.py --jobs A.json B.json): a
refactoring that must not change what a configuration runs keeps them identical.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

JOB = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$", re.M)


def jobs(text: str) -> list[list]:
    """Every job of a dry run's output: rule name and its sorted outputs."""
    starts = [m for m in JOB.finditer(text)]
    found = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
        block = text[match.end() : end]
        output = re.search(r"^\s+output: (.*)$", block, re.M)
        found.append([match.group(1), sorted(output.group(1).split(", ")) if output else []])
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dry_run_output", type=Path)
    args = parser.parse_args(argv)
    json.dump(jobs(args.dry_run_output.read_text(encoding="utf-8")), sys.stdout, indent=0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
