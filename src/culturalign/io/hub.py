"""Benchmark sources on the Hugging Face Hub (``source: hf://datasets/<owner>/<name>``),
downloaded with ``huggingface_hub`` at a pinned commit into its cache (``HF_TOKEN``,
``HF_HUB_OFFLINE``, ``HF_ENDPOINT`` and ``HF_HUB_CACHE`` honoured), each file checked
against its sha256 where one is given, then combined into one local export under
``resources/`` that the plug-in reads as it reads a local file. The export appears only
once complete and verified."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from culturalign.errors import ConfigError, CulturalignError
from culturalign.io.files import atomic_path
from culturalign.io.hashing import sha256_of
from culturalign.io.user_files import FORMATS, read_user_table

HUB_PREFIX = "hf://"
COMMIT = re.compile(r"^[0-9a-f]{40}$")


def is_hub_source(source: object) -> bool:
    return isinstance(source, str) and source.startswith(HUB_PREFIX)


@dataclass(frozen=True)
class HubSource:
    """A dataset repository at a pinned commit, and which of its files make the benchmark."""

    key: str
    repo_id: str
    revision: str
    files: tuple[str, ...]
    sha256: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_options(cls, key: str, options: Mapping[str, object],
                     default_files: Sequence[str]) -> HubSource:  # fmt: skip
        """From the benchmark block ``benchmarks.<key>`` (``source``, ``revision``, ``files``,
        ``sha256``)."""
        where = f"benchmarks.{key}"
        from huggingface_hub.errors import HfUriError
        from huggingface_hub.utils import parse_hf_uri

        try:
            uri = parse_hf_uri(str(options["source"]))
        except HfUriError as exc:
            raise ConfigError(f"config key {where}.source: {exc}") from None
        if uri.type != "dataset":
            raise ConfigError(f"config key {where}.source: {options['source']!r} is not a "
                              "dataset (hf://datasets/<owner>/<name>)")  # fmt: skip
        revision = str(options.get("revision") or uri.revision or "")
        if not COMMIT.match(revision):
            raise ConfigError(
                f"config key {where}.revision: {revision or 'missing'!r}; pin the dataset to a "
                "commit (40 hex digits, from the repository's 'Files and versions' history)"
            )
        files = tuple(options.get("files") or ([uri.path_in_repo] if uri.path_in_repo
                                                else default_files))  # fmt: skip
        sha256 = options.get("sha256") or {}
        if not isinstance(sha256, Mapping):
            raise ConfigError(f"config key {where}.sha256: a hub source takes one checksum per "
                              "file ({path in the repository: sha256})")  # fmt: skip
        checksums = {str(k): str(v).lower() for k, v in sha256.items()}
        return cls(key, uri.id, revision, files, checksums)

    @property
    def url(self) -> str:
        from huggingface_hub import constants

        return f"{constants.ENDPOINT}/datasets/{self.repo_id}/tree/{self.revision}"

    @property
    def export_path(self) -> str:
        """Where the combined export lands (one per repository and commit)."""
        name = self.repo_id.replace("/", "__")
        return f"resources/benchmark/{self.key}/{name}-{self.revision[:12]}.parquet"


def fetch_export(source: HubSource, destination: str | Path) -> Path:
    """Download ``source``'s files and write them, combined, to ``destination`` (Parquet).

    Several files: a ``category`` column from each file's top folder when the files lack one
    (a repository with one folder per subset). Errors name the benchmark's config key and the
    repository's URL; nothing is written unless every file came and matched its checksum."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"benchmarks.{source.key}.source"
    try:
        folder = Path(snapshot_download(
            source.repo_id, repo_type="dataset", revision=source.revision,
            allow_patterns=list(source.files),
        ))  # fmt: skip
    except RevisionNotFoundError:
        raise CulturalignError(f"{where}: {source.url}: no such revision {source.revision} in "
                               f"{source.repo_id}") from None  # fmt: skip
    except RepositoryNotFoundError:
        raise CulturalignError(f"{where}: {source.url}: no such dataset (or it is gated: set "
                               "HF_TOKEN)") from None  # fmt: skip
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise CulturalignError(
            f"{where}: cannot fetch {source.url} ({type(exc).__name__}: {exc}); with no "
            "network, point source at a local copy or fill the hub cache (HF_HUB_CACHE) and set "
            "HF_HUB_OFFLINE=1"
        ) from None
    found = sorted(
        path for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in FORMATS
        and any(fnmatch.fnmatch(path.relative_to(folder).as_posix(), p) for p in source.files)
    )  # fmt: skip
    if not found:
        raise CulturalignError(f"{where}: {source.url}: no file matches "
                               f"{', '.join(source.files)}")  # fmt: skip
    for name, expected in source.sha256.items():
        path = folder / name
        if not path.is_file():
            raise CulturalignError(f"{where}: {source.url}: {name} has a checksum in the config "
                                   "but is not among the files fetched")  # fmt: skip
        actual = sha256_of(path)
        if actual != expected:
            raise CulturalignError(f"{where}: {source.url}/{name}: checksum mismatch: expected "
                                   f"sha256 {expected}, got {actual}")  # fmt: skip
    frames = []
    tops = {path.relative_to(folder).parts[0] for path in found}
    for path in found:
        frame = read_user_table(path, f"{source.repo_id} file")
        if len(found) > 1 and len(tops) > 1 and not {"category", "Category"} & set(frame.columns):
            frame = frame.assign(category=path.relative_to(folder).parts[0])
        frames.append(frame)
    combined = pd.concat(frames, ignore_index=True)
    destination = Path(destination)
    with atomic_path(destination) as partial:
        combined.to_parquet(partial, index=False)
    return destination
