"""Where the transformers engine's exact scoring spends its time, and the speed-up over
lm-evaluation-harness's ``hf`` backend that this machine's matrix products allow.

The peer bench's ``culturalign_hf`` scoring (same prompts, model, dtype, batch size) runs
once as it is, then once with every linear layer's and every attention call's shapes
recorded (``torch.nn.functional.linear`` and ``scaled_dot_product_attention``, the calls
transformers makes). Each recorded call is then replayed alone on random tensors of its
shapes, its linear layer's own weights: the seconds the run's matrix products and its
attention take by themselves, and their rates (GFLOP/s), beside the rate of one large
bfloat16 matrix product (the machine's practical peak). The attention calls are also
replayed as two grouped matrix products per call (scores, then weights times values, each
key head serving its query heads, in float32): the same arithmetic, without repeating the
key heads and without SDPA's kernel.

With the speed-up over lm-eval's ``hf`` backend that a peer-bench report measured
(``--peer``: both tools interleaved in one session), the speed-up is scaled by this run's
shares, so that no two sessions' seconds are divided: with attention as the grouped
products, and the ceiling, with only the linear layers left (attention and everything else
for free: the most that faster kernels could give at this number of tokens).

    python bench/hf_scoring_ceiling.py --peer bench/results/peer_cpu.json \\
        --out bench/results/hf_ceiling_cpu.json
"""

from __future__ import annotations

import json
import math
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
    run_description,
)


class CallRecorder:
    """Records the shapes of the linear and attention calls made inside ``with`` (by
    replacing the two ``torch.nn.functional`` functions, which transformers looks up at
    each call)."""

    def __init__(self, torch):
        self.torch = torch
        self.linear: list[tuple[tuple[int, ...], object]] = []
        self.attention: list[dict] = []

    def __enter__(self) -> CallRecorder:
        functional = self.torch.nn.functional
        self._originals = functional.linear, functional.scaled_dot_product_attention
        linear, attention = self._originals

        def recorded_linear(input, weight, bias=None):
            self.linear.append((tuple(input.shape), weight))
            return linear(input, weight, bias)

        def recorded_attention(query, key, value, attn_mask=None, *args, **kwargs):
            self.attention.append({
                "query": tuple(query.shape), "key": tuple(key.shape),
                "mask": None if attn_mask is None else tuple(attn_mask.shape),
                "mask_dtype": None if attn_mask is None else attn_mask.dtype,
                "dtype": query.dtype, "enable_gqa": kwargs.get("enable_gqa", False),
            })  # fmt: skip
            return attention(query, key, value, attn_mask, *args, **kwargs)

        functional.linear, functional.scaled_dot_product_attention = (
            recorded_linear, recorded_attention)  # fmt: skip
        return self

    def __exit__(self, *exc) -> None:
        functional = self.torch.nn.functional
        functional.linear, functional.scaled_dot_product_attention = self._originals


def linear_flops(shape: tuple[int, ...], weight) -> int:
    """2 * input rows * the weight's entries."""
    return 2 * math.prod(shape[:-1]) * weight.shape[0] * weight.shape[1]


def attention_flops(call: dict) -> int:
    """Scores and weighted values: 2 * 2 * batch * query heads * queries * keys * head size."""
    batch, heads, queries, size = call["query"]
    return 4 * batch * heads * queries * call["key"][2] * size


def _seconds(torch, work) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        work()
    return time.perf_counter() - start


def replay_linear(torch, calls) -> float:
    """Seconds of every recorded linear call, alone, on random inputs of its shape."""
    total = 0.0
    for shape, weight in calls:
        inputs = torch.randn(shape, dtype=weight.dtype)
        total += _seconds(torch, lambda: torch.nn.functional.linear(inputs, weight))  # noqa: B023
    return total


def _attention_inputs(torch, call: dict):
    """Random tensors of a recorded call's shapes; its mask causal over the last queries."""
    queries = call["query"][2]
    query = torch.randn(call["query"], dtype=call["dtype"])
    key = torch.randn(call["key"], dtype=call["dtype"])
    value = torch.randn(call["key"], dtype=call["dtype"])
    mask = None
    if call["mask"] is not None:
        keys = call["key"][2]
        causal = torch.ones(queries, keys, dtype=torch.bool).tril(keys - queries)
        mask = torch.zeros(call["mask"], dtype=call["mask_dtype"])
        if mask.dtype != torch.bool:
            mask.masked_fill_(~causal, torch.finfo(mask.dtype).min)
        else:
            mask |= causal
    return query, key, value, mask


