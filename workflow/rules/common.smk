"""Shared helpers: paths, wildcard constraints and the target list, all built from config."""

import sys
from pathlib import Path

# Scripts import the package from src/ even when it is not installed (e.g. on a cluster node
# that only has the analysis environment).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from culturalign import workflow_config as wc  # noqa: E402

SETTINGS = wc.WorkflowSettings.from_config(config)
# Each stage's rule file appends the outputs `rule all` asks for.
FINAL_TARGETS: list[str] = []


wildcard_constraints:
    model=wc.alternation(SETTINGS.model_keys),
    language=wc.alternation(SETTINGS.languages),
    framing=wc.alternation(SETTINGS.framings),
    reasoning=wc.alternation(SETTINGS.reasoning),


def final_targets() -> list[str]:
    """Everything `rule all` builds."""
    return list(FINAL_TARGETS)


def log_path(name: str) -> str:
    """Where a rule writes its log."""
    return f"logs/{name}.log"
