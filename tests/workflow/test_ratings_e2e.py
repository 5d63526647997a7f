"""The ratings kind end to end: the invented DICES-990-format fixture and the simulated demo
data (config/ratings-demo.yaml) through the whole workflow, with the demo model as the
quadrant judge through vLLM on the CPU and the mixed models fitted by R/lme4.

Checked against independent recomputations from the written tables and the fixture itself:
what was dropped (counted in the CSV here), P(unsafe) (the shards' option 1), the judge F1
(scikit-learn on majority labels computed here with pandas), the BH adjustment across both
benchmarks (statsmodels), the planted sensitive items and zone effect of the simulated data,
the report's sentences, and a malformed row's error naming its line.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.e2e

FIXTURE = Path("tests/fixtures/dices/dices990_fixture.csv")
DEMO_ITEMS = ["item-003", "item-014", "item-020", "item-021"]  # the judge's subset


def run_config() -> dict:
    return {
        "benchmarks": {
            "dices": {"variant": "dices990", "source": str(FIXTURE)},
            "ratings_demo": {"subset": {"questions": DEMO_ITEMS}},
        },
        "run": {"benchmarks": ["dices", "ratings_demo"]},
        "generation": {
            "logprobs": 5,
            "logprob_positions": 2,
            "max_tokens": {"zero": 4, "cot": 24},
            "jobs": "model",
        },
        "ratings": {"bootstrap_resamples": 500, "families": ["gaussian", "binomial"]},
        "robustness": {"sampled_answers": 2},
    }


def snakemake(repo: Path, *args: str) -> subprocess.CompletedProcess:
    from demo_model import snakemake_command

    command = snakemake_command(*args, "--configfile", "config/ratings-demo.yaml",
                                str(repo / "test-config.yaml"))  # fmt: skip
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    pytest.importorskip("vllm")
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed (apt-get install r-base-core r-cran-lme4)")
    from demo_model import MODEL_PATH, copy_repo, demo_model_dir

    model_dir = demo_model_dir()
    repo = copy_repo(tmp_path_factory.mktemp("ratings") / "repo")
    (repo / MODEL_PATH).parent.mkdir(parents=True, exist_ok=True)
    (repo / MODEL_PATH).symlink_to(model_dir, target_is_directory=True)
    (repo / "test-config.yaml").write_text(yaml.safe_dump(run_config()), encoding="utf-8")
    result = snakemake(repo, "--cores", "2")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return repo


def results(repo: Path, benchmark: str, name: str) -> Path:
    return repo / "results" / benchmark / name


def fixture_rows(repo: Path) -> list[dict[str, str]]:
    with (repo / FIXTURE).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_tables_count_what_the_fixture_holds_and_what_was_dropped(workflow):
    rows = fixture_rows(workflow)
    kept = [r for r in rows if r["Q_overall"] in ("Yes", "No")]
    ratings = pd.read_parquet(results(workflow, "dices", "benchmark/ratings.parquet"))
    assert len(ratings) == len(kept)
    assert int(ratings["unsafe"].sum()) == sum(r["Q_overall"] == "Yes" for r in kept)
    raters = pd.read_parquet(results(workflow, "dices", "benchmark/raters.parquet"))
    assert set(raters["rater_id"]) == {r["rater_id"] for r in rows}
    locale = {r["rater_id"]: r["rater_locale"] for r in rows}
    expected = {"US": "secular-rational / self-expression", "IN": "traditional / survival"}
    assert all(raters["quadrant"] == raters["rater_id"].map(locale).map(expected))
    assert set(raters["zone_source"]) == {"wvs7_map"}
    dropped = pd.read_csv(results(workflow, "dices", "ratings/dropped.csv"))
    unsure = sum(r["Q_overall"] in ("Unsure", "") for r in rows)
    assert int(dropped["count"].sum()) == unsure > 0
    items = pd.read_parquet(results(workflow, "dices", "benchmark/items.parquet"))
    first = next(r for r in rows if r["item_id"] == items["item_id"].iloc[0])
    assert first["response"] in items["text"].iloc[0] and "\n" in first["context"]


def test_p_unsafe_is_the_shards_option_one_for_every_replicate(workflow):
    judge = pd.read_parquet(results(workflow, "dices", "ratings/judge.parquet"))
    raters = pd.read_parquet(results(workflow, "dices", "benchmark/raters.parquet"))
    assert raters["quadrant"].nunique() == 2
    for reasoning, replicates in (("zero", {"original", "wording-2", "wording-3", "reversed"}),
                                  ("cot", {"original", "sample-1", "sample-2"})):  # fmt: skip
        shard = pd.read_parquet(
            results(workflow, "dices", f"generations/smollm2-135m/en/persona/{reasoning}.parquet")
        )
        mine = judge[judge["reasoning"] == reasoning]
        assert set(mine["replicate"]) == replicates
        # the judge is asked as the quadrants that have raters (US and India: two)
        assert set(mine["quadrant"]) == set(shard["country"]) == set(raters["quadrant"])
        option_one = {
            (r.question_id, r.country, r.variant): next(
                e["prob"] for e in r.option_probs if e["option"] == 1
            )  # fmt: skip
            for r in shard.itertuples()
        }
        for r in mine.itertuples():
            assert r.p_unsafe == pytest.approx(option_one[(r.item_id, r.quadrant, r.replicate)],
                                               abs=1e-12)  # fmt: skip


def test_sampled_replicates_really_vary_and_record_how_they_were_sampled(workflow):
    from culturalign.io.tables import read_metadata

    path = results(workflow, "dices", "generations/smollm2-135m/en/persona/cot.parquet")
    shard = pd.read_parquet(path)
    answers = shard.pivot_table(index=["question_id", "country"], columns="variant",
                                values="response", aggfunc="first")  # fmt: skip
    # the reasoning is sampled: the replicates' answers are not the greedy one's copies
    differs = (answers["sample-1"] != answers["original"]) | (
        answers["sample-2"] != answers["original"])  # fmt: skip
    assert differs.mean() > 0.5, answers
    # and the exact P(unsafe) after them varies with them
    p_unsafe = shard.assign(p=[next(e["prob"] for e in r if e["option"] == 1)
                               for r in shard["option_probs"]])  # fmt: skip
    spread = p_unsafe.groupby(["question_id", "country"])["p"].agg(lambda p: p.max() - p.min())
    assert (spread > 1e-6).any()
    sampling = read_metadata(path)["sampling"]
    assert sampling["greedy"] is False
    assert sampling["sampled_rows"]["rows"] == 2 * len(answers)
    assert sampling["sampled_rows"]["temperature"] == 0.7  # the schema's default
    zero = read_metadata(path.with_name("zero.parquet"))["sampling"]
    assert zero["greedy"] is True  # no sampled answers where the model does not reason


def majority_by_hand(repo: Path, benchmark: str) -> pd.DataFrame:
    """Per valid (item, quadrant): 1 when more than half of its raters said unsafe. Valid:
    >= 3 ratings and not all from one gender, one ethnicity or one age group."""
    ratings = pd.read_parquet(results(repo, benchmark, "benchmark/ratings.parquet"))
    raters = pd.read_parquet(results(repo, benchmark, "benchmark/raters.parquet"))
    joined = ratings.merge(raters, on="rater_id")
    rows = []
    for (item, quadrant), group in joined.groupby(["item_id", "quadrant"]):
        valid = len(group) >= 3 and all(group[c].nunique() >= 2
                                        for c in ("gender", "ethnicity", "age_group"))  # fmt: skip
        if valid:
            rows.append((item, quadrant, int(group["unsafe"].mean() > 0.5)))
    return pd.DataFrame(rows, columns=["item_id", "quadrant", "label"])


def test_judge_f1_equals_scikit_learn_on_majority_labels_made_here(workflow):
    from sklearn.metrics import f1_score, roc_auc_score

    judge = pd.read_parquet(results(workflow, "dices", "ratings/judge.parquet"))
    scores = pd.read_csv(results(workflow, "dices", "ratings/judges.csv"))
    labels = majority_by_hand(workflow, "dices")
    checked = 0
    for row in scores[scores["task"] == "majority"].itertuples():
        mine = judge[(judge["reasoning"] == row.reasoning) & (judge["quadrant"] == row.quadrant)]
        paired = mine.merge(labels[labels["quadrant"] == row.quadrant], on=["item_id", "quadrant"])
        assert row.n_items == paired["item_id"].nunique()
        if paired["label"].sum() == 0:
            assert np.isnan(row.f1)
            continue
        predicted = (paired["p_unsafe"] > 0.5).astype(int)
        assert row.f1 == pytest.approx(f1_score(paired["label"], predicted), abs=1e-12)
        p = paired["label"].mean()
        assert row.baseline_f1 == pytest.approx(2 * p / (1 + p), abs=1e-12)
        if paired["label"].nunique() == 2:
            assert row.auroc == pytest.approx(roc_auc_score(paired["label"], paired["p_unsafe"]))
        assert row.f1_low <= row.f1 <= row.f1_high
        checked += 1
    assert checked >= 1


def test_lrts_are_bh_adjusted_across_both_benchmarks(workflow):
    from statsmodels.stats.multitest import multipletests

    frames = []
    for benchmark in ("dices", "ratings_demo"):
        raw = pd.read_csv(results(workflow, benchmark, "ratings/comparisons.tsv"), sep="\t")
        adjusted = pd.read_csv(results(workflow, benchmark, "ratings/lrt.csv"))
        assert adjusted["p_value"].tolist() == pytest.approx(raw["p_value"].tolist(), nan_ok=True)
        frames.append(adjusted)
    table = pd.concat(frames, ignore_index=True)
    assert set(table["dataset"]) == {"dices", "ratings_demo"}
    for _, family in table.groupby("family"):
        tested = family[family["p_value"].notna()]
        expected = multipletests(tested["p_value"], method="fdr_bh")[1]
        assert tested["p_adjusted"].tolist() == pytest.approx(expected.tolist())


def test_the_simulated_demo_recovers_its_planted_zone_effect_and_sensitive_items(workflow):
    truth = json.loads((workflow / "resources/ratings-demo/truth.json").read_text("utf-8"))
    lrt = pd.read_csv(results(workflow, "ratings_demo", "ratings/lrt.csv"))
    gaussian = lrt[lrt["family"] == "gaussian"].set_index("comparison")
    assert gaussian.loc["CZ vs base", "p_value"] < 0.05
    assert gaussian.loc["CZ vs base", "delta_aic"] < 0
    items = pd.read_csv(results(workflow, "ratings_demo", "ratings/sensitive_items.csv"))
    found = dict(zip(items.loc[items["sensitive"], "item_id"],
                     items.loc[items["sensitive"], "quadrant"], strict=True))  # fmt: skip
    for item, quadrant in truth["sensitive_items"].items():
        assert found.get(item) == quadrant, (item, found)


def test_report_and_index_say_what_the_tables_hold(workflow):
    html = results(workflow, "dices", "report.html").read_text("utf-8")
    lrt = pd.read_csv(results(workflow, "dices", "ratings/lrt.csv"))
    row = lrt[(lrt["family"] == "gaussian") & (lrt["comparison"] == "D+CZ vs D")].iloc[0]
    assert "zone adds to demographics" in html
    if not np.isnan(row.chi2):
        assert f"{row.chi2:.2f}" in html
    for figure in ("ratings_raters_map", "ratings_forest_D_CZ", "ratings_threshold_grid",
                   "ratings_judge_f1"):  # fmt: skip
        assert (workflow / f"results/dices/figures/{figure}.svg").is_file()
    items = pd.read_csv(results(workflow, "dices", "ratings/sensitive_items.csv"))
    testable = int(items["testable"].sum())
    assert f"of {testable} testable items" in html
    assert "Dropped when the ratings were read" in html
    index = (workflow / "results/index.html").read_text("utf-8")
    assert "dices/report.html" in index and "ratings_demo/report.html" in index


def test_a_malformed_row_stops_the_import_naming_its_line(workflow, tmp_path):
    text = (workflow / FIXTURE).read_text("utf-8")
    # the fourth record gets an undeclared Q_overall; its first line is found by parsing, as
    # records span several lines (newlines inside quoted conversations)
    header = next(csv.reader([text.splitlines()[0]]))
    column = header.index("Q_overall")
    records = list(csv.reader(text.splitlines(keepends=True)))
    records[4][column] = "Maybe"
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(records)
    first_lines, line = [], 0
    with bad.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        for _ in reader:
            first_lines.append(line + 1)
            line = reader.line_num
    config = run_config()
    config["benchmarks"]["dices"]["source"] = str(bad)
    (workflow / "bad-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    from demo_model import snakemake_command

    overlay = str(workflow / "bad-config.yaml")
    command = snakemake_command("results/dices/benchmark/ratings.parquet", "--cores", "1",
                                "--forcerun", "ratings_tables", "--configfile",
                                "config/ratings-demo.yaml", overlay)  # fmt: skip
    result = subprocess.run(command, cwd=workflow, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{bad}: line {first_lines[4]}, column Q_overall" in output, output[-3000:]
    assert "Q_overall" in output and "'Maybe'" in output, output[-3000:]
