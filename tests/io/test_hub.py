"""Hub sources (``source: hf://datasets/...``): fetched with huggingface_hub at a pinned
commit over HTTP from a loopback stand-in for the Hub (``HF_ENDPOINT``, tests/hub_server.py),
from a hub cache filled here and read offline (HF_HUB_OFFLINE=1), or from a hub that cannot
be reached; each run in a child process, as the workflow's download job is, since
huggingface_hub reads its settings at import."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hub_server import serve_dataset

REPO = Path(__file__).resolve().parents[2]
GOQA = REPO / "tests/fixtures/globalopinions/goqa_fixture.csv"
REVISION = "5c87e48d8db8ffc9ae8a6738f958d5130ee116e5"
FETCH = """
import json, sys
from culturalign.io.hub import HubSource, fetch_export
options = json.loads(sys.argv[1])
source = HubSource.from_options("goqa", options, ("data/global_opinions.csv",))
print(fetch_export(source, sys.argv[2]))
"""


def fill_cache(cache: Path, revision: str = REVISION) -> Path:
    """The hub cache's layout for one dataset snapshot (what a download leaves behind)."""
    snapshot = cache / "datasets--Anthropic--llm_global_opinions" / "snapshots" / revision
    (snapshot / "data").mkdir(parents=True)
    shutil.copy(GOQA, snapshot / "data" / "global_opinions.csv")
    (cache / "datasets--Anthropic--llm_global_opinions" / "refs").mkdir()
    (cache / "datasets--Anthropic--llm_global_opinions" / "refs" / "main").write_text(revision)
    return snapshot


def fetch(tmp_path: Path, options: dict, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), **env}
    return subprocess.run(
        [sys.executable, "-c", FETCH, json.dumps(options), str(tmp_path / "out" / "x.parquet")],
        capture_output=True, text=True, env=environment, check=False,
    )  # fmt: skip


OPTIONS = {"source": "hf://datasets/Anthropic/llm_global_opinions", "revision": REVISION}


def test_a_pinned_snapshot_is_read_from_the_cache_offline(tmp_path):
    fill_cache(tmp_path / "hub")
    ran = fetch(tmp_path, OPTIONS, HF_HUB_OFFLINE="1")
    assert ran.returncode == 0, ran.stderr[-3000:]
    export = pd.read_parquet(tmp_path / "out" / "x.parquet")
    published = pd.read_csv(GOQA, dtype=str, keep_default_na=False)
    assert export.equals(published)  # every row and value as published


def test_a_checksum_mismatch_an_unknown_revision_and_an_unreachable_hub_write_nothing(
    tmp_path,
):
    fill_cache(tmp_path / "hub")
    wrong = {**OPTIONS, "sha256": {"data/global_opinions.csv": "0" * 64}}
    ran = fetch(tmp_path, wrong, HF_HUB_OFFLINE="1")
    assert ran.returncode != 0
    assert "benchmarks.goqa.source" in ran.stderr and "checksum mismatch" in ran.stderr
    assert f"datasets/Anthropic/llm_global_opinions/tree/{REVISION}" in ran.stderr
    other = "1" * 40
    ran = fetch(tmp_path, {**OPTIONS, "revision": other}, HF_HUB_OFFLINE="1")
    assert ran.returncode != 0 and "benchmarks.goqa.source" in ran.stderr
    assert f"tree/{other}" in ran.stderr and "HF_HUB_OFFLINE" in ran.stderr
    # a hub nobody answers at (a closed loopback port), nothing cached for this revision
    ran = fetch(tmp_path, {**OPTIONS, "revision": other}, HF_HUB_OFFLINE="0",
                HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_ETAG_TIMEOUT="2",
                HF_HUB_DOWNLOAD_TIMEOUT="2")  # fmt: skip
    assert ran.returncode != 0 and "http://127.0.0.1:9/datasets/" in ran.stderr
    assert "cannot fetch" in ran.stderr
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())  # not even a partial file


