"""Provenance: the git revision, package versions, file hashes and a typed record of what
made a shard, with secrets stripped before anything is written."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

SECRET_KEY = re.compile(
    r"(api[_-]?key|secret|password|passwd|authorization|bearer|(^|[_-])token$)", re.I
)
"""Keys whose values are never recorded: API keys, secrets, passwords, credentials and
tokens (``token``, ``hf_token``, ``access_token``), not settings that merely mention tokens
(``max_num_batched_tokens``, ``tokenizer_mode``); ``api_key_env``, the *name* of a
variable, is kept."""
_KEPT_KEYS = frozenset({"api_key_env", "max_tokens", "logprob_token_ids", "tokenizer"})
REDACTED = "<redacted>"


def git_commit(directory: str | Path = ".") -> str | None:
    """The checkout's commit, ``+dirty`` when tracked files changed; None outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True,
            check=True, timeout=20,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory,
            capture_output=True, text=True, check=True, timeout=20,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed versions of ``names`` (plus Python and the platform); missing ones say so."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def strip_secrets(value: Any) -> Any:
    """A copy of ``value`` whose secret-looking keys (see :data:`SECRET_KEY`) are redacted."""
    if isinstance(value, Mapping):
        return {
            str(key): (
                REDACTED
                if SECRET_KEY.search(str(key)) and str(key) not in _KEPT_KEYS and item
                else strip_secrets(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [strip_secrets(item) for item in value]
    return value


@dataclass(frozen=True)
class ModelProvenance:
    """Which weights (or which API model) answered."""

    key: str
    path: str | None
    api_model: str | None
    base_url: str | None
    revision: str | None
    dtype: str | None
    device: str | None
    chat_template: str | None
    chat_template_sha256: str | None


@dataclass(frozen=True)
class EngineProvenance:
    """Which engine ran the model, and with which arguments (secrets stripped)."""

    name: str
    version: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchmarkProvenance:
    """Which benchmark source the prompts came from."""

    key: str
    plugin: str
    source_sha256: Mapping[str, str] = field(default_factory=dict)
