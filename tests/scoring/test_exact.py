"""Exact option scoring: tree building, request order, the end factor, engine-output parsing.

The fake "model" here is a trie language model over number strings with known
probabilities, so the exact distribution the scorer must recover is known in closed form.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from culturalign.engines.base import (
    Engine,
    EngineError,
    GenerationRequest,
    GenerationResult,
    MassRequest,
    ModelSpec,
    ScoreRequest,
    TokenLogprob,
    candidate_logprobs,
    log_mass,
    strip_stop_tokens,
    top_logprobs_from_positions,
)
from culturalign.errors import ConfigError
from culturalign.generation.cell import SHARD_COLUMNS, cache_waves, cue_text, run_cell
from culturalign.scoring.exact import (
    EndRule,
    ScoringItem,
    build_requests,
    continuation_token_ids,
    first_of_each_item,
    generation_candidates,
    letter_continuation_ids,
    nodes_from_generation,
    normalise,
    option_logprobs,
    option_token_ids,
    score_items,
    score_items_by_tree,
    token_bytes,
    tree_nodes,
)

# --- a tiny character tokenizer: ids 0-9 are the digits, then letters and marks ----------

CHARS = "0123456789abcdefghijklmnopqrstuvwxyzA:\n .,?"
EOS = len(CHARS)  # end-of-sequence id
VOCAB = {char: index for index, char in enumerate(CHARS)}


class CharTokenizer:
    """Character tokenizer; `` 7`` (space + digit) merges into one token, like many BPEs."""

    eos_token_id = EOS
    all_special_ids = [EOS]

    def __init__(self) -> None:
        self.merged = {f" {d}": len(CHARS) + 1 + int(d) for d in "0123456789"}
        self.vocab = {**VOCAB, "<eos>": EOS, **{f"Ġ{d}": i for d, i in self.merged.items()}}
        self.inverse = {index: piece for piece, index in VOCAB.items()}
        self.inverse.update({index: piece for piece, index in self.merged.items()})

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        ids, position = [], 0
        while position < len(text):
            pair = text[position : position + 2]
            if pair in self.merged:
                ids.append(self.merged[pair])
                position += 2
            else:
                ids.append(VOCAB[text[position]])
                position += 1
        return ids

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return "".join(self.inverse.get(int(i), "") for i in ids)

    def apply_chat_template(self, messages, **kwargs) -> list[int]:
        return self.encode(f"u:{messages[0]['content']}\na:\n")


TOKENIZER = CharTokenizer()
DIGIT_IDS = frozenset(range(10))


# --- a trie language model over number strings ---------------------------------------------


def trie_model(masses: dict[str, float], prefix_len: int, other: float = 0.25):
    """next_token_logprobs for a model that answers the number string s with mass masses[s].

    After the scored prefix (``prefix_len`` ids), the model writes one of the strings digit by
    digit and then stops; with probability ``other`` it writes a non-digit first (prose).
    Returns the function and the list of calls it received (to check request order).
    """
    calls: list[list[ScoreRequest]] = []
    total = sum(masses.values())

    def mass(node: str) -> float:
        return sum(value for key, value in masses.items() if key.startswith(node)) / total

    def next_token_logprobs(requests):
        calls.append(list(requests))
        answers = []
        for request in requests:
            node = TOKENIZER.decode(request.prompt_ids[prefix_len:])
            keep = 1 - other if node == "" else 1.0  # prose only as the first token
            here = mass(node) * keep
            result = {}
            for token in request.candidate_ids:
                piece = TOKENIZER.decode([token]).strip()  # " 1" (merged) is "1"
                child = mass(node + piece) * keep
                result[token] = math.log(child / here) if child > 0 else -math.inf
            answers.append(result)
        return answers

    return next_token_logprobs, calls


def test_tree_nodes_cover_every_prefix_and_need_continuations_at_complete_options():
    options = [TOKENIZER.encode(str(o)) for o in range(1, 13)]
    nodes = tree_nodes(options, DIGIT_IDS)
    assert list(nodes)[0] == ()
    assert nodes[()] == tuple(range(1, 10))  # first digits 1..9
    # "1" completes option 1 and has children 0, 1, 2: all digits are needed there
    assert nodes[(1,)] == tuple(range(10))
    # a leaf (option 12) needs only the continuation set (for its end factor)
    assert nodes[(1, 2)] == tuple(sorted(DIGIT_IDS))
    assert len(nodes) == 1 + 9 + 3
    # depth-ordered
    assert [len(node) for node in nodes] == sorted(len(node) for node in nodes)


def test_exact_distribution_recovers_the_model_including_the_end_factor():
    masses = {"1": 0.1, "10": 0.3, "11": 0.05, "2": 0.2, "3": 0.15, "12": 0.2}
    prefix = tuple(TOKENIZER.encode("u:q\na:\n"))
    options = list(range(1, 13))
    _, option_ids = option_token_ids(TOKENIZER, options)
    model, _ = trie_model(masses, len(prefix))
    (probs,) = score_items(model, [ScoringItem(prefix, option_ids)], DIGIT_IDS)
    expected = [masses.get(str(o), 0.0) for o in options]
    expected = [value / sum(expected) for value in expected]
    assert probs == pytest.approx(expected, abs=1e-12)
    assert math.fsum(probs) == pytest.approx(1.0, abs=1e-12)
    # first-token reading would give option 1 the mass of 1, 10, 11, 12 (0.65, not 0.1)
    assert probs[0] == pytest.approx(0.1, abs=1e-12)


def test_roots_then_each_items_first_deeper_node_then_the_rest_and_chunking_changes_nothing():
    """The order in which an engine sharing unfinished blocks finds each prompt's block
    computed before the prompt's other nodes ask for it (vllm_block_sharing)."""
    masses = {"1": 0.2, "10": 0.4, "2": 0.4}
    prefix, other = (7, 8, 9), (7, 8, 6)
    _, option_ids = option_token_ids(TOKENIZER, range(1, 11))
    items = [ScoringItem(prefix, option_ids), ScoringItem(other, option_ids)]
    model, calls = trie_model(masses, len(prefix))
    whole = score_items(model, items, DIGIT_IDS)
    assert [len(call) for call in calls] == [2, 2, 2 * 9]
    assert [request.prompt_ids for request in calls[0]] == [prefix, other]
    assert [request.prompt_ids[:3] for request in calls[1]] == [prefix, other]
    assert all(len(request.prompt_ids) > len(prefix) for request in calls[1] + calls[2])
    assert whole[1] == whole[0]
    chunked_model, chunked_calls = trie_model(masses, len(prefix))
    chunked = score_items(chunked_model, items, DIGIT_IDS, max_candidates=3)
    assert [p for row in chunked for p in row] == pytest.approx(
        [p for row in whole for p in row], abs=1e-12
    )
    assert whole[0] == pytest.approx([0.2, 0.4] + [0.0] * 7 + [0.4], abs=1e-12)
    assert all(len(r.candidate_ids) <= 3 for call in chunked_calls for r in call)
    assert sum(len(c) for c in chunked_calls) > sum(len(c) for c in calls)
    roots, deeper, masses = build_requests(items, DIGIT_IDS, None)
    assert len(roots) == 2 and len(deeper) == 2 * (9 + 1) and masses == []


