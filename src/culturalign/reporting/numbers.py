"""Numbers as the reports write them."""

from __future__ import annotations

import math
from typing import Any


def fmt(value: Any, digits: int = 1) -> str:
    """A number with ``digits`` decimals; "n/a" for a missing or non-numeric value."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(number) else f"{number:.{digits}f}"


def p_text(value: Any) -> str:
    """A p value as the report writes it ("p < 0.001", "p = 0.042")."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "n/a"
    if math.isnan(number):
        return "n/a"
    return "p < 0.001" if number < 0.001 else f"p = {number:.3f}"
