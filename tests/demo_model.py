"""The demo model for engine tests, built once and cached across tests and sessions.

``demo_model_dir()`` returns a directory holding SmolLM2-135M-Instruct as float32
safetensors: ``$CULTURALIGN_DEMO_MODEL`` if set (a prebuilt directory), else
``$CULTURALIGN_TEST_CACHE/smollm2-135m`` (default: ``<tmp>/culturalign-test-cache``), built
there on first use by running the workflow's own ``build_model`` rule in a temporary copy of
the repository (a file lock keeps parallel test processes from building it twice).
``copy_repo(dest)`` copies the repository's tracked and untracked-but-not-ignored files.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKBOOK = REPO_ROOT.parent / "shared" / "data" / "menavalues" / "MenaValues_Benchmark.xlsx"
MODEL_KEY = "smollm2-135m"
MODEL_PATH = Path("resources/models/smollm2-135m")


def copy_repo(dest: Path) -> Path:
    """Copy the working tree (no results/, no built models, no .git) into ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if not source.is_file() or name.startswith(("results/", "bench/")):
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    wheels = REPO_ROOT / "resources" / "wheels"
    if wheels.is_dir():  # a wheel pip already downloaded saves a download
        shutil.copytree(wheels, dest / "resources" / "wheels", dirs_exist_ok=True)
    return dest


def snakemake_command(*args: str) -> list[str]:
    """``python -m snakemake`` with the shared workbook (never the repo's download rule)."""
    source = f"benchmarks={{menavalues: {{source: {WORKBOOK}}}}}"
    config = ["--config", source] if WORKBOOK.is_file() else []
    return [sys.executable, "-m", "snakemake", *args, *config]


def demo_model_dir() -> Path:
    """The demo model directory (see module docstring); builds it on first use."""
    return cached_model_dir("CULTURALIGN_DEMO_MODEL", MODEL_KEY, MODEL_PATH)


def cache_root() -> Path:
    """``$CULTURALIGN_TEST_CACHE``, else ``<tmp>/culturalign-test-cache``: what the tests
    build once per machine (the demo models, vLLM's cache root)."""
    default = Path(tempfile.gettempdir()) / "culturalign-test-cache"
    return Path(os.environ.get("CULTURALIGN_TEST_CACHE", default))


def cached_model_dir(
    prebuilt_variable: str, key: str, model_path: Path, config_file: str | None = None
) -> Path:
    """A built model: ``$prebuilt_variable`` if set, else ``$CULTURALIGN_TEST_CACHE/key``,
    built there on first use by the workflow's ``build_model`` rule (target ``model_path``,
    with ``config_file`` when given) in a temporary copy of the repository, under a lock."""
    prebuilt = os.environ.get(prebuilt_variable)
    if prebuilt:
        path = Path(prebuilt)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{prebuilt_variable}={prebuilt} holds no config.json")
        return path
    cache = cache_root()
    target = cache / key
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
            extra = ["--configfile", config_file] if config_file else []
            command = snakemake_command("--cores", "2", str(model_path), *extra)
            result = subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"build_model failed:\n{result.stdout}\n{result.stderr}")
            shutil.rmtree(target, ignore_errors=True)
            shutil.move(str(repo / model_path), target)
    return target
