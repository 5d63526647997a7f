"""Provenance records: secrets never reach what is written (nested mappings and lists, every
secret-looking key, case-insensitively), names of secrets and ordinary settings are kept, the
records serialise to JSON without the secret values; file hashes and the git commit are
checked against hashlib and git itself."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from culturalign.io.hashing import sha256_of, sha256_text
from culturalign.records.provenance import (
    REDACTED,
    BenchmarkProvenance,
    EngineProvenance,
    ModelProvenance,
    git_commit,
    strip_secrets,
)
from culturalign.records.shard import Cell, ShardMetadata

SECRETS = {
    "api_key": "sk-live-AAAA1111",
    "OPENAI_API_KEY": "sk-proj-BBBB2222",
    "Authorization": "Bearer eyJhbGciOi.CCCC3333",
    "bearer_token": "DDDD4444-bearer",
    "password": "hunter2-EEEE5555",
    "X-Api-Key": "FFFF6666",
    "client_secret": "GGGG7777",
    "hf_token": "hf_HHHH8888",
}
"""Secret-looking keys and the values that must never be written."""


def nested_options() -> dict:
    """Engine options as a user might write them: secrets at every depth, in lists too."""
    return {
        "model": "gpt-4o-mini",
        "base_url": "https://api.example.org/v1",
        "api_key_env": "OPENAI_API_KEY",  # the *name* of the variable: kept
        "max_tokens": 8,
        "logprob_token_ids": [11, 12],
        "tokenizer": "resources/models/smollm2-135m",
        "api_key": SECRETS["api_key"],
        "client": {
            "OPENAI_API_KEY": SECRETS["OPENAI_API_KEY"],
            "default_headers": {
                "Authorization": SECRETS["Authorization"],
                "X-Api-Key": SECRETS["X-Api-Key"],
                "User-Agent": "culturalign",
            },
            "retries": [{"password": SECRETS["password"], "wait": 2}, {"wait": 4}],
        },
        "auth": (
            {"bearer_token": SECRETS["bearer_token"]},
            {"client_secret": SECRETS["client_secret"]},
        ),
        "hub": {"hf_token": SECRETS["hf_token"], "revision": "main"},
    }


def test_strip_secrets_redacts_every_secret_key_at_any_depth():
    options = nested_options()
    original = copy.deepcopy(options)
    stripped = strip_secrets(options)
    assert options == original  # the input is not modified
    assert stripped == {
        "model": "gpt-4o-mini",
        "base_url": "https://api.example.org/v1",
        "api_key_env": "OPENAI_API_KEY",
        "max_tokens": 8,
        "logprob_token_ids": [11, 12],
        "tokenizer": "resources/models/smollm2-135m",
        "api_key": REDACTED,
        "client": {
            "OPENAI_API_KEY": REDACTED,
            "default_headers": {
                "Authorization": REDACTED,
                "X-Api-Key": REDACTED,
                "User-Agent": "culturalign",
            },
            "retries": [{"password": REDACTED, "wait": 2}, {"wait": 4}],
        },
        "auth": [{"bearer_token": REDACTED}, {"client_secret": REDACTED}],
        "hub": {"hf_token": REDACTED, "revision": "main"},
    }
    text = json.dumps(stripped)
    for value in SECRETS.values():
        assert value not in text


@pytest.mark.parametrize(
    "key",
    ["api_key", "API_KEY", "apikey", "api-key", "OPENAI_API_KEY", "Authorization",
     "AUTHORIZATION", "Bearer", "proxy_password", "passwd", "secret", "aws_secret_access_key",
     "token", "access_token", "HF_TOKEN"],
)  # fmt: skip
def test_each_secret_key_spelling_is_redacted(key):
    assert strip_secrets({key: "s3cr3t-value"}) == {key: REDACTED}
    assert strip_secrets([{"outer": {key: "s3cr3t-value"}}]) == [{"outer": {key: REDACTED}}]


def test_unset_secrets_and_plain_values_pass_through():
    # nothing to hide: an unset key is recorded as unset
    assert strip_secrets({"api_key": None, "password": ""}) == {"api_key": None, "password": ""}
    assert strip_secrets("Bearer abc") == "Bearer abc"  # values alone are not inspected
    assert strip_secrets(3) == 3
    assert strip_secrets((1, {"a": 2})) == [1, {"a": 2}]
    # a secret key holding a structure is redacted whole
    assert strip_secrets({"secrets": {"db": "x", "n": 1}}) == {"secrets": REDACTED}


def test_ordinary_engine_arguments_that_mention_tokens_are_kept():
    options = {"tokenizer_mode": "mistral", "max_num_batched_tokens": 4096,
               "skip_tokenizer_init": False}  # fmt: skip
    assert strip_secrets(options) == options


def shard_provenance(options: dict) -> ShardMetadata:
    return ShardMetadata(
        cell=Cell("menavalues", "api-model", "en", "persona", "zero"),
        model=ModelProvenance(
            key="api-model",
            path=None,
            api_model="gpt-4o-mini",
            base_url="https://api.example.org/v1",
            revision=None,
            dtype=None,
            device=None,
            chat_template=None,
            chat_template_sha256=None,
        ),  # fmt: skip
        engine=EngineProvenance("openai", "1.2.3", options),
        benchmark=BenchmarkProvenance("menavalues", "menavalues", {"source": "ab" * 32}),
        template_hash="cd" * 32,
        git_commit="0123456789abcdef0123456789abcdef01234567",
        packages={"python": "3.11.7", "openai": "1.2.3"},
    )


def test_shard_provenance_metadata_holds_no_secret_value():
    metadata = shard_provenance(nested_options()).to_metadata()
    assert set(metadata) == {"version", "cell", "model", "engine", "benchmark",
                             "template_hash", "git_commit", "packages", "startup_seconds",
                             "usage"}  # fmt: skip
    assert metadata["engine"]["name"] == "openai" and metadata["engine"]["version"] == "1.2.3"
    assert metadata["engine"]["options"]["api_key"] == REDACTED
    assert metadata["engine"]["options"]["api_key_env"] == "OPENAI_API_KEY"
    assert metadata["engine"]["options"]["client"]["default_headers"]["User-Agent"] == (
        "culturalign"
    )
    assert metadata["model"]["api_model"] == "gpt-4o-mini"
    assert metadata["benchmark"]["source_sha256"] == {"source": "ab" * 32}
    assert metadata["template_hash"] == "cd" * 32
    assert metadata["git_commit"] == "0123456789abcdef0123456789abcdef01234567"
    text = json.dumps(metadata, allow_nan=False)  # strict JSON
    for value in SECRETS.values():
        assert value not in text
    # the record itself still holds what the engine was given (only the output is stripped)
    assert shard_provenance(nested_options()).engine.options["api_key"] == SECRETS["api_key"]


def test_file_and_text_hashes_match_hashlib(tmp_path):
    data = bytes(range(256)) * 5000  # > 1 MiB: read in several blocks
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_of(path) == hashlib.sha256(data).hexdigest()
    assert sha256_text("مرحبا ✓") == hashlib.sha256("مرحبا ✓".encode()).hexdigest()
    assert sha256_text("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def git(directory: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=directory, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A fresh git repository with one commit (git may not look above tmp_path)."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(name, raising=False)
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "tracked.txt").write_text("one\n")
    git(repo, "add", "tracked.txt")
    git(repo, "commit", "-q", "-m", "first")
    return repo


def test_git_commit_is_the_checkout_head(repository):
    head = git(repository, "rev-parse", "HEAD")
    assert len(head) == 40
    assert git_commit(repository) == head
    (repository / "sub").mkdir()
    assert git_commit(repository / "sub") == head  # from anywhere inside the checkout
    (repository / "untracked.txt").write_text("new\n")
    assert git_commit(repository) == head  # untracked files do not make it dirty
    (repository / "tracked.txt").write_text("two\n")
    assert git_commit(repository) == f"{head}+dirty"
    git(repository, "commit", "-q", "-am", "second")
    second = git(repository, "rev-parse", "HEAD")
    assert second != head and git_commit(repository) == second


def test_git_commit_is_none_outside_a_repository_or_without_git(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    outside = tmp_path / "plain"
    outside.mkdir()
    assert git_commit(outside) is None
    assert git_commit(tmp_path / "missing") is None
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries-here"))
    assert git_commit(outside) is None
