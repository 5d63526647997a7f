"""Names of the cell dimensions, shared by every stage (one definition each)."""

from __future__ import annotations

CELL_LANGUAGES: tuple[str, ...] = ("en", "native")
"""``en``, or ``native``: each population's own language (from the populations table)."""

FRAMINGS: tuple[str, ...] = ("neutral", "persona", "observer")
"""No identity; "imagine you are an average person from C"; "how would a person from C answer"."""

REASONING: tuple[str, ...] = ("zero", "cot")
"""Answer with the option label only; or a brief explanation, then the answer."""

CELL_KEYS: tuple[str, ...] = ("model", "language", "framing", "reasoning")
"""The wildcards of one generate job (besides the benchmark)."""

ORIGINAL_VARIANT = "original"
"""The ``variant`` of a prompt in the benchmark's own wording and option order."""

LABEL_KINDS: tuple[str, ...] = ("number", "letter")
"""How options are labelled in prompts: ``1 2 3`` or ``A B C`` / ``أ ب ج``."""
