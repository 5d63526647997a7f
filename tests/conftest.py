"""Shared pytest fixtures: the repository root and the shared MENAValues data (or a skip);
the CI policy's hooks (tests/ci_policy.py: with CI=true a skipped e2e/SLURM test fails);
under pytest-xdist (``-n 2``) the test groups of tests/xdist_groups.py."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from ci_policy import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401
from xdist_groups import assign_groups, pin_worker

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "menavalues"


def pytest_configure(config: pytest.Config) -> None:
    # one vLLM cache root for every workflow copy the tests make (the engine keeps a root
    # that is set): vLLM inspects a model class in a ~20 s subprocess once per root
    from demo_model import cache_root

    os.environ.setdefault("VLLM_CACHE_ROOT", str(cache_root() / "vllm"))
    worker = getattr(config, "workerinput", None)
    if worker is not None:  # an xdist worker: its own CPUs, inherited by what it starts
        pin_worker(worker["workerid"], int(worker["workercount"]))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: they collect, the controller hands out
        assign_groups(items)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (holds Snakefile, config/, resources/)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data/menavalues (workbook, published metrics); skips the test when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data absent: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def benchmark_xlsx(shared_data: Path) -> Path:
    """The real MENAValues workbook; skips the test when absent."""
    path = shared_data / "MenaValues_Benchmark.xlsx"
    if not path.is_file():
        pytest.skip(f"shared workbook absent: {path}")
    return path


@pytest.fixture(scope="session")
def benchmark_tables(benchmark_xlsx: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(questions, human)`` parsed once per session from the real workbook."""
    from culturalign.benchmarks.menavalues import parse_benchmark

    return parse_benchmark(benchmark_xlsx)


VLLM_ENVIRONMENT = (
    "VLLM_CPU_OMP_THREADS_BIND", "OMP_NUM_THREADS", "VLLM_ENABLE_V1_MULTIPROCESSING",
    "VLLM_CACHE_ROOT", "TMPDIR",
)  # fmt: skip


@pytest.fixture
def restored_environment():
    """The vLLM engine sets process environment variables (TMPDIR among them) and resets
    ``tempfile``'s cached directory: put both back after the test, the variables first, so
    that nothing later (the per-machine model caches) lands in the test's temporary folder."""
    saved = {key: os.environ.get(key) for key in VLLM_ENVIRONMENT}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    tempfile.tempdir = None


@pytest.fixture(scope="session")
def main_run(tmp_path_factory, benchmark_xlsx) -> Path:
    """The one full workflow run with the demo model that end-to-end modules share
    (tests/main_run.py); made on first use, once per session."""
    pytest.importorskip("vllm")
    from main_run import make_main_run

    return make_main_run(tmp_path_factory.mktemp("main-run"))
