"""Test groups for ``pytest -n 2`` (pytest-xdist, ``--dist loadgroup``): what must run in
one worker process, and in which order the groups are handed out.

A module's module-scoped fixtures (a workflow run, a vLLM server, a SLURM cluster) are made
once per worker that runs one of its tests, so each module is one group; the modules that
read the shared end-to-end run (the session fixture ``main_run``) are one group together, so
that run is made once. Groups are handed out in collection order, so the long ones go first
(the shared run's, then the other end-to-end and SLURM modules): the unit tests then fill
the other worker while they run, and the run does not end waiting on one long group.

Each worker also gets its own share of the CPUs (:func:`pin_worker`): the engines bind their
OpenMP threads to the CPUs the process may use, and two workers' engines bound to the same
cores spin against each other (a transformers forward pass ran 4x slower beside a vLLM
engine than alone).
"""

from __future__ import annotations

import os

import pytest

SHARED_RUN = "shared-e2e-run"
LONG_MARKS = ("e2e", "slurm")


def assign_groups(items: list[pytest.Item]) -> None:
    """Mark every item with its ``xdist_group`` and reorder ``items`` in place."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    rank = {}
    for module, members in modules.items():
        shared = any("main_run" in getattr(item, "fixturenames", ()) for item in members)
        long = any(item.get_closest_marker(mark) for item in members for mark in LONG_MARKS)
        group = SHARED_RUN if shared else module
        for item in members:
            if item.get_closest_marker("xdist_group") is None:
                item.add_marker(pytest.mark.xdist_group(group))
            rank[item.nodeid] = 0 if shared else 1 if long else 2
    items.sort(key=lambda item: rank[item.nodeid])  # stable: files keep their order


def pin_worker(worker_id: str, workers: int) -> list[int] | None:
    """Restrict this xdist worker (``gw0``, ``gw1``, …) and every process it starts to every
    ``workers``-th usable CPU; returns the CPUs, or None where there are fewer CPUs than
    workers or no affinity to set."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return None
    index = int(worker_id.removeprefix("gw"))
    if workers < 2 or len(cpus) < workers:
        return None
    mine = cpus[index % workers :: workers]
    os.sched_setaffinity(0, mine)
    return mine
