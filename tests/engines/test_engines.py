"""Engines: the registry, CPU defaults (pure), and the hf and vLLM engines agreeing on the
demo model for number and letter labels."""

from __future__ import annotations

import ast
import gc
import math
import os
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from scoring_items import LETTER_QUESTIONS, scoring_items

from culturalign.engines import (
    Engine,
    GenerationRequest,
    GenerationResult,
    ModelSpec,
    builtin_engines,
    engine_class,
    load_engine,
    register_engine,
    vllm_engine,
)
from culturalign.engines.hf_engine import (
    _group_prefix_lengths,
    _length_batches,
    _shared_prefix,
)
from culturalign.engines.model_builds import check_model_path
from culturalign.engines.vllm_engine import (
    cpu_environment,
    engine_arguments,
    generation_sampling,
)
from culturalign.errors import ConfigError
from culturalign.generation.cell import run_cell
from culturalign.scoring.exact import (
    continuation_token_ids,
    generation_candidates,
    nodes_from_generation,
    score_with_engine,
    tree_requests,
)
from culturalign.snakemake_rules import job_gpus, job_resources

ENGINES_DIR = Path(__file__).resolve().parents[2] / "src" / "culturalign" / "engines"


def spec(**overrides) -> ModelSpec:
    entry = {"path": "resources/models/x", "dtype": "float32", "max_model_len": 2048}
    entry.update(overrides)
    return ModelSpec.from_config("x", entry)


def test_cpu_defaults_and_overrides():
    arguments = engine_arguments(spec(engine_options={"kv_cache_memory_bytes": 5}), seed=3)
    assert arguments["enforce_eager"] is True
    assert arguments["block_size"] % 16 == 0
    assert arguments["kv_cache_memory_bytes"] == 5  # engine_options win
    assert arguments["enable_prefix_caching"] is True and arguments["seed"] == 3
    gpu = engine_arguments(spec(device="gpu", tensor_parallel_size=2), seed=0)
    assert "enforce_eager" not in gpu and gpu["tensor_parallel_size"] == 2
    with pytest.raises(ConfigError, match=r"models\.x\.engine_options\.block_size"):
        engine_arguments(spec(engine_options={"block_size": 24}), seed=0)


def test_a_sampled_request_carries_its_temperature_and_seed():
    greedy = generation_sampling(GenerationRequest((1, 2), 8), logprobs=5, seed=3, by_ids=False)
    assert (greedy["temperature"], greedy["seed"]) == (0.0, 3)
    assert "top_p" not in greedy and "top_k" not in greedy  # vLLM's greedy path, untouched
    sampled = generation_sampling(
        GenerationRequest((1, 2), 8, temperature=0.7, seed=12), logprobs=5, seed=3, by_ids=False
    )
    # its own seed, and the full distribution (no top-k or top-p cut)
    assert (sampled["temperature"], sampled["seed"]) == (0.7, 12)
    assert (sampled["top_p"], sampled["top_k"]) == (1.0, -1)


