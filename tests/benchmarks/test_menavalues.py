"""MENAValues ingest: the real workbook's counts and every bad-input case.

Broken workbooks are built from a small synthetic one written here (no benchmark text).
"""

from __future__ import annotations

import ast
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from culturalign.benchmarks.menavalues import COUNTRIES, parse_benchmark
from culturalign.errors import BenchmarkError, CulturalignError
from culturalign.io.downloads import download_verified

REPO = Path(__file__).resolve().parents[2]
SHARED_XLSX = REPO.parent / "shared" / "data" / "menavalues" / "MenaValues_Benchmark.xlsx"
needs_workbook = pytest.mark.skipif(not SHARED_XLSX.is_file(), reason="shared workbook absent")

LABELS = ["Source", "Sub Question", "Min", "MAX", "Scale", "Category", "Sub Category",
          "Full Question"]  # fmt: skip


def synthetic_columns() -> list[dict[str, object]]:
    """Three questions: WVS ordinal, AOI nominal with float keys, AOI with a code-0 share."""
    return [
        {"Source": "WVS 7", "Sub Question": "Q1: Synthetic item", "Min": 1, "MAX": 4,
         "Scale": "y", "Category": "C", "Sub Category": "S", "Full Question": "q one",
         "Egypt": "(1.5, {'1': '60.00%', '2': '30.00%', '4': '10.00%'})",
         "Iran": "(No data, {})"},
        {"Source": "The 2022 Arab Opinion Index", "Sub Question": None, "Min": "1", "MAX": "12",
         "Scale": "n", "Category": "C", "Sub Category": "S", "Full Question": "q two",
         "Egypt": "(4.00, {'4.0': '50%', '12.0': '25%', '1.0': '25%'})",
         "Iran": None},
        {"Source": "The 2022 Arab Opinion Index", "Sub Question": None, "Min": 1, "MAX": 3,
         "Scale": "s", "Category": "C", "Sub Category": "S", "Full Question": "q three",
         "Egypt": "(1.2, {'0.0': '20.00%', '1': '40.00%', '2': '40.00%'})",
         "Iran": "(No values <= 3, {})"},
    ]  # fmt: skip


def write_workbook(path: Path, columns: list[dict[str, object]], labels=None, countries=None):
    """Write a transposed workbook like MENAValues: labels in column A, a question per column."""
    labels = labels or LABELS
    countries = countries or ["Egypt", "Iran"]
    book = openpyxl.Workbook()
    sheet = book.active
    for row, label in enumerate([*labels, *countries], start=1):
        sheet.cell(row=row, column=1, value=label)
        key = LABELS[row - 1] if row <= len(LABELS) else label
        for col, question in enumerate(columns, start=2):
            sheet.cell(row=row, column=col, value=question.get(key))
    book.save(path)
    return path


@pytest.fixture
def workbook(tmp_path):
    """Factory: write a synthetic workbook, optionally broken by an edit of one cell."""

    def make(edit=None, **kwargs):
        columns = synthetic_columns()
        if edit:
            index, key, value = edit
            columns[index][key] = value
        return write_workbook(tmp_path / "bench.xlsx", columns, **kwargs)

    return make


def test_synthetic_workbook_parses(workbook):
    questions, human = parse_benchmark(workbook())
    assert questions.question_id.tolist() == ["WVS-Q1", "AOI-0002", "AOI-0003"]
    assert questions.scale_type.tolist() == ["ordinal", "nominal", "ordinal"]
    assert questions.code.tolist() == [1, 2, 3]
    # Only Egypt has distributions; every option of the scale gets a row.
    assert set(human.country) == {"Egypt"}
    q1 = human[human.question_id == "WVS-Q1"].set_index("option").share
    assert q1.to_dict() == pytest.approx({1: 0.6, 2: 0.3, 3: 0.0, 4: 0.1})
    q2 = human[human.question_id == "AOI-0002"].set_index("option").share
    assert len(q2) == 12 and q2[4] == pytest.approx(0.5) and q2[12] == pytest.approx(0.25)


def test_non_substantive_zero_dropped_and_kept(workbook):
    _, human = parse_benchmark(workbook())
    q3 = human[human.question_id == "AOI-0003"]
    assert q3.option.tolist() == [1, 2, 3]
    assert q3.share.tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert q3.nonsubstantive_share.unique().tolist() == pytest.approx([0.2])


def test_missing_workbook(tmp_path):
    with pytest.raises(BenchmarkError, match=re.escape(str(tmp_path / "absent.xlsx"))):
        parse_benchmark(tmp_path / "absent.xlsx")


def test_unreadable_workbook(tmp_path):
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"this is not a zip archive")
    with pytest.raises(BenchmarkError, match=r"broken\.xlsx: cannot read the workbook"):
        parse_benchmark(broken)


