"""Exact option scoring on a GPU: the transformers engine's one-pass tree scoring of a
paper-sized cell on a Llama-3-8B-shaped model with random weights.

Meant for the device lent to some tasks (PyTorch and transformers, no vLLM, no network, at
most 64 MiB carried): the model is built there from its configuration (``from_config``,
bf16), never downloaded. The cell: ``--prompts`` prompts (default 9,000) of ~90 token ids
laid out as a persona cell's are: a system turn every prompt shares (20 tokens), one of 16
countries' framings (15 tokens), then a question (the same question for every country),
each with 4 to 10 numbered options (labels 1 .. 10: ``10`` is two tokens, so the trees have
inner nodes and end-of-label factors, as on the real tokenizers). Each batch size is timed
on the whole cell after a warm-up batch; per batch size: seconds, prompts/s, the cell's
tokens per second (prompt and tree tokens), the positions the forward passes computed (the
shared prefixes are computed once), and the share of the GPU's bf16 peak, taking a forward
pass as 2 * parameters * positions FLOPs (attention left out: ~90-token sequences).

    python bench/gpu_tree_scoring.py --out bench/results/gpu_h200.json

``--layers``/``--hidden``/``--device cpu``/``--prompts`` shrink it for a smoke run anywhere.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

LLAMA3_8B = {"vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336,
             "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
             "max_position_embeddings": 8192, "rope_theta": 500000.0,
             "tie_word_embeddings": False}  # fmt: skip
DIGITS = tuple(range(15, 25))
"""Token ids standing in for the digits 0-9 (the labels' tokens and the continuations)."""


COUNTRIES = 16
SYSTEM_TOKENS, FRAMING_TOKENS = 20, 15


def cell(n_prompts: int, prompt_tokens: int, vocab: int, seed: int = 0):
    """Scoring items of numbered options (4-10) after prompts of about ``prompt_tokens``:
    a shared system turn, a country's framing, a question asked in every country."""
    from culturalign.scoring.exact import ScoringItem

    rng = random.Random(seed)

    def words(count: int) -> tuple[int, ...]:
        return tuple(rng.randrange(1000, vocab) for _ in range(count))

    system = words(SYSTEM_TOKENS)
    framings = [words(FRAMING_TOKENS) for _ in range(COUNTRIES)]
    items = []
    while len(items) < n_prompts:
        length = rng.randint(prompt_tokens - 10, prompt_tokens + 10)
        question = words(max(1, length - SYSTEM_TOKENS - FRAMING_TOKENS))
        labels = range(1, rng.randint(4, 10) + 1)
        options = tuple(tuple(DIGITS[int(d)] for d in str(label)) for label in labels)
        for framing in framings[: n_prompts - len(items)]:
            items.append(ScoringItem(system + framing + question, options))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=9000)
    parser.add_argument("--prompt-tokens", type=int, default=90)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64, 128, 256, 512])
    parser.add_argument("--layers", type=int, default=LLAMA3_8B["num_hidden_layers"])
    parser.add_argument("--hidden", type=int, default=LLAMA3_8B["hidden_size"])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--peak-tflops", type=float, default=790.0,
                        help="the GPU's measured bf16 dense peak (H200: ~790)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/gpu_h200.json")
    args = parser.parse_args()

    import torch
    import transformers
    from bench_peer import count_forward_tokens
    from transformers import AutoModelForCausalLM, LlamaConfig

    from culturalign.engines.hf_engine import HfEngine
    from culturalign.scoring.exact import score_items_by_tree, tree_requests

    shape = dict(LLAMA3_8B, num_hidden_layers=args.layers, hidden_size=args.hidden)
    if args.hidden != LLAMA3_8B["hidden_size"]:
        heads = max(1, args.hidden // 128)
        shape.update(intermediate_size=args.hidden * 3, num_attention_heads=heads,
                     num_key_value_heads=max(1, heads // 4))  # fmt: skip
    torch.manual_seed(0)
    started = time.perf_counter()
    with torch.device(args.device):
        model = AutoModelForCausalLM.from_config(LlamaConfig(**shape), dtype=torch.bfloat16)
    model.eval()
    build = time.perf_counter() - started
    parameters = sum(p.numel() for p in model.parameters())
    items = cell(args.prompts, args.prompt_tokens, shape["vocab_size"])
    tokens = sum(len(r.prompt_ids) + len(r.tree_tokens()) for _, r in tree_requests(items, DIGITS))
    counted = count_forward_tokens(model)
    runs = []
    for batch_size in args.batch_sizes:
        engine = HfEngine.around_model(model, batch_size=batch_size)
        score_items_by_tree(engine.tree_logprobs, items[:batch_size], DIGITS)  # warm-up
        counted.clear()
        if args.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        probs = score_items_by_tree(engine.tree_logprobs, items, DIGITS)
        if args.device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        assert all(abs(sum(row) - 1.0) < 1e-6 for row in probs)
        positions = sum(counted)
        flops = 2.0 * parameters * positions / seconds
        runs.append({
            "batch_size": batch_size, "seconds": round(seconds, 3),
            "prompts_per_second": round(len(items) / seconds, 1),
            "tokens_per_second": round(tokens / seconds),
            "forward_positions_per_prompt": round(positions / len(items), 1),
            "forward_passes": len(counted),
            "share_of_bf16_peak": round(flops / (args.peak_tflops * 1e12), 4),
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
            if args.device == "cuda" else None,
        })  # fmt: skip
        print(json.dumps(runs[-1]), flush=True)
    report = {
        "what": "transformers engine, exact option scoring in one forward pass per prompt "
        "(prompt + option tree), a Llama-3-8B-shaped model with random bf16 weights",
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor(),
        "software": {"torch": torch.__version__, "transformers": transformers.__version__},
        "model_shape": shape, "parameters": parameters, "build_seconds": round(build, 1),
        "prompts": len(items), "tokens_per_prompt": round(tokens / len(items), 1),
        "peak_tflops_assumed": args.peak_tflops, "runs": runs,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