def test_cpu_environment_binds_threads_and_keeps_caches_in_the_workflow(tmp_path, monkeypatch):
    monkeypatch.delenv("VLLM_CACHE_ROOT", raising=False)
    environment = cpu_environment(1, tmp_path / "cache")
    assert len(environment["VLLM_CPU_OMP_THREADS_BIND"].split(",")) == 1
    assert environment["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert environment["VLLM_CACHE_ROOT"].startswith(str(tmp_path))
    assert environment["TMPDIR"].startswith(str(tmp_path))
    # a root the user chose is kept (shared by several checkouts)
    monkeypatch.setenv("VLLM_CACHE_ROOT", str(tmp_path / "shared-vllm"))
    environment = cpu_environment(1, tmp_path / "cache")
    assert environment["VLLM_CACHE_ROOT"] == str(tmp_path / "shared-vllm")
    assert environment["TMPDIR"].startswith(str(tmp_path / "cache"))


def test_torch_compile_is_off_for_eager_engines_only(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCHDYNAMO_DISABLE", raising=False)
    monkeypatch.setattr(vllm_engine, "_SET_BY_ENGINE", {})
    assert cpu_environment(1, tmp_path)["TORCHDYNAMO_DISABLE"] == "1"
    assert cpu_environment(1, tmp_path, eager=False)["TORCHDYNAMO_DISABLE"] == "0"
    # what an earlier engine of the process wrote is not the user's choice
    monkeypatch.setenv("TORCHDYNAMO_DISABLE", "1")
    monkeypatch.setitem(vllm_engine._SET_BY_ENGINE, "TORCHDYNAMO_DISABLE", "1")
    assert cpu_environment(1, tmp_path, eager=False)["TORCHDYNAMO_DISABLE"] == "0"
    # the user's own setting is kept, and a compiled engine then refuses to start
    monkeypatch.setattr(vllm_engine, "_SET_BY_ENGINE", {})
    assert cpu_environment(1, tmp_path, eager=False)["TORCHDYNAMO_DISABLE"] == "1"
    compiled = spec(engine_options={"enforce_eager": False})
    with pytest.raises(ConfigError, match=r"models\.x\.engine_options\.enforce_eager.*"
                       "TORCHDYNAMO_DISABLE=1"):  # fmt: skip
        vllm_engine.VllmEngine(compiled, threads=1, cache_dir=tmp_path)


def test_openmp_gets_as_many_threads_as_cpus_are_bound(tmp_path, monkeypatch):
    # a job of 2 threads that may run on one CPU (a pinned test worker, a smaller allocation),
    # with Snakemake's OMP_NUM_THREADS = the job's threads
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    environment = cpu_environment(2, tmp_path / "cache")
    assert (environment["VLLM_CPU_OMP_THREADS_BIND"], environment["OMP_NUM_THREADS"]) == ("3", "1")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    environment = cpu_environment(2, tmp_path / "cache")
    assert (environment["VLLM_CPU_OMP_THREADS_BIND"], environment["OMP_NUM_THREADS"]) == (
        "0,1",
        "2",
    )


TORCH_THREADS_OF_A_PINNED_ENGINE = """
import os, sys
os.sched_setaffinity(0, [min(os.sched_getaffinity(0))])
import torch
from culturalign.engines import ModelSpec, load_engine
spec = ModelSpec.from_config("demo", {"path": sys.argv[1], "engine": "vllm", "dtype": "float32"})
engine = load_engine(spec, threads=2, cache_dir=sys.argv[2])
print("torch threads", torch.get_num_threads())
"""


@pytest.mark.e2e
def test_a_vllm_engine_on_fewer_cpus_than_its_threads_computes_on_those_cpus(tmp_path):
    """Snakemake sets ``OMP_NUM_THREADS`` to a job's threads. A job of 2 threads that may use
    one CPU (as a test worker pinned to its core runs one) used to compute with 2 torch
    threads on that core, and a SLURM job of the same cell (no such variable) with 1: the
    float32 sums rounded differently and the shards differed."""
    pytest.importorskip("vllm")
    import subprocess
    import sys

    from demo_model import demo_model_dir

    environment = {**os.environ, "OMP_NUM_THREADS": "2"}
    ran = subprocess.run(
        [sys.executable, "-c", TORCH_THREADS_OF_A_PINNED_ENGINE, str(demo_model_dir()),
         str(tmp_path / "cache")],
        capture_output=True, text=True, env=environment, check=False, timeout=600,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-4000:]
    assert ran.stdout.strip().splitlines()[-1] == "torch threads 1", ran.stdout[-2000:]


COMPILED_ENGINE_SCORES = """
import json, sys
sys.path.insert(0, sys.argv[3])
from scoring_items import scoring_items
from culturalign.engines import GenerationRequest, ModelSpec, load_engine
from culturalign.scoring.exact import continuation_token_ids, score_with_engine
from vllm.compilation.counter import compilation_counter
spec = ModelSpec.from_config("demo", {"path": sys.argv[1], "engine": "vllm", "dtype": "float32",
                                      "max_model_len": 2048,
                                      "engine_options": {"enforce_eager": False}})
engine = load_engine(spec, threads=2, cache_dir=sys.argv[2])
items = scoring_items(engine.tokenizer)
probs = score_with_engine(engine, items, continuation_token_ids(engine.tokenizer))
generated = engine.generate([GenerationRequest(item.prefix_ids, 4) for item in items],
                            logprobs=0, logprob_positions=1, seed=0)
counted = vars(compilation_counter)
compiled = sum(counted[key] for key in ("num_graphs_seen", "num_aot_compiles",
                                        "num_aot_artifacts_loaded"))
print(json.dumps({"compiled": compiled, "probs": probs,
                  "first_tokens": [result.token_ids[:1] for result in generated]}))
"""


@pytest.mark.e2e
def test_a_compiled_vllm_engine_runs_on_the_cpu_and_scores_as_transformers(tmp_path):
    """``enforce_eager: false`` on the CPU used to stop at start-up: the engine turned
    ``torch.compile`` off for every CPU model (``TORCHDYNAMO_DISABLE=1``), and vLLM then
    found nothing to compile with. Run in its own process, as a job would."""
    pytest.importorskip("vllm")
    import json
    import subprocess
    import sys

    from demo_model import demo_model_dir

    environment = {key: value for key, value in os.environ.items()
                   if key != "TORCHDYNAMO_DISABLE"}  # fmt: skip
    ran = subprocess.run(
        [sys.executable, "-c", COMPILED_ENGINE_SCORES, str(demo_model_dir()),
         str(tmp_path / "cache"), str(Path(__file__).resolve().parents[1])],
        capture_output=True, text=True, env=environment, check=False, timeout=900,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-4000:]
    compiled = json.loads(ran.stdout.strip().splitlines()[-1])
    # vLLM compiled the model (or loaded what it compiled before): not eager after all
    assert compiled["compiled"] > 0
    hf = load_engine(ModelSpec.from_config("demo", {
        "path": str(demo_model_dir()), "engine": "hf", "dtype": "float32", "device": "cpu",
        "max_model_len": 2048}), threads=2, cache_dir=tmp_path / "cache")  # fmt: skip
    items = scoring_items(hf.tokenizer)
    expected = score_with_engine(hf, items, continuation_token_ids(hf.tokenizer))
    for row, other in zip(compiled["probs"], expected, strict=True):
        assert max(abs(a - b) for a, b in zip(row, other, strict=True)) <= 1e-4
    first = hf.generate([GenerationRequest(item.prefix_ids, 1) for item in items],
                        logprobs=0, logprob_positions=1, seed=0)  # fmt: skip
    assert compiled["first_tokens"] == [list(result.token_ids[:1]) for result in first]


PAGE_FAULTS_OF_TEN_LAYERS = """
import resource, sys, torch
from culturalign.engines.vllm_engine import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    layer = torch.ones(25_000_000)  # 100 MB, freed before the next, as a layer's activations
    del layer
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
PAGES_OF_100_MB = 24_414


@pytest.mark.parametrize("mode", ["keep", "default"])
def test_freed_tensor_memory_is_kept_for_the_next_tensors(mode):
    """Ten 100 MB tensors, each freed before the next: with :func:`keep_freed_memory` they
    reuse the pages of the first ones (the heap grows two or three times, as small blocks
    land between them); by default glibc unmaps each and all ten page-fault their memory."""
    import platform
    import subprocess
    import sys

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc's malloc only")
    environment = {
        key: value
        for key, value in os.environ.items()
        if key != "LD_PRELOAD" and not key.startswith("MALLOC_")
    }
    ran = subprocess.run(
        [sys.executable, "-c", PAGE_FAULTS_OF_TEN_LAYERS, mode],
        capture_output=True, text=True, env=environment, check=True,
    )  # fmt: skip
    applied, faults = ran.stdout.split()
    print(f"{mode}: {faults} page faults")
    if mode == "keep":
        assert applied == "True"
        assert int(faults) < 4 * PAGES_OF_100_MB
    else:
        assert int(faults) > 8 * PAGES_OF_100_MB


def test_a_tuned_allocator_is_left_alone(monkeypatch):
    from culturalign.engines.vllm_engine import keep_freed_memory

    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert keep_freed_memory() is False


def test_job_resources_scale_with_the_model():
    small = {"path": "nowhere", "build": "smollm2-gguf", "device": "cpu"}
    assert job_gpus(small) == 0
    assert 4000 < job_resources(small)["mem_mb"] < 8000
    gpu = {"path": "org/model", "device": "gpu", "tensor_parallel_size": 4}
    assert job_gpus(gpu) == 4
    assert job_resources({**gpu, "resources": {"mem_mb": 123}})["mem_mb"] == 123


def test_unknown_engine_is_a_config_error():
    with pytest.raises(ConfigError, match=r"models\.x\.engine: unknown engine 'llama.cpp'"):
        load_engine(spec(engine="llama.cpp"))


def test_base_module_imports_no_engine():
    tree = ast.parse((ENGINES_DIR / "base.py").read_text(encoding="utf-8"))
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [None])
    }
    assert not any("engine" in (name or "") and name != "culturalign.engines.base"
                   for name in imported), imported  # fmt: skip
    assert not {"vllm", "transformers", "openai", "torch"} & imported


def test_builtin_engines_are_found_by_module_name():
    assert {"vllm", "hf"} <= set(builtin_engines())
    assert engine_class("hf").__name__ == "HfEngine"


class EchoEngine(Engine):
    """An engine defined in a test module: repeats the prompt's last token."""

    name = "echo"

    def __init__(self, spec, **options):
        super().__init__(spec)
        self.options = options

    @property
    def version(self) -> str:
        return "1.0"

    def generate(self, requests, *, logprobs, logprob_positions, seed):
        return [GenerationResult(r.prompt_ids[-1:], "x", "stop", ()) for r in requests]

    def next_token_logprobs(self, requests):
        return [{c: math.log(1 / len(r.candidate_ids)) for c in r.candidate_ids} for r in requests]


def test_an_engine_registered_from_a_test_module():
    register_engine("echo", EchoEngine)
    engine = load_engine(spec(engine="echo"), threads=3, seed=7)
    assert isinstance(engine, EchoEngine) and engine.options["threads"] == 3
    assert engine.generate([GenerationRequest((4, 5), 2)], logprobs=0,
                           logprob_positions=1, seed=0)[0].token_ids == (5,)  # fmt: skip
    register_engine("echo-path", f"{__name__}:EchoEngine")
    assert engine_class("echo-path") is EchoEngine
    register_engine("broken", "no.such.module:Engine")
    with pytest.raises(ConfigError, match="cannot load engine 'broken'"):
        engine_class("broken")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"path": "resources/models/not-built-yet/weights"}, "neither an existing directory nor"),
        ({"path": "/no/such/dir"}, "neither an existing directory nor"),
        ({"path": "a--b/c"}, "neither an existing directory nor"),
        ({"path": "x", "build": "no-such-recipe"}, "unknown recipe 'no-such-recipe'"),
        ({"path": "/abs/dir", "build": "smollm2-gguf"}, "must be a relative path"),
    ],
)
def test_bad_model_paths_are_config_errors_naming_the_key(entry, message):
    with pytest.raises(ConfigError, match=message) as raised:
        check_model_path("demo", {"engine": "vllm", **entry})
    assert "models.demo." in str(raised.value)


