"""``dse report``: the HTML report of a sweep directory."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dse.commands import handle_errors


def register(app: typer.Typer) -> None:
    @app.command("report")
    @handle_errors
    def report_cmd(
        results: Path = typer.Argument(..., help="A sweep output directory (holding results.parquet)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file to write (default RESULTS/report.html)."),
        x: Optional[str] = typer.Option(None, "--x", help="Axis for the heatmap's x (default: the first varied axis)."),
        y: Optional[str] = typer.Option(None, "--y", help="Axis for the heatmap's y (default: the second varied axis)."),
        top: int = typer.Option(20, "--top", help="Rows in the table of top configurations."),
    ) -> None:
        """Write a self-contained interactive HTML report of a sweep's results."""
        from dse.report.sweep import write_sweep_report

        typer.echo(str(write_sweep_report(results, out, x=x, y=y, top=top)))
