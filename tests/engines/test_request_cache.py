"""The persistent API request cache (SQLite): round trips, what the key depends on, reopening,
several writer processes at once, a killed writer, damaged files and damaged entries."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import culturalign
from culturalign.engines.request_cache import RequestCache, request_key
from culturalign.errors import CulturalignError

SRC = Path(culturalign.__file__).resolve().parents[1]


def payload(**changes) -> dict:
    """A chat request as the API client keys it: endpoint, base URL, model and the body."""
    body = {
        "messages": [{"role": "user", "content": "How important is family? Answer 1-4."}],
        "max_tokens": 8,
        "temperature": 0.0,
        "seed": 0,
        "logprobs": True,
        "top_logprobs": 20,
    }
    base = {"endpoint": "chat", "base_url": "https://api.example.org/v1", "model": "m-1"}
    for key, value in changes.items():
        (base if key in base else body)[key] = value
    return {**base, "body": body}


RESPONSE = {"id": "r-1", "choices": [{"message": {"content": "2"}}], "usage": {"total": 9}}


@pytest.fixture
def cache(tmp_path):
    opened = RequestCache(tmp_path / "requests" / "m-1.sqlite")
    yield opened
    opened.close()


def test_put_then_get_round_trips(cache, tmp_path):
    assert cache.path == tmp_path / "requests" / "m-1.sqlite" and cache.path.is_file()
    assert len(cache) == 0 and cache.get(payload()) is None
    response = {**RESPONSE, "text": "نعم ✓", "logprob": -0.125, "none": None}
    cache.put(payload(), response)
    assert cache.get(payload()) == response
    assert len(cache) == 1
    # the same request again replaces the entry
    cache.put(payload(), {"id": "r-2"})
    assert cache.get(payload()) == {"id": "r-2"} and len(cache) == 1


def test_the_key_is_the_sha256_of_the_canonical_request():
    canonical = json.dumps(payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert request_key(payload()) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    # insertion order of keys, at any depth, does not matter
    reordered = {key: payload()[key] for key in reversed(list(payload()))}
    reordered["body"] = {key: reordered["body"][key] for key in reversed(list(reordered["body"]))}
    assert list(reordered) != list(payload())
    assert request_key(reordered) == request_key(payload())


@pytest.mark.parametrize(
    "change",
    [
        {"endpoint": "completions"},
        {"base_url": "https://other.example.org/v1"},
        {"model": "m-2"},
        {"messages": [{"role": "user", "content": "How important is work? Answer 1-4."}]},
        {"messages": [{"role": "system", "content": "How important is family? Answer 1-4."}]},
        {"max_tokens": 64},
        {"temperature": 0.7},
        {"seed": 1},
        {"logprobs": False},
        {"top_logprobs": 5},
        {"stop": ["\n"]},
    ],
    ids=lambda change: next(iter(change)),
)
def test_every_field_of_the_request_changes_the_key(cache, change):
    changed = payload(**change)
    assert changed != payload()
    assert request_key(changed) != request_key(payload())
    cache.put(payload(), RESPONSE)
    assert cache.get(changed) is None  # never answered from another request's entry
    cache.put(changed, {"id": "other"})
    assert cache.get(payload()) == RESPONSE and cache.get(changed) == {"id": "other"}


def test_message_order_matters():
    first = {"role": "system", "content": "Be brief."}
    second = {"role": "user", "content": "Answer 1-4."}
    assert request_key(payload(messages=[first, second])) != request_key(
        payload(messages=[second, first])
    )


def test_entries_persist_across_instances(tmp_path):
    path = tmp_path / "m-1.sqlite"
    writer = RequestCache(path)
    for seed in range(5):
        writer.put(payload(seed=seed), {**RESPONSE, "seed": seed})
    writer.close()
    reader = RequestCache(path)
    try:
        assert len(reader) == 5
        assert [reader.get(payload(seed=seed))["seed"] for seed in range(5)] == list(range(5))
        assert reader.get(payload(seed=99)) is None
    finally:
        reader.close()
    # what is on disk: one row per request, the request stored beside the response
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, request, response FROM responses").fetchall()
    assert len(rows) == 5
    for key, request, response in rows:
        assert key == request_key(json.loads(request))
        assert json.loads(response)["seed"] == json.loads(request)["body"]["seed"]


def run_python(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


WRITER = """
import sys, time
from pathlib import Path
from culturalign.engines.request_cache import RequestCache
cache = RequestCache(sys.argv[1])
worker, count, go = sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
Path(f"{go}.{worker}").touch()  # ready; every writer starts at the same moment
while not go.exists():
    time.sleep(0.002)
for i in range(count):
    payload = {"endpoint": "chat", "model": "m", "body": {"worker": worker, "i": i}}
    cache.put(payload, {"worker": worker, "i": i, "text": "x" * 500})
    cache.put({"shared": i}, {"by": worker, "i": i})
