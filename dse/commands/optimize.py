"""``dse optimize``: DeepRecSched's batch size and offload threshold under a p95 SLA."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from dse.commands import build_settings, handle_errors, option_default, option_help, parse_int_list, print_json
from dse.commands.serve import (
    check_workers,
    ACCEL_OPTION,
    COLOCATION_OPTION,
    COSTS_OPTION,
    IDEAL_OPTION,
    STACK_OPTION,
    JITTER_OPTION,
    QUERY_OVERHEAD_OPTION,
    SUBBATCH_OVERHEAD_OPTION,
    HW_ARGUMENT,
    LOCALITY_OPTION,
    MODEL_ARGUMENT,
    SIZES_OPTION,
    SEED_OPTION,
    SLA_MS_OPTION,
    WORKERS_OPTION,
    WORKLOAD_OPTIONS,
    _costs,
    check_locality,
    check_sla_ms,
)
from dse.errors import DseError
from dse.settings import OPTIMIZER

if TYPE_CHECKING:  # the pydantic models load when the command runs (start-up time)
    from dse.settings import WorkloadSettings

#: CLI option of each optimiser setting (for error messages).
SEARCH_OPTIONS = {"batches": "--batches", "thresholds": "--thresholds", "baseline_batch": "--baseline-batch",
                  "method": "--method", "queries": "--queries", "stop_tol": "--stop-tol"}
O = OPTIMIZER


def _ms(x: float | None) -> str:
    return f"{x * 1e3:.2f} ms" if x is not None and math.isfinite(x) else "n/a"


def _q(q: int | None) -> str:
    return "off" if q is None else str(q)


def register(app: typer.Typer) -> None:
    @app.command("optimize")
    @handle_errors
    def optimize_cmd(
        model: str = MODEL_ARGUMENT,
        hw: str = HW_ARGUMENT,
        sla_ms: float = SLA_MS_OPTION,
        accel: Optional[str] = ACCEL_OPTION,
        workers: Optional[int] = WORKERS_OPTION,
        sizes: str = SIZES_OPTION,
        batches: str = typer.Option(option_default(O, "batches"), "--batches", help=option_help(O, "batches")),
        thresholds: str = typer.Option(option_default(O, "thresholds"), "--thresholds", help=option_help(O, "thresholds")),
        method: str = typer.Option(option_default(O, "method"), "--method", help=option_help(O, "method")),
        baseline_batch: int = typer.Option(option_default(O, "baseline_batch"), "--baseline-batch",
                                           help=option_help(O, "baseline_batch")),
        no_grid: bool = typer.Option(False, "--no-grid", help="Skip the exhaustive (b, Q) grid reference."),
        stop_tol: float = typer.Option(option_default(O, "stop_tol"), "--stop-tol", help=option_help(O, "stop_tol")),
        queries: int = typer.Option(option_default(O, "queries"), "--queries", help=option_help(O, "queries")),
        seed: int = SEED_OPTION,
        locality: str = LOCALITY_OPTION,
        costs: Optional[Path] = COSTS_OPTION,
        jitter: Optional[float] = JITTER_OPTION,
        query_overhead_ms: Optional[float] = QUERY_OVERHEAD_OPTION,
        subbatch_overhead_ms: Optional[float] = SUBBATCH_OVERHEAD_OPTION,
        colocation: Optional[float] = COLOCATION_OPTION,
        stack: Optional[str] = STACK_OPTION,
        ideal: bool = IDEAL_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        html: Optional[Path] = typer.Option(None, "--html", help="Also write a serving report: latency against load, (b, Q) heatmap."),
    ) -> None:
        """DeepRecSched: the per-core batch size b and offload threshold Q that maximise the
        throughput whose p95 latency meets --sla-ms (hill climbing, grid reference, static baseline,
        QPS per watt). An unreachable SLA is reported (exit status 0) with the best p95 achievable."""
        from dse.sched.deeprecsched import optimize
        from dse.serve.policy import ServerCosts
        from dse.settings import OptimizerSettings, WorkloadSettings
        from dse.specs.hardware import load_platform

        check_sla_ms(sla_ms)
        check_workers(workers)
        search = build_settings(
            OptimizerSettings, SEARCH_OPTIONS, batches=parse_int_list(batches, "--batches"),
            thresholds=parse_int_list(thresholds, "--thresholds"), baseline_batch=baseline_batch, method=method,
            queries=queries, stop_tol=stop_tol,
        )
        workload = build_settings(WorkloadSettings, WORKLOAD_OPTIONS, sizes=sizes, seed=seed, locality=locality)
        check_locality(locality)
        platform = load_platform(hw, stack=stack)
        accel_platform = load_platform(accel, stack=platform.stack) if accel else None
        base = ServerCosts() if ideal else ServerCosts.of_platform(platform)
        server_costs = _costs(costs, jitter, query_overhead_ms, subbatch_overhead_ms, colocation, base)
        res = optimize(model, platform, accel_platform, sla_s=sla_ms / 1e3, workload=workload, search=search, workers=workers,
                       costs=server_costs, grid=not no_grid)
        if not res.feasible:
            typer.echo(
                f"warning: infeasible: no (b, Q) meets p95 <= {sla_ms:g} ms at any load; the best p95 is "
                f"{_ms(res.p95_s)} (b={res.batch}, Q={_q(res.threshold)}, at vanishing load)",
                err=True,
            )
        if html is not None:
            typer.echo(f"report: {_write_report(res, model, platform, accel_platform, workload, server_costs, queries, html)}", err=True)
        if as_json:
            print_json(res.as_json())
            return
        typer.echo(_text(res, model, hw, accel, sla_ms))


def _write_report(res, model: str, platform, accel_platform, workload: WorkloadSettings, costs, queries: int,  # noqa: ANN001
                  path: Path) -> Path:
    """The serving report of the chosen policy, with the (b, Q) grid the optimiser evaluated."""
    import pandas as pd

    from dse.cost import service_curve
    from dse.graph import load_graph
    from dse.report.html import write_report
    from dse.report.serving import build_capacity_report, load_curve
    from dse.serve.api import PointEvaluator
    from dse.serve.policy import Policy
    graph = load_graph(model)
    hw, accel = platform.name, (accel_platform.name if accel_platform is not None else None)
    cpu_curve = service_curve(graph, platform, engines=res.workers, locality=workload.locality)
    accel_curve = service_curve(graph, accel_platform, engines=1, locality=workload.locality) if accel_platform else None
    policy = Policy(res.batch, res.threshold, res.workers, 1 if accel else 0, costs)
    evaluator = PointEvaluator(policy, cpu_curve, accel_curve, workload.sizes, res.method, queries, workload.seed)
    grid = pd.DataFrame([{"batch": b, "threshold": q, "max_qps": v} for (b, q), v in res.table.items()])
    extra = [f"DeepRecSched chose b={res.batch}, Q={_q(res.threshold)}; static baseline (b={res.baseline_batch}) "
             f"{res.baseline_qps:.4g} queries/s" + (f", gain {res.gain:.2f}×." if res.gain is not None else ".")]
    report = build_capacity_report(
        f"dse optimize report: {model} on {hw}" + (f" + {accel}" if accel else ""),
        f"p95 SLA {res.sla_s * 1e3:g} ms, {res.workers} CPU engines, sizes {res.sizes}, {res.method}",
        load_curve(evaluator, evaluator.saturation_qps()), res.sla_s, res.max_qps if res.feasible else 0.0, res.p95_s,
        grid=grid, chosen=(res.batch, res.threshold), summary_extra=extra,
    )
    return write_report(report, path)


def _text(res, model: str, hw: str, accel: str | None, sla_ms: float) -> str:  # noqa: ANN001
    lines = [
        f"{model} on {hw}" + (f" + {accel}" if accel else "")
        + f": p95 SLA {sla_ms:g} ms, {res.workers} CPU engines" + (", 1 accelerator" if accel else "")
        + f", sizes {res.sizes}, method {res.method}"
    ]
    if not res.feasible:
        lines.append(
            f"INFEASIBLE: no (b, Q) of the lists meets p95 <= {sla_ms:g} ms at any load.\n"
            f"best achievable p95: {_ms(res.p95_s)} with b={res.batch}, Q={_q(res.threshold)} (as the load goes to 0)"
        )
        if res.grid_max_qps:
            lines.append(
                f"(the hill climber found no policy that meets it; the grid did: b={res.grid_batch}, "
                f"Q={_q(res.grid_threshold)} at {res.grid_max_qps:.1f} queries/s)"
            )
        elif res.baseline_qps > 0:
            lines.append(f"(the static baseline b={res.baseline_batch} meets it: {res.baseline_qps:.1f} queries/s)")
        return "\n".join(lines)
    lines.append(
        f"DeepRecSched (hill climbing): b={res.batch}, Q={_q(res.threshold)} -> {res.max_qps:.1f} queries/s "
        f"latency-bounded, p95 {_ms(res.p95_s)} at that load"
    )
    walk_b = [(b, v) for b, q, v in res.climb if q is None]
    walk_q = [(q, v) for b, q, v in res.climb if q is not None]
    lines.append("  batch walk (Q off): " + "  ".join(f"b={b}:{v:.0f}" for b, v in walk_b))
    if walk_q:
        lines.append(f"  threshold walk (b={res.batch}): "
                     + "  ".join(f"Q={q}:{v:.0f}" for q, v in walk_q))
    gain = f"gain {res.gain:.2f}x" if res.gain is not None else "gain n/a (the baseline cannot meet the SLA)"
    lines.append(f"static baseline (b={res.baseline_batch}, Q off): {res.baseline_qps:.1f} queries/s -> {gain}")
    if res.grid_max_qps is not None:
        lines.append(
            f"grid optimum ({len(res.table)} points): b={res.grid_batch}, Q={_q(res.grid_threshold)} "
            f"{res.grid_max_qps:.1f} queries/s; hill climber {100 * (res.gap or 0.0):.1f}% below it"
        )
    lines.append(
        f"power {res.power_w:.1f} W (CPU {res.cpu_power_w:.1f} W at {100 * res.cpu_utilization:.0f}% engine utilisation"
        + (f", accelerator {res.accel_power_w:.1f} W at {100 * res.accel_utilization:.0f}%" if accel else "")
        + (f", DRAM standby {res.memory_power_w:.1f} W" if res.memory_power_w else "")
        + f") -> {res.qps_per_watt:.2f} queries/s/W, {1e3 * (res.energy_per_query_j or math.nan):.2f} mJ/query"
    )
    return "\n".join(lines)