def test_good_model_paths_pass(tmp_path):
    check_model_path("a", {"engine": "vllm", "path": "meta-llama/Llama-3.1-8B-Instruct"})
    check_model_path("b", {"engine": "hf", "path": str(tmp_path)})
    check_model_path("c", {"engine": "vllm", "path": "resources/models/x", "build": "smollm2-gguf"})
    file = tmp_path / "weights.bin"
    file.write_bytes(b"")
    with pytest.raises(ConfigError, match="is a file"):
        check_model_path("d", {"engine": "vllm", "path": str(file)})


# --- the real engines on the demo model ---------------------------------------------------------


def run_engine(engine_name: str, model_dir, tmp_path):
    engine = load_engine(
        ModelSpec.from_config(
            "demo",
            {
                "path": str(model_dir),
                "engine": engine_name,
                "dtype": "float32",
                "max_model_len": 2048,
                "device": "cpu",
            },
        ),  # fmt: skip
        threads=2,
        cache_dir=tmp_path / "cache",
    )
    items = scoring_items(engine.tokenizer)
    probs = score_with_engine(engine, items, continuation_token_ids(engine.tokenizer))
    generated = engine.generate(
        [GenerationRequest(item.prefix_ids, 6) for item in items[::2]],
        logprobs=5,
        logprob_positions=2,
        seed=0,
    )
    # zero-style items again, with the option trees' candidates asked of the generation
    zero = items[::2]
    wanted = [generation_candidates(item) for item in zero]
    with_candidates = engine.generate(
        [GenerationRequest(item.prefix_ids, 6, ids, positions)
         for item, (ids, positions) in zip(zero, wanted, strict=True)],
        logprobs=5,
        logprob_positions=2,
        seed=0,
    )  # fmt: skip
    known = [
        nodes_from_generation(item, result.token_ids, result.position_logprobs)
        for item, result in zip(zero, with_candidates, strict=True)
    ]
    stats: dict[str, int] = {}
    reused = score_with_engine(
        engine, zero, continuation_token_ids(engine.tokenizer), known=known, stats=stats
    )
    # sampled answers (temperature 1, seeds 11, 11, 12, 13) in one call beside a greedy one
    sampled = engine.generate(
        [GenerationRequest(items[0].prefix_ids, 12, temperature=1.0, seed=seed)
         for seed in (11, 11, 12, 13)] + [GenerationRequest(items[2].prefix_ids, 6)],
        logprobs=0,
        logprob_positions=1,
        seed=0,
    )  # fmt: skip
    engine.close()
    del engine
    gc.collect()
    return items, probs, generated, (with_candidates, reused, stats), sampled


