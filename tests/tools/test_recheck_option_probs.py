"""tools/recheck_option_probs.py: a plain transformers forward pass recomputes the option
probabilities the vLLM engine (float32, unfinished blocks shared) stored for
numbered and lettered items, multi-token labels among them, and a shard whose
probabilities are off by 2e-3 fails the check."""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from demo_model import demo_model_dir
from scoring_items import scoring_items

TOOL = Path(__file__).resolve().parents[2] / "tools" / "recheck_option_probs.py"

pytestmark = pytest.mark.e2e


def recheck_tool():
    spec = importlib.util.spec_from_file_location("recheck_option_probs", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_shard(path: Path, items, probs) -> None:
    rows = [
        {
            "scored_prefix_ids": list(item.prefix_ids),
            "option_token_ids": [list(ids) for ids in item.option_ids],
            "label_kind": "letter" if item.end.by_mass else "number",
            "option_probs": [{"option": k + 1, "prob": p} for k, p in enumerate(row)],
        }
        for item, row in zip(items, probs, strict=True)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)


def test_the_recheck_agrees_with_the_engine_and_catches_a_moved_probability(
    tmp_path, restored_environment, monkeypatch, capsys
):
    from culturalign.engines import ModelSpec, load_engine
    from culturalign.scoring.exact import score_with_engine

    spec = ModelSpec(key="demo", path=str(demo_model_dir()), dtype="float32", max_model_len=2048,
                     engine_options={"share_unfinished_blocks": True})  # fmt: skip
    engine = load_engine(spec, threads=2, cache_dir=tmp_path / "cache")
    items = scoring_items(engine.tokenizer)
    probs = score_with_engine(engine, items)
    engine.close()
    del engine
    gc.collect()
    assert any(len(ids) > 1 for item in items for ids in item.option_ids)  # multi-token labels
    results = tmp_path / "results"
    shard = results / "bench" / "generations" / "demo" / "en" / "persona" / "zero.parquet"
    write_shard(shard, items, probs)
    tool = recheck_tool()
    argv = ["recheck", str(results), "--model", str(demo_model_dir())]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as agreed:
        tool.main()
    report = capsys.readouterr().out
    with capsys.disabled():
        print(f"\n{report}")
    assert agreed.value.code == 0
    assert f"over {len(items)} rows" in report

    moved = [list(row) for row in probs]
    moved[3][0] += 2e-3
    write_shard(shard, items, moved)
    with pytest.raises(SystemExit) as caught:
        tool.main()
    assert caught.value.code == 1
    assert "largest difference 2.0" in capsys.readouterr().out
