"""The one YAML loader: every YAML file the project reads (config schemas, templates, phrase
files, translation prompts) goes through :func:`load_yaml`, so that a missing or malformed
file is always an error naming the file and the config key that points at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from culturalign.errors import ConfigError


def load_yaml(path: str | Path, key: str | None = None, missing: str = "file") -> Any:
    """The parsed YAML of ``path``; ``key`` (the config key that names it) and ``missing``
    (what it is) go into the errors."""
    path = Path(path)
    where = f" (config key {key})" if key else ""
    if not path.is_file():
        raise ConfigError(f"{path}: {missing} not found{where}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}){where}") from None
