"""The `paper` target: the authors' published per-item tables, tidied and averaged.

Averages are checked against an independent pandas computation straight from the xlsx
files (skipped when ../shared/data/menavalues/published_metrics is absent); file-name and
sheet problems are checked on small synthetic spreadsheets written here.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from culturalign.analysis.survey import published as paper
from culturalign.analysis.survey.published import PaperError

REPO = Path(__file__).resolve().parents[3]
PUBLISHED = REPO.parent / "shared" / "data" / "menavalues" / "published_metrics"
needs_published = pytest.mark.skipif(not PUBLISHED.is_dir(), reason="published metrics absent")


def synthetic_questions(n: int = 5) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "question_id": [f"WVS-Q{i}" for i in range(1, n + 1)],
            "code": list(range(1, n + 1)),
            "source": ["WVS-7"] * n,
        }
    )


def write_sheet(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_excel(path, index=False)
    return path


def small_sheet() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Code": [1, 2, 3, 6, "Average"],
            "Egypt": [100.0, 50.0, np.nan, np.nan, 75.0],
            "Tusnia": [0.0, np.nan, 25.0, np.nan, 12.5],
        }
    )


# ------------------------------------------------------------------ independent computation


def independent_averages(root: Path) -> dict[tuple[str, str, str, str], tuple[float, float]]:
    """(metric folder path, model, mode) -> (pooled mean, mean of column means), from xlsx."""
    out = {}
    for path in sorted(root.rglob("*.xlsx")):
        frame = pd.read_excel(path)
        frame = frame[frame["Code"].astype(str) != "Average"]
        columns = [
            c for c in frame.columns if c not in ("Code", "source") and not c.startswith("Unnamed")
        ]
        values = frame[columns].astype(float)
        stem = path.stem.lower()
        model = next(m for m in ("llama", "mistral", "aya") if m in stem)
        mode = "zero" if "zero" in stem else "cot"
        folder = str(path.parent.relative_to(root)).lower()
        if folder == "kl":
            folder = "kl/persona" if "persona" in stem else "kl/neutral"
        stacked = values.stack().dropna()
        out[(folder, model, mode)] = (stacked.mean(), values.mean().dropna().mean(), len(stacked))
    return out


FOLDER_OF = {
    ("NVAS", "persona"): "nvas/npvas",
    ("NVAS", "observer"): "nvas/novas",
    ("CLCS", "neutral"): "clcs/neutral",
    ("CLCS", "persona"): "clcs/persona",
    ("CLCS", "observer"): "clcs/observer",
    ("FCS", "persona_vs_observer"): "fcs",
    ("SPD", "neutral_vs_persona"): "spd",
    ("KL", "neutral"): "kl/neutral",
    ("KL", "persona"): "kl/persona",
}


@pytest.fixture(scope="module")
def real(benchmark_tables):
    questions, _ = benchmark_tables
    if not PUBLISHED.is_dir():
        pytest.skip("published metrics absent")
    published = paper.read_published(PUBLISHED, questions)
    return questions, published, paper.averages(published, paper.average_rows(PUBLISHED))


@needs_published
def test_averages_match_independent_pandas(real):
    _, published, table = real
    expected = independent_averages(PUBLISHED)
    assert len(table) == len(expected) == 48
    for row in table.itertuples():
        folder = FOLDER_OF[(row.metric, row.framing)]
        pooled, column_mean, n = expected[(folder, row.model, row.reasoning)]
        assert row.n == n
        assert row.mean == pytest.approx(pooled, rel=1e-12, abs=1e-9)
        assert row.mean_of_column_means == pytest.approx(column_mean, rel=1e-12, abs=1e-9)
        # The files' own Average rows agree with our column means (some rounded to 0.01).
        assert row.max_abs_diff_vs_average_row < 0.005 + 1e-9


@needs_published
def test_published_table_is_tidy(real):
    questions, published, _ = real
    assert set(published["metric"]) == {"NVAS", "CLCS", "FCS", "SPD", "KL"}
    assert set(published["reasoning"]) == {"zero", "cot"}
    assert "Tusnia" not in set(published["country"].dropna())
    assert "Tunisia" in set(published["country"])
    assert published["code"].between(1, 864).all()
    assert published["value"].notna().all()
    lookup = dict(zip(questions["code"], questions["question_id"], strict=True))
    assert (published["code"].map(lookup) == published["question_id"]).all()
    # KL covers exactly the benchmark's (question, country) pairs with a human distribution.
    kl = published[(published["metric"] == "KL") & (published["model"] == "llama")]
    assert len(kl[kl["framing"] == "neutral"]) == 9051
    observer = published[(published["metric"] == "CLCS") & (published["framing"] == "observer")]
    assert set(observer["native_language"]) == {"ar", "fa", "tr"}
    assert observer["country"].isna().all()
    # The three out-of-range published values are kept and listed.
    assert len(paper.range_notes(published)) == 3


# ------------------------------------------------------------------ synthetic sheets


def test_synthetic_sheet_drops_average_and_empty_extra_rows(tmp_path):
    write_sheet(tmp_path / "NVAS" / "NPVAS" / "NVAS_persona_llama_Zero.xlsx", small_sheet())
    # Code 6 lies past the 5 synthetic questions but is empty: dropped.
    tidy = paper.read_published(tmp_path, synthetic_questions())
    assert sorted(tidy["value"]) == [0.0, 25.0, 50.0, 100.0]
    assert set(tidy["country"]) == {"Egypt", "Tunisia"}
    assert set(tidy[["metric", "framing", "model", "reasoning"]].itertuples(index=False)) == {
        ("NVAS", "persona", "llama", "zero")
    }
    table = paper.averages(tidy, paper.average_rows(tmp_path))
    assert table.loc[0, "mean"] == pytest.approx(43.75)
    assert table.loc[0, "mean_of_column_means"] == pytest.approx((75.0 + 12.5) / 2)
    assert table.loc[0, "max_abs_diff_vs_average_row"] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("relative", "message"),
    [
        ("NVAS/NPVAS/NVAS_persona_Zero.xlsx", "exactly one model"),
        ("NVAS/NPVAS/NVAS_persona_llama.xlsx", "exactly one mode"),
        ("NVAS/NPVAS/NVAS_persona_llama_gpt_zero.xlsx", "unexpected file-name token"),
        ("NVAS/NPVAS/NVAS_observer_llama_zero.xlsx", "folder says persona"),
        ("NVAS/Other/NVAS_llama_zero.xlsx", "NVAS/NPVAS or NVAS/NOVAS"),
        ("BLEU/BLEU_llama_zero.xlsx", "unexpected file-name token"),
        ("FCS/FCS_llama_zero_persona.xlsx", "no framing expected"),
    ],
)
def test_bad_file_names_are_named(tmp_path, relative, message):
    write_sheet(tmp_path / relative, small_sheet())
    with pytest.raises(PaperError, match=re.escape(message)) as error:
        paper.read_published(tmp_path, synthetic_questions())
    assert Path(relative).name in str(error.value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.rename(columns={"Egypt": "Narnia"}), "unexpected column 'Narnia'"),
        (lambda f: f.rename(columns={"Code": "Id"}), "no 'Code' column"),
        (lambda f: f.replace({"Code": {2: "two"}}), "row 3, column Code"),
        (lambda f: f.replace({"Code": {6: 2}}), "Code 2 appears twice"),
        (lambda f: f.assign(Egypt=[1, 2, 3, 4, 5]), "Code 6 holds values"),
        (lambda f: f.assign(Egypt=[1, "x", 3, None, 5]), "column Egypt: not a number"),
    ],
)
def test_bad_sheets_are_named(tmp_path, mutate, message):
    write_sheet(tmp_path / "FCS" / "FCS_Mistral_Reasoning.xlsx", mutate(small_sheet()))
    with pytest.raises(PaperError, match=re.escape(message)) as error:
        paper.read_published(tmp_path, synthetic_questions())
    assert "FCS_Mistral_Reasoning.xlsx" in str(error.value)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(PaperError, match="paper.published_metrics"):
        paper.read_published(tmp_path / "absent", synthetic_questions())


# ------------------------------------------------------------------ the Snakemake target


def workflow_copy(tmp_path: Path) -> Path:
    """A copy of the repository's workflow files (never run Snakemake in the real tree)."""
    work = tmp_path / "repo"
    for name in ("Snakefile", "config", "workflow", "src", "resources", "envs"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("models"))
        elif source.is_file():
            work.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, work / name)
    return work


