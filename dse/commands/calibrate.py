"""``dse calibrate``, ``dse validate`` and ``dse measure``: fitting specs to measured runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from dse.commands import handle_errors, parse_int_list, print_json, rich_console, rich_table
from dse.errors import DseError


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-2:
        return f"{value:.4g}"
    return f"{value:,.4g}"


def _print_calibration(d: dict[str, Any], out: Path | None) -> None:
    console = rich_console(140)
    console.print(f"[bold]{d['hardware']}[/bold] (base {d['base']}), data: {', '.join(d['data'])}; {'; '.join(d['frameworks'])}")
    params = rich_table("parameter", "class", "before", "after", title="fitted parameters")
    for p in d["parameter_details"]:
        params.add_row(p["path"], p["class"], _num(p["before"]), _num(p["after"]) + (" (at bound)" if p["at_bound"] else ""))
    console.print(params)
    models = rich_table("model", "role", "runs", "rows", "MAPE before", "MAPE after", "warm rows besides", title="per model")
    for m in d["per_model"]:
        besides = f"{m['warm_rows']}: {_pct(m['warm_after_mape'])}" if m["warm_rows"] else "-"
        models.add_row(m["model"], m["role"], m["runs"], str(m["rows"]), _pct(m["before_mape"]), _pct(m["after_mape"]), besides)
    console.print(models)
    classes = rich_table("operator class", "rows", "MAPE before", "MAPE after", title="per operator class (microbenchmarks)")
    for c in d["per_class"]:
        classes.add_row(c["class"], str(c["rows"]), _pct(c["before_mape"]), _pct(c["after_mape"]))
    console.print(classes)
    b, a, h = d["before"], d["after"], d["holdout"]
    console.print(
        f"fitted rows: MAPE {_pct(b['mape'])} -> {_pct(a['mape'])} "
        f"(models {_pct(b['models_mape'])} -> {_pct(a['models_mape'])}, microbenchmarks {_pct(b['micro_mape'])} -> {_pct(a['micro_mape'])})"
    )
    if h["models"]:
        warm = f"; their warm rows {_pct(h['warm_mape'])}" if h.get("warm_mape") is not None else ""
        console.print(f"held out ({', '.join(h['models'])}, {h['rows']} rows): MAPE {_pct(h['before_mape'])} -> {_pct(h['mape'])}{warm}")
    for note in d["notes"]:
        console.print(f"note: {note}")
    if d["skipped_models"]:
        console.print(f"skipped (no model spec): {', '.join(d['skipped_models'])}")
    if out is not None:
        console.print(f"calibrated spec: {out}")


def register(app: typer.Typer) -> None:
    _register_calibrate(app)
    _register_validate(app)
    _register_measure(app)


def _register_calibrate(app: typer.Typer) -> None:
    @app.command("calibrate")
    @handle_errors
    def calibrate_cmd(
        files: list[Path] = typer.Argument(..., help="Measured CSVs: microbenchmarks and/or model latencies (FACTS.md section 5, or dse measure output)."),
        hw: str = typer.Option(..., "--hw", help="Hardware spec to start from (shipped name or YAML path)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write the calibrated spec here (e.g. hwspecs/NAME.yaml)."),
        holdout: str = typer.Option("", "--holdout", help="Comma-separated models kept out of the fit and reported apart."),
        rows: str = typer.Option("auto", "--rows", help="Model rows to fit: auto (cold=1 and cold=0 rows, unless most runs measured both ways are faster cold: other conditions), cold, warm or both; warm rows are costed as one repeated batch."),
        warm: bool = typer.Option(False, "--warm", help="Fit the cold=0 model rows only (the same as --rows warm)."),
        model_weight: float = typer.Option(0.5, "--model-weight", help="Share of the fit's weight on model rows (0..1)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Fit HW's efficiency parameters to measured runs; report the error before and after."""
        from dse.calibrate.data import load_measurements
        from dse.calibrate.fit import calibrate, check_rows
        from dse.calibrate.spec import write_calibrated_spec
        from dse.specs.hardware import load_platform

        if not 0.0 <= model_weight <= 1.0:
            raise DseError(f"--model-weight: {model_weight} must lie in [0, 1]")
        check_rows(rows)
        if warm and rows not in ("auto", "warm"):
            raise DseError(f"--warm: fits the warm rows only, but --rows says '{rows}'")
        meas = load_measurements(list(files))
        platform = load_platform(hw)
        held = [h.strip() for h in holdout.split(",") if h.strip()]
        result = calibrate(meas, platform, holdout=held, rows="warm" if warm else rows, model_weight=model_weight)
        written = write_calibrated_spec(result, hw, out) if out is not None else None
        d = result.as_dict()
        if written is not None:
            d["hardware"] = written.stem
            d["out"] = str(written)
        if as_json:
            print_json(d)
            return
        _print_calibration(d, written)


