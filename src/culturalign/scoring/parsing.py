"""Read the option a model's text gives, and tell refusals apart.

Run by the parse rule on every shard (never inside a generate job), with the answer cues
and refusal phrases of ``data/phrases.yaml`` (or config ``parsing.phrases``). The result is
an option *code*: the label the text gives, mapped through the labels the prompt showed.

Numbers: digits may be Western (0-9), Arabic-Indic (٠-٩) or Persian (۰-۹). A number that
is not one of the shown labels is rejected (``None``), never clipped; decimals ("2.5") are
rejected too. Rules of :func:`parse_answer`:

1. If the text holds an answer cue ("Answer:", "الإجابة:", "پاسخ:", "Cevap:", … of any
   language in the phrase file, plus the prompt's own cue) followed on the same line by a
   label, the label after the *last* such cue is the answer.
2. Otherwise, ``reasoning="zero"``: the first standalone number of the text;
   ``reasoning="cot"``: the last standalone number that is a valid label.

A standalone number is a run of digits not glued to letters, digits or a decimal point:
"3", "3.", "**3**", "(3)", "3:" and "٣" count; "Q3" and "3rd" do not; "10" is never read as
"1".

Letters (``A`` .. ``Z`` as shown, case-sensitive; Arabic letters with their spelling
variants folded, ``ا`` for ``أ``): after a cue only blanks or brackets may stand before the
letter ("Answer: (B)"). Otherwise ``zero``: a letter that opens the text ("B", "(B) ...",
"**B.**"), else the first bracketed one ("... is (C)"); ``cot``: the last bracketed letter or
the last one opening a line. A letter inside a word or a sentence ("A person ...") never
counts.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from culturalign.errors import ConfigError
from culturalign.io.yaml_files import load_yaml

Reasoning = Literal["zero", "cot"]

DEFAULT_PHRASES = Path(__file__).parent / "phrases.yaml"
"""The answer cues and refusal phrases shipped with the package."""

_DIGITS = str.maketrans(
    {
        **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic-Indic ٠-٩
        **{chr(0x06F0 + i): str(i) for i in range(10)},  # Extended Arabic-Indic (Persian) ۰-۹
        **{chr(0xFF10 + i): str(i) for i in range(10)},  # fullwidth ０-９
        "\u066b": ".",  # Arabic decimal separator
        "\u066c": ",",  # Arabic thousands separator
    }
)

_NUMBER = re.compile(r"(?<![\w.,])([0-9]+)((?:[.,][0-9]+)?)(?!\w)")
_CUE_TAIL = r"[^\S\n]*[:：\-–—]?[^0-9\n]{0,16}?(?<![\w.,])([0-9]+)((?:[.,][0-9]+)?)(?!\w)"

_ARABIC_FOLD = {
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ی", "ي": "ی", "ك": "ک", "ة": "ه",
}  # fmt: skip
_FOLD = str.maketrans(
    {
        **_ARABIC_FOLD,
        "\u200c": " ",  # zero-width non-joiner (Persian half-space)
        "\u00a0": " ",
        "’": "'",
        "ʼ": "'",
        "İ": "i",
    }
)
_LETTER_FOLD = str.maketrans(_ARABIC_FOLD)
_MARKS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u0307\u0640]")  # diacritics, tatweel
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Phrases:
    """Answer cues and refusal phrases per language (see ``data/phrases.yaml``)."""

    answer_cues: Mapping[str, tuple[str, ...]]
    refusal_phrases: Mapping[str, tuple[str, ...]]
    path: str = ""

    @property
    def all_cues(self) -> tuple[str, ...]:
        return tuple(cue for cues in self.answer_cues.values() for cue in cues)

    @functools.cached_property
    def folded_refusals(self) -> tuple[str, ...]:
        return tuple(
            sorted({_fold(p) for phrases in self.refusal_phrases.values() for p in phrases})
        )


@functools.lru_cache(maxsize=8)
def load_phrases(path: str | Path | None = None) -> Phrases:
    """Load and check a phrase file (``None``: the package's own)."""
    path = Path(path) if path else DEFAULT_PHRASES
    data = load_yaml(path, "parsing.phrases", "phrase file")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: must be a mapping with keys answer_cues, refusal_phrases")
    sections = {}
    for key in ("answer_cues", "refusal_phrases"):
        block = data.get(key)
        if not isinstance(block, Mapping) or not block:
            raise ConfigError(f"{path}: key {key}: must map languages to lists of phrases")
        parsed = {}
        for language, phrases in block.items():
            where = f"{path}: key {key}.{language}"
            if not isinstance(phrases, list) or not phrases:
                raise ConfigError(f"{where}: must be a non-empty list of phrases")
            for index, phrase in enumerate(phrases):
                if not isinstance(phrase, str) or not phrase.strip():
                    raise ConfigError(f"{where}[{index}]: must be a non-empty string")
            parsed[str(language)] = tuple(phrase.strip() for phrase in phrases)
        sections[key] = parsed
    extra = sorted(set(data) - set(sections))
    if extra:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(map(str, extra))}")
    return Phrases(sections["answer_cues"], sections["refusal_phrases"], str(path))