def greedy_path_logprobs(model, item, generated: str, drop=(), nan=()):
    """What an engine asked for ``generation_candidates`` returns along a generation: at
    position d, the candidates' logprobs after the prefix and the first d generated tokens
    (``drop``: (position, id) pairs it leaves out; ``nan``: pairs it returns as NaN)."""
    candidates, positions = generation_candidates(item)
    generated_ids = tuple(TOKENIZER.encode(generated)) + (EOS,)
    returned = []
    for depth in range(min(positions, len(generated_ids))):
        prompt = tuple(item.prefix_ids) + generated_ids[:depth]
        (values,) = model([ScoreRequest(prompt, candidates)])
        values = {t: v for t, v in values.items() if (depth, t) not in drop}
        values.update({t: math.nan for d, t in nan if d == depth})
        returned.append(values)
    return generated_ids, returned


def test_nodes_the_generation_returned_are_not_requested_and_change_nothing():
    masses = {"1": 0.1, "10": 0.3, "11": 0.05, "2": 0.2, "3": 0.15, "12": 0.2}
    prefix = tuple(TOKENIZER.encode("u:q\na:\n"))
    _, option_ids = option_token_ids(TOKENIZER, range(1, 13))
    item = ScoringItem(prefix, option_ids)
    candidates, positions = generation_candidates(ScoringItem(prefix, option_ids))
    assert positions == 3  # the root, then after each of a two-token label's tokens
    model, _ = trie_model(masses, len(prefix))
    requested_model, requested_calls = trie_model(masses, len(prefix))
    (expected,) = score_items(requested_model, [item], DIGIT_IDS)

    # greedy "10": the root, node (1,) and the leaf (1, 0) lie on the generated path
    generated_ids, returned = greedy_path_logprobs(model, item, "10")
    known = nodes_from_generation(item, generated_ids, returned, DIGIT_IDS)
    assert set(known) == {(), (1,), (1, 0)}
    reused_model, reused_calls = trie_model(masses, len(prefix))
    stats: dict[str, int] = {}
    (reused,) = score_items(reused_model, [item], DIGIT_IDS, known=[known], stats=stats)
    assert reused == pytest.approx(expected, abs=1e-12)
    assert stats["nodes_from_generation"] == 3
    sent = [request.prompt_ids[len(prefix) :] for call in reused_calls for request in call]
    assert () not in sent and (1,) not in sent and (1, 0) not in sent
    assert stats["score_requests"] == sum(len(call) for call in requested_calls) - 3

    # prose first: only the root is on the path
    generated_ids, returned = greedy_path_logprobs(model, item, "a 1")
    assert set(nodes_from_generation(item, generated_ids, returned, DIGIT_IDS)) == {()}
    # a candidate the engine left out, or NaN, leaves that node to a request
    generated_ids, returned = greedy_path_logprobs(model, item, "10", drop={(0, 3)}, nan={(1, 2)})
    known = nodes_from_generation(item, generated_ids, returned, DIGIT_IDS)
    assert set(known) == {(1, 0)}
    reused_model, _ = trie_model(masses, len(prefix))
    (reused,) = score_items(reused_model, [item], DIGIT_IDS, known=[known])
    assert reused == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="known has 2 entries for 1 items"):
        score_items(reused_model, [item], DIGIT_IDS, known=[{}, {}])


