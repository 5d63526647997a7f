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

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from demo_model import copy_repo, snakemake_command

MODEL_KEY = "qwen2.5-coder-0.5b"
MODEL_PATH = Path("resources/models/qwen2.5-coder-0.5b")
CONFIG_FILE = "config/demo-multilingual.yaml"


def qwen_model_dir() -> Path:
    """The Qwen model directory (see module docstring); builds it on first use."""
    prebuilt = os.environ.get("CULTURALIGN_QWEN_MODEL")
    if prebuilt:
        path = Path(prebuilt)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"CULTURALIGN_QWEN_MODEL={prebuilt} holds no config.json")
        return path
    default_cache = Path(tempfile.gettempdir()) / "culturalign-test-cache"
    cache = Path(os.environ.get("CULTURALIGN_TEST_CACHE", default_cache))
    target = cache / MODEL_KEY
    marker = target / "culturalign_build.json"
    if marker.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():
            return target
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            repo = copy_repo(Path(scratch) / "repo")
            # the target first: --configfile takes every following word up to the next option
            command = snakemake_command(
                "--cores", "2", str(MODEL_PATH), "--configfile", CONFIG_FILE
            )
            result = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"build_model failed:\n{result.stdout}\n{result.stderr}")
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(str(repo / MODEL_PATH), target)
    return target
