"""``dse hardware`` and ``dse predict``: hardware specs and the per-operator cost model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from dse.commands import (MAX_PREDICT_BATCH, check_range, handle_errors, parse_int_list, print_json,
                          rich_console, rich_table)
from dse.commands.serve import LOCALITY_OPTION, check_locality
from dse.errors import DseError
from dse.paths import HWSPECS_DIR, STACKS_DIR, spec_files
from dse.settings import MAX_ENGINES

# The cost model, the graph and the specs load inside the commands that use them (start-up time).
if TYPE_CHECKING:
    from dse.cost import Prediction
    from dse.specs.hardware import Platform


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def platform_summary(p: Platform) -> dict[str, Any]:
    """The headline numbers of a platform (JSON-ready)."""
    llc = p.caches[-1] if p.caches else None
    return {
        "name": p.name,
        "kind": p.kind,
        "description": p.description,
        "cores": p.compute.cores * p.compute.sockets,
        "peak_gflops": p.compute.peak_flops / 1e9,
        "dram_gbs": p.dram.peak_bandwidth_gbs * p.compute.sockets,
        "llc_mib": llc.size_mib if llc else 0.0,
        "stack": p.software.stack if p.software else p.stack,
        "dispatch_us": p.dispatch.op_us if p.dispatch else None,
        "host_link_gbs": p.host_link.h2d_gbs if p.host_link else None,
        "tdp_w": p.tdp_w,
        "idle_w": p.idle_w,
    }


def _summaries(files: list[Path]) -> tuple[list[dict[str, Any]], bool]:
    """:func:`platform_summary` of every shipped platform, and whether the list may be cached:
    every stack file they bound is among ``files`` and was named so that it is found from any
    working directory (a hwspec may name a stack file elsewhere, or by a path relative to where
    the command runs: then the list is not cached)."""
    from dse.specs.hardware import list_platforms, load_platform
    from dse.specs.stack import stack_path

    platforms = [load_platform(n) for n in list_platforms()]
    stacks = {stack_path(p.stack, HWSPECS_DIR).resolve() for p in platforms}
    anywhere = all(_found_anywhere(str(p.stack)) for p in platforms)
    return [platform_summary(p) for p in platforms], anywhere and stacks <= {f.resolve() for f in files}


def _found_anywhere(stack: str) -> bool:
    """Whether a hwspec's ``stack:`` names its file independently of the working directory: a
    shipped name, an absolute path or a path beside the hwspecs."""
    path = Path(stack)
    return path.is_absolute() or (HWSPECS_DIR / path).is_file() or (len(path.parts) == 1 and path.suffix == "")


def _print_prediction_table(preds: list[Prediction], top: int) -> None:
    console = rich_console(120)
    first = preds[0]
    summary = rich_table(
        "batch", "latency ms", "ms/item", "items/s", "largest ops (share, bound)",
        title=f"{first.model} on {first.platform}, {first.engines} engine(s) running",
    )
    for pred in preds:
        ranked = sorted(pred.ops, key=lambda o: o.time_s, reverse=True)[:top]
        share = ", ".join(f"{o.name} {100 * o.time_s / pred.latency_s:.0f}% {o.bound}" for o in ranked if o.time_s > 0)
        summary.add_row(
            str(pred.batch),
            _ms(pred.latency_s),
            f"{pred.latency_s * 1e3 / pred.batch:.4f}",
            f"{pred.batch / pred.latency_s:,.0f}",
            share,
        )
    console.print(summary)
    kinds = sorted({k for p in preds for k in p.time_by_kind()})
    by_kind = rich_table("batch", *kinds, title="milliseconds by operator kind")
    for pred in preds:
        t = pred.time_by_kind()
        by_kind.add_row(str(pred.batch), *[_ms(t.get(k, 0.0)) for k in kinds])
    console.print(by_kind)


def _register_hardware(app: typer.Typer) -> None:
    @app.command("hardware")
    @handle_errors
    def hardware_cmd(
        name: Optional[str] = typer.Argument(None, help="Show one spec (shipped name or YAML path) in full."),
        overrides: Optional[list[str]] = typer.Option(None, "--set", help="Override a field: path.to.field=value (repeatable)."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """List the hardware specs in hwspecs/, or show one with the source of every number."""
        if name is None:
            if overrides:
                raise DseError("--set needs a hardware spec name")
            from dse.cache import cached  # hashlib and pickle: not for ``dse --help``

            # every hwspec and stack file: a platform's summary includes its stack's dispatch cost
            files = spec_files(HWSPECS_DIR) + spec_files(STACKS_DIR)
            summaries, _ = cached("hardware", files, lambda: _summaries(files), storable=lambda found: found[1])
            if as_json:
                print_json({"hardware": summaries})
                return
            table = rich_table("name", "kind", "cores/SMs", "peak GFLOP/s", "DRAM GB/s", "LLC MiB", "dispatch us", "TDP W", "description")
            for s in summaries:
                table.add_row(
                    s["name"], s["kind"], str(s["cores"]), f"{s['peak_gflops']:,.0f}", f"{s['dram_gbs']:,.0f}",
                    f"{s['llc_mib']:.1f}", f"{s['dispatch_us']:.1f}", f"{s['tdp_w']:.0f}", s["description"],
                )
            rich_console(160).print(table)
            return
        from dse.specs.fieldpath import is_number, leaves
        from dse.specs.hardware import load_platform

        p = load_platform(name, overrides)
        if as_json:
            print_json({"summary": platform_summary(p), "spec": p.model_dump(mode="json")})
            return
        table = rich_table("field", "value", "source", title=f"{p.name} ({p.kind}): {p.description}")
        for path, value in leaves(p.model_dump(mode="json", exclude={"sources"})):
            table.add_row(path, str(value), p.source_of(path) if is_number(value) else "")
        rich_console(160).print(table)


def _register_predict(app: typer.Typer) -> None:
    @app.command("predict")
    @handle_errors
    def predict_cmd(
        model: str = typer.Argument(..., help="Model name in modelspecs/ or a path to a YAML spec."),
        hw: str = typer.Argument(..., help="Hardware name in hwspecs/ or a path to a YAML spec."),
        batch: str = typer.Option("1,16,256,1024", "--batch", "-b", help="Comma-separated batch sizes (items)."),
        engines: int = typer.Option(1, "--engines", "-n", help="Engines running concurrently (they share memory bandwidth)."),
        overrides: Optional[list[str]] = typer.Option(None, "--set", help="Override a hardware field: path.to.field=value (repeatable)."),
        no_transfer: bool = typer.Option(False, "--no-transfer", help="Accelerators: inputs already on the device."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        top: int = typer.Option(3, "--top", help="Largest operators to list per batch in the table."),
        html: Optional[Path] = typer.Option(None, "--html", help="Also write a model report (roofline, breakdown, platforms) here."),
        compare: str = typer.Option(
            "skylake,broadwell,gtx1080ti,h200", "--compare",
            help="Platforms drawn beside HW in the --html report's latency chart (with HW's software stack).",
        ),
        stack: Optional[str] = typer.Option(None, "--stack", help="Software stack: name in hwspecs/stacks/ or a YAML path (default: HW's)."),
        locality: str = LOCALITY_OPTION,
    ) -> None:
        """Latency of one inference of MODEL on HW at each --batch, with the per-operator breakdown."""
        from dse.cost import predict_latency
        from dse.graph import load_graph
        from dse.specs.hardware import load_platform

        batches = parse_int_list(batch, "--batch", MAX_PREDICT_BATCH)
        check_range(engines, "--engines", 1, MAX_ENGINES, "the most engines a configuration may have")
        check_range(top, "--top", 0, 10_000)
        check_locality(locality)
        platform = load_platform(hw, overrides, stack=stack)
        graph = load_graph(model)
        preds = [predict_latency(graph, platform, b, engines=engines, transfer=not no_transfer, locality=locality)
                 for b in batches]
        if html is not None:
            from dse.report.html import write_report
            from dse.report.model import build_model_report

            # the same software on every platform: a hardware comparison holds the stack fixed
            others = [load_platform(name.strip(), stack=platform.stack) for name in compare.split(",") if name.strip()]
            written = write_report(build_model_report(graph, platform, batches, engines, others, locality), html)
            typer.echo(f"report: {written}", err=as_json)
        if as_json:
            print_json(
                {
                    "model": graph.graph["model"],
                    "hardware": platform.name,
                    "stack": platform.software.stack if platform.software else None,
                    "engines": engines,
                    "locality": locality,
                    "points": [p.as_dict() for p in preds],
                }
            )
            return
        _print_prediction_table(preds, max(1, top))


def register(app: typer.Typer) -> None:
    _register_hardware(app)
    _register_predict(app)
