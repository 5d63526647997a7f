"""The multilingual demo model for e2e tests, built once and cached across tests and sessions.

``qwen_model_dir()`` returns a directory holding Qwen2.5-Coder-0.5B-Instruct as float32
safetensors: ``$CULTURALIGN_QWEN_MODEL`` if set (a prebuilt directory), else
``$CULTURALIGN_TEST_CACHE/qwen2.5-coder-0.5b`` (default: ``<tmp>/culturalign-test-cache``),
built there on first use by the workflow's own ``build_model`` rule (recipe
``qwen2.5-coder-0.5b-gguf``, per-part sha256 checks included) in a temporary copy of the
repository with ``config/demo-multilingual.yaml``. It shares the SmolLM2 cache's lock, so two
test processes never build (2.5 GB each) at the same time.
"""

from __future__ import annotations

from pathlib import Path

from demo_model import cached_model_dir

MODEL_KEY = "qwen2.5-coder-0.5b"
MODEL_PATH = Path("resources/models/qwen2.5-coder-0.5b")
CONFIG_FILE = "config/demo-multilingual.yaml"


def qwen_model_dir() -> Path:
    """The Qwen model directory (see module docstring); builds it on first use."""
    return cached_model_dir("CULTURALIGN_QWEN_MODEL", MODEL_KEY, MODEL_PATH, CONFIG_FILE)
