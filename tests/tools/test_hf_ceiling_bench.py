"""The ceiling bench (bench/hf_scoring_ceiling.py): its grouped attention computes what SDPA
computes, and its replay accounts for every linear layer and attention call of a scoring
run, on a tiny random Llama."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import hf_scoring_ceiling as ceiling  # noqa: E402


def test_grouped_attention_equals_sdpa_over_repeated_key_heads():
    """Six query heads over two key heads (query head h reads key head h // 3, as
    transformers' repeat_kv lays them out), a cached prefix of four keys and a causal tail."""
    generator = torch.Generator().manual_seed(0)
    query = torch.randn(2, 6, 5, 8, generator=generator)
    key = torch.randn(2, 2, 9, 8, generator=generator)
    value = torch.randn(2, 2, 9, 8, generator=generator)
    visible = torch.ones(5, 9, dtype=torch.bool).tril(4)
    mask = torch.zeros(2, 1, 5, 9).masked_fill(~visible, torch.finfo(torch.float32).min)
    expected = torch.nn.functional.scaled_dot_product_attention(
        query, key.repeat_interleave(3, dim=1), value.repeat_interleave(3, dim=1), mask
    )
    got = ceiling.grouped_attention(torch, query, key, value, mask)
    assert torch.allclose(got, expected, atol=1e-5)
    swapped = ceiling.grouped_attention(torch, query, key.flip(1), value.flip(1), mask)
    assert not torch.allclose(swapped, expected, atol=1e-2)  # the head mapping matters


def test_replay_accounts_for_every_linear_layer_and_attention_call():
    """Each forward pass of an L-layer Llama makes 7 linear calls per layer (q, k, v, o,
    gate, up, down) plus the output head, and one attention call per layer; the decoder's
    linear FLOPs are 2 x positions x its linear weights, the output head's at most
    2 x positions x vocabulary x hidden size."""
    import gpu_tree_scoring

    from culturalign.engines.hf_engine import HfEngine
    from culturalign.scoring.exact import score_items_by_tree

    layers, hidden, heads, key_heads, inner, vocab = 2, 64, 4, 2, 128, 2048
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=inner, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=key_heads,
    )  # fmt: skip
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).eval()
    engine = HfEngine.around_model(model, batch_size=8)
    items = gpu_tree_scoring.cell(48, 40, vocab)

    def score(some):
        return score_items_by_tree(engine.tree_logprobs, some, gpu_tree_scoring.DIGITS)

    report = ceiling.measure(model, score, items, torch, peer_speedup=2.0)

    passes = report["forward_passes"]
    positions = report["forward_tokens_per_prompt"] * len(items)
    assert report["linear"]["calls"] == passes * (7 * layers + 1)
    assert report["attention_sdpa"]["calls"] == passes * layers
    size = hidden // heads
    decoder_weights = layers * (
        hidden * heads * size + 2 * hidden * key_heads * size + heads * size * hidden
        + 3 * hidden * inner
    )  # fmt: skip
    decoder_gflop = 2 * positions * decoder_weights / 1e9
    head_gflop = 2 * positions * vocab * hidden / 1e9
    assert decoder_gflop - 0.1 <= report["linear"]["gflop"] <= decoder_gflop + head_gflop + 0.1
    for part in ("linear", "attention_sdpa", "attention_grouped_matmul"):
        assert report[part]["seconds"] > 0 and report[part]["gflop_per_second"] > 0
    assert report["linear"]["seconds"] < report["scoring_seconds"]
    speedup = report["speedup_over_lmeval_hf"]
    assert speedup["peer_bench"] == 2.0
    linear_share = report["linear"]["seconds"] / report["scoring_seconds"]
    # Seconds are reported to the millisecond, coarse for a model this small.
    assert speedup["ceiling_linear_layers_only"] == pytest.approx(2.0 / linear_share, rel=0.25)


def test_attention_errors_are_float32_rounding_for_a_float32_call():
    """In float32 SDPA and the grouped products compute the same attention: both within
    float32 rounding of the float64 reference (a wrong key-head mapping would be off by
    the size of the values)."""
    call = {"query": (2, 6, 5, 8), "key": (2, 6, 9, 8), "mask": (2, 1, 5, 9),
            "mask_dtype": torch.float32, "dtype": torch.float32, "enable_gqa": False}  # fmt: skip
    errors = ceiling.attention_errors(torch, call, key_heads=2)
    assert set(errors) == {"sdpa", "grouped_float32", "grouped_in_call_dtype"}
    assert all(0 <= error < 1e-5 for error in errors.values())
