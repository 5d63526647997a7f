"""Sharing a prompt's unfinished KV block between vLLM requests
(culturalign.engines.vllm_block_sharing): which requests keep, reuse and drop a block, the
worker's copies, and a float32 engine that shares blocks scoring as one that does not while
computing fewer tokens."""

from __future__ import annotations

import gc
from types import SimpleNamespace

import pytest

pytest.importorskip("vllm")
torch = pytest.importorskip("torch")

from vllm.distributed.kv_transfer.kv_connector.v1.base import KVConnectorRole  # noqa: E402
from vllm.v1.request import RequestStatus  # noqa: E402

from culturalign.engines.base import common_prefix_length  # noqa: E402
from culturalign.engines.vllm_block_sharing import (  # noqa: E402
    BlockCopies,
    UnfinishedBlockConnector,
)

PROMPT = list(range(100, 137))  # 37 tokens: two full 16-token blocks and 5 more


def connector(role=KVConnectorRole.SCHEDULER, block_bytes=1024, groups=1):
    config = SimpleNamespace(kv_transfer_config=object(),
                             cache_config=SimpleNamespace(block_size=16))  # fmt: skip
    spec = SimpleNamespace(page_size_bytes=block_bytes // 2 // groups)
    layers = [SimpleNamespace(kv_cache_spec=spec, layer_names=["a", "b"])] * groups
    return UnfinishedBlockConnector(config, role, SimpleNamespace(kv_cache_groups=layers))


def request(name, tokens, status=RequestStatus.WAITING):
    return SimpleNamespace(request_id=name, prompt_token_ids=list(tokens), status=status)


def step(side, *scheduled):
    """build_connector_meta for new requests given as (name, tokens, blocks, computed)."""
    return side.build_connector_meta(SimpleNamespace(
        scheduled_new_reqs=[
            SimpleNamespace(req_id=name, prompt_token_ids=list(tokens), block_ids=(blocks,),
                            num_computed_tokens=computed)
            for name, tokens, blocks, computed in scheduled
        ],
        num_scheduled_tokens={name: len(tokens) - computed
                              for name, tokens, _, computed in scheduled},
    ))  # fmt: skip


def test_common_prefix_length_counts_the_common_leading_tokens():
    assert common_prefix_length((1, 2, 3), (1, 2, 4, 5)) == 2
    assert common_prefix_length((1, 2), (1, 2, 3)) == 2
    assert common_prefix_length((), (1,)) == 0 and common_prefix_length((9,), (1,)) == 0


def test_a_computed_tail_is_kept_then_reused_by_requests_that_start_the_same_way():
    side = connector()
    assert side.capacity == (256 << 20) // 1024
    assert side.get_num_new_matched_tokens(request("gen", PROMPT), 32) == (0, False)
    work = step(side, ("gen", PROMPT, [10, 11, 12], 0))
    assert work.keep == [(0, 12)] and work.fill == [] and work.drop == []

    # an option after the prompt: all five tail tokens come from the copy
    sibling = PROMPT + [7]
    assert side.get_num_new_matched_tokens(request("s1", sibling), 32) == (5, False)
    side.update_state_after_alloc(request("s1", sibling), None, 5)
    work = step(side, ("s1", sibling, [10, 11, 20], 37))
    assert work.fill == [(0, 20)]
    assert work.keep == []  # its block holds one option's token: nobody else shares it

    # a request that leaves the tail after three tokens shares three
    assert side.get_num_new_matched_tokens(request("s2", PROMPT[:35] + [9, 9]), 32) == (3, False)
    # the prompt itself: never its last token, which vLLM must compute for logits
    assert side.get_num_new_matched_tokens(request("s3", PROMPT), 32) == (4, False)
    # another full-block prefix, a local hit inside a block, a preempted request: nothing
    other = [5] + PROMPT[1:]
    assert side.get_num_new_matched_tokens(request("s4", other), 32) == (0, False)
    assert side.get_num_new_matched_tokens(request("s5", sibling), 30) == (0, False)
    preempted = request("s6", sibling, RequestStatus.PREEMPTED)
    assert side.get_num_new_matched_tokens(preempted, 32) == (0, False)
    # keys and values that do not follow from the token ids alone
    for extra in ({"lora_request": object()}, {"mm_features": [object()]},
                  {"cache_salt": "user-7"}):  # fmt: skip
        other = SimpleNamespace(**vars(request("s7", sibling)), **extra)
        assert side.get_num_new_matched_tokens(other, 32) == (0, False)
    # a model whose layers keep blocks in several groups shares nothing
    hybrid = connector(groups=2)
    step(hybrid, ("gen", PROMPT, [10, 11, 12], 0))
    assert hybrid.get_num_new_matched_tokens(request("s8", sibling), 32) == (0, False)


def test_vllm_keeps_its_hybrid_kv_cache_manager_beside_the_connector():
    """vLLM turns the hybrid manager off beside a connector that does not declare support
    for it (then hybrid SSM models fail to start); with several groups nothing is shared."""
    from vllm.config import KVTransferConfig
    from vllm.distributed.kv_transfer.kv_connector.factory import KVConnectorFactory

    from culturalign.engines.vllm_engine import BLOCK_SHARING

    assert KVConnectorFactory.supports_hma_config(KVTransferConfig(**BLOCK_SHARING))
    hybrid = connector(groups=2)
    assert hybrid.request_finished_all_groups(request("a", PROMPT), ([1], [2])) == (False, None)


def test_no_block_is_kept_when_there_is_none_or_a_later_step_finishes_it():
    side = connector()
    assert step(side, ("full", PROMPT[:32], [1, 2], 0)).keep == []  # no unfinished block
    # a chunked prefill that stops short of the prompt's end
    chunk = side.build_connector_meta(SimpleNamespace(
        scheduled_new_reqs=[SimpleNamespace(req_id="c", prompt_token_ids=PROMPT,
                                            block_ids=([1, 2, 3],), num_computed_tokens=0)],
        num_scheduled_tokens={"c": 20},
    ))  # fmt: skip
    assert chunk.keep == []
    # a granted reuse whose allocation then gave no external tokens is forgotten
    step(side, ("gen", PROMPT, [10, 11, 12], 0))
    assert side.get_num_new_matched_tokens(request("s", PROMPT + [7]), 32) == (5, False)
    side.update_state_after_alloc(request("s", PROMPT + [7]), None, 0)
    assert step(side, ("s", PROMPT + [7], [10, 11, 13], 32)).fill == []


def test_the_least_recently_used_copy_goes_first_and_a_reset_drops_them_all():
    side = connector()
    side.capacity = 2
    first, second, third = PROMPT, PROMPT[:36] + [1], PROMPT[:36] + [2]
    step(side, ("a", first, [1, 2, 3], 0))
    step(side, ("b", second, [1, 2, 4], 0))
    # using the first copy makes the second the oldest
    assert side.get_num_new_matched_tokens(request("x", first + [7]), 32) == (5, False)
    side.update_state_after_alloc(request("x", first + [7]), None, 0)
    work = step(side, ("c", third, [1, 2, 5], 0))
    assert work.keep == [(2, 5)] and work.drop == [1]
    assert side.get_num_new_matched_tokens(request("y", second + [7]), 32) == (4, False)  # 1's
    side.reset_cache()
    assert side.get_num_new_matched_tokens(request("z", first + [7]), 32) == (0, False)
    assert sorted(step(side).drop) == [0, 2]


def test_the_engine_option_installs_the_connector_on_the_cpu_only():
    from culturalign.engines import ModelSpec
    from culturalign.engines.vllm_engine import engine_arguments
    from culturalign.errors import ConfigError

    options = {"share_unfinished_blocks": True}
    cpu = engine_arguments(ModelSpec(key="m", path="p", engine_options=options), seed=0)
    assert "share_unfinished_blocks" not in cpu  # not an argument of vllm.LLM
    assert cpu["kv_transfer_config"]["kv_connector"] == UnfinishedBlockConnector.__name__
    plain = engine_arguments(ModelSpec(key="m", path="p", device="cpu"), seed=0)
    assert "kv_transfer_config" not in plain and "share_unfinished_blocks" not in plain
    off = {"share_unfinished_blocks": False}
    assert "kv_transfer_config" not in engine_arguments(
        ModelSpec(key="m", path="p", engine_options=off), seed=0
    )
    gpu = ModelSpec(key="m", path="p", device="gpu", engine_options=options)
    with pytest.raises(ConfigError, match=r"models\.m\.engine_options\.share_unfinished"):
        engine_arguments(gpu, seed=0)


def test_the_worker_keeps_whole_blocks_and_fills_them_in_later():
    side = connector(KVConnectorRole.WORKER)
    caches = {name: torch.randn(8, 3, 16, 4) for name in ("layer.0", "layer.1")}
    side.register_kv_caches(caches)
    original = [cache[2].clone() for cache in caches.values()]
    side.bind_connector_metadata(BlockCopies(keep=[(0, 2)]))
    side.start_load_kv(None)
    side.wait_for_save()
    side.clear_connector_metadata()
    for cache in caches.values():
        cache[2].zero_()  # the source block is reused by another request
    side.bind_connector_metadata(BlockCopies(fill=[(0, 5)]))
    side.start_load_kv(None)
    side.clear_connector_metadata()
    for cache, kept in zip(caches.values(), original, strict=True):
        assert torch.equal(cache[5], kept)
    side.bind_connector_metadata(BlockCopies(drop=[0]))
    side.start_load_kv(None)
    with pytest.raises(KeyError):
        side.bind_connector_metadata(BlockCopies(fill=[(0, 6)]))
        side.start_load_kv(None)


@pytest.mark.e2e
def test_an_engine_sharing_blocks_scores_as_one_that_does_not(tmp_path, restored_environment):
    """float32, the engine tests' items after a generation call: the same option
    probabilities up to rounding (the shared keys and values come from another forward pass
    over the same tokens: within 4.1e-6 here; 1e-3 allows the batch-dependent float32 noise a
    CI machine showed between two vLLM engines, while a wrong copy moves them by 1e-2 and
    more), and the scoring computes under half the tokens."""
    import sys
    from pathlib import Path

    from demo_model import demo_model_dir
    from scoring_items import scoring_items

    from culturalign.engines import GenerationRequest, ModelSpec, load_engine
    from culturalign.scoring.exact import continuation_token_ids, score_with_engine

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from bench_peer import count_forward_tokens

    results = {}
    for share in (False, True):
        options = {"share_unfinished_blocks": share}
        spec = ModelSpec(key="demo", path=str(demo_model_dir()), dtype="float32",
                         max_model_len=2048, engine_options=options)  # fmt: skip
        engine = load_engine(spec, threads=2, cache_dir=tmp_path / "cache")
        assert ("kv_transfer_config" in engine.effective_options()) is share
        items = scoring_items(engine.tokenizer)
        engine.generate([GenerationRequest(item.prefix_ids, 4) for item in items],
                        logprobs=0, logprob_positions=0, seed=0)  # fmt: skip
        counted = count_forward_tokens(engine.llm)
        probs = score_with_engine(engine, items, continuation_token_ids(engine.tokenizer))
        results[share] = (probs, sum(counted))
        engine.close()
        del engine
        gc.collect()
    (plain, plain_tokens), (shared, shared_tokens) = results[False], results[True]
    largest = max(abs(x - y) for a, b in zip(plain, shared, strict=True)
                  for x, y in zip(a, b, strict=True))  # fmt: skip
    print(f"\nscoring computed {shared_tokens} tokens sharing blocks, {plain_tokens} without; "
          f"option probabilities within {largest:.1e}")  # fmt: skip
    assert largest <= 1e-3
    assert shared_tokens < 0.5 * plain_tokens
