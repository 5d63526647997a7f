"""Answer parsing and refusal detection (culturalign.scoring.parsing)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from culturalign.errors import ConfigError
from culturalign.scoring.parsing import (
    is_refusal,
    load_phrases,
    normalize_digits,
    parse_answer,
    parse_shard,
)


def parse_scale(text, scale_min, scale_max, answer_cue=None, **kwargs):
    """parse_answer for numbered options scale_min..scale_max, labelled by their codes."""
    labels = [str(code) for code in range(scale_min, scale_max + 1)]
    return parse_answer(text, labels, None, answer_cue, **kwargs)


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
        assert parse_scale(text, 1, n_options) == option
        assert parse_scale(f"Answer: {text}", 1, n_options, reasoning="cot") == option
    assert parse_scale(in_script(n_options + 1, script), 1, n_options) is None
    assert parse_scale(in_script(0, script), 1, n_options) is None


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
    assert parse_scale(text, 1, 4) == expected


def test_ten_is_not_one():
    assert parse_scale("10", 1, 10) == 10
    assert parse_scale("10", 1, 4) is None  # rejected, not read as 1 nor clipped to 4
    assert parse_scale("١٠", 1, 10) == 10
    assert parse_scale("۱۰", 1, 10) == 10
    assert parse_scale("Answer: 10", 1, 21, reasoning="cot") == 10
    assert parse_scale("I pick 21.", 1, 21) == 21


def test_out_of_range_is_rejected_not_clipped():
    assert parse_scale("7", 1, 4) is None
    assert parse_scale("0", 1, 4) is None
    assert parse_scale("Answer: 12", 1, 10, reasoning="cot") is None
    # the cue wins even when an earlier number would have been valid
    assert parse_scale("Between 2 and 3.\nAnswer: 9", 1, 4, reasoning="cot") is None


def test_zero_takes_first_number_cot_takes_last_valid():
    text = "2 or maybe 3"
    assert parse_scale(text, 1, 4, reasoning="zero") == 2
    assert parse_scale(text, 1, 4, reasoning="cot") == 3
    # cot skips invalid trailing numbers (e.g. a year) and takes the last valid option
    assert parse_scale("Most would say 1, as surveys in 2022 show", 1, 4, reasoning="cot") == 1
    # zero: the first number decides, out of range means no answer
    assert parse_scale("2022 surveys say 1", 1, 4, reasoning="zero") is None


def test_cot_prefers_the_last_cue_in_any_language():
    text = (
        "On a scale where 1 is very important and 4 not important, family matters a lot "
        "in Egypt, so 1 or 2.\nAnswer: 1"
    )
    assert parse_scale(text, 1, 4, "Answer:", reasoning="cot") == 1
    ar = "الأسرة مهمة جدًا في مصر، لذا الخيار 1 أو 2.\nالإجابة: ٢"
    assert parse_scale(ar, 1, 4, "الإجابة:", reasoning="cot") == 2
    fa = "خانواده در ایران بسیار مهم است (گزینه‌های ۱ تا ۴).\nپاسخ: ۱"
    assert parse_scale(fa, 1, 4, "پاسخ:", reasoning="cot") == 1
    tr = "Türkiye'de aile çok önemlidir; 1 ile 4 arasında.\nCevap: **2**"
    assert parse_scale(tr, 1, 4, "Cevap:", reasoning="cot") == 2
    # two cues: the last one counts
    assert parse_scale("Answer: 3\nOn reflection. Final answer: 4", 1, 4, reasoning="cot") == 4
    # cue of another language than the prompt's still counts
    assert parse_scale("شرح.\nAnswer: 3", 1, 4, "الإجابة:", reasoning="cot") == 3


def test_custom_answer_cue_is_recognised():
    assert parse_scale("blah 1 blah\nVerdict: 3", 1, 4, "Verdict:", reasoning="cot") == 3
    assert parse_scale("blah 1 blah\nVerdict: 3", 1, 4, reasoning="zero") == 1


def test_cue_without_number_falls_back():
    assert parse_scale('Reply as "Answer: N".\n2', 1, 4, "Answer:", reasoning="cot") == 2


def test_bad_reasoning_value():
    with pytest.raises(ValueError, match="reasoning"):
        parse_scale("1", 1, 4, reasoning="long")


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
    answer = parse_scale(text, 1, 4, reasoning="cot")
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
    assert parse_scale(text, 1, 4, reasoning="cot") == answer
    assert not is_refusal(text, answer)


def test_no_answer_is_a_refusal():
    assert is_refusal("", None)
    assert is_refusal(None, None)
    assert is_refusal("Family is important.", parse_scale("Family is important.", 1, 4))
    assert is_refusal("7", parse_scale("7", 1, 4))  # out of range -> no valid answer


def test_phrase_lists_cover_all_languages(repo_root):
    """Every language the templates have gets answer cues and refusal phrases."""
    data = yaml.safe_load((repo_root / "resources/prompts/templates.yaml").read_text("utf-8"))
    phrases = load_phrases()
    for table in (phrases.refusal_phrases, phrases.answer_cues):
        assert set(table) == set(data["languages"]) >= {"en", "ar", "fa", "tr", "de", "pt"}
        assert all(table[language] for language in table)


def test_template_cues_parse(repo_root):
    """Every language's answer_cue in templates.yaml is understood by the parser."""
    data = yaml.safe_load((repo_root / "resources/prompts/templates.yaml").read_text("utf-8"))
    for language, block in data["languages"].items():
        cue = block["answer_cue"]
        text = f"some reasoning 1\n{cue} 3"
        assert parse_scale(text, 1, 4, reasoning="cot") == 3, language
        assert parse_scale(text, 1, 4, cue, reasoning="cot") == 3, language