def test_option_logprobs_end_factor_and_normalise():
    option_ids = [(1,), (1, 0)]
    node_logprobs = {
        (): {1: math.log(0.5)},
        (1,): {0: math.log(0.6), **{d: math.log(0.01) for d in range(1, 10)}},
        (1, 0): {d: math.log(0.001) for d in range(10)},
    }
    logps = option_logprobs(option_ids, node_logprobs, range(10))
    assert math.exp(logps[0]) == pytest.approx(0.5 * (1 - 0.6 - 0.09))
    assert math.exp(logps[1]) == pytest.approx(0.5 * 0.6 * (1 - 0.01))
    probs = normalise(logps)
    assert sum(probs) == pytest.approx(1.0)
    assert probs[1] > probs[0]
    with pytest.raises(EngineError, match="probability 0"):
        normalise([-math.inf, -math.inf])
    # continuation mass >= 1 (rounding) gives that option probability 0, not an error
    assert option_logprobs([(1,)], {(): {1: 0.0}, (1,): {0: 0.0}}, [0]) == [-math.inf]


def test_option_token_ids_keep_the_cue_and_merge_a_trailing_space_into_the_digits():
    anchor_ids, option_ids = option_token_ids(TOKENIZER, [1, 2, 10], "\nanswer: ")
    # " 1" is one token here, so the trailing space belongs to the options
    assert TOKENIZER.decode(anchor_ids) == "\nanswer:"
    assert [TOKENIZER.decode(ids) for ids in option_ids] == [" 1", " 2", " 10"]
    assert option_ids[2] == (TOKENIZER.merged[" 1"], 0)
    anchor_ids, option_ids = option_token_ids(TOKENIZER, [3, 4], "\n")
    assert anchor_ids == (VOCAB["\n"],) and option_ids == ((3,), (4,))
    with pytest.raises(EngineError, match="distinct"):
        option_token_ids(TOKENIZER, [1, 1])


def test_continuation_tokens_are_pieces_starting_with_a_western_digit():
    tokenizer = SimpleNamespace(
        get_vocab=lambda: {"1": 0, "10": 1, "Ġ1": 2, "▁5": 3, "<0x35>": 4, "a1": 5, "²": 6, "٣": 7},
        all_special_ids=[],
    )
    assert continuation_token_ids(tokenizer) == {0, 1, 4}
    assert continuation_token_ids(TOKENIZER) == DIGIT_IDS


# --- engine-output parsing -------------------------------------------------------------------