def snakemake(work: Path, *args: str, config: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    xlsx = REPO.parent / "shared" / "data" / "menavalues" / "MenaValues_Benchmark.xlsx"
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--directory", str(work), "--snakefile",
         str(work / "Snakefile"), *args, "--config",
         f"benchmarks={{menavalues: {{source: {xlsx}}}}}", *config],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


@needs_published
def test_paper_target_needs_its_config_key(tmp_path, benchmark_xlsx):
    work = workflow_copy(tmp_path)
    off = snakemake(work, "-n", "paper")
    assert off.returncode != 0
    assert "paper.published_metrics" in off.stdout + off.stderr
    # --config takes no dotted keys; a YAML mapping is merged into the `paper` section.
    on = snakemake(
        work,
        "-n",
        "paper",
        "--quiet",
        "rules",
        config=(f"paper={{published_metrics: {PUBLISHED}}}",),
    )
    assert on.returncode == 0, on.stdout + on.stderr
    assert re.search(r"^\s*paper\s+1", on.stdout, re.MULTILINE), on.stdout


def test_run_aggregates_put_the_published_figure_beside_the_matching_model():
    summary = pd.DataFrame([
        {"model": "mine", "language": "en", "framing": "persona", "reasoning": r,
         "nvas_mean": v, "kld_mean": 0.5} for r, v in (("zero", 60.0), ("cot", 70.0))
    ])  # fmt: skip
    consistency = pd.DataFrame([
        {"metric": "clcs", "model": "mine", "language": None, "framing": "persona",
         "reasoning": "zero", "mean": 80.0},
        {"metric": "fcs", "model": "mine", "language": "en", "framing": None,
         "reasoning": "cot", "mean": 90.0},
    ])  # fmt: skip
    published = pd.DataFrame([{"metric": "NVAS", "framing": "persona", "model": "llama",
                               "mean_over_reasoning": 71.5}])  # fmt: skip
    out = paper.run_aggregates(summary, consistency, {"mine": "llama"}, published)
    nvas = out[(out["metric"] == "NVAS") & (out["framing"] == "persona")].iloc[0]
    assert (nvas["zero"], nvas["cot"], nvas["mean_over_reasoning"]) == (60.0, 70.0, 65.0)
    assert nvas["published"] == 71.5 and nvas["published_as"] == "llama"
    clcs = out[out["metric"] == "CLCS"].iloc[0]
    assert clcs["language"] == "en vs native" and clcs["mean_over_reasoning"] == 80.0
    assert math.isnan(clcs["published"])  # the authors' table has no such row here
    fcs = out[out["metric"] == "FCS"].iloc[0]
    assert math.isnan(fcs["zero"]) and fcs["mean_over_reasoning"] == 90.0
    unmatched = paper.run_aggregates(summary, consistency, {"mine": None}, published)
    assert unmatched["published"].isna().all()


