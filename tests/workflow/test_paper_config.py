"""config/paper.yaml: the full MENAValues matrix with the paper's open models.

Checks that it validates, that a dry run lists one generate job per cell for every paper
model without the network or any model file, and prints the number of prompts per cell
(from the prompts stage) that docs/cluster.md's sizing table uses.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from culturalign.prompts.building import build_prompts
from culturalign.prompts.templates import load_templates
from culturalign.prompts.translation_tables import Translations

REPO_ROOT = Path(__file__).resolve().parents[2]
PAPER = REPO_ROOT / "config" / "paper.yaml"
PAPER_MODELS = {
    "llama-3.1-8b-instruct": "meta-llama/Llama-3.1-8B-Instruct",
    "mistral-7b-instruct-v0.3": "mistralai/Mistral-7B-Instruct-v0.3",
    "aya-expanse-8b": "CohereLabs/aya-expanse-8b",
    "fanar-1-9b-instruct": "QCRI/Fanar-1-9B-Instruct",
    "allam-7b-instruct-preview": "ALLaM-AI/ALLaM-7B-Instruct-preview",
}
API_MODELS = {"gpt-4o-mini": "gpt-4o-mini", "gemini-2.5-flash-lite": "gemini-2.5-flash-lite"}
LANGUAGES, FRAMINGS, REASONING = (
    ("en", "native"),
    ("neutral", "persona", "observer"),
    ("zero", "cot"),
)
CELLS = set(itertools.product(LANGUAGES, FRAMINGS, REASONING))
# Prompts per (language, framing) on the full benchmark (docs/cluster.md's sizing table).
EXPECTED_PROMPTS = {
    ("en", "neutral"): 861,
    ("en", "persona"): 9051,
    ("en", "observer"): 9051,
    ("native", "neutral"): 1364,
    ("native", "persona"): 9051,
    ("native", "observer"): 9051,
}
JOB = re.compile(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", re.M | re.S)


def load_paper() -> dict:
    with open(PAPER, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_paper_config_is_the_full_matrix() -> None:
    config = load_paper()
    schema = yaml.safe_load((REPO_ROOT / "workflow/schemas/config.schema.yaml").read_text())
    assert set(schema["required"]) <= set(config), "config/paper.yaml lacks a required key"
    assert set(schema["properties"]) == set(config), "config/paper.yaml: keep every section"
    menavalues = config["benchmarks"]["menavalues"]
    assert menavalues["subset"] == {"questions": None, "populations": None}
    assert config["run"] == {"benchmarks": ["menavalues"], "models": list(PAPER_MODELS)}
    assert config["cells"] == {
        "languages": list(LANGUAGES),
        "framings": list(FRAMINGS),
        "reasoning": list(REASONING),
    }
    assert config["generation"]["mode"] == "run"
    local = {key: model for key, model in config["models"].items() if model["engine"] == "vllm"}
    assert {key: model["path"] for key, model in local.items()} == PAPER_MODELS
    api = {key: model for key, model in config["models"].items() if key not in local}
    assert {key: model["model"] for key, model in api.items()} == API_MODELS
    for key, model in api.items():
        assert model["engine"] == "openai" and model["api_key_env"], key
        assert "api_key" not in model, f"models.{key}: keys belong in the environment"
    for key, model in local.items():
        assert model["revision"], f"models.{key}.revision: pin a revision"
        assert model["device"] == "gpu", key
        assert model["dtype"] == "bfloat16", key
        assert model.get("build") is None, f"models.{key}: hub models are not built"


def test_paper_config_validates_against_the_schema() -> None:
    from culturalign.settings import validate_config

    validate_config(load_paper())


def count_prompts(questions: pd.DataFrame, human: pd.DataFrame) -> dict[tuple[str, str, str], int]:
    """Prompts per cell for the paper matrix, from the prompts stage itself.

    The official translations are not shipped, so native cells get a stand-in text for every
    question (the count depends on which pairs have human data, not on the text).
    """
    from culturalign.benchmarks.menavalues import COUNTRIES
    from culturalign.benchmarks.populations import build_populations

    config = load_paper()
    subset = config["benchmarks"]["menavalues"]["subset"]
    templates = load_templates(REPO_ROOT / config["prompts"]["templates"])
    populations = build_populations(COUNTRIES, REPO_ROOT / "resources/cultural_zones.csv")
    stand_in = pd.DataFrame(
        [
            (question_id, language, f"{question_id} ({language})")
            for question_id in questions["question_id"]
            for language in ("ar", "fa", "tr")
        ],
        columns=["question_id", "language", "text"],
    )
    translations = Translations(Path("stand-in"), stand_in)
    pairs = human[["question_id", "country"]].drop_duplicates()
    counts = {}
    for language, framing, reasoning in sorted(CELLS):
        frame = build_prompts(
            questions,
            pairs,
            populations,
            templates,
            translations if language == "native" else None,
            language,
            framing,
            reasoning,
            selected_populations=subset["populations"],
            question_ids=subset["questions"],
        )
        counts[(language, framing, reasoning)] = len(frame)
    return counts


def test_prompts_per_cell(benchmark_tables: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    questions, human = benchmark_tables
    counts = count_prompts(questions, human)
    print("\nprompts per cell (config/paper.yaml, every model):")
    for (language, framing, reasoning), n in sorted(counts.items()):
        print(f"  {language:6} {framing:8} {reasoning:4} {n:6d}")
    print(f"  total per model: {sum(counts.values())}; {len(load_paper()['models'])} models")

    # Independent count from human.parquet: pairs with data, questions with data, and the
    # native languages of the countries with data for each question.
    languages = pd.read_csv(REPO_ROOT / "resources/cultural_zones.csv")
    pairs = human[["question_id", "country"]].drop_duplicates()
    native = pairs.merge(languages[["country", "language"]], on="country", validate="m:1")
    independent = {
        ("en", "neutral"): pairs["question_id"].nunique(),
        ("native", "neutral"): len(native[["question_id", "language"]].drop_duplicates()),
        **{(lang, f): len(pairs) for lang in LANGUAGES for f in ("persona", "observer")},
    }
    for (language, framing, reasoning), n in counts.items():
        assert n == independent[(language, framing)], (language, framing, reasoning)
        assert n == EXPECTED_PROMPTS[(language, framing)], "update docs/cluster.md's table"


def dry_run(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`snakemake -n` in ``workdir`` with no network (a fresh network namespace when root)."""
    command = [sys.executable, "-m", "snakemake", "-n", *args]
    if os.geteuid() == 0 and shutil.which("unshare"):
        probe = subprocess.run(["unshare", "--net", "true"], capture_output=True)
        if probe.returncode == 0:
            command = ["unshare", "--net", *command]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600
    )


