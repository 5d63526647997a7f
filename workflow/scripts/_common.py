"""Glue shared by the workflow scripts: logging to the rule's log file, clean failures."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The package lives in src/; scripts must work without an install (e.g. on cluster nodes).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from culturalign.errors import CulturalignError  # noqa: E402


def run(snakemake: Any, main: Callable[[Any], None]) -> None:
    """Run ``main(snakemake)`` with logging to the rule's log; user errors print one line."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        Path(snakemake.log[0]).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w", encoding="utf-8"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )
    try:
        main(snakemake)
    except CulturalignError as exc:
        logging.getLogger("culturalign").error("%s", exc)
        raise SystemExit(f"culturalign error: {exc}") from None
