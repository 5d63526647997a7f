"""End to end: ``generation.jobs: model`` (one generate job per benchmark x model, one engine
start for all of its cells) against the default one job per cell.

The shared run (tests/main_run.py) generates with one job per benchmark; here a copy of it
generates the last of its eight MENAValues cells again with the default one job per cell
(the cell whose requests would meet the prefix cache the seven before it filled, had the job
not cleared it): the same shard, value for value, and one engine start in the shared run for
all eight cells."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from main_run import MENA_CELLS, MODEL, e2e_config, shard, snakemake_args
from table_equality import differences

from culturalign.io.tables import read_metadata

pytestmark = pytest.mark.e2e

PER_CELL = [MENA_CELLS[-1]]


@pytest.fixture(scope="module")
def per_cell(main_run, tmp_path_factory) -> Path:
    """A copy of the shared run whose ``PER_CELL`` shards were made again, one job each."""
    repo = tmp_path_factory.mktemp("per-cell") / "repo"
    shutil.copytree(main_run, repo, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    config = e2e_config()
    config["generation"]["jobs"] = "cell"
    (repo / "test-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    targets = [shard(*cell) for cell in PER_CELL]
    for target in targets:
        (repo / target).unlink()
    command = snakemake_args(repo, "--cores", "2", *targets)
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    output = result.stdout + result.stderr
    assert output.count("rule generate:") == len(PER_CELL), output[-4000:]
    return repo


def test_one_job_starts_the_engine_once_for_every_cell(main_run):
    log = (main_run / f"logs/generate/menavalues/{MODEL}.log").read_text(encoding="utf-8")
    assert f"{len(MENA_CELLS)} cells of {MODEL}" in log and log.count("vLLM started in") == 1
    starts = []
    for cell in MENA_CELLS:
        metadata = read_metadata(main_run / shard(*cell))
        assert metadata["cell"] == {"benchmark": "menavalues", "model": MODEL,
                                    "language": cell[0], "framing": cell[1],
                                    "reasoning": cell[2]}  # fmt: skip
        assert metadata["job"]["jobs"] == "model"
        assert metadata["job"]["cells"] == len(MENA_CELLS)
        starts.append(metadata["startup_seconds"])
    ordered = sorted(starts, reverse=True)
    assert ordered[0] > 1.0 and ordered[1:] == [0.0] * (len(MENA_CELLS) - 1)


def test_the_shards_equal_those_of_one_job_per_cell(main_run, per_cell):
    for cell in PER_CELL:
        assert "job" not in read_metadata(per_cell / shard(*cell))
        problem = differences(per_cell / shard(*cell), main_run / shard(*cell))
        assert not problem, f"{shard(*cell)}: {problem}"