def replay_sdpa(torch, calls) -> float:
    """Seconds of every recorded attention call through SDPA, as the run made it."""
    total = 0.0
    for call in calls:
        query, key, value, mask = _attention_inputs(torch, call)
        total += _seconds(torch, lambda: torch.nn.functional.scaled_dot_product_attention(  # noqa: B023
            query, key, value, mask, enable_gqa=call["enable_gqa"]))  # noqa: B023  # fmt: skip
    return total


def grouped_attention(torch, query, key, value, mask, dtype=None):
    """SDPA's arithmetic as two matrix products per key head, its query heads stacked,
    computed in ``dtype`` (default float32, as SDPA's CPU kernel accumulates; ``mask``
    additive, as transformers passes it;
    :func:`attention_errors` measures what rounding the scores to bfloat16 would cost)."""
    dtype = dtype or torch.float32
    batch, heads, queries, size = query.shape
    key_heads, keys = key.shape[1], key.shape[2]
    group = heads // key_heads
    stacked = query.to(dtype).reshape(batch, key_heads, group * queries, size)
    scores = torch.matmul(stacked, key.to(dtype).transpose(-1, -2)) * size**-0.5
    scores = scores.view(batch, key_heads, group, queries, keys)
    if mask is not None:
        scores = scores + mask.unsqueeze(1).to(dtype)
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(dtype)
    output = torch.matmul(weights.view(batch, key_heads, group * queries, keys), value.to(dtype))
    return output.view(batch, heads, queries, size).to(query.dtype)


def attention_errors(torch, call: dict, key_heads: int) -> dict[str, float]:
    """Mean absolute error against float64 of one recorded call's attention (scaled random
    inputs, so that the softmax is peaked as a trained model's is): SDPA as run, the
    grouped products in float32, and in the call's own dtype."""
    query, key, value, mask = _attention_inputs(torch, call)
    step = key.shape[1] // key_heads
    grouped_key, grouped_value = key[:, ::step] * 2, value[:, ::step]
    query = query * 2
    key, value = grouped_key.repeat_interleave(step, 1), grouped_value.repeat_interleave(step, 1)
    exact = torch.nn.functional.scaled_dot_product_attention(
        query.double(), key.double(), value.double(), None if mask is None else mask.double()
    )

    def error(output) -> float:
        return float((output.double() - exact).abs().mean())

    sdpa = torch.nn.functional.scaled_dot_product_attention
    with torch.no_grad():
        return {
            "sdpa": error(sdpa(query, key, value, mask)),
            "grouped_float32": error(
                grouped_attention(torch, query, grouped_key, grouped_value, mask)
            ),
            "grouped_in_call_dtype": error(
                grouped_attention(torch, query, grouped_key, grouped_value, mask, query.dtype)
            ),
        }


def replay_grouped(torch, calls, key_heads: int) -> float:
    """Seconds of every recorded attention call as :func:`grouped_attention`, with the
    model's ``key_heads`` (transformers repeats each key head per query head before SDPA
    when there is a mask; the grouped products take it once)."""
    total = 0.0
    for call in calls:
        query, key, value, mask = _attention_inputs(torch, call)
        step = key.shape[1] // key_heads
        key, value = key[:, ::step], value[:, ::step]
        total += _seconds(torch, lambda: grouped_attention(torch, query, key, value, mask))  # noqa: B023
    return total


