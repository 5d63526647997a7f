"""Read the option a model's text gives, and tell refusals apart (pure functions).

Used by the generate step on every response. Digits may be Western (0-9), Arabic-Indic
(٠-٩) or Persian (۰-۹). A number outside ``[scale_min, scale_max]`` is rejected (``None``),
never clipped. Decimals ("2.5") are not options and are rejected too.

Rules of :func:`parse_answer`:

1. If the text holds an answer cue ("Answer:", "الإجابة:", "پاسخ:", "Cevap:", … in any of the
   four prompt languages, plus the prompt's own cue) followed on the same line by a number,
   the number after the *last* such cue is the answer.
2. Otherwise, ``reasoning="zero"``: the first standalone number of the text;
   ``reasoning="cot"``: the last standalone number that is a valid option.

A standalone number is a run of digits not glued to letters, digits or a decimal point:
"3", "3.", "**3**", "(3)", "3:" and "٣" count; "Q3" and "3rd" do not; "10" is never read as
"1".
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from typing import Literal

Reasoning = Literal["zero", "cot"]

_DIGITS = str.maketrans(
    {
        **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic-Indic ٠-٩
        **{chr(0x06F0 + i): str(i) for i in range(10)},  # Extended Arabic-Indic (Persian) ۰-۹
        **{chr(0xFF10 + i): str(i) for i in range(10)},  # fullwidth ０-９
        "\u066b": ".",  # Arabic decimal separator
        "\u066c": ",",  # Arabic thousands separator
    }
)

ANSWER_CUES: Mapping[str, tuple[str, ...]] = {
    "en": ("final answer", "answer"),
    "ar": ("الإجابة النهائية", "الإجابة", "الاجابة", "الجواب", "إجابتي", "اجابتي"),
    "fa": ("پاسخ نهایی", "پاسخ", "جواب"),
    "tr": ("nihai cevap", "cevap", "cevabım", "yanıt", "yanıtım"),
}
"""Words that introduce the final answer, per language (matched case-insensitively, as
whole words, with or without a colon). The prompt's own ``answer_cue`` is always added."""

REFUSAL_PHRASES: Mapping[str, tuple[str, ...]] = {
    "en": (
        "i cannot",
        "i can't",
        "i can not",
        "i am unable",
        "i'm unable",
        "i am not able to",
        "i'm not able to",
        "i won't",
        "i will not",
        "as an ai",
        "as a language model",
        "as an artificial intelligence",
        "i don't have personal",
        "i do not have personal",
        "i don't have opinions",
        "i do not have opinions",
        "i'm sorry, but",
        "i am sorry, but",
        "i prefer not to",
    ),
    "ar": (
        "لا أستطيع",
        "لا يمكنني",
        "لا أقدر",
        "لست قادرا",
        "لست قادرًا",
        "كنموذج لغوي",
        "بصفتي نموذج",
        "بصفتي ذكاء اصطناعي",
        "بصفتي ذكاءً اصطناعيًا",
        "كذكاء اصطناعي",
        "ليس لدي آراء",
        "ليست لدي آراء",
        "لا أملك آراء",
        "ليس لدي رأي شخصي",
        "أعتذر",
        "عذرًا، لا",
    ),
    "fa": (
        "نمی‌توانم",
        "نمیتوانم",
        "نمی‌تونم",
        "قادر نیستم",
        "به عنوان یک هوش مصنوعی",
        "به عنوان هوش مصنوعی",
        "به عنوان یک مدل زبانی",
        "من نظر شخصی ندارم",
        "نظر شخصی ندارم",
        "متأسفم",
        "متاسفم",
    ),
    "tr": (
        "yapamam",
        "veremem",
        "yardımcı olamam",
        "bir yapay zeka olarak",
        "bir yapay zekâ olarak",
        "yapay zeka olarak",
        "yapay zekâ olarak",
        "bir dil modeli olarak",
        "kişisel görüşüm yok",
        "kişisel görüşlerim yok",
        "kişisel fikrim yok",
        "üzgünüm",
        "maalesef",
    ),
}
"""Phrases that mark a declined answer, per language. Matching is case-insensitive and
tolerant of Arabic/Persian spelling variants (hamza forms of alef, Arabic vs Persian
yeh/kaf, diacritics, zero-width non-joiner vs space), see :func:`_fold`."""