def test_top_logprobs_are_sorted_truncated_and_limited_to_the_first_positions():
    logprob = lambda value, token: SimpleNamespace(logprob=value, decoded_token=token)  # noqa: E731
    positions = [
        {5: logprob(-2.0, "b"), 4: logprob(-0.1, "a"), 9: logprob(-3.0, "c")},
        {1: logprob(-0.5, "x")},
        {2: logprob(-0.5, "y")},
    ]
    top = top_logprobs_from_positions(positions, k=2, n_positions=2)
    assert top == (
        (TokenLogprob(4, "a", -0.1), TokenLogprob(5, "b", -2.0)),
        (TokenLogprob(1, "x", -0.5),),
    )
    assert top_logprobs_from_positions(None, 5, 4) == ()
    assert top_logprobs_from_positions(positions, 0, 4) == ()


def test_top_logprobs_name_undecoded_tokens_with_the_given_function():
    undecoded = [{7: SimpleNamespace(logprob=-1.0, decoded_token=None), 3: -0.5}]
    named = []

    def token_text(token_id):
        named.append(token_id)
        return f"<{token_id}>"

    top = top_logprobs_from_positions(undecoded, k=1, n_positions=1, token_text=token_text)
    assert top == ((TokenLogprob(3, "<3>", -0.5),),)
    assert named == [3]  # only kept tokens are named


def test_candidate_logprobs_name_missing_ids_and_reject_nan():
    position = {1: SimpleNamespace(logprob=-1.5), 2: -0.25}
    assert candidate_logprobs(position, [1, 2]) == {1: -1.5, 2: -0.25}
    with pytest.raises(EngineError, match=r"\[3\]"):
        candidate_logprobs(position, [1, 3])
    with pytest.raises(EngineError, match="NaN"):
        candidate_logprobs({1: float("nan")}, [1])


def test_strip_stop_tokens_and_cue_text():
    assert strip_stop_tokens([5, 6, EOS], [EOS]) == (5, 6)
    assert strip_stop_tokens([5, 6], [EOS]) == (5, 6)
    assert strip_stop_tokens([EOS], [EOS]) == ()
    assert cue_text("because.", "Answer:") == "\nAnswer: "
    assert cue_text("because.\n", " Answer: ") == "Answer: "


# --- run_cell with a fake engine ---------------------------------------------------------------


class FakeEngine(Engine):
    """Generates fixed texts and scores with the trie model."""

    name = "fake"
    max_candidates = 4

    def __init__(self, texts: list[str], masses: dict[str, float]) -> None:
        super().__init__(ModelSpec(key="fake", path="fake", max_model_len=4096))
        self.tokenizer = TOKENIZER
        self.texts = texts
        self.masses = masses
        self.score_calls: list[list[ScoreRequest]] = []
        self.generate_calls: list[list[GenerationRequest]] = []

    @property
    def version(self) -> str:
        return "0"

    def generate(self, requests, *, logprobs, logprob_positions, seed):
        self.generate_calls.append(list(requests))
        results = []
        for _request, text in zip(requests, self.texts, strict=True):
            ids = tuple(TOKENIZER.encode(text)) + (EOS,)
            top = tuple((TokenLogprob(i, TOKENIZER.decode([i]), -0.1),) for i in ids[:2])
            results.append(GenerationResult(ids, text, "stop", top))
        return results

    def next_token_logprobs(self, requests):
        self.score_calls.append(list(requests))
        answers = []
        for request in requests:
            # the scored prefix ends right before the options: find the node after it
            text = TOKENIZER.decode(request.prompt_ids)
            tail = text.rsplit(":", 1)[-1].rsplit("\n", 1)[-1].strip()
            model, _ = trie_model(self.masses, 0)
            node_ids = tuple(TOKENIZER.encode(tail))
            answers.extend(model([ScoreRequest(node_ids, request.candidate_ids)]))
        return answers


def fake_prompts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "question_id": ["WVS-Q1", "AOI-0300"],
            "country": ["Egypt", None],
            "variant": ["original", "original"],
            "prompt_language": ["en", "en"],
            "prompt": ["how important", "which one"],
            "answer_cue": ["answer:", "answer:"],
            "scale_min": [1, 1],
            "scale_max": [4, 12],
            "scale_type": ["ordinal", "nominal"],
            "label_kind": ["number", "number"],
            "option_labels": [[str(i) for i in range(1, 5)], [str(i) for i in range(1, 13)]],
            "option_codes": [list(range(1, 5)), list(range(1, 13))],
        }
    )