def peak_rate(torch, dtype, size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of one large square matrix product: the machine's practical peak."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.matmul(a, b)
    seconds = min(_seconds(torch, lambda: torch.matmul(a, b)) for _ in range(repeats))
    return 2 * size**3 / seconds / 1e9


def measure(model, score, items, torch, peer_speedup: float | None) -> dict:
    """Time ``score(items)`` (exact scoring on a transformers engine around ``model``),
    record and replay its calls, and scale ``peer_speedup`` (over lm-eval's hf backend,
    measured by the peer bench; ``None``: no ratios) by the shares they take."""
    from bench_peer import count_forward_tokens, forward_figures

    score(items[: min(32, len(items))])  # warm-up
    counted = count_forward_tokens(model)
    start = time.perf_counter()
    score(items)
    scoring = time.perf_counter() - start
    work = forward_figures(list(counted), len(items))
    with CallRecorder(torch) as recorder:
        score(items)
    key_heads = model.config.num_key_value_heads or model.config.num_attention_heads
    linear = replay_linear(torch, recorder.linear)
    sdpa = replay_sdpa(torch, recorder.attention)
    grouped = replay_grouped(torch, recorder.attention, key_heads)
    linear_gflop = sum(linear_flops(*call) for call in recorder.linear) / 1e9
    attention_gflop = sum(attention_flops(call) for call in recorder.attention) / 1e9
    report = {
        "scoring_seconds": round(scoring, 3),
        **work,
        "linear": {"calls": len(recorder.linear), "gflop": round(linear_gflop, 1),
                   "seconds": round(linear, 3),
                   "gflop_per_second": round(linear_gflop / linear, 1)},
        "attention_sdpa": {"calls": len(recorder.attention), "gflop": round(attention_gflop, 1),
                           "seconds": round(sdpa, 3),
                           "gflop_per_second": round(attention_gflop / sdpa, 1)},
        "attention_grouped_matmul": {"seconds": round(grouped, 3),
                                     "gflop_per_second": round(attention_gflop / grouped, 1)},
        "attention_mean_abs_error_vs_float64": {
            name: float(f"{value:.3g}")
            for name, value in attention_errors(torch, recorder.attention[-1], key_heads).items()
        },
        "rest_seconds": round(scoring - linear - sdpa, 3),
        "peak_gflop_per_second": round(peak_rate(torch, model.dtype), 1),
    }  # fmt: skip
    if peer_speedup:
        report["speedup_over_lmeval_hf"] = {
            "peer_bench": peer_speedup,
            "attention_as_grouped_matmul": round(
                peer_speedup * scoring / (scoring - sdpa + grouped), 2
            ),
            "ceiling_linear_layers_only": round(peer_speedup * scoring / linear, 2),
        }
    return report


def main() -> None:
    parser = bench_arguments(__doc__)
    parser.add_argument("--hf-batch-size", type=int, default=16)
    parser.add_argument(
        "--peer", type=Path, help="a bench_peer.py report with culturalign_hf and lmeval_hf"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/hf_ceiling_cpu.json")
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds in one process; the median is reported"
    )
    args = parser.parse_args()

    import torch
    from bench_peer import zero_shot_items

    from culturalign.engines import ModelSpec, load_engine
    from culturalign.scoring.exact import score_with_engine

    peer_speedup = None
    if args.peer:
        peer = json.loads(args.peer.read_text())
        try:
            peer_speedup = peer["speedup_of_culturalign_hf_scoring"]["lmeval_hf"]
        except KeyError:
            raise SystemExit(
                f"{args.peer}: no speed-up of culturalign_hf over lmeval_hf (run bench_peer.py "
                "with both tools)"
            ) from None
    spec = ModelSpec(key="bench", path=str(args.model), engine="hf", device="cpu",
                     dtype=args.dtype, max_model_len=2048,
                     engine_options={"batch_size": args.hf_batch_size})  # fmt: skip
    engine = load_engine(spec, threads=args.threads, cache_dir=REPO / "resources/.cache")
    prompts = bench_prompts(args.n_prompts, args.questions, args.human)
    _, items = zero_shot_items(engine, prompts)
    rounds = []
    for repeat in range(args.repeats):
        print(f"== round {repeat + 1}/{args.repeats}", file=sys.stderr, flush=True)
        rounds.append(measure(engine.model, lambda some: score_with_engine(engine, some), items,
                              torch, peer_speedup))  # fmt: skip
    report = {
        "what": (
            "the transformers engine's exact scoring of the peer bench's prompts: seconds as "
            "run, and its linear layers and attention calls replayed alone at their shapes "
            "(the median round by scoring seconds)"
        ),
        **run_description(args, ("torch", "transformers")),
        "hf_batch_size": args.hf_batch_size,
        "peer_report": str(args.peer) if args.peer else None,
        **median_run(rounds, "scoring_seconds"),
        "all_rounds": [
            {
                "scoring_seconds": one["scoring_seconds"],
                "linear_seconds": one["linear"]["seconds"],
                "attention_sdpa_seconds": one["attention_sdpa"]["seconds"],
                "attention_grouped_matmul_seconds": one["attention_grouped_matmul"]["seconds"],
            }
            for one in rounds
        ],  # fmt: skip
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