def copy_repo(dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        if (REPO_ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, dest / rel)
    return dest


def generate_jobs(output: str) -> list[tuple[tuple[str, str, str, str], str]]:
    """(model, language, framing, reasoning) and the resources line of each generate job."""
    jobs = []
    for rule, body in JOB.findall(output):
        if rule != "generate":
            continue
        match = re.search(
            r"output: results/menavalues/generations/([^/]+)/(\w+)/(\w+)/(\w+)\.parquet", body
        )
        assert match, body
        resources = re.search(r"resources: (.*)", body)
        jobs.append((match.groups(), resources.group(1) if resources else ""))
    return jobs


@pytest.fixture
def paper_copy(tmp_path: Path) -> Path:
    workdir = copy_repo(tmp_path / "repo")
    # The user converts the official translations into this file; a dry run only needs it
    # to exist (nothing reads it).
    translations = workdir / load_paper()["benchmarks"]["menavalues"]["prompts"]["translations"]
    translations.parent.mkdir(parents=True, exist_ok=True)
    translations.write_text("question_id\tlanguage\ttext\n", encoding="utf-8")
    return workdir


def paper_dry_run(
    workdir: Path, benchmark_xlsx: Path, *extra: str, config: tuple[str, ...] = ()
) -> str:
    ran = dry_run(
        workdir,
        "--configfile",
        "config/paper.yaml",
        *extra,
        "--config",
        f"benchmarks={{menavalues: {{source: {benchmark_xlsx}}}}}",
        *config,
    )
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-5000:]
    return output


def assert_one_job_per_paper_cell(jobs: list[tuple[tuple[str, str, str, str], str]]) -> None:
    cells = [cell for cell, _ in jobs]
    for model in PAPER_MODELS:
        listed = [cell[1:] for cell in cells if cell[0] == model]
        assert sorted(listed) == sorted(CELLS), f"{model}: {sorted(listed)}"
    for (model, *_), resources in jobs:
        if model in PAPER_MODELS:  # device gpu, tensor_parallel_size 1
            assert re.search(r"\bgpu=1\b", resources), f"{model}: resources {resources}"


def test_paper_dry_run_lists_one_generate_job_per_cell(
    paper_copy: Path, benchmark_xlsx: Path
) -> None:
    """The issue's command: `snakemake -n --configfile config/paper.yaml`."""
    jobs = generate_jobs(paper_dry_run(paper_copy, benchmark_xlsx))
    assert_one_job_per_paper_cell(jobs)
    print(f"\n{len(jobs)} generate jobs; paper models: {len(PAPER_MODELS)} x {len(CELLS)} cells")