def test_run_cell_zero_and_cot_rows_and_metadata():
    prompts = fake_prompts()
    masses = {"1": 0.5, "2": 0.25, "3": 0.25, "10": 0.5}
    engine = FakeEngine(["2", "i think 10.\nanswer: 10"], masses)
    frame, meta = run_cell(engine, prompts, reasoning="zero", max_tokens=8)
    assert list(frame.columns) == list(SHARD_COLUMNS)
    assert "answer" not in frame and "refusal" not in frame  # the parse rule's job
    assert frame["response"].tolist() == ["2", "i think 10.\nanswer: 10"]
    assert frame["option_probs_source"].tolist() == ["exact", "exact"]
    assert frame["option_coverage"].tolist() == [1.0, 1.0]
    assert frame["answer_position"].tolist() == ["start", "start"]
    first = frame.iloc[0]
    assert [entry["option"] for entry in first.option_probs] == [1, 2, 3, 4]
    assert [entry["prob"] for entry in first.option_probs] == pytest.approx([0.5, 0.25, 0.25, 0])
    assert first.scored_prefix_ids == TOKENIZER.apply_chat_template([{"content": "how important"}])
    second = frame.iloc[1]
    probs = {entry["option"]: entry["prob"] for entry in second.option_probs}
    assert probs[1] == pytest.approx(0.5 / 1.5) and probs[10] == pytest.approx(0.5 / 1.5)
    assert second.option_token_ids[9] == [1, 0]
    assert meta["answer_position"] == "start"
    assert meta["continuation_token_count"] == {"number": 10}
    assert all(len(r.candidate_ids) <= engine.max_candidates for c in engine.score_calls for r in c)

    engine = FakeEngine(["because.", "i think ten."], masses)
    frame, meta = run_cell(engine, prompts, reasoning="cot", max_tokens=32)
    assert frame["answer_position"].tolist() == ["after_cue", "after_cue"]
    prefix_text = TOKENIZER.decode(frame.iloc[1].scored_prefix_ids)
    assert prefix_text.endswith("i think ten.\nanswer:")  # cue appended
    assert EOS not in frame.iloc[1].scored_prefix_ids  # stop token dropped
    assert frame.iloc[1].option_token_ids[0] == [TOKENIZER.merged[" 1"]]
    assert frame["n_output_tokens"].tolist() == [9, 13]
    assert meta["sampling"]["max_tokens"] == 32


def test_sample_rows_are_sampled_with_their_own_seed_and_the_rest_greedily():
    prompts = pd.concat([fake_prompts().iloc[:1]] * 3, ignore_index=True)
    prompts["variant"] = ["original", "sample-1", "sample-2"]
    engine = FakeEngine(["i think 2.\nanswer: 2"] * 3, {"1": 0.5, "2": 0.5})
    frame, meta = run_cell(
        engine, prompts, reasoning="cot", max_tokens=16, seed=5, sampling_temperature=0.7
    )
    (requests,) = engine.generate_calls
    assert [(r.temperature, r.seed) for r in requests] == [(0.0, None), (0.7, 6), (0.7, 7)]
    assert frame["variant"].tolist() == ["original", "sample-1", "sample-2"]
    assert meta["sampling"]["greedy"] is False
    assert meta["sampling"]["sampled_rows"]["rows"] == 2
    assert meta["sampling"]["sampled_rows"]["temperature"] == 0.7
    # a prompts table with sample rows but no temperature was built before the setting
    with pytest.raises(ConfigError, match=r"cell\.parquet: sample-1 rows need a sampling"):
        run_cell(engine, prompts, reasoning="cot", max_tokens=16, where="cell.parquet")
    # no sample rows: every request greedy, as before
    engine = FakeEngine(["2"], {"1": 0.5, "2": 0.5})
    _, meta = run_cell(engine, prompts.iloc[:1], reasoning="zero", max_tokens=8, seed=5)
    assert [(r.temperature, r.seed) for r in engine.generate_calls[0]] == [(0.0, None)]
    assert meta["sampling"]["greedy"] is True and "sampled_rows" not in meta["sampling"]