@pytest.mark.e2e
def test_hf_and_vllm_agree_on_exact_option_probs(tmp_path, restored_environment):
    pytest.importorskip("vllm")
    from demo_model import demo_model_dir

    model_dir = demo_model_dir()
    items, hf_probs, hf_generated, hf_reuse, hf_sampled = run_engine("hf", model_dir, tmp_path)
    _, vllm_probs, vllm_generated, vllm_reuse, vllm_sampled = run_engine(
        "vllm", model_dir, tmp_path
    )
    for item, hf_row, vllm_row in zip(items, hf_probs, vllm_probs, strict=True):
        assert len(hf_row) == len(item.option_ids)
        assert math.fsum(hf_row) == pytest.approx(1.0, abs=1e-9)
        assert math.fsum(vllm_row) == pytest.approx(1.0, abs=1e-9)
        assert max(abs(a - b) for a, b in zip(hf_row, vllm_row, strict=True)) <= 1e-4
    # multi-token options matter: 21 options are not all single tokens
    assert any(len(option) > 1 for option in items[2].option_ids)
    # letters too: the end-of-label factor is summed over the whole vocabulary
    assert sum(item.end.by_mass for item in items) == 2 * len(LETTER_QUESTIONS)
    for hf_result, vllm_result in zip(hf_generated, vllm_generated, strict=True):
        assert hf_result.token_ids[:1] == vllm_result.token_ids[:1]
        hf_top = {entry.token_id: entry.logprob for entry in hf_result.top_logprobs[0]}
        vllm_top = {entry.token_id: entry.logprob for entry in vllm_result.top_logprobs[0]}
        assert len(vllm_top) == 5
        shared = set(hf_top) & set(vllm_top)
        assert len(shared) >= 4
        assert all(abs(hf_top[token] - vllm_top[token]) < 1e-3 for token in shared)

    # both engines return the root's candidates from the generation request: those nodes
    # need no scoring request, and the distributions and the kept top-k are what they were
    # (vLLM computes the root in the same prefill either way; transformers pads the
    # generation batch differently from the scoring batches: float32 rounding, ~3e-6)
    check_generation_reuse(hf_probs, hf_generated, hf_reuse, tolerance=1e-5)
    check_generation_reuse(vllm_probs, vllm_generated, vllm_reuse, tolerance=1e-6)
    check_sampling(hf_sampled, hf_generated)
    check_sampling(vllm_sampled, vllm_generated)


