"""Option-list recognition and reversal (culturalign.prompts.variants) on every form the MENAValues
texts use (written here in the same shapes, with invented wording), the mapping back to
the original codes, and the recognition coverage on the real workbook."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from culturalign.errors import ConfigError
from culturalign.generation.cell import labels_by_code
from culturalign.prompts.variants import (
    cell_variants,
    check_variants,
    recognition_table,
    reverse_options,
    reversed_codes,
    sample_index,
    wording_index,
)
from culturalign.scoring.parsing import parse_answer
from culturalign.scoring.top_logprobs import Position, option_distribution


@pytest.mark.parametrize(
    ("text", "low", "high", "form", "expected"),
    [
        ("How tidy is your street? With '1' being 'Very tidy' and '4' being 'Not tidy'. "
         "Provide a number only.", 1, 4, "endpoints",
         "How tidy is your street? With '1' being 'Not tidy' and '4' being 'Very tidy'. "
         "Provide a number only."),
        ("Do you cycle? With '1' being 'Yes', and '2' being 'No'.", 1, 2, "endpoints",
         "Do you cycle? With '1' being 'No', and '2' being 'Yes'."),
        ("Would you like more benches?  With '1' being 'No', '2' being 'Yes'.", 1, 2,
         "endpoints", "Would you like more benches?  With '1' being 'Yes', '2' being 'No'."),
        ("How often do you bake? 1: Every day, 2: Weekly, 3: Rarely, 4: Never", 1, 4, "inline",
         "How often do you bake? 1: Never, 2: Rarely, 3: Weekly, 4: Every day"),
        ("Is it fair? 1: Yes, definitely, 2: Yes, sometimes, 3: No, sometimes, 4: Definitely not",
         1, 4, "inline",
         "Is it fair? 1: Definitely not, 2: No, sometimes, 3: Yes, sometimes, 4: Yes, definitely"),
        ("Rate the bus service. 1: Poor, 2: 2, 3: 3, 4: Excellent", 1, 4, "inline",
         "Rate the bus service. 1: Excellent, 2: 2, 3: 3, 4: Poor"),
        ("Which do you prefer: 1. Tea, 2. Coffee, or 3. Neither? Provide a number only.", 1, 3,
         "inline", "Which do you prefer: 1. Neither, 2. Coffee, or 3. Tea? Provide a number only."),
        ("Which view is closer? 1) Parks first, even if roads wait, or 2) Roads first. Be brief.",
         1, 2, "inline", "Which view is closer? 1) Roads first, or 2) Parks first, even if roads "
         "wait. Be brief."),
        ("Pick one:\n1 - Rain\n2 - Sun\n3 - Snow\nProvide a number.", 1, 3, "lines",
         "Pick one:\n1 - Snow\n2 - Sun\n3 - Rain\nProvide a number."),
        ("ما مدى أهمية الحديقة؟ حيث يعني «1» «مهمة جدًا» ويعني «4» «غير مهمة».", 1, 4,
         "endpoints", "ما مدى أهمية الحديقة؟ حيث يعني «1» «غير مهمة» ويعني «4» «مهمة جدًا»."),
        ("باغ چقدر مهم است؟ «1» یعنی «بسیار مهم» و «4» یعنی «مهم نیست».", 1, 4, "endpoints",
         "باغ چقدر مهم است؟ «1» یعنی «مهم نیست» و «4» یعنی «بسیار مهم»."),
        ("Bahçe ne kadar önemli? “1” “Çok önemli”, “4” ise “Önemli değil” anlamına gelir.", 1, 4,
         "endpoints", "Bahçe ne kadar önemli? “1” “Önemli değil”, “4” ise “Çok önemli” anlamına "
         "gelir."),
        ("هل أنت عضو في نادٍ؟ 1: نعم، 2: لا", 1, 2, "inline", "هل أنت عضو في نادٍ؟ 1: لا، 2: نعم"),
    ],
)  # fmt: skip
def test_every_form_reverses(text, low, high, form, expected):
    found = reverse_options(text, low, high)
    assert found is not None and found.form == form
    assert found.reversed_text == expected
    # reversing twice gives the original back
    assert reverse_options(found.reversed_text, low, high).reversed_text == text


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("Are you worried? With '1' being 'Yes' and '2' being 'No'.", 1, 4),  # not symmetric
        ("Which is closest? 1: Parks, 2: Roads, 5: Neither", 1, 5),  # a code missing
        ("How many rooms do you have?", 1, 4),
        ("Pick one. 1: Tea 2: Coffee", 1, 2),  # no separator between the items
    ],
)
def test_unrecognised_option_lists_are_not_reversed(text, low, high):
    assert reverse_options(text, low, high) is None


def test_answers_and_probabilities_map_back_to_the_original_codes():
    found = reverse_options("Fun? 1: Very, 2: Quite, 3: Not much, 4: Not at all", 1, 4)
    assert found.reversed_text.endswith("1: Not at all, 2: Not much, 3: Quite, 4: Very")
    # by hand from the reversed text: the shown labels 1..4 now name the original codes 4..1
    labels, codes = ["1", "2", "3", "4"], reversed_codes([1, 2, 3, 4])
    assert codes == [4, 3, 2, 1]
    assert reversed_codes([0, 1, 2]) == [2, 1, 0]
    # the model answers "1" to the reversed prompt: it chose "Not at all", the original 4
    assert parse_answer("1", labels, codes) == 4
    assert parse_answer("Answer: 3", labels, codes, reasoning="cot") == 2
    # exact scoring asks for each code's label, in code order: code 1 is shown as "4", ...
    row = SimpleNamespace(option_codes=codes, option_labels=labels)
    assert labels_by_code(row) == ([1, 2, 3, 4], ["4", "3", "2", "1"])
    # a chat API's top logprobs at the answer position: label "1" 0.4, "2" 0.3, "3" 0.2,
    # "4" 0.1; in original code order (1, 2, 3, 4) that is 0.1, 0.2, 0.3, 0.4
    top = tuple((label, math.log(p)) for label, p in zip(labels, (0.4, 0.3, 0.2, 0.1),
                                                         strict=True))  # fmt: skip
    answer = [Position("1", math.log(0.4), top)]
    mapped = option_distribution(answer, labels, codes, "number", "zero")
    assert mapped.probs == pytest.approx((0.1, 0.2, 0.3, 0.4))
    assert mapped.coverage == pytest.approx(1.0)
    # the original prompt (labels = codes) keeps the label order
    plain = option_distribution(answer, labels, [1, 2, 3, 4], "number", "zero")
    assert plain.probs == pytest.approx((0.4, 0.3, 0.2, 0.1))


def test_variant_names():
    assert [wording_index(v) for v in ("original", "reversed", "wording-2", "wording-10")] == [
        0, 0, 1, 9,
    ]  # fmt: skip
    assert wording_index("wording-1") is None and wording_index("shuffled") is None
    assert check_variants(["wording-2", "reversed", "unforced"]) == ["wording-2", "reversed",
                                                                      "unforced"]  # fmt: skip
    with pytest.raises(ConfigError, match=r"robustness\.variants: unknown variant 'shuffled'"):
        check_variants(["shuffled"])
    with pytest.raises(ConfigError, match="unknown variant 'original'"):
        check_variants(["original"])


def test_sampled_answers_go_to_every_reasoning_cell_and_nowhere_else():
    settings = {"variants": ["wording-2"], "cells": {"reasoning": ["zero"]},
                "sampled_answers": 3}  # fmt: skip
    # the wordings where `cells` allows them; the samples in cot cells whatever `cells` says
    assert cell_variants(settings, "en", "persona", "zero") == ["wording-2"]
    assert cell_variants(settings, "en", "persona", "cot") == ["sample-1", "sample-2", "sample-3"]
    assert cell_variants({**settings, "cells": {}}, "native", "neutral", "cot") == [
        "wording-2", "sample-1", "sample-2", "sample-3"]  # fmt: skip
    assert cell_variants({**settings, "sampled_answers": 0}, "en", "persona", "cot") == []
    assert [sample_index(v) for v in ("sample-1", "sample-12", "sample-0", "original")] == [
        1, 12, None, None]  # fmt: skip
    assert wording_index("sample-2") == 0  # the original wording, sampled
    with pytest.raises(ConfigError, match="robustness.sampled_answers"):
        check_variants(["sample-1"])


def test_coverage_on_the_real_workbook_is_above_ninety_percent(benchmark_tables):
    questions, _ = benchmark_tables
    table = recognition_table(
        questions, [(q.question_id, "en", q.text_en) for q in questions.itertuples()]
    )
    coverage = table["recognised"].mean()
    print(f"\nreversible option lists, English: {table['recognised'].sum()} of {len(table)} "
          f"({coverage:.1%}); forms {table['form'].value_counts().to_dict()}")  # fmt: skip
    assert coverage >= 0.90
    assert set(table["form"].dropna()) == {"endpoints", "inline", "lines"}