@needs_published
def test_paper_rule_writes_averages_equal_to_pandas(tmp_path, benchmark_xlsx):
    """The whole rule: results/menavalues/paper/averages.csv against the xlsx files, figures,
    page."""
    work = workflow_copy(tmp_path)
    run = snakemake(
        work, "--cores", "2", "paper", config=(f"paper={{published_metrics: {PUBLISHED}}}",)
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = work / "results" / "menavalues" / "paper"
    table = pd.read_csv(out / "averages.csv")
    expected = independent_averages(PUBLISHED)
    assert len(table) == len(expected)
    for row in table.itertuples():
        pooled, column_mean, n = expected[(FOLDER_OF[(row.metric, row.framing)], row.model,
                                           row.reasoning)]  # fmt: skip
        assert (row.n, row.mean, row.mean_of_column_means) == (
            n, pytest.approx(pooled, abs=1e-5), pytest.approx(column_mean, abs=1e-5)
        )  # fmt: skip
    published = pd.read_parquet(out / "published.parquet")
    assert len(published) == sum(n for *_, n in expected.values())
    aggregates = pd.read_csv(out / "aggregates.csv")
    assert len(aggregates) == 27  # 9 metric/framing tables x 3 models (KL: zero-shot only)
    for row in aggregates.itertuples():
        folder = FOLDER_OF[(row.metric, row.framing)]
        modes = {m: expected[(folder, row.model, m)] for m in ("zero", "cot")
                 if (folder, row.model, m) in expected}  # fmt: skip
        means = [modes[m][0] for m in ("zero", "cot") if m in modes]
        if len(modes) == 2:
            assert row.mean_over_reasoning == pytest.approx(sum(means) / 2, abs=1e-5)
        else:
            assert math.isnan(row.mean_over_reasoning)
        values = sum(modes[m][0] * modes[m][2] for m in modes) / sum(v[2] for v in modes.values())
        assert row.pooled_mean == pytest.approx(values, abs=1e-5)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert html.count('<img src="data:image/png;base64,') == 6
    for name in ("model", "nvas", "clcs", "fcs", "spd", "kl"):
        assert (out / "figures" / f"{name}_comparison.svg").is_file()