_NUMBER = re.compile(r"(?<![\w.,])([0-9]+)((?:[.,][0-9]+)?)(?!\w)")
_CUE_TAIL = r"[^\S\n]*[:：\-–—]?[^0-9\n]{0,16}?(?<![\w.,])([0-9]+)((?:[.,][0-9]+)?)(?!\w)"

_FOLD = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ی",
        "ي": "ی",
        "ك": "ک",
        "ة": "ه",
        "\u200c": " ",  # zero-width non-joiner (Persian half-space)
        "\u00a0": " ",
        "’": "'",
        "ʼ": "'",
        "İ": "i",
    }
)
_MARKS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u0307\u0640]")  # diacritics, tatweel
_SPACES = re.compile(r"\s+")


def normalize_digits(text: str) -> str:
    """Map Arabic-Indic (٠-٩), Persian (۰-۹) and fullwidth digits to ASCII 0-9."""
    return text.translate(_DIGITS)


def _fold(text: str) -> str:
    """Lower-case and fold spelling variants so phrases match robustly."""
    text = unicodedata.normalize("NFC", text).translate(_FOLD).casefold()
    text = _MARKS.sub("", text)
    return _SPACES.sub(" ", text)


@functools.lru_cache(maxsize=64)
def _cue_pattern(cues: tuple[str, ...]) -> re.Pattern[str]:
    words = sorted(
        {word for word in (_cue_word(cue) for cue in cues) if word}, key=len, reverse=True
    )
    alternation = "|".join(re.escape(word) for word in words)
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w){_CUE_TAIL}", re.IGNORECASE)


def _cue_word(cue: str) -> str:
    """A cue without surrounding blanks and its trailing colon ("Answer:" -> "Answer")."""
    return cue.strip().rstrip(":：").strip()


_ALL_CUES: tuple[str, ...] = tuple(cue for cues in ANSWER_CUES.values() for cue in cues)


def _integer(digits: str, fraction: str, scale_min: int, scale_max: int) -> int | None:
    if fraction:
        return None
    value = int(digits)
    return value if scale_min <= value <= scale_max else None


def parse_answer(
    text: str | None,
    scale_min: int,
    scale_max: int,
    answer_cue: str | None = None,
    *,
    reasoning: Reasoning = "zero",
) -> int | None:
    """The option ``text`` gives, or ``None`` (no number, out of range, or a decimal).

    ``answer_cue`` is the prompt's cue (e.g. "Answer:"); cues of all four languages are
    always recognised. ``reasoning`` picks the fallback when no cue is followed by a number:
    the first standalone number (``zero``) or the last valid one (``cot``).
    """
    if reasoning not in ("zero", "cot"):
        raise ValueError(f"reasoning must be 'zero' or 'cot', got {reasoning!r}")
    if not text:
        return None
    text = normalize_digits(text)
    pattern = _cue_pattern((answer_cue, *_ALL_CUES) if answer_cue else _ALL_CUES)
    cued = list(pattern.finditer(text))
    if cued:
        last = cued[-1]
        return _integer(last.group(1), last.group(2), scale_min, scale_max)
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return None
    if reasoning == "zero":
        first = numbers[0]
        return _integer(first.group(1), first.group(2), scale_min, scale_max)
    for match in reversed(numbers):
        value = _integer(match.group(1), match.group(2), scale_min, scale_max)
        if value is not None:
            return value
    return None


_REFUSALS = tuple(
    sorted({_fold(phrase) for phrases in REFUSAL_PHRASES.values() for phrase in phrases})
)


def is_refusal(text: str | None, answer: int | None) -> bool:
    """True when no valid answer was given, or the text declines (any of the 4 languages)."""
    if answer is None:
        return True
    if not text:
        return False
    folded = _fold(text)
    return any(phrase in folded for phrase in _REFUSALS)
