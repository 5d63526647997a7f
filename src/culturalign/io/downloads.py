"""Downloads of pinned files: fetched to a temporary file, checked against their sha256,
then moved into place, so that nothing half-downloaded or unverified is ever used."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from culturalign.errors import CulturalignError
from culturalign.io.files import atomic_path
from culturalign.io.hashing import sha256_of


def download_verified(url: str, destination: str | Path, sha256: str, what: str = "file") -> Path:
    """Download ``url`` to ``destination`` and verify its sha256 (a mismatch is an error).

    The file appears at ``destination`` only once complete and verified.
    """

    destination = Path(destination)
    with atomic_path(destination) as partial:
        try:
            with urllib.request.urlopen(url, timeout=120) as response, partial.open("wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as exc:
            raise CulturalignError(
                f"cannot download the {what} from {url} to {destination} ({exc}); "
                "point its config key at a local copy"
            ) from exc
        actual = sha256_of(partial)
        if actual != sha256.lower():
            raise CulturalignError(
                f"{url}: checksum mismatch for {destination}: expected sha256 {sha256}, "
                f"got {actual}"
            )
    return destination