def test_run_cell_maps_reordered_labels_back_to_codes():
    prompts = fake_prompts().iloc[:1].copy()
    # shown in reverse: label "1" stands for code 4, "4" for code 1
    prompts["option_codes"] = [[4, 3, 2, 1]]
    masses = {"1": 0.5, "2": 0.25, "3": 0.25}
    engine = FakeEngine(["2"], masses)
    frame, _ = run_cell(engine, prompts, reasoning="zero", max_tokens=8)
    probs = {entry["option"]: entry["prob"] for entry in frame.iloc[0].option_probs}
    # the model says label 1 with 0.5: that is code 4
    assert probs == pytest.approx({1: 0.0, 2: 0.25, 3: 0.25, 4: 0.5})
    # token ids in code order: code 1 is shown as "4"
    assert frame.iloc[0].option_token_ids[0] == TOKENIZER.encode("4")


def test_cache_waves_fill_half_the_cache_in_prompt_order():
    # 30 tokens do not fit a 20-token cache: budget 10; 5+5 fit; 5 then 12 do not; 12 alone;
    # 3 after 12 not
    assert cache_waves([5, 5, 5, 12, 3], 20) == [range(0, 2), range(2, 3), range(3, 4),
                                                 range(4, 5)]  # fmt: skip
    # nor a 28-token cache: budget 14; 5+5, then 5 (12 would make 17), 12, then 3
    assert cache_waves([5, 5, 5, 12, 3], 28) == [range(0, 2), range(2, 3), range(3, 4),
                                                 range(4, 5)]  # fmt: skip
    # a 29-token cache: budget 14 again (29 * 0.5 rounded down)
    assert cache_waves([5, 5, 5, 12, 3], 29) == cache_waves([5, 5, 5, 12, 3], 28)
    # a cell that fits the cache is one call, however full it is
    assert cache_waves([5, 5, 5, 12, 3], 30) == [range(0, 5)]
    assert cache_waves([5, 5, 5, 12, 3], None) == [range(0, 5)]
    assert cache_waves([12, 12], 20, share=1.0) == [range(0, 1), range(1, 2)]
    assert cache_waves([], 20) == []


class WaveEngine(FakeEngine):
    """The fake engine with a prefix cache of ``capacity`` tokens: generates its texts in
    the order the prompts come, call after call."""

    def __init__(self, texts, masses, capacity):
        super().__init__(texts, masses)
        self.capacity = capacity
        self.given = 0

    def prefix_cache_tokens(self):
        return self.capacity

    def generate(self, requests, *, logprobs, logprob_positions, seed):
        texts, self.texts = self.texts, self.texts[self.given : self.given + len(requests)]
        try:
            return super().generate(
                requests, logprobs=logprobs, logprob_positions=logprob_positions, seed=seed
            )
        finally:
            self.texts, self.given = texts, self.given + len(requests)


@pytest.mark.parametrize("reasoning", ["zero", "cot"])
def test_a_cell_in_cache_waves_has_the_rows_of_one_call(reasoning):
    prompts = pd.concat([fake_prompts()] * 2, ignore_index=True)
    prompts["variant"] = ["original", "original", "wording-2", "wording-2"]
    texts = ["2", "i think 10.\nanswer: 10", "answer: 3", "1"]
    masses = {"1": 0.5, "2": 0.25, "3": 0.25, "10": 0.5}
    whole, whole_meta = run_cell(WaveEngine(texts, masses, None), prompts,
                                 reasoning=reasoning, max_tokens=8)  # fmt: skip
    # each prompt with its 8 generated tokens is over half this cache: four waves of one
    engine = WaveEngine(texts, masses, 2 * len(whole.iloc[0].scored_prefix_ids) - 1)
    waved, waved_meta = run_cell(engine, prompts, reasoning=reasoning, max_tokens=8)
    assert [len(call) for call in engine.generate_calls] == [1, 1, 1, 1]
    assert waved["response"].tolist() == texts
    pd.testing.assert_frame_equal(waved, whole)
    for key in ("score_requests", "mass_requests", "nodes_from_generation", "n_prompts"):
        assert waved_meta[key] == whole_meta[key]


# --- letter labels -------------------------------------------------------------------------

LETTERS = frozenset(VOCAB[ch] for ch in "abcdefghijklmnopqrstuvwxyzA")