COUNTRIES = ["Egypt", "Iran", "Turkey", "Morocco", "Lebanon", "Tunisia"]
TOPICS = ["family", "friends", "leisure time", "politics"]


def persona_prompts() -> pd.DataFrame:
    """24 persona prompts (6 countries x 4 questions), options 1-4, English."""
    rows = [
        {"question_id": f"Q{number}", "country": country, "variant": "original",
         "prompt_language": "en",
         "prompt": f"Imagine you are an average person from {country}. How important is "
                   f"{topic} in your life? 1 = very important, 2 = rather important, 3 = not "
                   "very important, 4 = not at all important. Answer with a number only.",
         "answer_cue": "Answer:", "scale_min": 1, "scale_max": 4, "scale_type": "ordinal",
         "label_kind": "number", "option_labels": ["1", "2", "3", "4"],
         "option_codes": [1, 2, 3, 4]}
        for country in COUNTRIES for number, topic in enumerate(TOPICS, 1)
    ]  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.e2e
def test_vllm_scores_a_cell_beyond_its_kv_cache_in_waves(tmp_path, restored_environment):
    """A cell whose prompts do not fit the KV cache together (24 prompts of ~80 tokens
    against 1,024 cached tokens) is generated and scored in waves: the scoring requests find
    their prompts cached, so the engine computes fewer tokens than with the whole cell in
    one call, and the rows are the same."""
    pytest.importorskip("vllm")
    from demo_model import demo_model_dir
    from transformers import AutoConfig

    model_dir = demo_model_dir()
    config = AutoConfig.from_pretrained(model_dir)
    head = config.hidden_size // config.num_attention_heads
    per_token = config.num_hidden_layers * 2 * config.num_key_value_heads * head * 4  # fp32
    engine = load_engine(
        ModelSpec.from_config("demo", {
            "path": str(model_dir), "engine": "vllm", "dtype": "float32", "device": "cpu",
            "max_model_len": 512,
            "engine_options": {"kv_cache_memory_bytes": 1024 * per_token},
        }),
        threads=2, cache_dir=tmp_path / "cache",
    )  # fmt: skip
    assert engine.prefix_cache_tokens() == 1024
    # token positions the model computes, by the step that asked (what the cache served is
    # not computed)
    computed = {"generate": 0, "score": 0}
    step = ["generate"]

    def count(_module, args, kwargs) -> None:
        ids = kwargs.get("input_ids")
        computed[step[0]] += int((ids if ids is not None else args[0]).numel())

    engine.llm.apply_model(lambda model: model.register_forward_pre_hook(count, with_kwargs=True))

    def marked(method, name):
        def call(*args, **kwargs):
            step[0] = name
            return method(*args, **kwargs)

        return call

    engine.generate = marked(engine.generate, "generate")
    engine.next_token_logprobs = marked(engine.next_token_logprobs, "score")
    prompts = persona_prompts()
    runs = {}
    for mode in ("waves", "whole"):
        if mode == "whole":
            engine.prefix_cache_tokens = lambda: None
        engine.llm.reset_prefix_cache()
        computed.update(generate=0, score=0)
        frame, meta = run_cell(engine, prompts, reasoning="zero", max_tokens=8)
        runs[mode] = (frame, meta, dict(computed))
    engine.close()
    del engine
    gc.collect()
    (waves, waves_meta, waves_tokens), (whole, whole_meta, whole_tokens) = runs.values()
    prompt_tokens = int(waves["n_prompt_tokens"].sum())
    assert prompt_tokens + 8 * len(prompts) > 1024  # the cell outgrows the cache
    requests = waves_meta["score_requests"]
    print(f"tokens computed (generation, scoring): {waves_tokens} in waves, {whole_tokens} in "
          f"one call; prompts {prompt_tokens}, score requests {requests}")  # fmt: skip
    # in waves every scoring request finds its prompt's full 16-token blocks cached: it
    # computes the prompt's unfinished block and its label token, at most 16 positions
    assert waves_tokens["score"] <= 16 * requests
    assert whole_tokens["score"] > 16 * requests
    assert waves["response"].tolist() == whole["response"].tolist()
    for ours, theirs in zip(waves["option_probs"], whole["option_probs"], strict=True):
        assert [e["option"] for e in ours] == [e["option"] for e in theirs]
        assert max(abs(a["prob"] - b["prob"]) for a, b in zip(ours, theirs, strict=True)) < 1e-6
    assert waves_meta["score_requests"] == whole_meta["score_requests"]


