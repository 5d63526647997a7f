"""The report: headline sentences from numbers, and the whole analysis side rebuilt by
Snakemake from a small set of *synthetic* shards (tests/fakes.py, with provenance metadata
added here) without any engine importable: the report must hold every section and inline
figures, and `snakemake --report` must work.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from culturalign.analysis.survey import report
from culturalign.records.provenance import EngineProvenance

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes import all_cells, fake_shard_metadata, fake_zones, metadata_bytes, write_fake_shards  # noqa: E402

SUBSET = ["WVS-Q1", "WVS-Q46", "WVS-Q57", "WVS-Q164", "WVS-Q199", "WVS-Q240", "WVS-Q152",
          "AOI-0300", "AOI-0466", "AOI-0864"]  # fmt: skip
COUNTRIES = ["Egypt", "Iran", "Turkey", "Morocco", "Lebanon", "Tunisia"]
MODEL = "smollm2-135m"  # the default config's model key
PROVENANCE = {"revision": "rev-test-123", "engine": ("vllm", "9.9.9-test"),
              "template_hash": "tmplhash42", "git_commit": "0123abcd"}  # fmt: skip
ENGINES = ("vllm", "torch", "transformers")
SECTIONS = ("headlines", "metrics", "language", "reasoning", "zones", "sensitivity", "pca",
            "leakage", "robustness", "provenance")  # fmt: skip
FIGURES = ("country_similarity", "metric_bars", "consistency_bars", "en_native_scatter",
           "reasoning_deltas", "zone_sensitivity", "pca_overview", "leakage_examples",
           f"pca_{MODEL}", "robustness_flips", "robustness_snr", "robustness_position",
           "sensitive_items", "triage_scores", "triage_curves", "persona_gain",
           "forest")  # fmt: skip


# ----------------------------------------------------------------------------- sentences


def test_headline_sentences_quote_the_numbers():
    summary = pd.DataFrame(
        [
            {"model": "m", "language": "en", "framing": "persona", "reasoning": "zero",
             "nvas_mean": 61.25, "nvas_ci_low": 55.0, "nvas_ci_high": 66.0,
             "refusal_rate": 0.1, "leakage_rate": 0.05},
            {"model": "m", "language": "native", "framing": "persona", "reasoning": "zero",
             "nvas_mean": 48.5, "nvas_ci_low": 40.0, "nvas_ci_high": 57.0,
             "refusal_rate": 0.3, "leakage_rate": 0.15},
        ]
    )  # fmt: skip
    findings = pd.DataFrame(
        [
            {"finding": "cross_lingual_shift", "contrast": "native - en", "metric": "nvas",
             "model": "m", "language": "native vs en", "framing": "all", "reasoning": "all",
             "n_pairs": 40, "n_questions": 10, "mean_diff": -12.75, "ci_low": -20.0,
             "ci_high": -5.0, "p_value": 0.0004, "p_value_questions": 0.02},
            {"finding": "cross_lingual_shift", "contrast": "native - en", "metric": "nvas",
             "model": "m", "language": "native vs en", "framing": "persona", "reasoning": "zero",
             "n_pairs": 20, "n_questions": 10, "mean_diff": 99.0, "ci_low": 1.0,
             "ci_high": 2.0, "p_value": 0.5, "p_value_questions": 0.5},
        ]
    )  # fmt: skip
    stats = {"lrt": [{"scope": "model", "model": "m", "chi2": 9.5, "df": 3, "p_value": 0.023}]}
    collapse = pd.DataFrame(
        [{"model": "m", "language": "en", "framing": "persona", "reasoning": "zero",
          "collapse_index": 0.31, "note": ""}]
    )  # fmt: skip
    text = " ".join(report.headline_sentences(summary, findings, stats, collapse))
    assert "from 48.5 (95% CI 40.0–57.0, native/persona/zero) to 61.2" in text
    assert "refuses 20.0%" in text and "10.0% are refusals" in text
    assert "changes NVAS by -12.8 points" in text and "p < 0.001" in text
    assert "+99.0" not in text  # only pooled contrasts make headlines
    assert "differs across cultural zones" in text and "χ² = 9.50, df = 3, p = 0.023" in text
    assert "collapse index 0.31" in text and "collapses the countries" in text


# ----------------------------------------------------------------------------- the workflow


def _copy_repo(work: Path) -> None:
    for name in ("Snakefile", "config", "workflow", "src", "resources", "envs", "profiles"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(
                source, work / name, ignore=shutil.ignore_patterns("models", "__pycache__")
            )
        elif source.is_file():
            shutil.copy2(source, work / name)


def _engine_blocker(directory: Path) -> Path:
    """Modules named like the engines that refuse to import (first on PYTHONPATH)."""
    directory.mkdir()
    for name in ENGINES:
        (directory / f"{name}.py").write_text(
            f"raise ImportError('culturalign test: {name} imported on the analysis side')\n"
        )
    return directory


def _fewer_resamples(work: Path) -> Path:
    """A config file with fewer resamples than the defaults: what is checked here is the
    tables' shapes and the report, not the precision of their intervals."""
    path = work / "fewer-resamples.yaml"
    path.write_text("metrics: {bootstrap_resamples: 100}\n"
                    "sensitivity: {permutations: 99, bootstrap_resamples: 100}\n")  # fmt: skip
    return path


