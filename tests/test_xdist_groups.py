"""The test workers' CPU shares (tests/xdist_groups.py), checked in child processes (which
first widen their affinity to every CPU: under ``-n 2`` this test's own worker is pinned)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CHILD = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from xdist_groups import pin_worker
try:
    os.sched_setaffinity(0, range(os.cpu_count()))
except OSError:  # a cpuset that does not allow every CPU: keep what we have
    pass
before = sorted(os.sched_getaffinity(0))
mine = pin_worker(sys.argv[2], int(sys.argv[3]))
command = [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"]
child = json.loads(__import__("subprocess").run(command, capture_output=True, text=True).stdout)
print(json.dumps([before, mine, child]))
"""


def pinned(worker_id: str, workers: int) -> tuple[list[int], list[int] | None, list[int]]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(TESTS), worker_id, str(workers)],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return tuple(json.loads(out))


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's")
def test_each_worker_and_what_it_starts_get_their_own_cpus():
    cpus, first, first_child = pinned("gw0", 2)
    if len(cpus) < 2:
        pytest.skip("one CPU: nothing to share")
    _, second, second_child = pinned("gw1", 2)
    assert first == first_child == cpus[0::2] and second == second_child == cpus[1::2]
    assert not set(first) & set(second) and set(first) | set(second) == set(cpus)
    # more workers than CPUs, or a single worker: left as they are
    assert pinned("gw0", len(cpus) + 1)[1:] == (None, cpus)
    assert pinned("gw0", 1)[1:] == (None, cpus)