def check_sampling(sampled, generated):
    """A seed gives the same sample twice in one call; three seeds do not all agree (12
    tokens at temperature 1); a greedy request in the same call is what it is alone."""
    one, again, *others, greedy = sampled
    assert one.token_ids == again.token_ids and len(one.token_ids) > 0
    assert len({one.token_ids, *(other.token_ids for other in others)}) >= 2
    assert greedy.token_ids == generated[1].token_ids


def check_generation_reuse(probs, generated, reuse, tolerance):
    with_candidates, reused, stats = reuse
    assert stats["nodes_from_generation"] >= len(reused)
    worst = max(
        abs(a - b) for row, again in zip(probs[::2], reused, strict=True)
        for a, b in zip(row, again, strict=True)
    )  # fmt: skip
    print(f"option probabilities with nodes from the generation: max |difference| {worst:.2g}")
    assert worst <= tolerance
    for plain, asked in zip(generated, with_candidates, strict=True):
        assert asked.token_ids == plain.token_ids
        assert [[e.token_id for e in position] for position in asked.top_logprobs] == [
            [e.token_id for e in position] for position in plain.top_logprobs
        ]
        assert all(
            abs(a.logprob - b.logprob) <= 1e-6
            for x, y in zip(asked.top_logprobs, plain.top_logprobs, strict=True)
            for a, b in zip(x, y, strict=True)
        )