def letter_trie(masses: dict[str, float], prefix_len: int):
    """next_token_logprobs and next_token_mass for a model writing one of the strings of
    ``masses`` letter by letter and then stopping (the stop is a non-letter token)."""
    total = sum(masses.values())

    def mass(node: str) -> float:
        return sum(value for key, value in masses.items() if key.startswith(node)) / total

    def node_of(request) -> str:
        return TOKENIZER.decode(request.prompt_ids[prefix_len:])

    def next_token_logprobs(requests):
        answers = []
        for request in requests:
            node = node_of(request)
            result = {}
            for token in request.candidate_ids:
                child = mass(node + TOKENIZER.decode([token]))
                result[token] = math.log(child / mass(node)) if child > 0 else -math.inf
            answers.append(result)
        return answers

    def next_token_mass(requests):
        out = []
        for request in requests:
            node = node_of(request)
            assert request.complement and request.token_ids == LETTERS
            stop = masses.get(node, 0.0) / total  # the string ends: a non-letter follows
            out.append(math.log(stop / mass(node)) if stop > 0 else -math.inf)
        return out

    return next_token_logprobs, next_token_mass


def test_letter_labels_get_the_end_of_label_factor():
    masses = {"a": 0.2, "apple": 0.3, "b": 0.3, "c": 0.1, "cat": 0.1}
    prefix = tuple(TOKENIZER.encode("u:q\na:\n"))
    _, option_ids = option_token_ids(TOKENIZER, ["a", "b", "c"])
    logprobs, mass = letter_trie(masses, len(prefix))
    item = ScoringItem(prefix, option_ids, EndRule(LETTERS, by_mass=True))
    (probs,) = score_items(logprobs, [item], next_token_mass=mass)
    # "apple" and "cat" are not options a and c: first-token reading would give a 0.5
    assert probs == pytest.approx([0.2 / 0.6, 0.3 / 0.6, 0.1 / 0.6], abs=1e-12)
    _, deeper, masses_requested = build_requests([item], None, None)
    assert deeper == [] and len(masses_requested) == 3  # one end mass per label, no id lists
    # the end masses of two prompts: each prompt's first label, then the others
    sent = []
    score_items(logprobs, [item, item], next_token_mass=lambda requests: sent.append(
        [request.prompt_ids[len(prefix):] for request in requests]) or mass(requests))  # fmt: skip
    a, b, c = option_ids
    assert sent == [[a, a], [b, c, b, c]]


def test_first_of_each_item_keeps_the_order_within_both_parts():
    tagged = [(0, "x"), (0, "y"), (2, "z"), (1, "w"), (2, "v"), (0, "u")]
    assert first_of_each_item(tagged) == (
        [(0, "x"), (2, "z"), (1, "w")],
        [(0, "y"), (2, "v"), (0, "u")],
    )
    assert first_of_each_item([]) == ([], [])


def test_letter_labels_need_an_engine_that_sums():
    prefix = (1, 2)
    _, option_ids = option_token_ids(TOKENIZER, ["a", "b"])
    logprobs, _ = letter_trie({"a": 1.0, "b": 1.0}, len(prefix))
    with pytest.raises(EngineError, match="sums next-token probabilities"):
        score_items(logprobs, [ScoringItem(prefix, option_ids, EndRule(LETTERS, True))])


def test_letter_continuations_on_a_byte_level_vocabulary():
    vocab = {"A": 0, "pple": 1, "Ġthe": 2, ")": 3, ".": 4, "Ø§": 5, "Ø": 6, "1": 7, "ĊA": 8}
    tokenizer = SimpleNamespace(get_vocab=lambda: vocab, all_special_ids=[])
    assert token_bytes(tokenizer)[5] == "ا".encode()
    # letters, Arabic alef (two bytes), an incomplete UTF-8 lead byte; not a space,
    # punctuation, a digit or a newline
    assert letter_continuation_ids(tokenizer) == {0, 1, 5, 6}


def test_letter_continuations_on_a_sentencepiece_vocabulary():
    vocab = {"▁A": 0, "A": 1, "pple": 2, "<0xD8>": 3, "ب": 4, "▁": 5, ")": 6, "\u064e": 7,
             "<0x41>": 8, "</s>": 9}  # fmt: skip
    tokenizer = SimpleNamespace(get_vocab=lambda: vocab, all_special_ids=[9])
    # "▁A" starts a new word; a fatha (combining mark) glues onto the letter
    assert letter_continuation_ids(tokenizer) == {1, 2, 3, 4, 7, 8}


