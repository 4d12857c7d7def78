"""``dse serve`` and ``dse capacity``: tail latency at a load, latency-bounded throughput."""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Optional

import typer

from dse.commands import build_settings, check_range, handle_errors, option_default, option_help, print_json, read_json
from dse.errors import DseError
from dse.settings import MAX_ENGINES, MAX_QUERY_SIZE, SIMULATION, WORKLOAD

#: CLI option of each workload and simulation setting (for error messages).
WORKLOAD_OPTIONS = {"sizes": "--sizes", "seed": "--seed", "locality": "--locality"}
SIMULATION_OPTIONS = {"method": "--method", "queries": "--queries", "warmup": "--warmup"}
W, S = WORKLOAD, SIMULATION

MODEL_ARGUMENT = typer.Argument(..., help="Model name in modelspecs/ or a path to a YAML spec.")
HW_ARGUMENT = typer.Argument(..., help="Platform of the CPU engines: name in hwspecs/ or a YAML path.")

# Options shared by serve, capacity and optimize (one definition, one help text).
ACCEL_OPTION = typer.Option(None, "--accel", help="Accelerator platform (one engine) for queries with n >= Q.")
WORKERS_OPTION = typer.Option(None, "--workers", "-N", help="CPU engines (default: the platform's cores).")
COSTS_OPTION = typer.Option(None, "--costs", help="JSON of real-server costs (see docs/serving.md); replaces the stack's.")
STACK_OPTION = typer.Option(None, "--stack", help="Software stack (hwspecs/stacks/ name or YAML path) of HW and --accel; default: HW's.")
IDEAL_OPTION = typer.Option(False, "--ideal", help="An ideal server: leave out the stack's serving costs (query dispatch, jitter, ...).")
JITTER_OPTION = typer.Option(None, "--jitter", help="Service-time coefficient of variation.")
QUERY_OVERHEAD_OPTION = typer.Option(None, "--query-overhead-ms", help="Dispatch delay per query.")
SUBBATCH_OVERHEAD_OPTION = typer.Option(None, "--subbatch-overhead-ms", help="Engine time per sub-batch.")
COLOCATION_OPTION = typer.Option(None, "--colocation", help="Co-location slowdown at full load (kappa).")
SIZES_OPTION = typer.Option(option_default(W, "sizes"), "--sizes", help=option_help(W, "sizes"))
SEED_OPTION = typer.Option(option_default(W, "seed"), "--seed", help=option_help(W, "seed"))
QUERIES_OPTION = typer.Option(option_default(S, "queries"), "--queries", help=option_help(S, "queries"))
METHOD_OPTION = typer.Option(option_default(S, "method"), "--method", help=option_help(S, "method"))
LOCALITY_OPTION = typer.Option(option_default(W, "locality"), "--locality", help=option_help(W, "locality"))
SLA_MS_OPTION = typer.Option(..., "--sla-ms", help="p95 latency target, ms.")


def check_sla_ms(sla_ms: float) -> None:
    """Fail before any work on a latency target that no system can meet (capacity, optimize)."""
    if not (sla_ms > 0 and math.isfinite(sla_ms)):
        raise DseError(f"--sla-ms: {sla_ms} must be a positive number")


class _Setup:
    """Everything the two commands share, built from their options."""

    def __init__(
        self, model: str, hw: str, accel: Optional[str], batch: int, threshold: Optional[int], workers: Optional[int],
        sizes: str, queries: int, method: str, seed: int, costs_file: Optional[Path], jitter: Optional[float],
        query_overhead_ms: Optional[float], subbatch_overhead_ms: Optional[float], colocation: Optional[float],
        locality: str, stack: Optional[str] = None, ideal: bool = False,
    ) -> None:
        from dse.cost import service_curve
        from dse.graph import load_graph
        from dse.serve.load import LoadedCurve
        from dse.serve.policy import Policy, ServerCosts
        from dse.settings import SimulationSettings, WorkloadSettings
        from dse.specs.hardware import load_platform

        build_settings(SimulationSettings, SIMULATION_OPTIONS, method=method, queries=queries)
        build_settings(WorkloadSettings, WORKLOAD_OPTIONS, sizes=sizes, seed=seed, locality=locality)
        check_locality(locality)
        check_range(batch, "--batch", 1, MAX_QUERY_SIZE, "the largest query size")
        check_range(threshold, "--threshold", 1, MAX_QUERY_SIZE, "the largest query size")
        check_workers(workers)
        graph = load_graph(model)
        platform = load_platform(hw, stack=stack)
        n = platform.compute.engine_slots if workers is None else workers
        if n < 1:
            raise DseError(f"--workers: {n} must be >= 1")
        base = ServerCosts() if ideal else ServerCosts.of_platform(platform)
        costs = _costs(costs_file, jitter, query_overhead_ms, subbatch_overhead_ms, colocation, base)
        self.policy = Policy(batch, threshold, n, 1 if accel else 0, costs)
        self.stack = platform.stack
        # the engines' curve at 1..N busy engines: the serving model takes contention at its load
        self.cpu_curve = LoadedCurve.build(lambda k: service_curve(graph, platform, engines=k, locality=locality), n)
        # the accelerator runs the host's software stack: a comparison holds the software fixed
        accel_platform = load_platform(accel, stack=platform.stack) if accel else None
        self.accel_curve = service_curve(graph, accel_platform, engines=1, locality=locality) if accel_platform else None
        self.sizes = sizes
        self.queries = queries
        self.method = method
        self.seed = seed