class RecordingClient:
    """Stands in for the HTTP client: keeps the request bodies, answers with empty text."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def run(self, kind, bodies, describe, fallback=None):
        self.bodies.extend(bodies)
        return [{"choices": [{"text": "", "message": {"content": ""}}]} for _ in bodies]


def test_api_bodies_carry_each_requests_temperature_and_seed():
    from culturalign.engines.base import ChatRequest
    from culturalign.engines.openai_engine import OpenAiEngine
    from culturalign.engines.vllm_server_engine import VllmServerEngine

    chat = object.__new__(OpenAiEngine)
    chat.client, chat.logprobs_supported = RecordingClient(), True
    chat.chat([ChatRequest("q", 8), ChatRequest("q", 8, temperature=0.7, seed=12)],
              logprobs=0, seed=3)  # fmt: skip
    greedy, sampled = chat.client.bodies
    assert (greedy["temperature"], greedy["seed"]) == (0.0, 3) and "top_p" not in greedy
    assert (sampled["temperature"], sampled["seed"], sampled["top_p"]) == (0.7, 12, 1.0)

    server = object.__new__(VllmServerEngine)
    server.client = RecordingClient()
    server.tokenizer = SimpleNamespace(decode=lambda ids, **_: "")
    server.generate(
        [GenerationRequest((1, 2), 8), GenerationRequest((1, 2), 8, temperature=0.7, seed=12)],
        logprobs=0, logprob_positions=1, seed=3,
    )  # fmt: skip
    greedy, sampled = server.client.bodies
    assert (greedy["temperature"], greedy["seed"]) == (0.0, 3) and "top_k" not in greedy
    # a server fills unset fields from the model's generation_config: sampled ones say all
    assert (sampled["temperature"], sampled["seed"]) == (0.7, 12)
    assert (sampled["top_p"], sampled["top_k"]) == (1.0, -1)


def independent_probs(model, prefix, options, continuation) -> list[float]:
    """Each option teacher-forced after the prompt in its own transformers forward pass
    (float64 softmax): P = prod P(token) * (1 - P(next token extends the label))."""
    import torch

    values = []
    with torch.no_grad():
        for option in options:
            ids = torch.tensor([list(prefix) + list(option)])
            logprobs = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
            start = len(prefix) - 1
            chain = sum(float(logprobs[start + j, token]) for j, token in enumerate(option))
            end = 1.0 - float(logprobs[-1, sorted(continuation)].exp().sum())
            values.append(math.exp(chain) * max(end, 0.0))
    total = math.fsum(values)
    return [value / total for value in values]


@pytest.mark.e2e
def test_hf_batches_keep_a_long_prompt_from_padding_short_ones():
    """Shortest first, at most ``size`` rows, a new batch before a row over 1.25 times the
    batch's first: the 600-token prompt is alone instead of padding four rows to 600."""
    lengths = [100, 600, 101, 110, 130, 125, 90, 99]
    assert _length_batches(lengths, 16) == [[6, 7, 0, 2, 3], [5, 4], [1]]
    assert _length_batches(lengths, 2) == [[6, 7], [0, 2], [3, 5], [4], [1]]
    assert _length_batches([], 4) == []


def test_prefixes_shared_by_enough_prompts_are_found():
    """Every prompt starts with 1 2; nine continue with 3 3 3 and eight with 4 4, each then
    its own token; two share 6 6 6 6 and one is alone. With groups of at least 8, the nine
    start from 1 2 3 3 3, the eight from 1 2 4 4, the pair and the single from 1 2; a prompt
    that is its group's prefix plus one token keeps that token (its logits are the root)."""
    nine = [(1, 2, 3, 3, 3, 10 + i, 7) for i in range(8)] + [(1, 2, 3, 3, 3, 9)]
    eight = [(1, 2, 4, 4, 20 + i) for i in range(8)]
    others = [(1, 2, 6, 6, 6, 6, 30), (1, 2, 6, 6, 6, 6, 31), (1, 2, 5)]
    prompts = nine + eight + others
    order = sorted(prompts, key=lambda prompt: (prompt[-1] % 7, prompt))  # groups mixed
    lengths = dict(zip(order, _group_prefix_lengths(order, 8), strict=True))
    assert [lengths[prompt] for prompt in nine] == [5] * 9
    assert [lengths[prompt] for prompt in eight] == [4] * 8
    assert [lengths[prompt] for prompt in others] == [2, 2, 2]
    # with pairs enough, the pair starts from its six shared tokens; too few prompts: none
    assert _group_prefix_lengths(others, 2)[:2] == [6, 6]
    assert _group_prefix_lengths(eight, 9) == [0] * 8


