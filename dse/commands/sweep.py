"""``dse sweep``: evaluate every configuration of a study file, resumably, in parallel."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dse.commands import handle_errors
from dse.errors import DseError
from dse.paths import STUDIES_DIR, resolve_spec


def register(app: typer.Typer) -> None:
    @app.command("sweep")
    @handle_errors
    def sweep_cmd(
        study: str = typer.Argument(..., help="Study name in studies/ or a path to a study YAML file."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output directory (default: results/<study name>/)."),
        workers: Optional[int] = typer.Option(None, "--workers", "-w", help="Worker processes (default: the usable cores)."),
        dask: Optional[str] = typer.Option(
            None, "--dask", help="Run on Dask: 'local' starts a LocalCluster; tcp://HOST:PORT uses a running scheduler."
        ),
        limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate only the first N points (a quick try)."),
        report: bool = typer.Option(True, "--report/--no-report", help="Write report.html beside the results."),
        evaluator: Optional[str] = typer.Option(
            None, "--evaluator", hidden=True, help="module:function to evaluate a configuration (default: the optimiser)."
        ),
    ) -> None:
        """Run (or resume) the sweep of STUDY; results.parquet, results.csv and study.yaml go to --out.

        Finished configurations are saved as they complete: an interrupted sweep (Ctrl-C, kill, crash)
        resumes where it stopped when run again with the same --out.
        """
        from dse.sweep.run import SweepInterrupted, run_sweep

        path = resolve_spec(study, STUDIES_DIR, "study")
        try:
            summary = run_sweep(path, out=out, workers=workers, dask=dask, limit=limit, evaluator=evaluator)
        except SweepInterrupted as exc:
            s = exc.summary
            typer.echo(
                f"interrupted: {s.computed + s.reused} of {s.tasks} configurations are saved in {s.out_dir / 'rows.jsonl'} "
                f"(partial table in {s.csv}); run the same command again to resume",
                err=True,
            )
            raise typer.Exit(130) from None
        typer.echo(summary.line())
        if summary.failed:
            typer.echo(f"warning: {summary.failed} rows failed (see the error column); first: {summary.first_error}", err=True)
        if report:
            from dse.report.sweep import write_sweep_report

            try:
                typer.echo(f"report: {write_sweep_report(summary.out_dir)}")
            except DseError as exc:  # the results are saved; only the report is missing
                typer.echo(f"warning: no report written: {exc}", err=True)


__all__ = ["register"]