def normalize_digits(text: str) -> str:
    """Map Arabic-Indic (٠-٩), Persian (۰-۹) and fullwidth digits to ASCII 0-9."""
    return text.translate(_DIGITS)


def _fold(text: str) -> str:
    """Lower-case and fold spelling variants so phrases match robustly."""
    text = unicodedata.normalize("NFC", text).translate(_FOLD).casefold()
    text = _MARKS.sub("", text)
    return _SPACES.sub(" ", text)


def fold_letters(text: str) -> str:
    """Fold Arabic letter variants (case kept, so a Latin ``a`` never reads as ``A``)."""
    return _MARKS.sub("", unicodedata.normalize("NFC", text).translate(_LETTER_FOLD))


def _cue_word(cue: str) -> str:
    """A cue without surrounding blanks and its trailing colon ("Answer:" -> "Answer")."""
    return cue.strip().rstrip(":：").strip()


def _cue_alternation(cues: tuple[str, ...]) -> str:
    words = sorted({word for word in (_cue_word(cue) for cue in cues) if word}, key=len,
                   reverse=True)  # fmt: skip
    return "|".join(re.escape(word) for word in words)


@functools.lru_cache(maxsize=64)
def _cue_pattern(cues: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w)(?:{_cue_alternation(cues)})(?!\w){_CUE_TAIL}", re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def _letter_patterns(cues: tuple[str, ...], labels: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    alternation = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    label = rf"(?<!\w)({alternation})(?!\w)"
    cue = re.compile(
        rf"(?<!\w)(?:{_cue_alternation(cues)})(?!\w)[^\S\n]*[:：\-–—]?[^\w\n]{{0,6}}?{label}",
        re.IGNORECASE,
    )
    opening = re.compile(rf"^[^\w\n]{{0,6}}{label}(?:[^\S\n]*[).:\]*]|[^\S\n]*$|[^\S\n]+[-–—])",
                         re.MULTILINE)  # fmt: skip
    bracketed = re.compile(rf"[(\[]\s*{label}\s*[)\]]")
    return cue, opening, bracketed


def _integer(digits: str, fraction: str, labels: Mapping[str, int]) -> int | None:
    if fraction:
        return None
    return labels.get(str(int(digits)))