def _snakemake(work: Path, blocker: Path, xlsx: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**__import__("os").environ, "PYTHONPATH": f"{blocker}:{REPO / 'src'}"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--directory", str(work), "--snakefile",
         str(work / "Snakefile"), *args, "--config",
         f"benchmarks={{menavalues: {{source: {xlsx}}}}}", "generation={mode: cached}",
         "--configfile", str(_fewer_resamples(work))],
        capture_output=True, text=True, env=env, check=False, timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory, benchmark_tables, benchmark_xlsx):
    """A repository copy with synthetic shards; `snakemake --cores 2` (rule all) run in it with
    generation.mode cached and the engines unimportable."""
    questions, human = benchmark_tables
    work = tmp_path_factory.mktemp("report") / "repo"
    work.mkdir()
    _copy_repo(work)
    blocker = _engine_blocker(work.parent / "blocked")
    zones = fake_zones(COUNTRIES)
    q = questions[questions["question_id"].isin(SUBSET)]
    h = human[human["question_id"].isin(SUBSET) & human["country"].isin(COUNTRIES)]
    shards = write_fake_shards(work, q, h, zones, all_cells((MODEL,)), seed=3, countries=COUNTRIES,
                               variants=("wording-2", "reversed"))  # fmt: skip
    for cell, path, _ in shards:
        table = pq.read_table(path)
        record = fake_shard_metadata({"benchmark": "menavalues", **cell})
        record = replace(
            record,
            model=replace(record.model, revision=PROVENANCE["revision"]),
            engine=EngineProvenance(*PROVENANCE["engine"]),
            template_hash=PROVENANCE["template_hash"],
            git_commit=PROVENANCE["git_commit"],
        )
        pq.write_table(table.replace_schema_metadata(metadata_bytes(record)), path)
    # The workflow rebuilds the benchmark tables from the real workbook.
    shutil.rmtree(work / "results" / "menavalues" / "benchmark")
    run = _snakemake(work, blocker, benchmark_xlsx, "--cores", "2")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return work, blocker, run


def test_no_engine_and_no_generation(built):
    work, _, run = built
    log = run.stdout + run.stderr
    ran = set(re.findall(r"^(?:local)?rule (\w+):", log, re.MULTILINE))
    assert {"all", "compute_metrics", "fit_mixed_effects", "pca", "plots", "report"} <= ran
    assert not {r for r in ran if "generate" in r or "build_model" in r}, ran
    assert "imported on the analysis side" not in log


def test_report_is_self_contained_with_sections_and_figures(built):
    work, _, _ = built
    html = (work / "results" / "menavalues" / "report.html").read_text(encoding="utf-8")
    positions = [html.index(f'id="{section}"') for section in SECTIONS]
    assert positions == sorted(positions), "sections out of order (headline findings first)"
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) >= len(FIGURES)
    for payload in images:
        assert base64.b64decode(payload)[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r'src="(https?:|file:|\.\.?/)', html), "external reference"
    assert re.findall(r'href="([^"#]+)"', html) == ["../index.html"]  # the only link
    headlines = html[html.index('id="headlines"') : html.index('id="metrics"')]
    assert "mean NVAS ranges from" in headlines
    # MENAValues' own measures lead; GlobalOpinionQA's per-country similarity follows them
    assert html.index("Paper-level aggregates") < html.index('id="countries"')
    assert "most similar to" not in headlines
    provenance = html[html.index('id="provenance"') :]
    for value in ("rev-test-123", "9.9.9-test", "tmplhash42", "0123abcd", "scikit-learn"):
        assert value in provenance, value
    assert "pca_scaling: range" in provenance  # the configuration used