def check_workers(workers: Optional[int]) -> None:
    """``--workers``: 1 to MAX_ENGINES CPU engines (or None: the platform's cores)."""
    check_range(workers, "--workers", 1, MAX_ENGINES, "the most engines a configuration may have")


def check_locality(locality: str) -> None:
    """Fail before any work on an index-stream spec that cannot be read (``--locality``)."""
    from dse.cost.locality import parse_locality

    try:
        parse_locality(locality)
    except DseError as exc:
        raise DseError(f"--locality: {exc}") from None


def _costs(
    path: Optional[Path], jitter: Optional[float], q_ms: Optional[float], sb_ms: Optional[float], coloc: Optional[float],
    base: ServerCosts | None = None,
) -> ServerCosts:
    """``base`` (the stack's serving costs, or an ideal server) with the fields a ``--costs``
    file and the single options give replaced."""
    from dse.serve.policy import ServerCosts

    values: dict[str, float] = (base or ServerCosts()).as_dict()
    if path is not None:
        raw = read_json(path, "--costs")
        raw = raw.get("costs", raw) if isinstance(raw, dict) else raw
        if not isinstance(raw, dict):
            raise DseError(f"--costs: {path} must hold a JSON object")
        known = {f.name for f in fields(ServerCosts)}
        for key, value in raw.items():
            if key == "null_reasons":
                continue  # written by print_json next to a null
            if key not in known:
                raise DseError(f"--costs: {path}: unknown field '{key}' (known: {', '.join(sorted(known))})")
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise DseError(f"--costs: {path}: {key} must be a number")
            values[key] = float(value)
    for key, value, scale in (
        ("jitter", jitter, 1.0), ("query_overhead_s", q_ms, 1e-3), ("subbatch_overhead_s", sb_ms, 1e-3), ("colocation", coloc, 1.0),
    ):
        if value is not None:
            values[key] = value * scale
    return ServerCosts(**values)


def _ms(x: float) -> str:
    return f"{x * 1e3:.3f} ms" if math.isfinite(x) else "n/a"


def _register_serve(app: typer.Typer) -> None:
    @app.command("serve")
    @handle_errors
    def serve_cmd(
        model: str = MODEL_ARGUMENT,
        hw: str = HW_ARGUMENT,
        accel: Optional[str] = ACCEL_OPTION,
        qps: Optional[float] = typer.Option(None, "--qps", help="Arrival rate, queries/s (Poisson)."),
        batch: int = typer.Option(..., "--batch", "-b", help="CPU sub-batch size b (items)."),
        threshold: Optional[int] = typer.Option(None, "--threshold", "-Q", help="Offload queries of n >= Q items to --accel."),
        workers: Optional[int] = WORKERS_OPTION,
        sizes: str = SIZES_OPTION,
        trace: Optional[Path] = typer.Option(None, "--trace", help="Replay a CSV of arrival_s,size instead of Poisson arrivals."),
        queries: int = QUERIES_OPTION,
        method: str = METHOD_OPTION,
        seed: int = SEED_OPTION,
        costs: Optional[Path] = COSTS_OPTION,
        jitter: Optional[float] = JITTER_OPTION,
        query_overhead_ms: Optional[float] = QUERY_OVERHEAD_OPTION,
        subbatch_overhead_ms: Optional[float] = SUBBATCH_OVERHEAD_OPTION,
        colocation: Optional[float] = COLOCATION_OPTION,
        locality: str = LOCALITY_OPTION,
        stack: Optional[str] = STACK_OPTION,
        ideal: bool = IDEAL_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    ) -> None:
        """Tail latency of MODEL served on HW at --qps: p50/p95/p99, utilisation, stability."""
        from dse.serve.api import PointEvaluator
        from dse.serve.des import simulate
        from dse.serve.workload import load_trace

        if trace is None and qps is None:
            raise DseError("--qps is required (or --trace)")
        check_range(qps, "--qps", 1e-9, 1e12, "queries per second")
        if trace is not None and method != "des":
            raise DseError("--trace replays arrivals in the simulator; use --method des")
        setup = _Setup(model, hw, accel, batch, threshold, workers, sizes, queries, method, seed, costs, jitter,
                       query_overhead_ms, subbatch_overhead_ms, colocation, locality, stack, ideal)
        if trace is not None:
            wl = load_trace(trace, MAX_QUERY_SIZE)
            if len(wl) < 100:
                raise DseError(f"{trace}: a trace needs at least 100 queries")
            res = simulate(wl, setup.policy, setup.cpu_curve, setup.accel_curve, seed)
        else:
            ev = PointEvaluator(setup.policy, setup.cpu_curve, setup.accel_curve, sizes, method, queries, seed)
            res = ev(float(qps))  # type: ignore[arg-type]
        if as_json:
            print_json(res.as_json())
            return
        lines = [f"{model} on {hw}" + (f" + {accel}" if accel else "") + f" ({setup.stack}" + (", ideal server)" if ideal else ")")]
        lines.append(
            f"policy: b={setup.policy.batch}, Q={setup.policy.threshold or 'off'}, {setup.policy.cpu_workers} CPU engines"
            + (", 1 accelerator" if accel else "") + f"; method {method}"
        )
        lines.append(f"load: {res.qps:.1f} queries/s, utilisation {res.utilization:.3f}, accelerator share {res.accel_fraction:.3f}")
        if not res.stable:
            lines.append("unstable: offered load >= capacity or the backlog keeps growing; no steady-state latency")
        else:
            ci = (lambda c: f" (95% CI {_ms(c[0])} .. {_ms(c[1])})" if math.isfinite(c[0]) else "")
            lines.append(f"p50 {_ms(res.p50_s)}   mean {_ms(res.mean_s)}")
            lines.append(f"p95 {_ms(res.p95_s)}{ci(res.p95_ci)}")
            lines.append(f"p99 {_ms(res.p99_s)}{ci(res.p99_ci)}")
        typer.echo("\n".join(lines))


