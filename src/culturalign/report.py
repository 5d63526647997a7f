"""The self-contained HTML report: figures inlined, headline sentences written from numbers."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jinja2

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