cache.close()
"""


def test_concurrent_writer_processes_lose_nothing(tmp_path):
    path, go = tmp_path / "shared.sqlite", tmp_path / "go"
    count = 400
    workers = [run_python(WRITER, str(path), name, str(count), str(go)) for name in "abc"]
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}.{name}").exists() for name in "abc"):
        assert time.monotonic() < deadline and all(w.poll() is None for w in workers)
        time.sleep(0.01)
    go.touch()
    for worker in workers:
        _, stderr = worker.communicate(timeout=120)
        assert worker.returncode == 0, stderr
    cache = RequestCache(path)
    try:
        assert len(cache) == 3 * count + count  # own entries, plus one per shared request
        for name in ("a", "b", "c"):
            for i in range(count):
                got = cache.get(
                    {"endpoint": "chat", "model": "m", "body": {"worker": name, "i": i}}
                )
                assert got == {"worker": name, "i": i, "text": "x" * 500}
        for i in range(count):
            shared = cache.get({"shared": i})
            assert shared["i"] == i and shared["by"] in ("a", "b", "c")  # one whole entry
    finally:
        cache.close()
    # the writers did run at the same time: their spans of commit times overlap
    with sqlite3.connect(path) as db:
        spans = {
            worker: db.execute(
                "SELECT MIN(created), MAX(created) FROM responses WHERE request LIKE ?",
                (f'%"worker": "{worker}"%',),
            ).fetchone()
            for worker in "abc"
        }
    assert max(start for start, _ in spans.values()) < min(end for _, end in spans.values())


KILLED = """
import sys
from culturalign.engines.request_cache import RequestCache
cache = RequestCache(sys.argv[1])
i = 0
while True:
    cache.put({"i": i}, {"i": i, "text": "y" * 4000})
    print(i, flush=True)
    i += 1
"""


def test_a_killed_writer_leaves_only_whole_entries(tmp_path):
    path = tmp_path / "killed.sqlite"
    writer = run_python(KILLED, str(path))
    acknowledged = -1
    for line in writer.stdout:
        acknowledged = int(line)
        if acknowledged >= 300:
            break
    writer.send_signal(signal.SIGKILL)
    writer.communicate(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    cache = RequestCache(path)
    try:
        assert len(cache) >= acknowledged + 1  # every committed put survived the kill
        for i in range(acknowledged + 1):
            assert cache.get({"i": i}) == {"i": i, "text": "y" * 4000}
    finally:
        cache.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        for request, response in db.execute("SELECT request, response FROM responses"):
            assert json.loads(response) == {"i": json.loads(request)["i"], "text": "y" * 4000}


def test_a_response_that_cannot_be_stored_leaves_no_entry(cache):
    with pytest.raises(TypeError):
        cache.put(payload(), {"when": object()})
    assert len(cache) == 0 and cache.get(payload()) is None


def test_a_damaged_entry_is_ignored_and_replaced(cache):
    cache.put(payload(), RESPONSE)
    cache.put(payload(seed=1), RESPONSE)
    with sqlite3.connect(cache.path) as db:
        db.execute("UPDATE responses SET response = ? WHERE key = ?",
                   ('{"id": "r-1", "choi', request_key(payload())))  # fmt: skip
        db.execute("UPDATE responses SET response = ? WHERE key = ?",
                   ("[1, 2, 3]", request_key(payload(seed=1))))  # fmt: skip
    assert cache.get(payload()) is None  # re-requested, never half-used
    assert cache.get(payload(seed=1)) is None  # not a response object
    cache.put(payload(), RESPONSE)
    assert cache.get(payload()) == RESPONSE


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "requests" / "broken.sqlite"
    path.parent.mkdir()
    path.write_bytes(b"these bytes are not an SQLite database\n" * 200)
    before = path.read_bytes()
    with pytest.raises(CulturalignError, match="request cache cannot be opened") as raised:
        RequestCache(path)
    message = str(raised.value)
    assert str(path) in message and "move it away" in message
    assert path.read_bytes() == before  # the damaged file is left for the user to inspect


def test_a_database_damaged_past_its_header_is_a_clear_error(tmp_path):
    path = tmp_path / "damaged.sqlite"
    cache = RequestCache(path)
    for i in range(300):
        cache.put(payload(seed=i), {**RESPONSE, "text": "z" * 3000})
    cache.close()
    data = bytearray(path.read_bytes())
    page = 4096  # SQLite's default page size: wipe the header of every page after the third
    for offset in range(3 * page, len(data), page):
        data[offset : offset + 200] = b"\xff" * 200
    path.write_bytes(bytes(data))
    damaged = RequestCache(path)
    try:
        with pytest.raises(CulturalignError, match=str(path)):
            damaged.get(payload(seed=5))
    finally:
        damaged.close()


def test_a_directory_in_place_of_the_file_is_a_clear_error(tmp_path):
    path = tmp_path / "requests" / "m-1.sqlite"
    path.mkdir(parents=True)
    with pytest.raises(CulturalignError, match="request cache cannot be opened") as raised:
        RequestCache(path)
    assert str(path) in str(raised.value)


def test_payloads_are_not_changed_by_the_cache(cache):
    request = payload()
    before = copy.deepcopy(request)
    cache.put(request, RESPONSE)
    cache.get(request)
    assert request == before
