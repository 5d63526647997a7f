"""Scoring items shared by the engine agreement tests (tests/engines/test_engines.py and the
Qwen model's in tests/workflow/test_multilingual_e2e.py): English questions with numbered and
lettered options, each asked right after the generation prompt and after reasoning + a cue."""

from __future__ import annotations

from culturalign.generation.cell import chat_prompt_ids, cue_text
from culturalign.scoring.exact import EndRule, ScoringItem, option_token_ids

QUESTIONS = [
    ("How important is family in your life? 1 = very important, 4 = not important.", 1, 4),
    ("Which is the most important challenge facing your country? Options 1 to 21.", 1, 21),
    ("How happy are you, from 1 (very happy) to 10 (not at all happy)?", 1, 10),
]


LETTER_QUESTIONS = [
    ("Which do you prefer?\n\n(A) Tea\n(B) Coffee\n(C) Water\n(D) Juice", list("ABCD")),
    ("Is the city safe at night?\n\n(A) Yes\n(B) No", list("AB")),
]


def scoring_items(tokenizer, framing: str = ""):
    """Zero-style items (after the generation prompt) and cot-style ones (after a cue), for
    numbered and lettered options; ``framing`` is put before every question."""
    items = []
    numbers = EndRule.for_kind(tokenizer, "number")
    letters = EndRule.for_kind(tokenizer, "letter")
    cases = [(f"{framing}{text} Answer with a number only.",
              [str(i) for i in range(low, high + 1)], numbers)
             for text, low, high in QUESTIONS]  # fmt: skip
    cases += [(framing + text + " Answer with the letter only.", labels, letters)
              for text, labels in LETTER_QUESTIONS]  # fmt: skip
    for text, labels, rule in cases:
        ids = chat_prompt_ids(tokenizer, text)
        _, options = option_token_ids(tokenizer, labels, tokenizer.decode(ids[-1:]))
        items.append(ScoringItem(tuple(ids), options, rule))
        reasoning = tokenizer.encode("It matters a lot to me.", add_special_tokens=False)
        cue_ids, options = option_token_ids(
            tokenizer, labels, cue_text("It matters a lot to me.", "Answer:")
        )
        items.append(ScoringItem(tuple(ids) + tuple(reasoning) + cue_ids, options, rule))
    return items
