"""tests/ci_policy.py in a pytest run of its own (pytester): with CI=true a skipped e2e or
SLURM test fails the run and names the reason; without it, it skips as before."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INI = """
[pytest]
markers =
    e2e: end to end
    slurm: SLURM
"""

TESTS = """
import pytest


@pytest.fixture
def engine():
    pytest.importorskip("no_such_engine_module_xyz")


@pytest.mark.e2e
def test_e2e_engine_missing(engine):
    pass


@pytest.mark.e2e
def test_e2e_skips_in_its_body():
    pytest.skip("shared workbook absent")


@pytest.mark.slurm
@pytest.mark.skipif(True, reason="starting slurmctld needs root")
def test_slurm_not_root():
    pass


def test_unit_skip():
    pytest.skip("an ordinary unit test may skip")


@pytest.mark.e2e
@pytest.mark.xfail(reason="known", strict=True)
def test_e2e_expected_failure():
    assert False


@pytest.mark.e2e
def test_e2e_passes():
    pass
"""

MODULE_SKIP = """
import pytest

pytest.importorskip("no_such_engine_module_xyz")
pytestmark = pytest.mark.e2e


def test_never_collected():
    pass
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in the pytester directory with the CI policy's hooks loaded (already imported
    by tests/conftest.py, hence no assertion rewriting for it)."""
    return pytester.runpytest(
        "-p", "ci_policy", "-W", "ignore::pytest.PytestAssertRewriteWarning", *args
    )


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(test_inner=TESTS)
    return pytester


def test_without_ci_the_e2e_and_slurm_skips_stay_skips(project, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = run(project, "-rs")
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)
    assert result.ret == 0


def test_with_ci_true_a_skipped_e2e_or_slurm_test_fails_naming_the_reason(project, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = run(project, "-rfEs")
    # a skip in setup (a fixture's importorskip, a skipif mark) is reported as an error, one
    # in the test's body as a failure; the unit test's skip and the expected failure stay
    result.assert_outcomes(passed=1, failed=1, errors=2, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random([
        "ERROR test_inner.py::test_e2e_engine_missing - CI=true: this e2e test was skipped "
        "(setup)*Reason: could not import 'no_such_engine_module_xyz'*",
        "FAILED test_inner.py::test_e2e_skips_in_its_body - CI=true: this e2e test was "
        "skipped (call)*Reason: shared workbook absent",
        "ERROR test_inner.py::test_slurm_not_root - CI=true: this slurm test was skipped "
        "(setup)*Reason: starting slurmctld needs root",
        "SKIPPED * an ordinary unit test may skip",
    ])  # fmt: skip


def test_other_values_of_ci_change_nothing(project, monkeypatch):
    monkeypatch.setenv("CI", "false")
    run(project).assert_outcomes(passed=1, skipped=4, xfailed=1)


def test_with_ci_true_an_e2e_module_skipped_at_import_fails(pytester, monkeypatch):
    pytester.makeini(INI)
    pytester.makepyfile(test_module_skip=MODULE_SKIP)
    monkeypatch.setenv("CI", "false")
    run(pytester).assert_outcomes(skipped=1)
    monkeypatch.setenv("CI", "true")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    assert result.ret != 0
    assert "test_module_skip.py (end-to-end/SLURM tests) was skipped at import" in (
        result.stdout.str()
    )
