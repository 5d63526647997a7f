"""Answer parsing and refusal detection (culturalign.parsing)."""

from __future__ import annotations

import pytest
import yaml

from culturalign.parsing import (
    ANSWER_CUES,
    REFUSAL_PHRASES,
    is_refusal,
    normalize_digits,
    parse_answer,
)

ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"
PERSIAN = "۰۱۲۳۴۵۶۷۸۹"


def in_script(number: int, script: str) -> str:
    """``number`` written with the digits of ``script`` ('ascii', 'arabic' or 'persian')."""
    digits = {"ascii": "0123456789", "arabic": ARABIC_INDIC, "persian": PERSIAN}[script]
    return "".join(digits[int(char)] for char in str(number))


def test_normalize_digits_every_script():
    assert normalize_digits(ARABIC_INDIC) == "0123456789"
    assert normalize_digits(PERSIAN) == "0123456789"
    assert normalize_digits("٣٫٥ و ۱۲") == "3.5 و 12"
    assert normalize_digits("no digits") == "no digits"


@pytest.mark.parametrize("script", ["ascii", "arabic", "persian"])
@pytest.mark.parametrize("n_options", range(2, 37))
def test_every_option_of_every_scale(script, n_options):
    """2..36 options: each option parses, in each script; one past the top is rejected."""
    for option in range(1, n_options + 1):
        text = in_script(option, script)
        assert parse_answer(text, 1, n_options) == option
        assert parse_answer(f"Answer: {text}", 1, n_options, reasoning="cot") == option
    assert parse_answer(in_script(n_options + 1, script), 1, n_options) is None
    assert parse_answer(in_script(0, script), 1, n_options) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("3.", 3),
        ("**3**", 3),
        ("Answer: 3", 3),
        ("answer:3", 3),
        ("**Answer:** 3", 3),
        ("Final Answer: **4**", 4),
        ("The answer is: 2", 2),
        ("Cevabım: 3", 3),
        ("الجواب هو ٤", 4),
        ("(3)", 3),
        ("3 - Trying to make our cities more beautiful", 3),
        ("  \n 2\n", 2),
        ("٣", 3),
        ("۳", 3),
        ("الإجابة: ٢", 2),
        ("پاسخ: ۴", 4),
        ("Cevap: 1", 1),
        ("CEVAP: 2", 2),
        ("Yanıt: 4", 4),
        ("", None),
        (None, None),
        ("   ", None),
        ("no number here", None),
        ("2.5", None),
        ("Q3", None),
        ("3rd", None),
        ("5", None),
        ("-1", 1),  # a hyphen is a dash, not a sign: "-1" reads as option 1
    ],
)
def test_parse_answer_zero(text, expected):
    assert parse_answer(text, 1, 4) == expected


def test_ten_is_not_one():
    assert parse_answer("10", 1, 10) == 10
    assert parse_answer("10", 1, 4) is None  # rejected, not read as 1 nor clipped to 4
    assert parse_answer("١٠", 1, 10) == 10
    assert parse_answer("۱۰", 1, 10) == 10
    assert parse_answer("Answer: 10", 1, 21, reasoning="cot") == 10
    assert parse_answer("I pick 21.", 1, 21) == 21


def test_out_of_range_is_rejected_not_clipped():
    assert parse_answer("7", 1, 4) is None
    assert parse_answer("0", 1, 4) is None
    assert parse_answer("Answer: 12", 1, 10, reasoning="cot") is None
    # the cue wins even when an earlier number would have been valid
    assert parse_answer("Between 2 and 3.\nAnswer: 9", 1, 4, reasoning="cot") is None


def test_zero_takes_first_number_cot_takes_last_valid():
    text = "2 or maybe 3"
    assert parse_answer(text, 1, 4, reasoning="zero") == 2
    assert parse_answer(text, 1, 4, reasoning="cot") == 3
    # cot skips invalid trailing numbers (e.g. a year) and takes the last valid option
    assert parse_answer("Most would say 1, as surveys in 2022 show", 1, 4, reasoning="cot") == 1
    # zero: the first number decides, out of range means no answer
    assert parse_answer("2022 surveys say 1", 1, 4, reasoning="zero") is None