def test_row_labels_differ(workbook):
    labels = list(LABELS)
    labels[2] = "Minimum"
    with pytest.raises(BenchmarkError, match=r"row 3, column A: expected row label 'Min'"):
        parse_benchmark(workbook(labels=labels))


def test_non_integer_min(workbook):
    with pytest.raises(BenchmarkError, match=r"row 3 \('Min'\), column C.*'one'"):
        parse_benchmark(workbook(edit=(1, "Min", "one")))


def test_fractional_max(workbook):
    with pytest.raises(BenchmarkError, match=r"row 4 \('MAX'\), column B.*4\.5"):
        parse_benchmark(workbook(edit=(0, "MAX", 4.5)))


def test_min_not_below_max(workbook):
    with pytest.raises(BenchmarkError, match=r"column D.*Min 3 must be below MAX 3"):
        parse_benchmark(workbook(edit=(2, "Min", 3)))


def test_unparseable_country_cell(workbook):
    with pytest.raises(BenchmarkError, match=r"row 9 \('Egypt'\), column B: cannot parse cell"):
        parse_benchmark(workbook(edit=(0, "Egypt", "1.5; 1=60%")))


def test_negative_share(workbook):
    cell = "(1.5, {'1': '-5.00%', '2': '105.00%'})"
    with pytest.raises(BenchmarkError, match=r"row 9 \('Egypt'\), column B.*negative"):
        parse_benchmark(workbook(edit=(0, "Egypt", cell)))


def test_shares_sum_to_zero(workbook):
    cell = "(1.0, {'1': '0.00%', '2': '0.00%'})"
    with pytest.raises(BenchmarkError, match=r"row 10 \('Iran'\), column B.*sum to 0\.00%"):
        parse_benchmark(workbook(edit=(0, "Iran", cell)))


@pytest.mark.parametrize("total", [99.4, 100.6, 80.0, 150.0])
def test_shares_not_summing_to_100_percent_name_file_row_and_column(workbook, total):
    cell = f"(1.5, {{'1': '{total - 40:.2f}%', '2': '40.00%'}})"
    path = workbook(edit=(0, "Egypt", cell))
    with pytest.raises(BenchmarkError) as raised:
        parse_benchmark(path)
    message = str(raised.value)
    assert str(path) in message and "row 9 ('Egypt'), column B" in message
    assert f"sum to {total:.2f}%, not 100%" in message


@pytest.mark.parametrize("total", [99.6, 100.0, 100.4])
def test_shares_within_half_a_point_are_renormalised(workbook, total):
    cell = f"(1.5, {{'1': '{total - 40:.2f}%', '2': '40.00%'}})"
    _, human = parse_benchmark(workbook(edit=(0, "Egypt", cell)))
    q1 = human[(human.question_id == "WVS-Q1") & (human.country == "Egypt")]
    assert q1.share.sum() == pytest.approx(1.0)
    assert q1.set_index("option").share[2] == pytest.approx(40.0 / total)


def test_code_zero_counts_towards_the_100_percent(workbook):
    # 20% don't know + 40% + 35% = 95%: off by 5 points although the substantive part is fine
    cell = "(1.2, {'0.0': '20.00%', '1': '40.00%', '2': '35.00%'})"
    with pytest.raises(BenchmarkError, match=r"column D.*sum to 95\.00%"):
        parse_benchmark(workbook(edit=(2, "Egypt", cell)))


def test_option_outside_scale(workbook):
    cell = "(1.5, {'1': '50.00%', '5': '50.00%'})"
    with pytest.raises(BenchmarkError, match=r"column B: option 5 lies outside the scale \[1, 4\]"):
        parse_benchmark(workbook(edit=(0, "Egypt", cell)))


def test_unknown_country(workbook):
    with pytest.raises(BenchmarkError, match=r"row 10, column A: unknown country 'Atlantis'"):
        parse_benchmark(workbook(countries=["Egypt", "Atlantis"]))


def test_checksum_mismatch(tmp_path, workbook):
    source = workbook()
    target = tmp_path / "download" / "bench.xlsx"
    with pytest.raises(CulturalignError, match="checksum mismatch"):
        download_verified(source.as_uri(), target, "0" * 64)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no partial download left behind


def test_download_verifies_and_places(tmp_path, workbook):
    source = workbook()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    target = download_verified(source.as_uri(), tmp_path / "d" / "b.xlsx", digest)
    assert target.read_bytes() == source.read_bytes()


# --- the real workbook ------------------------------------------------------------------