def test_hf_rows_start_from_their_group_prefix_exactly(tmp_path):
    """Two personas' questions (ten prompts each, zero and after a cue): each row starts from
    its country's framing, computed once, and the one-pass distributions (float32) still
    equal per-node requests (1e-5) and independent forward passes per option (1e-4)."""
    from demo_model import demo_model_dir

    from culturalign.scoring.exact import score_items

    spec = ModelSpec.from_config("demo", {"path": str(demo_model_dir()), "engine": "hf",
                                          "dtype": "float32", "device": "cpu"})  # fmt: skip
    engine = load_engine(spec, threads=2, cache_dir=tmp_path / "cache")
    personas = [f"Imagine you are an average person from {country}. Answer as they would. "
                for country in ("Egypt", "Morocco")]  # fmt: skip
    items = [item for framing in personas for item in scoring_items(engine.tokenizer, framing)]
    prompts = [item.prefix_ids for item in items]
    starts = engine._prefix_states(prompts)
    root = _shared_prefix(prompts)
    for index, ((prefix, _), prompt) in enumerate(zip(starts, prompts, strict=True)):
        assert prompt[: len(prefix)] == prefix and len(prefix) > root
        assert personas[index // 10].strip() in engine.tokenizer.decode(prefix)
    assert len({prefix for prefix, _ in starts}) == 2
    tree = score_with_engine(engine, items)
    checked = [1, 3, 6, 12, 17]
    per_node = score_items(engine.next_token_logprobs, [items[i] for i in checked],
                           next_token_mass=engine.next_token_mass)  # fmt: skip
    reference = [independent_probs(engine.model, items[i].prefix_ids, items[i].option_ids,
                                   items[i].end.continuation) for i in checked]  # fmt: skip
    worst_requests = max(abs(a - b) for i, row in zip(checked, per_node, strict=True)
                         for a, b in zip(tree[i], row, strict=True))  # fmt: skip
    worst_independent = max(abs(a - b) for i, row in zip(checked, reference, strict=True)
                            for a, b in zip(tree[i], row, strict=True))  # fmt: skip
    print(f"group prefixes: vs per-node requests {worst_requests:.2g}, "
          f"vs independent forward {worst_independent:.2g}")  # fmt: skip
    assert worst_requests <= 1e-5 and worst_independent <= 1e-4
    assert any(items[i].end.by_mass for i in checked)
    engine.close()


def test_hf_scores_each_option_tree_in_one_pass_exactly(tmp_path):
    """transformers: one forward pass per prompt over the prompt and its whole option tree
    (numbers with two-token labels, letters with end masses; prompts of different lengths
    padded into one batch after their shared prefix) gives the per-node requests'
    distributions (1e-5) and an independent forward pass per option's (1e-4); one batch or
    one prompt at a time, the same."""
    from demo_model import demo_model_dir

    from culturalign.scoring.exact import score_items

    spec = ModelSpec.from_config("demo", {"path": str(demo_model_dir()), "engine": "hf",
                                          "dtype": "float32", "device": "cpu"})  # fmt: skip
    engine = load_engine(spec, threads=2, cache_dir=tmp_path / "cache")
    items = scoring_items(engine.tokenizer)
    # the batch shares the chat template's system turn: its keys and values are computed once
    assert _shared_prefix([item.prefix_ids for item in items]) >= 10
    lengths = [len(request.prompt_ids) + len(request.tree_tokens())
               for _, request in tree_requests(items, None)]  # fmt: skip
    assert any(len({lengths[i] for i in batch}) > 1
               for batch in _length_batches(lengths, engine.batch_size))  # fmt: skip
    stats: dict[str, int] = {}
    tree = score_with_engine(engine, items, stats=stats)
    assert stats == {"score_requests": len(items), "mass_requests": 0,
                     "nodes_from_generation": 0}  # fmt: skip
    # the per-node requests and the independent passes on a 21-option item (two-token
    # labels), a four-option one and a lettered one, after the prompt and after a cue
    checked = [0, 2, 3, 6, 7]
    tree_checked = [tree[i] for i in checked]
    per_node = score_items(engine.next_token_logprobs, [items[i] for i in checked],
                           next_token_mass=engine.next_token_mass)  # fmt: skip
    engine.batch_size = 1
    alone = score_with_engine(engine, items)

    def gap(rows, others) -> float:
        return max(abs(a - b) for row, other in zip(rows, others, strict=True)
                   for a, b in zip(row, other, strict=True))  # fmt: skip

    # letters' end factor is 1 - P(a letter-like token), numbers' 1 - P(a digit-like token)
    reference = [independent_probs(engine.model, items[i].prefix_ids, items[i].option_ids,
                                   items[i].end.continuation) for i in checked]  # fmt: skip
    assert all(math.fsum(row) == pytest.approx(1.0, abs=1e-9) for row in tree)
    worst_requests, worst_alone = gap(tree_checked, per_node), gap(tree, alone)
    worst_independent = gap(tree_checked, reference)
    print(f"one pass vs per-node requests {worst_requests:.2g}, vs one prompt at a time "
          f"{worst_alone:.2g}, vs independent forward {worst_independent:.2g}")  # fmt: skip
    assert worst_requests <= 1e-5 and worst_alone <= 1e-5 and worst_independent <= 1e-4
    assert any(len(option) > 1 for i in checked for option in items[i].option_ids)
    assert any(items[i].end.by_mass for i in checked)
    engine.close()