def test_cot_prefers_the_last_cue_in_any_language():
    text = (
        "On a scale where 1 is very important and 4 not important, family matters a lot "
        "in Egypt, so 1 or 2.\nAnswer: 1"
    )
    assert parse_answer(text, 1, 4, "Answer:", reasoning="cot") == 1
    ar = "الأسرة مهمة جدًا في مصر، لذا الخيار 1 أو 2.\nالإجابة: ٢"
    assert parse_answer(ar, 1, 4, "الإجابة:", reasoning="cot") == 2
    fa = "خانواده در ایران بسیار مهم است (گزینه‌های ۱ تا ۴).\nپاسخ: ۱"
    assert parse_answer(fa, 1, 4, "پاسخ:", reasoning="cot") == 1
    tr = "Türkiye'de aile çok önemlidir; 1 ile 4 arasında.\nCevap: **2**"
    assert parse_answer(tr, 1, 4, "Cevap:", reasoning="cot") == 2
    # two cues: the last one counts
    assert parse_answer("Answer: 3\nOn reflection. Final answer: 4", 1, 4, reasoning="cot") == 4
    # cue of another language than the prompt's still counts
    assert parse_answer("شرح.\nAnswer: 3", 1, 4, "الإجابة:", reasoning="cot") == 3


def test_custom_answer_cue_is_recognised():
    assert parse_answer("blah 1 blah\nVerdict: 3", 1, 4, "Verdict:", reasoning="cot") == 3
    assert parse_answer("blah 1 blah\nVerdict: 3", 1, 4, reasoning="zero") == 1


def test_cue_without_number_falls_back():
    assert parse_answer('Reply as "Answer: N".\n2', 1, 4, "Answer:", reasoning="cot") == 2


def test_bad_reasoning_value():
    with pytest.raises(ValueError, match="reasoning"):
        parse_answer("1", 1, 4, reasoning="long")


@pytest.mark.parametrize(
    "text",
    [
        "I cannot answer that question.",
        "I can’t provide personal opinions.",
        "As an AI, I do not have personal views, but 1.",
        "As a language model I don't have opinions.",
        "لا أستطيع الإجابة عن هذا السؤال.",
        "لا يمكنني الإجابة، كنموذج لغوي ليس لدي آراء.",
        "بصفتي ذكاء اصطناعي لا أملك آراء شخصية. 1",
        "متأسفم، در این مورد کمک کنم نمی‌توانم.",
        "نمیتوانم پاسخ دهم ۲",
        "به عنوان یک هوش مصنوعی نظر شخصی ندارم.",
        "Bu soruya cevap veremem.",
        "Bir yapay zeka olarak kişisel görüşüm yok. 3",
        "BIR YAPAY ZEKA OLARAK bunu yapamam.",
        "Üzgünüm, bu konuda yardımcı olamam.",
    ],
)
def test_refusals_in_every_language(text):
    answer = parse_answer(text, 1, 4, reasoning="cot")
    assert is_refusal(text, answer)
    # even when a number is found, the declining text makes it a refusal
    assert is_refusal(text, 1)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("1", 1),
        ("Answer: 3", 3),
        ("الإجابة: ٢", 2),
        ("پاسخ: ۳", 3),
        ("Cevap: 4", 4),
        ("Family is central in Egyptian life.\nAnswer: 1", 1),
    ],
)
def test_answers_are_not_refusals(text, answer):
    assert parse_answer(text, 1, 4, reasoning="cot") == answer
    assert not is_refusal(text, answer)


def test_no_answer_is_a_refusal():
    assert is_refusal("", None)
    assert is_refusal(None, None)
    assert is_refusal("Family is important.", parse_answer("Family is important.", 1, 4))
    assert is_refusal("7", parse_answer("7", 1, 4))  # out of range -> no valid answer


def test_phrase_lists_cover_all_languages():
    for table in (REFUSAL_PHRASES, ANSWER_CUES):
        assert set(table) == {"en", "ar", "fa", "tr"}
        assert all(table[language] for language in table)


def test_template_cues_parse(repo_root):
    """Every language's answer_cue in templates.yaml is understood by the parser."""
    data = yaml.safe_load((repo_root / "resources/prompts/templates.yaml").read_text("utf-8"))
    for language, block in data["languages"].items():
        cue = block["answer_cue"]
        text = f"some reasoning 1\n{cue} 3"
        assert parse_answer(text, 1, 4, reasoning="cot") == 3, language
        assert parse_answer(text, 1, 4, cue, reasoning="cot") == 3, language
