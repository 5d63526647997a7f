"""Option distributions from chat-API top logprobs, on recorded responses written by the
project team in the documented OpenAI shape (tests/fixtures/openai/). Expected values are
worked out by hand from the fixtures' probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from culturalign.engines.base import Position
from culturalign.engines.openai_engine import positions_from_choice
from culturalign.scoring.top_logprobs import answer_position, fold, option_distribution

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openai"


def positions(name: str):
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return positions_from_choice(data["choices"][0])


def numbers(n: int) -> tuple[list[str], list[int]]:
    return [str(i) for i in range(1, n + 1)], list(range(1, n + 1))


def test_every_option_seen_variants_merged():
    labels, codes = numbers(4)
    found = option_distribution(positions("all_seen"), labels, codes, "number", "zero")
    # "2", " 2" and "٢" are one option: 0.08 + 0.02 + 0.01
    assert found.probs == pytest.approx([0.2 / 0.4, 0.11 / 0.4, 0.05 / 0.4, 0.04 / 0.4])
    assert found.source == "top_logprobs" and found.coverage == pytest.approx(1.0)
    assert found.answer_mass == pytest.approx(0.40)  # "I" and "The" are not options
    assert found.position == 0


def test_unseen_options_lower_the_coverage_by_the_smallest_returned_probability():
    labels, codes = numbers(4)
    found = option_distribution(positions("missing"), labels, codes, "number", "zero")
    assert found.probs == pytest.approx([2 / 3, 1 / 3, 0.0, 0.0])
    # options 3 and 4 were not returned: each is below the smallest returned 0.01
    assert found.coverage == pytest.approx(0.9 / (0.9 + 2 * 0.01))
    assert found.answer_mass == pytest.approx(0.9)


def test_two_digit_labels_are_split_with_the_next_position():
    labels, codes = numbers(12)
    found = option_distribution(positions("two_digit"), labels, codes, "number", "zero")
    known = {1: 0.5 * (1 - 0.85), 10: 0.5 * 0.6, 11: 0.5 * 0.2, 12: 0.5 * 0.05, 2: 0.3,
             3: 0.1, 9: 0.05}  # fmt: skip
    total = sum(known.values())
    assert found.probs == pytest.approx([known.get(code, 0.0) / total for code in codes])
    # five single digits never returned, each at most the smallest returned 0.05
    assert found.coverage == pytest.approx(total / (total + 5 * 0.05))


def test_a_split_the_api_cannot_give_is_unknown_mass():
    # the model wrote "2", so the next position says nothing about "1" versus "10".."12"
    seen = positions("two_digit")
    wrote_two = (Position("2", seen[0].top[1][1], seen[0].top), *seen[1:])
    labels, codes = numbers(12)
    found = option_distribution(wrote_two, labels, codes, "number", "zero")
    assert found.probs[0] == 0.0 and found.probs[9] == 0.0
    assert found.probs[1] == pytest.approx(0.3 / 0.45)
    assert found.coverage == pytest.approx(0.45 / (0.45 + 0.5 + 5 * 0.05))


def test_cot_letters_after_the_cue_with_markup_skipped():
    found = option_distribution(positions("cot_letter"), list("ABC"), [1, 2, 3], "letter",
                                "cot", "Answer:")  # fmt: skip
    assert found.position == 7
    assert found.probs == pytest.approx([0.15, 0.8, 0.05])
    assert found.coverage == pytest.approx(1.0)
    # zero-style reading of the same text would start at "Most"
    assert answer_position(positions("cot_letter"), "zero") == 0


def test_cot_answer_a_few_words_after_the_cue():
    tokens = [("The", 0.9), (" answer", 0.9), (" is", 0.9), (" ", 0.9), ("3", 0.6), (".", 0.9)]
    seen = tuple(Position(t, -0.1, ((t, -0.1),)) for t, _ in tokens[:4])
    seen += (Position("3", -0.5, (("3", -0.5), ("2", -1.2), ("4", -2.0), ("1", -3.0))),)
    labels, codes = numbers(4)
    found = option_distribution(seen, labels, codes, "number", "cot", "Answer:")
    assert found.position == 4 and found.coverage == pytest.approx(1.0)
    assert found.probs[2] > found.probs[1] > found.probs[3] > found.probs[0]
    # a cue whose line holds no label within reach gives no distribution
    far = seen[:2] + (Position("\n", -0.1, (("\n", -0.1),)),) + seen[4:]
    assert option_distribution(far, labels, codes, "number", "cot").source == "none"


def test_reordered_labels_map_back_to_codes():
    # shown reversed: "1" stands for code 4
    labels, codes = ["1", "2", "3", "4"], [4, 3, 2, 1]
    found = option_distribution(positions("all_seen"), labels, codes, "number", "zero")
    assert found.probs == pytest.approx([0.04 / 0.4, 0.05 / 0.4, 0.11 / 0.4, 0.2 / 0.4])


def test_no_logprobs_and_no_answer():
    labels, codes = numbers(4)
    found = option_distribution(positions("no_logprobs") or (), labels, codes, "number", "zero")
    assert found.source == "none" and found.probs is None and found.coverage is None
    cot = option_distribution(positions("missing"), labels, codes, "number", "cot", "Answer:")
    assert cot.source == "none" and cot.coverage == 0.0  # no cue in the text


def test_fold():
    assert fold(" ٣") == "3" and fold("３") == "3" and fold("**B**") == "B" and fold("(أ)") == "ا"
    assert fold("\n") == ""
