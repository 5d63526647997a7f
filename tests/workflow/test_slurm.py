"""The workflow on a real single-node SLURM cluster, through profiles/slurm.

Starts munged, slurmctld and slurmd on this machine (tests/slurm/start_cluster.sh; root and
the Debian packages slurmctld slurmd slurm-client munge needed), runs two cells of the shared
end-to-end run's configuration (tests/main_run.py) in a temporary copy of the repository
through `--profile profiles/slurm`, and checks that every job ran as a SLURM job and wrote
the same tables as the shared local run. A second test submits a generate job for a model
with tensor_parallel_size 2 to the cluster's fake GPUs and checks the GPU request of its
sbatch call (not the run: there is no GPU here). Every daemon is stopped by its PID when
the module's tests end.
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
from table_equality import differences

REPO_ROOT = Path(__file__).resolve().parents[2]
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


def repo_copy(dest: Path, model_dir: Path | None = None) -> Path:
    """A copy of the working tree (a git repository, as the shards' provenance wants), with
    the prebuilt demo model linked in where rule build_model would write it."""
    from demo_model import MODEL_PATH, copy_repo

    copy_repo(dest)
    if model_dir is not None:
        (dest / MODEL_PATH).parent.mkdir(parents=True, exist_ok=True)
        (dest / MODEL_PATH).symlink_to(model_dir, target_is_directory=True)
    git = ["git", "-c", "user.email=test@example.org", "-c", "user.name=test"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=dest, check=True)
    return dest


@pytest.fixture(scope="module")
def demo_model() -> Path:
    """SmolLM2-135M-Instruct as safetensors, built once (tests/demo_model.py)."""
    pytest.importorskip("vllm")
    from demo_model import demo_model_dir

    return demo_model_dir()


def small_config(workdir: Path, benchmark_xlsx: Path, **extra: object) -> Path:
    """Write the small test configuration into ``workdir`` (merged over config/config.yaml)."""
    config = {
        "benchmarks": {
            "menavalues": {
                # An existing absolute workbook: a plain input, never a rule output.
                "source": str(benchmark_xlsx),
                "subset": {"questions": QUESTIONS, "populations": COUNTRIES},
            }
        },
        "cells": {"languages": ["en", "native"], "framings": ["persona"], "reasoning": ["zero"]},
        "generation": {
            "mode": "run",
            "jobs": "cell",  # the cluster's setting: each cell's job submitted on its own
            "logprobs": 5,
            "logprob_positions": 2,
            "max_tokens": {"zero": 6, "cot": 24},
            "seed": 0,
        },
        **extra,
    }
    path = workdir / "slurm-test.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(
    workdir: Path, profile: str, configfile: Path, targets: list[str], *extra: str
) -> subprocess.CompletedProcess[str]:
    # Targets first: --configfile takes several values and would swallow them.
    command = [sys.executable, "-m", "snakemake", *targets, "--profile", f"profiles/{profile}"]
    command += ["--configfile", str(configfile), *extra]
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=1500
    )


def slurm_cells_config(workdir: Path, workbook: Path) -> Path:
    """The shared run's configuration (tests/main_run.py), MENAValues only and two of its
    cells, both in one generate job (``generation.jobs: model``, as the shared run has it)."""
    from main_run import e2e_config

    config = e2e_config()
    config["run"] = {"benchmarks": ["menavalues"]}
    cells = {"languages": ["en", "native"], "framings": ["persona"], "reasoning": ["zero"]}
    menavalues = config["benchmarks"]["menavalues"]
    # an existing absolute workbook, as the shared run has it: a plain input, not a download
    config["benchmarks"] = {"menavalues": {**menavalues, "source": str(workbook), "cells": cells}}
    path = workdir / "slurm-test.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_workflow_runs_under_slurm_and_matches_the_local_run(
    slurm_cluster: Cluster, tmp_path: Path, main_run: Path, demo_model: Path, benchmark_xlsx: Path
) -> None:
    from main_run import shard

    cells = [("en", "persona", "zero"), ("native", "persona", "zero")]
    targets = [
        "results/menavalues/benchmark/questions.parquet",
        "results/menavalues/benchmark/human.parquet",
        "results/menavalues/benchmark/populations.parquet",
        *(f"results/menavalues/prompts/{'/'.join(cell)}.parquet" for cell in cells),
        *(shard(*cell) for cell in cells),
    ]
    cluster = repo_copy(tmp_path / "cluster", demo_model)
    ran = snakemake(
        cluster,
        "slurm",
        slurm_cells_config(cluster, benchmark_xlsx),
        targets,
        "--verbose",
        # The test node has 2 CPUs: generate jobs (threads = cores) ask for 2, not 8.
        "--cores",
        "2",
        # Fast status polling for a test; MinJobAge in the test cluster is >= 3x this.
        "--slurm-init-seconds-before-status-checks",
        "2",
    )
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-6000:]

    # Every job of the DAG was an sbatch job: one submission line per job, with its log.
    submissions = SUBMITTED.findall(output)
    n_jobs = 1 + len(cells) + 1  # import_benchmark, build_prompts per cell, one generate
    assert len(submissions) == n_jobs, output[-6000:]
    job_ids = [int(job_id) for job_id, _ in submissions]
    controller = slurm_cluster.controller_log
    for job_id, log in submissions:
        # The controller took, started (main or backfill scheduler) and finished the job with
        # exit status 0.
        assert f"_slurm_rpc_submit_batch_job: JobId={job_id} " in controller, job_id
        started = rf"(sched: Allocate JobId={job_id} |_start_job: Started JobId={job_id} )"
        assert re.search(started, controller), job_id
        assert f"_job_complete: JobId={job_id} WEXITSTATUS 0" in controller, job_id
        # The job's own log (logs/slurm/rule_<rule>/<wildcards>/<jobid>.log) shows the work.
        job_log = Path(log) if Path(log).is_absolute() else cluster / log
        assert job_log.is_file(), f"missing SLURM job log {job_log}"
        assert re.search(r"Finished job|steps \(100%\) done", job_log.read_text()), job_log
    assert len(set(job_ids)) == len(job_ids)
    print(f"\nSLURM job ids {job_ids}; controller log {slurm_cluster.state / 'slurmctld.log'}")
    # Only CPU jobs here (the demo model has device cpu): no GPU request in any sbatch call;
    # the generate jobs ask for the cores and the memory the rule declares.
    sbatch_calls = re.findall(r"sbatch call: (.*)", output)
    assert len(sbatch_calls) == n_jobs
    assert all("--gpus" not in call for call in sbatch_calls), sbatch_calls
    generate_calls = [call for call in sbatch_calls if "--comment rule_generate" in call]
    assert len(generate_calls) == 1, sbatch_calls
    assert all("--cpus-per-task=2" in call for call in generate_calls), generate_calls
    assert all(re.search(r"--mem \d{4,}", call) for call in generate_calls), generate_calls

    # The shared run's job held six more cells, which must not change these two shards.
    for target in targets:
        assert pq.read_metadata(cluster / target).num_rows > 0, target
        problem = differences(cluster / target, main_run / target)
        assert not problem, f"{target}: SLURM run differs from the shared local run: {problem}"


def test_generate_job_asks_slurm_for_the_models_gpus(
    slurm_cluster: Cluster, tmp_path: Path, benchmark_xlsx: Path
) -> None:
    """A model with device gpu and tensor_parallel_size 2: its generate job's sbatch call
    asks for 2 GPUs in one task, and SLURM books them on the node's fake GRES devices.

    The job is submitted on hold (an sbatch wrapper adds --hold) and cancelled: there is no
    GPU to run it on.
    """
    workdir = repo_copy(tmp_path / "gpu")
    model = {
        # A hub id that is never loaded: the job is only submitted.
        "path": "example-org/never-downloaded",
        "revision": "main",
        "build": None,
        "engine": "vllm",
        "device": "gpu",
        "dtype": "bfloat16",
        "max_model_len": 2048,
        "tensor_parallel_size": 2,
        # The test node has 24 GB; a hub model's estimate (32 GB) would not fit on it.
        "resources": {"mem_mb": 2000, "runtime": 30},
    }
    configfile = small_config(workdir, benchmark_xlsx, models={"fake-gpu": model})
    shard = "results/menavalues/generations/fake-gpu/en/persona/zero.parquet"
    # The prompts locally first, so that the cluster run submits the generate job only.
    ran = snakemake(
        workdir,
        "local",
        configfile,
        ["results/menavalues/prompts/en/persona/zero.parquet"],
        "--cores",
        "2",
    )
    assert ran.returncode == 0, ran.stderr[-4000:]

    # An `sbatch` first on PATH that records its arguments and submits on hold.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    captured = tmp_path / "sbatch-args.txt"
    wrapper = bin_dir / "sbatch"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\n' \"$*\" >> '{captured}'\n"
        f"exec '{shutil.which('sbatch')}' --hold \"$@\"\n"
    )
    wrapper.chmod(0o755)
    log_path = tmp_path / "snakemake-gpu.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    command = [sys.executable, "-m", "snakemake", shard, "--profile", "profiles/slurm"]
    command += ["--configfile", str(configfile), "--verbose", "--cores", "2"]
    with open(log_path, "w") as log:
        run = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    job_id = None
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and run.poll() is None:
            found = SUBMITTED.search(log_path.read_text())
            if found:
                job_id = found.group(1)
                break
            time.sleep(1)
        output = log_path.read_text()
        assert job_id, f"no SLURM submission seen:\n{output[-5000:]}"

        calls = [
            call for call in re.findall(r"sbatch call: (.*)", output) if "rule_generate" in call
        ]
        assert len(calls) == 1, output[-5000:]
        call = calls[0]
        # What sbatch itself received (the wrapper's record) carries the same request.
        received = [line for line in captured.read_text().splitlines() if "rule_generate" in line]
        assert len(received) == 1 and "--gpus=2" in received[0], received
        assert re.search(r"--gpus=2\b", call), call
        assert "--ntasks-per-gpu" not in call, f"profile must keep one task for all GPUs: {call}"
        assert re.search(r"--mem \d+", call) and re.search(r" -t \d+", call), call

        job = subprocess.run(
            ["scontrol", "show", "job", job_id], capture_output=True, text=True, check=True
        ).stdout
        assert re.search(r"TresPerJob=\S*gres[:/]gpu[:=]2", job), job
        assert "JobState=PENDING" in job and "Reason=JobHeldUser" in job, job
        assert "rule_generate" in job  # the plugin's --comment names the rule
    finally:
        if job_id:
            subprocess.run(["scancel", job_id], capture_output=True)
        if run.poll() is None:
            run.send_signal(signal.SIGINT)  # Snakemake cancels its SLURM jobs and exits
            try:
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                run.kill()
                run.wait()
    assert f"_slurm_rpc_submit_batch_job: JobId={job_id} " in slurm_cluster.controller_log
