"""Shared pytest fixtures: the repository root and the shared MENAValues data (or a skip)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "menavalues"


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
