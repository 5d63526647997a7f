"""What every report shares: self-contained HTML (figures inlined) from the package's Jinja2
templates, the shards' provenance table, software versions and the index page. Each kind
writes its own report with these (``culturalign.analysis.<kind>.report``)."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
import yaml

from culturalign.io.files import write_text_atomic
from culturalign.records.provenance import package_versions
from culturalign.records.shard import ShardMetadata

TEMPLATE_DIR = Path(__file__).parent / "templates"


def image_data_uri(path: str | Path) -> str:
    """A PNG (or SVG) file as a ``data:`` URI, so the HTML needs no side files."""
    path = Path(path)
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def render_template(name: str, **context: Any) -> str:
    """Render one of the package's Jinja2 templates (autoescaped)."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(name).render(**context)


# Report column -> where the shard's metadata record holds it (dotted, as flattened).
PROVENANCE_COLUMNS: dict[str, str] = {
    "model path": "model.path",
    "revision": "model.revision",
    "dtype": "model.dtype",
    "engine": "engine.name",
    "engine version": "engine.version",
    "template hash": "template_hash",
    "git commit": "git_commit",
    "temperature": "sampling.temperature",
    "max tokens": "sampling.max_tokens",
    "seed": "sampling.seed",
    "prompts": "n_prompts",
    "startup s": "startup_seconds",
    "generation s": "generation_seconds",
    "scoring s": "scoring_seconds",
    "API model": "model.api_model",
    "requests sent": "usage.requests_sent",
    "cache hits": "usage.cache_hits",
    "input tokens": "usage.input_tokens",
    "output tokens": "usage.output_tokens",
    "cost": "usage.cost",
}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def shard_provenance(shards: Sequence[str | Path]) -> tuple[pd.DataFrame, str]:
    """Every shard's metadata record (:class:`ShardMetadata`): a table of the main facts
    (model path and revision, engine and version, template hash, commit, sampling, timings;
    one row per shard, its cell read from the record) and the complete metadata as JSON."""
    rows, full = [], {}
    for path in shards:
        record = ShardMetadata.read(path)
        cell = record.cell
        metadata = record.to_metadata()
        full[cell.label] = metadata
        flat = _flatten({k: v for k, v in metadata.items() if k not in ("cell", "version")})
        row: dict[str, Any] = {
            "model": cell.model,
            "language": cell.language,
            "framing": cell.framing,
            "reasoning": cell.reasoning,
        }
        for column, key in PROVENANCE_COLUMNS.items():
            value = flat.get(key)
            if column == "template hash" and isinstance(value, str) and len(value) > 16:
                value = value[:16] + "…"
            elif isinstance(value, str) and len(value) > 48:
                value = value[:47] + "…"  # complete in the JSON below the table
            row[column] = value if not isinstance(value, list | dict) else json.dumps(value)
        rows.append(row)
    return pd.DataFrame(rows), json.dumps(full, indent=1, default=str, ensure_ascii=False)


def software_versions() -> dict[str, str]:
    """Versions of the analysis side's libraries (no engine is imported)."""
    return package_versions(
        ("culturalign", "snakemake", "pandas", "numpy", "scikit-learn", "statsmodels",
         "matplotlib", "scipy", "pyarrow", "jinja2")
    )  # fmt: skip


def html_table(frame: pd.DataFrame, digits: int = 2, max_rows: int | None = None) -> str:
    """A DataFrame as an HTML table with rounded floats (the first ``max_rows`` rows)."""
    if frame is None or frame.empty:
        return '<p class="note">(no rows)</p>'
    shown = frame.head(max_rows) if max_rows else frame
    return shown.to_html(
        index=False,
        classes="data",
        border=0,
        na_rep="",
        float_format=lambda v: f"{v:.{digits}f}",
        escape=True,
    )


def build_index(
    benchmarks: Mapping[str, str],
    lines: Mapping[str, Mapping[str, str]],
    out_path: str | Path,
    commit: str,
) -> Path:
    """results/index.html: a link to every benchmark's report (``benchmarks``: key ->
    description) and one line per model (``lines``: key -> model -> sentence, as the
    benchmark's analysis kind writes it)."""
    out_path = Path(out_path)
    entries = []
    for key, description in benchmarks.items():
        models = [{"model": model, "text": text} for model, text in lines.get(key, {}).items()]
        entries.append({"key": key, "description": description, "href": f"{key}/report.html",
                        "lines": models})  # fmt: skip
    html = render_template(
        "index.html.j2",
        built=built_at(),
        commit=commit,
        benchmarks=entries,
    )
    return write_text_atomic(html, out_path)


def data_notes_context(notes: pd.DataFrame | None) -> dict[str, Any]:
    """The report's "data as read" part from ``benchmark/data_notes.parquet``: per action and
    rule the rows and their ids, and every note with its place."""
    if notes is None or notes.empty:
        return {"data_rows": 0, "data_summary": "", "data_table": ""}
    summary = (
        notes.assign(item=notes["item"].fillna("–"))
        .groupby(["action", "rule"], sort=True)["item"]
        .agg(rows="size", ids=lambda ids: ", ".join(ids.head(30)) + (" …" if len(ids) > 30 else ""))
        .reset_index()
    )
    return {
        "data_rows": len(notes),
        "data_summary": html_table(summary),
        "data_table": html_table(notes, max_rows=1000),
    }


def built_at() -> str:
    """When a report was built (UTC, to the minute)."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def build_tables_report(
    *,
    kind: str,
    headlines: Sequence[str],
    sections: Sequence[tuple[str, str, pd.DataFrame]],
    models: Sequence[str],
    figures: Mapping[str, str | Path],
    provenance: pd.DataFrame,
    provenance_json: str,
    config: Mapping[str, Any],
    commit: str,
    out_path: str | Path,
    benchmark: str,
    description: str,
    cells: Sequence[Mapping[str, str]],
    method_note: str = "",
    data_notes: pd.DataFrame | None = None,
) -> Path:
    """results/{benchmark}/report.html of a kind whose report is headlines, figures and
    tables (``sections``: title, file name, table), in the shared look; ``method_note``
    (the kind's) says how its numbers are made."""
    framings = sorted({c["framing"] for c in cells})
    languages = sorted({c["language"] for c in cells})
    html = render_template(
        "benchmark_report.html.j2",
        title=f"culturalign report: {benchmark}",
        benchmark=benchmark,
        description=description,
        kind=kind,
        built=built_at(),
        commit=commit,
        models=list(models),
        headlines=list(headlines),
        method_note=method_note,
        cells_note=(
            f"Cells: languages {', '.join(languages)}; framings {', '.join(framings)}"
            + (
                "; framings do not apply to this benchmark (it is asked without a persona)"
                if framings == ["neutral"]
                else ""
            )
            + "."
        ),  # fmt: skip
        figures={name: image_data_uri(path) for name, path in figures.items()},
        sections=[
            {"title": t, "file": f, "table": html_table(frame, 3, max_rows=200)}
            for t, f, frame in sections
        ],  # fmt: skip
        shard_table=html_table(
            provenance.dropna(axis=1, how="all") if len(provenance) else provenance
        ),
        software=software_versions(),
        config_yaml=yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True),
        provenance_json=provenance_json,
        **data_notes_context(data_notes),
    )
    return write_text_atomic(html, out_path)
