"""The workflow on a real single-node SLURM cluster, through profiles/slurm.

Starts munged, slurmctld and slurmd on this machine (tests/slurm/start_cluster.sh; root and
the Debian packages slurmctld slurmd slurm-client munge needed), runs a small configuration
in a temporary copy of the repository once locally and once through `--profile
profiles/slurm`, and checks that every job ran as a SLURM job and that both runs wrote the
same tables. A second test submits a generate job for a model with tensor_parallel_size 2 to
the cluster's fake GPUs and checks the GPU request of its sbatch call (not the run: there is
no GPU here). Every daemon is stopped by its PID when the module's tests end.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
SLURM_DIR = REPO_ROOT / "tests" / "slurm"
MARKER = "culturalign-test-cluster"
TOOLS = ("munged", "munge", "unmunge", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol")
TOOLS += ("sinfo", "scancel", "setpriv", "mknod")
# Small enough for a 2-core machine: 3 questions (one with 21 options) x 2 countries.
QUESTIONS = ["WVS-Q1", "WVS-Q46", "AOI-0300"]
COUNTRIES = ["Egypt", "Iran"]
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")

pytestmark = pytest.mark.slurm


def _skip_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return "SLURM test cluster needs Linux"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd/munged needs root"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return (
            f"SLURM/munge tools missing ({', '.join(missing)}): apt-get install -y "
            "--no-install-recommends slurmctld slurmd slurm-client munge"
        )
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return 'snakemake-executor-plugin-slurm missing: pip install -e ".[slurm]"'
    conf = Path("/etc/slurm/slurm.conf")
    if conf.exists() and MARKER not in conf.read_text(errors="replace"):
        return "/etc/slurm/slurm.conf belongs to a real SLURM installation; not touching it"
    return None


@dataclass(frozen=True)
class Cluster:
    state: Path
    pids: dict[str, int]

    @property
    def controller_log(self) -> str:
        return (self.state / "slurmctld.log").read_text(errors="replace")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A running single-node cluster with 2 fake GPUs; stopped by PID afterwards, always."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm-state")
    pids: dict[str, int] = {}
    try:
        started = subprocess.run(
            [str(SLURM_DIR / "start_cluster.sh"), str(state), "2"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        for name in ("munged", "slurmctld", "slurmd"):
            pid_file = state / "launch" / f"{name}.pid"
            if pid_file.exists():
                pids[name] = int(pid_file.read_text())
        assert started.returncode == 0, f"cluster start failed:\n{started.stdout}{started.stderr}"
        assert set(pids) == {"munged", "slurmctld", "slurmd"}, pids
        yield Cluster(state=state, pids=pids)
    finally:
        subprocess.run(
            [str(SLURM_DIR / "stop_cluster.sh"), str(state)], capture_output=True, timeout=120
        )
        for name, pid in pids.items():  # belt and braces: nothing we started survives
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"{name} (pid {pid}) survived stop_cluster.sh")


def copy_repo(dest: Path) -> Path:
    """A copy of the working tree (tracked and untracked, not ignored files) at ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        source = REPO_ROOT / rel
        if source.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    return dest


def small_config(workdir: Path, benchmark_xlsx: Path, **extra: object) -> Path:
    """Write the small test configuration into ``workdir`` (merged over config/config.yaml)."""
    config = {
        # An existing absolute workbook: a plain input, never a rule output.
        "benchmark_xlsx": str(benchmark_xlsx),
        "subset": {"questions": QUESTIONS, "countries": COUNTRIES},
        "cells": {"languages": ["en", "native"], "framings": ["persona"], "reasoning": ["zero"]},
        **extra,
    }
    path = workdir / "slurm-test.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def small_targets() -> list[str]:
    return [
        "results/benchmark/questions.parquet",
        "results/benchmark/human.parquet",
        "results/prompts/en/persona/zero.parquet",
        "results/prompts/native/persona/zero.parquet",
    ]


def snakemake(
    workdir: Path, profile: str, configfile: Path, targets: list[str], *extra: str
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        f"profiles/{profile}",
        "--configfile",
        str(configfile),
        *extra,
        *targets,
    ]
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=1500
    )


def table_without_metadata(path: Path):
    return pq.read_table(path).replace_schema_metadata(None)


def test_workflow_runs_under_slurm_and_matches_local(
    slurm_cluster: Cluster, tmp_path: Path, benchmark_xlsx: Path
) -> None:
    targets = small_targets()
    local = copy_repo(tmp_path / "local")
    cluster = copy_repo(tmp_path / "cluster")

    ran = snakemake(local, "local", small_config(local, benchmark_xlsx), targets, "--cores", "2")
    assert ran.returncode == 0, ran.stderr[-4000:]

    ran = snakemake(
        cluster,
        "slurm",
        small_config(cluster, benchmark_xlsx),
        targets,
        "--verbose",
        # Fast status polling for a test; MinJobAge in the test cluster is >= 3x this.
        "--slurm-init-seconds-before-status-checks",
        "2",
    )
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-6000:]

    # Every job of the DAG was an sbatch job: one submission line per job, with its log.
    submissions = SUBMITTED.findall(output)
    n_jobs = 1 + len([t for t in targets if t.startswith("results/prompts/")])
    assert len(submissions) == n_jobs, output[-6000:]
    job_ids = [int(job_id) for job_id, _ in submissions]
    controller = slurm_cluster.controller_log
    for job_id, log in submissions:
        # The controller scheduled and finished the job with exit status 0.
        assert re.search(rf"sched: Allocate JobId={job_id} NodeList=", controller), job_id
        assert f"_job_complete: JobId={job_id} WEXITSTATUS 0" in controller, job_id
        # The job's own log (logs/slurm/rule_<rule>/<wildcards>/<jobid>.log) shows the work.
        job_log = Path(log) if Path(log).is_absolute() else cluster / log
        assert job_log.is_file(), f"missing SLURM job log {job_log}"
        assert re.search(r"Finished job|steps \(100%\) done", job_log.read_text()), job_log
    assert len(set(job_ids)) == len(job_ids)
    # Only CPU jobs here: no GPU request in any sbatch call.
    sbatch_calls = re.findall(r"sbatch call: (.*)", output)
    assert len(sbatch_calls) == n_jobs
    assert all("--gpus" not in call for call in sbatch_calls), sbatch_calls

    for target in targets:
        expected = table_without_metadata(local / target)
        got = table_without_metadata(cluster / target)
        assert got.num_rows > 0, target
        assert got.equals(expected), f"{target}: SLURM run differs from the local run"
