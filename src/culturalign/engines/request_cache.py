"""A persistent cache of API requests and responses (SQLite, one file per model).

Every answered request is committed at once, keyed by the sha256 of what determines its
answer (endpoint, base URL, model, the request body with its sampling parameters) — never
the API key. SQLite commits are atomic, so a job killed mid-write leaves no partial entry;
an entry whose stored response does not parse is ignored (and re-requested) rather than
used. A rerun of a finished cell therefore sends no request, and a rerun after a kill sends
only the requests that had not been answered.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from culturalign.errors import CulturalignError

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    response TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def request_key(payload: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``payload``."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RequestCache:
    """``get`` / ``put`` of JSON responses by request payload."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise CulturalignError(
                f"{self.path}: the request cache cannot be opened ({exc}); move it away to "
                "start a fresh one (its answers will be requested again)"
            ) from exc

    def _execute(self, sql: str, parameters: tuple = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            raise CulturalignError(
                f"{self.path}: the request cache is damaged ({exc}); move it away to start a "
                "fresh one (its answers will be requested again)"
            ) from exc

    def get(self, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        """The stored response of this request, or None."""
        row = self._execute(
            "SELECT response FROM responses WHERE key = ?", (request_key(payload),)
        ).fetchone()
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            log.warning("%s: ignoring an unreadable cache entry", self.path)
            return None
        return value if isinstance(value, dict) else None

    def put(self, payload: Mapping[str, Any], response: Mapping[str, Any]) -> None:
        """Store (or replace) the response of a request, committed at once."""
        self._execute(
            "INSERT OR REPLACE INTO responses (key, request, response, created) "
            "VALUES (?, ?, ?, ?)",
            (
                request_key(payload),
                json.dumps(payload, sort_keys=True, ensure_ascii=False),
                json.dumps(response, ensure_ascii=False),
                time.time(),
            ),
        )

    def __len__(self) -> int:
        return int(self._execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._db.close()