def _register_capacity(app: typer.Typer) -> None:
    @app.command("capacity")
    @handle_errors
    def capacity_cmd(
        model: str = MODEL_ARGUMENT,
        hw: str = HW_ARGUMENT,
        sla_ms: float = SLA_MS_OPTION,
        accel: Optional[str] = ACCEL_OPTION,
        batch: int = typer.Option(..., "--batch", "-b", help="CPU sub-batch size b (items)."),
        threshold: Optional[int] = typer.Option(None, "--threshold", "-Q", help="Offload queries of n >= Q items to --accel."),
        workers: Optional[int] = WORKERS_OPTION,
        sizes: str = SIZES_OPTION,
        queries: int = QUERIES_OPTION,
        method: str = METHOD_OPTION,
        seed: int = SEED_OPTION,
        costs: Optional[Path] = COSTS_OPTION,
        jitter: Optional[float] = JITTER_OPTION,
        query_overhead_ms: Optional[float] = QUERY_OVERHEAD_OPTION,
        subbatch_overhead_ms: Optional[float] = SUBBATCH_OVERHEAD_OPTION,
        colocation: Optional[float] = COLOCATION_OPTION,
        locality: str = LOCALITY_OPTION,
        stack: Optional[str] = STACK_OPTION,
        ideal: bool = IDEAL_OPTION,
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
        html: Optional[Path] = typer.Option(None, "--html", help="Also write a serving report (p50/p95/p99 against load)."),
    ) -> None:
        """Latency-bounded throughput: the highest arrival rate whose p95 meets --sla-ms."""
        from dse.serve.api import capacity

        check_sla_ms(sla_ms)
        setup = _Setup(model, hw, accel, batch, threshold, workers, sizes, queries, method, seed, costs, jitter,
                       query_overhead_ms, subbatch_overhead_ms, colocation, locality, stack, ideal)
        res = capacity(sla_ms / 1e3, setup.policy, setup.cpu_curve, setup.accel_curve, sizes, method, queries, seed)
        if html is not None:
            from dse.report.html import write_report
            from dse.report.serving import build_capacity_report, load_curve
            from dse.serve.api import PointEvaluator

            ev = PointEvaluator(setup.policy, setup.cpu_curve, setup.accel_curve, sizes, method, queries, seed)
            q_text = f", Q={threshold} on {accel}" if accel and threshold else ""
            report = build_capacity_report(
                f"dse serving report: {model} on {hw}",
                f"b={batch}{q_text}, {setup.policy.cpu_workers} CPU engines, sizes {sizes}, {method}",
                load_curve(ev, ev.saturation_qps()), sla_ms / 1e3, res.max_qps if res.met else 0.0, res.p95_s,
            )
            typer.echo(f"report: {write_report(report, html)}", err=True)
        if not res.met:
            typer.echo(
                f"warning: no load meets the SLA: p95 is {_ms(res.p95_s)} even at {min(res.evaluations)[0]:.3g} queries/s",
                err=True,
            )
        if as_json:
            print_json(res.as_json())
            return
        if res.met:
            typer.echo(f"max {res.max_qps:.1f} queries/s with p95 {_ms(res.p95_s)} <= SLA {sla_ms:g} ms "
                       f"({len(res.evaluations)} {method} evaluations)")
        else:
            typer.echo(f"max 0 queries/s: SLA {sla_ms:g} ms is below the p95 at the lowest load ({_ms(res.p95_s)})")


def register(app: typer.Typer) -> None:
    _register_serve(app)
    _register_capacity(app)