def parse_answer(
    text: str | None,
    labels: Sequence[str],
    codes: Sequence[int] | None = None,
    answer_cue: str | None = None,
    *,
    reasoning: Reasoning = "zero",
    phrases: Phrases | None = None,
) -> int | None:
    """The option code ``text`` gives, or ``None`` (no label, not a shown label, a decimal).

    ``labels`` / ``codes``: the options as the prompt showed them (codes default to the
    labels read as numbers). ``answer_cue`` is the prompt's cue; every cue of the phrase
    file is recognised too. ``reasoning`` picks the fallback when no cue is followed by a
    label (see the module docstring).
    """
    if reasoning not in ("zero", "cot"):
        raise ValueError(f"reasoning must be 'zero' or 'cot', got {reasoning!r}")
    if not text:
        return None
    labels = [str(label) for label in labels]
    codes = [int(label) for label in labels] if codes is None else [int(c) for c in codes]
    phrases = phrases or load_phrases()
    cues = (answer_cue, *phrases.all_cues) if answer_cue else phrases.all_cues
    if all(label.isdecimal() for label in labels):
        return _parse_number(text, dict(zip(labels, codes, strict=True)), cues, reasoning)
    return _parse_letter(text, labels, codes, cues, reasoning)


def _parse_number(
    text: str, labels: Mapping[str, int], cues: tuple[str, ...], reasoning: Reasoning
) -> int | None:
    labels = {str(int(label)): code for label, code in labels.items()}
    text = normalize_digits(text)
    cued = list(_cue_pattern(cues).finditer(text))
    if cued:
        last = cued[-1]
        return _integer(last.group(1), last.group(2), labels)
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return None
    if reasoning == "zero":
        first = numbers[0]
        return _integer(first.group(1), first.group(2), labels)
    for match in reversed(numbers):
        value = _integer(match.group(1), match.group(2), labels)
        if value is not None:
            return value
    return None


def _parse_letter(
    text: str, labels: Sequence[str], codes: Sequence[int], cues: tuple[str, ...],
    reasoning: Reasoning,
) -> int | None:  # fmt: skip
    folded_labels = [fold_letters(label) for label in labels]
    by_label = dict(zip(folded_labels, codes, strict=True))
    folded_cues = tuple(fold_letters(c) for c in cues)
    cue, opening, bracketed = _letter_patterns(folded_cues, tuple(folded_labels))
    text = fold_letters(text)
    cued = list(cue.finditer(text))
    if cued:
        return by_label.get(cued[-1].group(1))
    if reasoning == "zero":
        first = opening.match(text) or bracketed.search(text)
        return by_label.get(first.group(1)) if first else None
    found = sorted(
        [*opening.finditer(text), *bracketed.finditer(text)], key=lambda match: match.start()
    )
    return by_label.get(found[-1].group(1)) if found else None


def is_refusal(text: str | None, answer: int | None, phrases: Phrases | None = None) -> bool:
    """True when no valid answer was given, or the text declines (any phrase-file language)."""
    if answer is None:
        return True
    if not text:
        return False
    folded = _fold(text)
    return any(phrase in folded for phrase in (phrases or load_phrases()).folded_refusals)


ANSWER_COLUMNS: tuple[str, ...] = (
    "question_id", "country", "variant", "prompt_language", "answer", "refusal",
)  # fmt: skip


def parse_shard(shard, reasoning: Reasoning, phrases: Phrases | None = None):
    """The answers table of one shard: one row per shard row, in the same order."""
    import pandas as pd

    phrases = phrases or load_phrases()
    records = []
    for row in shard.itertuples(index=False):
        cue = row.answer_cue if reasoning == "cot" else None
        answer = parse_answer(
            row.response, list(row.option_labels), list(row.option_codes), cue,
            reasoning=reasoning, phrases=phrases,
        )  # fmt: skip
        records.append(
            {
                "question_id": row.question_id,
                "country": None if pd.isna(row.country) else row.country,
                "variant": row.variant,
                "prompt_language": row.prompt_language,
                "answer": answer,
                "refusal": bool(is_refusal(row.response, answer, phrases)),
            }
        )
    frame = pd.DataFrame.from_records(records, columns=list(ANSWER_COLUMNS))
    frame["answer"] = frame["answer"].astype("Int64")
    frame["country"] = frame["country"].astype("string")
    return frame