# --- labels that are not the codes, letters, the phrase file, whole shards -----------------


def test_numbers_map_through_the_shown_labels_to_codes():
    # a reversed scale: the prompt shows 1..4 but "1" stands for code 4
    labels, codes = ["1", "2", "3", "4"], [4, 3, 2, 1]
    assert parse_answer("1", labels, codes) == 4
    assert parse_answer("Answer: 3", labels, codes, reasoning="cot") == 2
    assert parse_answer("5", labels, codes) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("B", 2),
        ("(B)", 2),
        ("B) Somewhat", 2),
        ("**C.** Not much", 3),
        ("  A\n", 1),
        ("D - Not at all", 4),
        ("Answer: (C)", 3),
        ("I would say the answer is (D).", 4),
        ("A lot of people think so.", None),  # the article A opens a sentence
        ("Apple", None),
        ("E", None),  # not a shown label
        ("b", None),  # labels are upper case as shown
        ("", None),
    ],
)
def test_letter_labels_zero(text, expected):
    assert parse_answer(text, list("ABCD"), [1, 2, 3, 4]) == expected


def test_letter_labels_cot_take_the_cue_or_the_last_bracketed_letter():
    labels, codes = list("ABC"), [1, 2, 3]
    text = "Option (A) seems tempting, but (C) fits better.\nAnswer: B"
    assert parse_answer(text, labels, codes, "Answer:", reasoning="cot") == 2
    assert parse_answer("(A) or (C)? I go with (C)", labels, codes, reasoning="cot") == 3
    assert parse_answer("A person from Japan would agree.", labels, codes, reasoning="cot") is None


def test_arabic_letter_labels_and_their_spelling_variants():
    labels, codes = ["أ", "ب", "ج"], [1, 2, 3]
    assert parse_answer("ب", labels, codes) == 2
    assert parse_answer("(ج) غير موافق", labels, codes) == 3
    assert parse_answer("الإجابة: أ", labels, codes, reasoning="cot") == 1
    assert parse_answer("الإجابة: ا", labels, codes, reasoning="cot") == 1  # bare alef
    assert parse_answer("بالتأكيد", labels, codes) is None  # a word, not the letter ب


def test_a_phrase_file_of_ones_own(tmp_path):
    path = tmp_path / "phrases.yaml"
    path.write_text(
        "answer_cues:\n  en: [verdict]\nrefusal_phrases:\n  en: [no comment]\n", "utf-8"
    )
    phrases = load_phrases(path)
    assert parse_scale("blah 1\nVerdict 3", 1, 4, reasoning="cot", phrases=phrases) == 3
    assert is_refusal("No comment. 2", 2, phrases)
    assert not is_refusal("I cannot say, 2", 2, phrases)  # not in this file


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("answer_cues: [a]\nrefusal_phrases: {en: [x]}\n", "key answer_cues: must map"),
        ("answer_cues: {en: []}\nrefusal_phrases: {en: [x]}\n", "answer_cues.en: must be a"),
        ("answer_cues: {en: [a]}\nrefusal_phrases: {en: ['']}\n", r"refusal_phrases\.en\[0\]"),
        ("answer_cues: {en: [a]}\nrefusal_phrases: {en: [x]}\nextra: 1\n", "unknown key"),
        ("answer_cues: {en: [a\n", "not valid YAML"),
    ],
)
def test_bad_phrase_files_name_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, "utf-8")
    with pytest.raises(ConfigError, match=message) as raised:
        load_phrases(path)
    assert str(path) in str(raised.value)


def test_parse_shard_keeps_rows_and_keys():
    shard = pd.DataFrame(
        {
            "question_id": ["Q1", "Q1", "Q2"],
            "country": ["Egypt", None, "Iran"],
            "variant": ["original"] * 3,
            "prompt_language": ["en", "ar", "fa"],
            "response": ["Answer: 2", "لا أستطيع", "(B)"],
            "answer_cue": ["Answer:", "الإجابة:", "پاسخ:"],
            "option_labels": [["1", "2", "3"], ["1", "2", "3"], ["A", "B"]],
            "option_codes": [[1, 2, 3], [1, 2, 3], [1, 2]],
        }
    )
    answers = parse_shard(shard, "cot")
    assert answers["answer"].tolist()[0] == 2 and pd.isna(answers["answer"].iloc[1])
    assert answers["answer"].iloc[2] == 2
    assert answers["refusal"].tolist() == [False, True, False]
    assert answers["question_id"].tolist() == shard["question_id"].tolist()
    assert answers["prompt_language"].tolist() == shard["prompt_language"].tolist()