def _register_validate(app: typer.Typer) -> None:
    @app.command("validate")
    @handle_errors
    def validate_cmd(
        only: str = typer.Option("", "--only", help="Comma-separated groups: measured, published, nmp, deeprecsys, launches (default: all but launches, which needs torch)."),
        lomo: bool = typer.Option(False, "--lomo", help="Leave-one-model-out cross-validation instead: refit each platform without each model and predict it."),
        platforms: str = typer.Option("", "--platforms", help="--lomo: comma-separated platforms (default: ci_cpu, h200_host, h200)."),
        workers: int = typer.Option(2, "--workers", help="--lomo: processes running the refits."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Run every validation (measured runs, published figures, NMP trends, the DeepRecSys characterization): case, reference, prediction, error."""
        from dse.calibrate.validate import run_validations

        if lomo:
            _print_lomo([p.strip() for p in platforms.split(",") if p.strip()], workers, as_json)
            return

        groups = [g.strip() for g in only.split(",") if g.strip()] or None
        rows = run_validations(groups)
        if as_json:
            print_json({"cases": rows})
            return
        table = rich_table("group", "case", "reference", "prediction", "unit", "error", "source")
        for r in rows:
            ref = "-" if r["reference"] is None else _num(r["reference"])
            table.add_row(r["group"], r["case"], ref, _num(r["prediction"]), r["unit"], _pct(r["error"]), r["source"])
        rich_console(200).print(table)


def _print_lomo(platforms: list[str], workers: int, as_json: bool) -> None:
    """``dse validate --lomo``: MAPE per platform and per held-out model (fractions in JSON)."""
    from dse.calibrate.crossval import leave_one_model_out

    if workers < 1:
        raise DseError(f"--workers: {workers} must be at least 1")
    result = leave_one_model_out(platforms or None, workers=workers)
    if as_json:
        print_json({"platforms": {p: {"mape": r["mape"], "models": r["models"]} for p, r in result.items()}})
        return
    table = rich_table("platform", "held-out model", "rows", "MAPE", title="leave-one-model-out (cold=1 runs)")
    for p, r in result.items():
        for m, mape in r["models"].items():
            table.add_row(p, m, "", _pct(mape))
        table.add_row(f"[bold]{p}[/bold]", "all", str(r["rows"]), f"[bold]{_pct(r['mape'])}[/bold]")
    rich_console(120).print(table)


def _register_measure(app: typer.Typer) -> None:
    @app.command("measure")
    @handle_errors
    def measure_cmd(
        model: Optional[str] = typer.Argument(None, help="Model name in modelspecs/ or a YAML path (omit with --micro)."),
        micro: bool = typer.Option(False, "--micro", help="Run the microbenchmarks instead of a model."),
        device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
        batch: str = typer.Option("1,4,16,64,256,1024", "--batch", "-b", help="Comma-separated batch sizes."),
        threads: int = typer.Option(1, "--threads", help="CPU threads (torch.set_num_threads)."),
        cold: bool = typer.Option(True, "--cold/--warm", help="Fresh random indices every repetition (cold) or the same inputs (warm)."),
        transfer: bool = typer.Option(False, "--transfer", help="cuda: time the input and output copies too."),
        reps: int = typer.Option(20, "--reps", help="Timed repetitions per batch (micro: at least this many)."),
        size: str = typer.Option("full", "--size", help="Microbenchmark set: full, quick, or ramp (dense gather sizes only, with --kinds gather)."),
        kinds: str = typer.Option("", "--kinds", help="--micro: comma-separated groups to run (gemm, copy, gather, tiny_op, alloc, link; default all; stack: the software-stack costs, see docs/stacks.md)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Write the CSV here (default: stdout)."),
        append: bool = typer.Option(False, "--append", help="Append to --out instead of replacing it."),
    ) -> None:
        """Time MODEL (built from its spec) or the microbenchmarks with PyTorch; writes FACTS.md section 5 CSV."""
        from dse.calibrate import harness

        harness.require_torch()
        progress = (lambda msg: typer.echo(msg, err=True)) if out is not None else None
        if micro:
            if model is not None:
                raise DseError("--micro takes no MODEL")
            groups = [g.strip() for g in kinds.split(",") if g.strip()] or None
            df = harness.measure_micro(
                device=device, threads=threads, size=size, reps=max(1, min(reps, 20)), progress=progress, kinds=groups
            )
        else:
            if model is None:
                raise DseError("give a MODEL to measure, or --micro")
            df = harness.measure_model(
                model, parse_int_list(batch, "--batch"), device=device, threads=threads, cold=cold,
                transfer=transfer, reps=reps, progress=progress,
            )
        if out is None:
            typer.echo(df.to_csv(index=False), nl=False)
            return
        written = harness.write_csv(df, out, append=append)
        typer.echo(f"wrote {len(df)} rows to {written}", err=True)
