"""A loopback stand-in for the Hugging Face Hub's HTTP API (``HF_ENDPOINT``): one dataset at
one commit, served the way huggingface_hub reads it — the tree listing
(``/api/datasets/<repo>/tree/<rev>``), file metadata and content
(``HEAD``/``GET /datasets/<repo>/resolve/<rev>/<path>``, with ``X-Repo-Commit`` and
``ETag``), and ``RevisionNotFound`` / ``RepoNotFound`` errors as the Hub words them."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@contextmanager
def serve_dataset(repo_id: str, commit: str, files: Mapping[str, bytes]) -> Iterator[dict]:
    """Serve ``files`` as dataset ``repo_id`` at ``commit``; yields ``{"endpoint": url,
    "requests": [(method, path), ...]}``."""
    state: dict = {"requests": []}
    blobs = {path: (hashlib.sha1(data).hexdigest(), data) for path, data in files.items()}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _error(self, status: int, code: str, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _route(self) -> tuple[str, str, str] | None:
            """(kind, revision, file path) of a tree or resolve URL of the served dataset."""
            path = unquote(urlsplit(self.path).path)
            for kind, prefix in (("tree", f"/api/datasets/{repo_id}/tree/"),
                                 ("resolve", f"/datasets/{repo_id}/resolve/")):  # fmt: skip
                if path.startswith(prefix):
                    revision, _, rest = path[len(prefix) :].partition("/")
                    return kind, revision, rest
            return None

        def _handle(self) -> None:
            state["requests"].append((self.command, self.path))
            route = self._route()
            if route is None:
                self._error(404, "RepoNotFound", "Repository not found")
                return
            kind, revision, path = route
            if revision != commit:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return
            if kind == "tree":
                listing = [{"type": "file", "oid": oid, "size": len(data), "path": name}
                           for name, (oid, data) in sorted(blobs.items())]  # fmt: skip
                body = json.dumps(listing).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if path not in blobs:
                self._error(404, "EntryNotFound", f"{path} does not exist")
                return
            oid, data = blobs[path]
            self.send_response(200)
            self.send_header("X-Repo-Commit", commit)
            self.send_header("ETag", f'"{oid}"')
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(data)

        do_GET = do_HEAD = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        state["endpoint"] = f"http://127.0.0.1:{server.server_address[1]}"
        yield state
    finally:
        server.shutdown()
        server.server_close()