def independent_parse(path: Path) -> dict[tuple[int, str, int], float]:
    """A second, deliberately simple reading of the workbook: (code, country, option) -> share."""
    rows = list(openpyxl.load_workbook(path, read_only=True).active.iter_rows(values_only=True))
    shares: dict[tuple[int, str, int], float] = {}
    for row in rows[8:]:
        country = row[0]
        for code, cell in enumerate(row[1:], start=1):
            if not isinstance(cell, str) or cell.endswith("{})"):
                continue
            dist = ast.literal_eval(cell[cell.index("{") : cell.rindex("}") + 1])
            dist = {int(float(k)): float(v.rstrip("%")) for k, v in dist.items()}
            dist.pop(0, None) if int(rows[2][code]) > 0 else None
            total = sum(dist.values())
            for option, value in dist.items():
                shares[(code, country, option)] = value / total
    return shares


@needs_workbook
def test_real_workbook_counts_and_shares():
    questions, human = parse_benchmark(SHARED_XLSX)
    assert len(questions) == 864
    assert questions.source.value_counts().to_dict() == {"AOI-2022": 573, "WVS-7": 291}
    assert questions.question_id.is_unique
    assert questions.scale_type.value_counts().to_dict() == {"ordinal": 755, "nominal": 109}
    assert human.groupby(["question_id", "country"]).ngroups == 9051
    sums = human.groupby(["question_id", "country"]).share.sum()
    assert (sums - 1).abs().max() < 1e-9
    assert set(human.country) <= set(COUNTRIES)
    dropped = human[human.nonsubstantive_share > 0].question_id.unique()
    assert len(dropped) == 5

    expected = independent_parse(SHARED_XLSX)
    merged = human.merge(questions[["question_id", "code"]], on="question_id")
    ours = {(c, k, o): s for c, k, o, s in merged[["code", "country", "option", "share"]].values}
    for key, share in expected.items():
        assert ours[key] == pytest.approx(share, abs=1e-9), key
    # Options nobody chose are explicit zeros, nothing else is extra.
    assert all(share == 0 for key, share in ours.items() if key not in expected)


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(workdir),
         "--snakefile", str(REPO / "Snakefile"), *args],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )  # fmt: skip


@pytest.fixture
def workdir(tmp_path):
    """A scratch copy of the pieces the workflow reads relative to its working directory."""
    for name in ("config", "resources"):
        shutil.copytree(REPO / name, tmp_path / name)
    return tmp_path


def source_config(path: Path) -> str:
    return f"benchmarks={{menavalues: {{source: {path}}}}}"


TABLES = [f"results/menavalues/benchmark/{name}.parquet" for name in
          ("questions", "human", "populations")]  # fmt: skip


@needs_workbook
def test_workflow_builds_tables(workdir):
    before = hashlib.sha256(SHARED_XLSX.read_bytes()).hexdigest()
    modified = SHARED_XLSX.stat().st_mtime_ns
    result = run_snakemake(workdir, *TABLES, "--config", source_config(SHARED_XLSX))
    assert result.returncode == 0, result.stderr[-3000:]
    questions = pd.read_parquet(workdir / TABLES[0])
    human = pd.read_parquet(workdir / TABLES[1])
    populations = pd.read_parquet(workdir / TABLES[2])
    assert len(questions) == 864
    assert human.groupby(["question_id", "country"]).ngroups == 9051
    assert populations["country"].tolist() == list(COUNTRIES)
    assert populations.set_index("country")["languages"].map(list).to_dict()["Iran"] == ["fa"]
    # the input is read, never touched: the same bytes after the run
    assert hashlib.sha256(SHARED_XLSX.read_bytes()).hexdigest() == before
    assert SHARED_XLSX.stat().st_mtime_ns == modified


def test_workflow_bad_workbook_fails_cleanly(workdir, workbook):
    broken = workbook(edit=(0, "Egypt", "garbage"))
    config = f"benchmarks={{menavalues: {{source: {broken}, subset: {{populations: [Egypt]}}}}}}"
    result = run_snakemake(workdir, *TABLES, "--config", config)
    assert result.returncode != 0
    assert "row 9 ('Egypt'), column B: cannot parse cell" in result.stderr
    for path in TABLES:
        assert not (workdir / path).exists()


def test_unknown_config_key(workdir):
    result = run_snakemake(workdir, "-n", "--config", "benchmark_xslx=typo.xlsx")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "unknown key(s) benchmark_xslx" in output and "allowed: benchmarks" in output


def test_config_value_of_wrong_type(workdir):
    bad = workdir / "bad.yaml"
    bad.write_text("generation:\n  mode: run\n  logprobs: many\n  max_tokens: {zero: 8, cot: 64}\n")
    result = run_snakemake(workdir, "-n", "--configfile", str(bad))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "config key generation.logprobs: 'many' is not of type 'integer'" in output
