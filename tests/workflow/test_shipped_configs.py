"""Every shipped benchmark config (config/*.yaml on top of config/config.yaml) makes a valid
job graph as written — publishers' sources included: a Hub or URL source is a download job,
not an error — so that `snakemake --configfile config/config.yaml config/<name>.yaml`
starts for a user who has the network the dry run does not need."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(path.name for path in (REPO / "config").glob("*.yaml")
                 if path.name not in ("config.yaml", "paper.yaml"))  # fmt: skip
"""paper.yaml has its own checks (test_paper_config.py)."""


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    from demo_model import copy_repo

    return copy_repo(tmp_path_factory.mktemp("configs") / "repo")


@pytest.mark.parametrize("name", CONFIGS)
def test_a_shipped_config_dry_runs_with_its_publishers_sources(repo, name):
    config = yaml.safe_load((REPO / "config" / name).read_text(encoding="utf-8"))
    ran = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", "config/config.yaml",
         f"config/{name}"],
        cwd=repo, capture_output=True, text=True, check=False,
    )  # fmt: skip
    log = ran.stdout + ran.stderr
    assert ran.returncode == 0, log[-4000:]
    selected = (config.get("run") or {}).get("benchmarks") or list(config.get("benchmarks", {}))
    for key in selected:
        assert f"results/{key}/report.html" in log, key
        block = (config.get("benchmarks") or {}).get(key) or {}
        source = str(block.get("source") or "")
        if source.startswith("hf://") or block.get("url"):
            downloads = re.findall(r"rule download_source:\n(?:\s+.*\n)*?\s+output: (\S+)", log)
            assert any(f"resources/benchmark/{key}/" in path or path == source
                       for path in downloads), (key, downloads)  # fmt: skip
