"""One self-contained HTML file from plotly figures, a text summary and tables.

plotly.js is embedded once (no network needed to open the file); each figure is a ``<div>`` with
its own JSON. Tables are plain HTML so they read without JavaScript.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from dse.errors import DseError

_STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.meta { color: #666; font-size: 0.9rem; }
.summary { background: #f5f7fa; border-left: 4px solid #3b6fb6; padding: 0.8rem 1.2rem; }
.summary li { margin: 0.2rem 0; }
table.data { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0; }
table.data th, table.data td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
table.data th { background: #eef2f7; }
.figure { margin: 1rem 0; }
.note { color: #555; font-size: 0.85rem; }
"""


@dataclass
class Section:
    """A titled part of a report: optional prose, figures and tables, in that order."""

    title: str
    text: str = ""
    figures: list[go.Figure] = field(default_factory=list)
    tables: list[pd.DataFrame] = field(default_factory=list)


@dataclass
class Report:
    """A whole report: title, one-line subtitle (what was run), summary bullets, sections."""

    title: str
    subtitle: str = ""
    summary: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


def _table_html(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, classes="data", border=0, float_format=lambda v: f"{v:.4g}", escape=True)


def render(report: Report) -> str:
    """The report as one HTML string with plotly.js inlined."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title>",
        f"<style>{_STYLE}</style>",
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
    ]
    if report.subtitle:
        parts.append(f'<p class="meta">{html.escape(report.subtitle)}</p>')
    if report.summary:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in report.summary)
        parts.append(f'<div class="summary"><ul>{items}</ul></div>')
    n_figure = 0
    for section in report.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(f'<p class="note">{html.escape(section.text)}</p>')
        for figure in section.figures:
            n_figure += 1
            div = figure.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"figure-{n_figure}",
                config={"displaylogo": False, "responsive": True},
            )
            parts.append(f'<div class="figure">{div}</div>')
        for frame in section.tables:
            parts.append(_table_html(frame))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: Report, path: Path | str) -> Path:
    """Write ``report`` to ``path`` (parent folders created); returns the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(report), encoding="utf-8")
    except OSError as exc:
        raise DseError(f"{path}: cannot write report ({exc.strerror})") from None
    return path


def figure_count(report: Report) -> int:
    """Number of plotly figures the report holds (what a browser test expects to see rendered)."""
    return sum(len(s.figures) for s in report.sections)
