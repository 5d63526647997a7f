"""The shard's metadata record: what the generate step writes is what every reader parses."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from culturalign.errors import TableError
from culturalign.io.tables import write_table
from culturalign.records.provenance import BenchmarkProvenance, EngineProvenance, ModelProvenance
from culturalign.records.shard import SHARD_METADATA_VERSION, Cell, ShardMetadata
from culturalign.reporting.html import shard_provenance

CELL = {"benchmark": "menavalues", "model": "tiny", "language": "native",
        "framing": "persona", "reasoning": "cot"}  # fmt: skip


def record(**changes) -> ShardMetadata:
    base = ShardMetadata(
        cell=Cell.from_mapping(CELL),
        model=ModelProvenance(
            key="tiny",
            path="/models/tiny",
            api_model=None,
            base_url=None,
            revision="abc123",
            dtype="float32",
            device="cpu",
            chat_template=None,
            chat_template_sha256="f00d",
        ),  # fmt: skip
        engine=EngineProvenance("vllm", "0.32.0", {"api_key": "sk-live-SECRET", "seed": 3}),
        benchmark=BenchmarkProvenance("menavalues", "menavalues", {"workbook": "0" * 64}),
        template_hash="t" * 64,
        git_commit="1234abcd",
        packages={"vllm": "0.32.0"},
        startup_seconds=12.5,
        usage={"input_tokens": 10, "output_tokens": 4, "requests_sent": 2},
        run={
            "sampling": {"temperature": 0.0, "max_tokens": 8},
            "n_prompts": 2,
            "continuation_token_count": {"number": 1},
            "generation_seconds": 1.25,
        },  # fmt: skip
    )
    return replace(base, **changes)


def write_shard(path, metadata: dict) -> None:
    table = pa.table({"question_id": ["q1", "q2"]})
    raw = {f"culturalign.{k}".encode(): json.dumps(v).encode() for k, v in metadata.items()}
    pq.write_table(table.replace_schema_metadata(raw), path)


def test_what_is_written_reads_back_as_the_same_record(tmp_path):
    path = tmp_path / "shard.parquet"
    written = record()
    write_table(pd.DataFrame({"question_id": ["q1"]}), path, metadata=written.to_metadata())
    read = ShardMetadata.read(path)
    assert read.version == SHARD_METADATA_VERSION == 1
    assert read.cell == Cell("menavalues", "tiny", "native", "persona", "cot")
    assert read.cell.label == "tiny/native/persona/cot"
    assert read.model == written.model
    assert read.run == written.run
    assert read.usage == written.usage
    # the provenance is stripped of secrets; the run's token counts are not secrets
    assert read.engine.options == {"api_key": "<redacted>", "seed": 3}
    assert read.run["continuation_token_count"] == {"number": 1}
    assert read.usage["input_tokens"] == 10
    assert "sk-live-SECRET" not in json.dumps(read.to_metadata())


def test_a_shard_written_before_the_version_field_reads_as_version_0(tmp_path):
    legacy = record().to_metadata()
    del legacy["version"]
    path = tmp_path / "legacy.parquet"
    write_shard(path, legacy)
    read = ShardMetadata.read(path)
    assert read.version == 0
    assert read.cell.model == "tiny"


def test_a_newer_version_and_a_shard_without_its_cell_are_errors_naming_the_file(tmp_path):
    newer = tmp_path / "newer.parquet"
    write_shard(newer, {**record().to_metadata(), "version": SHARD_METADATA_VERSION + 1})
    with pytest.raises(TableError, match=rf"{newer}: shard metadata version 2 is newer"):
        ShardMetadata.read(newer)
    cellless = tmp_path / "cellless.parquet"
    write_shard(cellless, {k: v for k, v in record().to_metadata().items() if k != "cell"})
    with pytest.raises(TableError, match=rf"{cellless}: metadata: the cell lacks benchmark"):
        ShardMetadata.read(cellless)
    unknown = tmp_path / "unknown.parquet"
    metadata = record().to_metadata()
    metadata["model"]["weights_colour"] = "blue"
    write_shard(unknown, metadata)
    with pytest.raises(TableError, match=r"metadata model: unknown key\(s\) weights_colour"):
        ShardMetadata.read(unknown)


def test_the_report_reads_the_cell_from_the_record_not_the_path(tmp_path):
    """A shard renamed or moved keeps its cell: the report's provenance row says what the
    record says."""
    odd = tmp_path / "renamed" / "anything.parquet"
    odd.parent.mkdir()
    write_shard(odd, record().to_metadata())
    table, full = shard_provenance([odd])
    row = table.iloc[0]
    assert (row["model"], row["language"], row["framing"], row["reasoning"]) == (
        "tiny",
        "native",
        "persona",
        "cot",
    )
    assert row["revision"] == "abc123"
    assert row["engine version"] == "0.32.0"
    assert row["generation s"] == 1.25
    assert row["input tokens"] == 10
    assert json.loads(full)["tiny/native/persona/cot"]["git_commit"] == "1234abcd"
