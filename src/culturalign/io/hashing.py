"""sha256 of files and texts (downloads, benchmark sources, templates, model files)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: str | Path) -> str:
    """Hex sha256 digest of a file."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    """Hex sha256 digest of a string (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