def test_a_dataset_is_downloaded_over_http_from_a_loopback_hub(tmp_path):
    """The real download path (tree listing, HEAD, GET) against HF_ENDPOINT; only the files
    the benchmark needs are fetched; a wrong checksum and an unknown commit fail cleanly,
    naming the config key and the URL, with nothing written."""
    files = {"data/global_opinions.csv": GOQA.read_bytes(), "README.md": b"# not a table"}
    with serve_dataset("Anthropic/llm_global_opinions", REVISION, files) as hub:
        online = {"HF_ENDPOINT": hub["endpoint"], "HF_HUB_OFFLINE": "0"}
        ran = fetch(tmp_path, OPTIONS, **online)
        assert ran.returncode == 0, ran.stderr[-3000:]
        fetched = [path for method, path in hub["requests"] if method == "GET"
                   and "/resolve/" in path]  # fmt: skip
        assert fetched == [f"/datasets/Anthropic/llm_global_opinions/resolve/{REVISION}/"
                           "data/global_opinions.csv"]  # fmt: skip
        export = pd.read_parquet(tmp_path / "out" / "x.parquet")
        assert export.equals(pd.read_csv(GOQA, dtype=str, keep_default_na=False))
        (tmp_path / "out" / "x.parquet").unlink()

        wrong = {**OPTIONS, "sha256": {"data/global_opinions.csv": "0" * 64}}
        ran = fetch(tmp_path, wrong, **online, HF_HUB_CACHE=str(tmp_path / "other"))
        assert ran.returncode != 0 and "benchmarks.goqa.source" in ran.stderr
        assert "global_opinions.csv: checksum mismatch" in ran.stderr
        unknown = "2" * 40
        ran = fetch(tmp_path, {**OPTIONS, "revision": unknown}, **online)
        assert ran.returncode != 0
        assert f"no such revision {unknown} in Anthropic/llm_global_opinions" in ran.stderr
        url = f"{hub['endpoint']}/datasets/Anthropic/llm_global_opinions/tree/{unknown}"
        assert url in ran.stderr
    assert not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"source": "hf://datasets/Anthropic/llm_global_opinions"}, r"revision: 'missing'"),
        ({**OPTIONS, "revision": "main"}, r"pin the dataset to a commit"),
        ({**OPTIONS, "source": "hf://Anthropic/some-model"}, r"is not a dataset"),
        ({**OPTIONS, "sha256": "0" * 64}, r"one checksum per file"),
    ],
)  # fmt: skip
def test_a_hub_source_must_be_a_pinned_dataset(options, message):
    from culturalign.errors import ConfigError
    from culturalign.io.hub import HubSource

    with pytest.raises(ConfigError, match=message):
        HubSource.from_options("goqa", options, ("data/global_opinions.csv",))


def test_the_workflow_downloads_a_hub_source_and_imports_its_export(tmp_path):
    """Rule download_source through huggingface_hub from the loopback hub, then the plug-in
    reads the export."""
    import yaml
    from demo_model import copy_repo

    from culturalign.io.tables import read_metadata

    repo = copy_repo(tmp_path / "repo")
    config = {"benchmarks": {"globalopinions": {**OPTIONS, "share_tolerance": 0.5}},
              "run": {"benchmarks": ["globalopinions"]}}  # fmt: skip
    (repo / "hub.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    target = "results/globalopinions/benchmark/questions.parquet"
    with serve_dataset("Anthropic/llm_global_opinions", REVISION,
                       {"data/global_opinions.csv": GOQA.read_bytes()}) as hub:  # fmt: skip
        ran = subprocess.run(
            [sys.executable, "-m", "snakemake", target, "--cores", "1", "--configfile",
             "config/globalopinions.yaml", "hub.yaml"],
            cwd=repo, capture_output=True, text=True, check=False,
            env={**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "0",
                 "HF_ENDPOINT": hub["endpoint"]},
        )  # fmt: skip
    assert ("GET", f"/datasets/Anthropic/llm_global_opinions/resolve/{REVISION}/"
            "data/global_opinions.csv") in hub["requests"]  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "rule download_source" in ran.stdout + ran.stderr
    export = (
        repo
        / "resources/benchmark/globalopinions/Anthropic__llm_global_opinions-5c87e48d8db8.parquet"
    )
    assert export.is_file()
    questions = pd.read_parquet(repo / target)
    assert len(questions) == len(pd.read_csv(GOQA))
    hub = read_metadata(repo / target)["benchmark"]["hub"]
    assert hub == {"repository": "Anthropic/llm_global_opinions", "revision": REVISION,
                   "files": ["data/global_opinions.csv"]}  # fmt: skip