def test_log_mass_sums_a_set_or_its_complement():
    ids, logprobs = [0, 1, 2, 3], [math.log(p) for p in (0.1, 0.2, 0.3, 0.4)]
    inside = MassRequest((9,), frozenset({1, 3}))
    outside = MassRequest((9,), frozenset({1, 3}), complement=True)
    assert math.exp(log_mass(ids, logprobs, inside)) == pytest.approx(0.6)
    assert math.exp(log_mass(ids, logprobs, outside)) == pytest.approx(0.4)
    assert log_mass(ids, logprobs, MassRequest((9,), frozenset({7}))) == -math.inf
    # the sampled token listed twice (as vLLM does with logprobs=-1) counts once
    doubled = MassRequest((9,), frozenset({3}), complement=True)
    assert math.exp(log_mass([3, *ids], [logprobs[3], *logprobs], doubled)) == pytest.approx(0.6)


# --- whole option trees in one request per prompt ------------------------------------------


def tree_engine(next_token_logprobs, next_token_mass=None):
    """tree_logprobs from per-node functions (the answers a one-pass engine must give), and
    the tree requests it received."""
    from culturalign.engines.base import TreeResult

    received = []

    def tree_logprobs(requests):
        received.extend(requests)
        results = []
        for request in requests:
            found = {node: next_token_logprobs(
                         [ScoreRequest(request.prompt_ids + node, wanted)])[0]
                     for node, wanted in request.candidates.items()}  # fmt: skip
            masses = {node: next_token_mass(
                          [MassRequest(request.prompt_ids + node, tokens, complement)])[0]
                      for node, (tokens, complement) in request.masses.items()}  # fmt: skip
            results.append(TreeResult(found, masses))
        return results

    return tree_logprobs, received


def test_one_tree_request_per_prompt_gives_the_per_node_distributions():
    """Numbers (multi-token labels), letters (end masses) and nodes known from a generation:
    the same distributions as per-node requests, one request per prompt that needs one, and
    a prompt whose every node is known costs none."""
    masses = {"1": 0.1, "10": 0.3, "11": 0.05, "2": 0.2, "3": 0.15, "12": 0.2}
    prefix = tuple(TOKENIZER.encode("u:q\na:\n"))
    _, option_ids = option_token_ids(TOKENIZER, range(1, 13))
    numbers = [ScoringItem(prefix, option_ids), ScoringItem(prefix[1:], option_ids)]
    per_node, _ = trie_model(masses, len(prefix))
    expected = score_items(per_node, numbers[:1], DIGIT_IDS)
    model, _ = trie_model(masses, len(prefix))
    tree, received = tree_engine(model)
    stats: dict[str, int] = {}
    (got,) = score_items_by_tree(tree, numbers[:1], DIGIT_IDS, stats=stats)
    assert got == pytest.approx(expected[0], abs=1e-12)
    assert len(received) == 1 and stats["score_requests"] == 1
    assert set(received[0].candidates) == set(tree_nodes(option_ids, DIGIT_IDS))
    assert received[0].tree_tokens()[:3] == [(1,), (2,), (3,)]  # parents first

    letters = {"a": 0.2, "apple": 0.3, "b": 0.3, "c": 0.1, "cat": 0.1}
    _, letter_ids = option_token_ids(TOKENIZER, ["a", "b", "c"])
    item = ScoringItem(prefix, letter_ids, EndRule(LETTERS, by_mass=True))
    logprobs, mass = letter_trie(letters, len(prefix))
    tree, received = tree_engine(logprobs, mass)
    (got,) = score_items_by_tree(tree, [item])
    assert got == pytest.approx([0.2 / 0.6, 0.3 / 0.6, 0.1 / 0.6], abs=1e-12)
    assert set(received[0].masses) == set(letter_ids)  # one end mass per label, same pass

    # every node known from the generation: no request; some known: only the rest asked
    generated_ids, returned = greedy_path_logprobs(model, numbers[0], "10")
    known = nodes_from_generation(numbers[0], generated_ids, returned, DIGIT_IDS)
    everything = {node: dict(zip(wanted, per_node([ScoreRequest(prefix + node, wanted)])[0]
                                 .values(), strict=True))
                  for node, wanted in tree_nodes(option_ids, DIGIT_IDS).items()}  # fmt: skip
    tree, received = tree_engine(model)
    got = score_items_by_tree(tree, [numbers[0], numbers[0]], DIGIT_IDS,
                              known=[known, everything])  # fmt: skip
    assert got[0] == pytest.approx(expected[0], abs=1e-12)
    assert got[1] == pytest.approx(expected[0], abs=1e-12)
    assert len(received) == 1 and not set(known) & set(received[0].candidates)