def test_paper_dry_run_with_replaced_config_lists_only_paper_models(
    paper_copy: Path, benchmark_xlsx: Path
) -> None:
    """docs/cluster.md's command: paper.yaml replaces config/config.yaml instead of extending
    it, so the default config's demo model is neither built nor run."""
    output = paper_dry_run(paper_copy, benchmark_xlsx, "--replace-workflow-config")
    jobs = generate_jobs(output)
    assert_one_job_per_paper_cell(jobs)
    assert len(jobs) == len(PAPER_MODELS) * len(CELLS)
    assert "rule build_model:" not in output


def test_paper_dry_run_lists_only_paper_models(paper_copy: Path, benchmark_xlsx: Path) -> None:
    jobs = generate_jobs(paper_dry_run(paper_copy, benchmark_xlsx))
    assert {model for (model, *_), _ in jobs} == set(PAPER_MODELS)


def test_paper_dry_run_lists_the_api_models_cells_with_request_counts(
    paper_copy: Path, benchmark_xlsx: Path
) -> None:
    """Selected API models get a generate job per cell, no GPU, and request counts."""
    models = [*PAPER_MODELS, *API_MODELS]
    output = paper_dry_run(
        paper_copy, benchmark_xlsx, config=(f"run={{models: [{', '.join(models)}]}}",)
    )
    jobs = generate_jobs(output)
    for model in API_MODELS:
        cells = [cell[1:] for cell, _ in jobs if cell[0] == model]
        assert sorted(cells) == sorted(CELLS), model
        assert all(not re.search(r"\bgpu=[1-9]", res) for (m, *_), res in jobs if m == model)
        listing = output[output.index(f"API model {model}") :]
        for (language, framing), n in EXPECTED_PROMPTS.items():
            line = next(
                line for line in listing.splitlines() if line.strip().startswith(
                    f"{language}/{framing}/zero ")
            )  # fmt: skip
            if language == "en":
                # paper.yaml asks the robustness variants on a 10% sample: counted apart
                total = int(re.search(r"([\d,]+) requests", line).group(1).replace(",", ""))
                assert f"({n:,} original + {total - n:,} variant)" in line, line
                assert 0 < total - n <= 3 * n // 5, line  # 3 variants x ~10% of the rows
                assert "input tokens" in line and f"<= {total * 16:,} output tokens" in line, line


def job_counts(output: str) -> dict[str, int]:
    """The dry run's "Job stats" table: jobs per rule."""
    table = output[output.index("Job stats:") :].split("\n\n")[0]
    rows = [line.split() for line in table.splitlines()[3:]]
    return {name: int(count) for name, count in rows if name != "total"}


def test_paper_dry_run_without_the_translation_file_points_at_it(
    tmp_path: Path, benchmark_xlsx: Path
) -> None:
    """A machine without the authors' translation file: the dry run still lists every job
    and says what the real run will stop on, and how to get past it."""
    workdir = copy_repo(tmp_path / "repo")
    missing = load_paper()["benchmarks"]["menavalues"]["prompts"]["translations"]
    assert not (workdir / missing).exists()
    output = paper_dry_run(workdir, benchmark_xlsx)
    assert (
        f"culturalign: the run will stop at rule missing_translations: prompts.translations: "
        f"{missing} does not exist; convert the authors' validated translations"
    ) in output
    assert "resources/translations/README.md" in output
    counts = job_counts(output)
    assert counts["missing_translations"] == 1
    assert counts["generate"] == len(PAPER_MODELS) * len(CELLS)


def test_paper_dry_run_plans_these_jobs_per_rule(paper_copy: Path, benchmark_xlsx: Path) -> None:
    """One job per cell and model for generation and parsing, one per language x framing x
    reasoning for the prompts, one of every analysis rule of the survey kind."""
    cells = len(CELLS)
    per_benchmark = ("import_benchmark", "compute_metrics", "summarise_metrics", "robustness",
                     "fit_mixed_effects", "sensitivity", "pca", "plots", "report")  # fmt: skip
    expected = {
        **dict.fromkeys(per_benchmark, 1),
        "build_prompts": cells,
        "generate": len(PAPER_MODELS) * cells,
        "parse_answers": len(PAPER_MODELS) * cells,
        "index": 1,
        "all": 1,
    }
    assert job_counts(paper_dry_run(paper_copy, benchmark_xlsx)) == expected