def test_figures_tables_and_collapse(built):
    work, _, _ = built
    for name in FIGURES:
        for suffix in (".png", ".svg"):
            path = work / "results" / "menavalues" / "figures" / f"{name}{suffix}"
            assert path.is_file() and path.stat().st_size > 1000, path
    collapse = pd.read_csv(work / "results" / "menavalues" / "pca" / "collapse.csv")
    assert len(collapse) == 4  # en/native x zero/cot, persona answers
    assert collapse["collapse_index"].gt(0).all()
    coords = pd.read_parquet(work / "results" / "menavalues" / "pca" / "coordinates.parquet")
    assert set(coords.loc[coords["source"] == "human", "country"]) == set(COUNTRIES)


def test_sensitivity_tables_and_report_section(built):
    work, _, _ = built
    out = work / "results" / "menavalues"
    human = pd.read_parquet(out / "sensitivity" / "human_items.parquet")
    assert set(human["question_id"]) == set(SUBSET)
    summary = json.loads((out / "sensitivity" / "summary.json").read_text(encoding="utf-8"))
    assert summary["n_questions"] == len(SUBSET)
    assert summary["n_sensitive"] == int(human["sensitive"].sum())
    triage = pd.read_csv(out / "sensitivity" / "triage.csv")
    # persona and observer cells: 2 languages x 2 framings x 2 reasoning modes
    assert len(triage) == 8 and set(triage["framing"]) == {"persona", "observer"}
    gain = pd.read_csv(out / "sensitivity" / "persona_gain.csv")
    assert set(gain["country"]) == {*COUNTRIES, "all"}
    comparison = pd.read_csv(out / "stats" / "model_comparison.csv")
    assert set(comparison["zone_scheme"]) == {"zone", "iw_zone"}
    by_category = pd.read_csv(out / "metrics" / "findings_by_category.csv")
    assert by_category["category"].nunique() >= 2
    html = (out / "report.html").read_text(encoding="utf-8")
    section = html[html.index('id="sensitivity"') : html.index('id="pca"')]
    assert "Zone-variable questions" in section and "Persona gain" in section
    headlines = html[html.index('id="headlines"') : html.index('id="metrics"')]
    assert f"of {summary['n_testable']} testable questions" in headlines
    assert "Paper-level aggregates" in html


def test_snakemake_report_zip(built):
    work, blocker, _ = built
    xlsx = REPO.parent / "shared" / "data" / "menavalues" / "MenaValues_Benchmark.xlsx"
    run = _snakemake(
        work, blocker, xlsx, "results/menavalues/report.html", "--report", "report.zip"
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    names = zipfile.ZipFile(work / "report.zip").namelist()
    for name in FIGURES:
        assert any(n.endswith(f"{name}.png") for n in names), name


def test_index_page_links_each_benchmark_report(built):
    work, _, _ = built
    html = (work / "results" / "index.html").read_text(encoding="utf-8")
    assert 'href="menavalues/report.html"' in html
    assert f"<code>{MODEL}</code>" in html and "mean NVAS" in html


def test_the_report_lists_what_was_repaired_or_dropped_per_rule(tmp_path):
    import pandas as pd

    from culturalign.benchmarks.base import DATA_NOTE_COLUMNS
    from culturalign.reporting.html import build_tables_report

    notes = pd.DataFrame(
        [["repaired", "answer letter variant", "ARATRUST-0003", "a.csv: line 4, column Answer",
          "answer 'ا' read as 'أ'"],
         ["repaired", "answer letter variant", "ARATRUST-0009", "a.csv: line 10, column Answer",
          "answer 'ا' read as 'أ'"],
         ["dropped", "bad row", "ARATRUST-0005", "a.csv: line 6, column A", "option A is empty"]],
        columns=list(DATA_NOTE_COLUMNS),
    )  # fmt: skip

    def page(data_notes) -> str:
        path = build_tables_report(
            kind="mcq", headlines=[], sections=[], models=[], figures={},
            provenance=pd.DataFrame(), provenance_json="", config={}, commit="abc",
            out_path=tmp_path / "report.html", benchmark="aratrust", description="",
            cells=[{"language": "native", "framing": "neutral"}], data_notes=data_notes,
        )  # fmt: skip
        return path.read_text(encoding="utf-8")

    html = page(notes)
    assert "3 source row(s) were repaired by a rule" in html
    summary = html.split("Every repaired or dropped row")[0]
    # one line per (action, rule) with its count and ids
    assert "ARATRUST-0003, ARATRUST-0009" in summary and "ARATRUST-0005" in summary
    assert "a.csv: line 6, column A" in html  # every note with its place
    assert "Every source row was read as published" in page(notes.iloc[:0])
