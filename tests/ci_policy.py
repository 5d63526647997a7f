"""CI policy: with ``CI=true`` a skipped end-to-end or SLURM test fails the run.

End-to-end tests skip when vLLM cannot be imported, when the shared workbook is absent or
(SLURM) when the machine is not root; on a developer's machine that is right, in CI it
would let a broken install pass. With the environment variable ``CI`` set to ``true``:

* a test marked ``e2e`` or ``slurm`` that skips (in setup or in its body, by
  ``pytest.skip``, ``pytest.importorskip`` or a ``skipif`` mark) is reported as failed,
  naming the skip's reason;
* a test module that declares one of those marks and skips as a whole at import fails
  the same way (its tests are never collected, so no test could).

Expected failures (``xfail``) stay what they are. tests/conftest.py loads these hooks;
tests/test_ci_policy.py checks them with pytester.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

STRICT_MARKS = ("e2e", "slurm")


def strict() -> bool:
    """Whether skips of e2e/slurm tests fail the run (``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: why")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if not (report.skipped and strict()) or hasattr(report, "wasxfail"):
        return report
    marks = [name for name in STRICT_MARKS if item.get_closest_marker(name) is not None]
    if marks:
        report.outcome = "failed"
        report.longrepr = (
            f"CI=true: this {'/'.join(marks)} test was skipped ({report.when}), and in CI "
            f"a skipped {'/'.join(marks)} test fails the run. Reason: {_skip_reason(report)}"
        )
    return report


def _declares_strict_mark(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return False
    return any(f"pytest.mark.{name}" in text for name in STRICT_MARKS)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = yield
    if (
        report.skipped
        and strict()
        and isinstance(collector, pytest.Module)
        and _declares_strict_mark(Path(collector.path))
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"CI=true: {collector.path.name} (end-to-end/SLURM tests) was skipped at "
            f"import, and in CI that fails the run. Reason: {_skip_reason(report)}"
        )
    return report
