"""Serving model benchmark: simulator speed, analytic-vs-simulation error, and the real H200 run.

    python benchmarks/bench_serving.py [--quick] [--fit-queries N] [--fit-evals N] [--write-costs FILE]
                                       [--curve models|summary] [--coloc model|fitted]
                                       [--sections speed,analytic,real,contrast]

Sections (every number is computed here, nothing is copied from a previous run):

1. ``speed``: simulated queries per second of :func:`dse.serve.des.simulate` on one core
   (wnd-like curve, lognormal(5.1, 0.2) sizes, b=64, 14 engines, jitter), with numba and with the
   pure-Python fallback.
2. ``analytic``: the analytical model against the simulator over a grid of loads (fractions of the
   saturation rate) for b in {16, 64, 256}, with and without jitter: p95 error per point, mean and
   max absolute error, and the time per analytic evaluation.
3. ``real``: the real run ``h200_serving_wnd_*`` (14 CPU workers, lognormal(5.1, 0.2)): fits the
   real-server costs (:func:`dse.calibrate.realrun.fit_server_costs`) to the points below saturation,
   then prints measured vs predicted p50/p95 per point (steady-state simulation and analytic), the
   spread of p95 over independent 5 s simulated runs like the real ones, the overloaded points, and
   per (b, Q) series the load at which p95 crosses 25 ms, measured (interpolated) vs predicted.
   ``--coloc model`` (default) takes the co-location slowdown from the cost model at the engines'
   load; ``--coloc fitted`` fits the former scalar kappa instead (for comparison).
4. ``contrast``: capacity at a 25 ms SLA of RMC1 and WnD on h200_host (14 engines, b = 16, 64, 256)
   with the former scalar co-location factor and with the cost model's curve at the load.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SLA_S = 0.025


def _pct(x: float) -> str:
    return f"{x * 100:+6.1f}%" if math.isfinite(x) else "   n/a"


def section_speed(quick: bool) -> None:
    from dse.cost.curve import ServiceCurve
    from dse.serve.des import HAVE_NUMBA, simulate
    from dse.serve.policy import Policy, ServerCosts
    from dse.serve.workload import poisson_workload

    print("== DES speed (one core) ==")
    curve = ServiceCurve("wnd-like", "bench", np.array([1.0, 16, 64, 256, 1024]), np.array([0.75, 1.6, 2.9, 8.2, 29.3]) * 1e-3)
    pol = Policy(64, cpu_workers=14, costs=ServerCosts(jitter=0.3, query_overhead_s=1e-3))
    n = 400_000 if quick else 2_000_000
    for use_numba in ([True, False] if HAVE_NUMBA else [False]):
        m = n if use_numba else n // 4
        wl = poisson_workload(1200.0, m, "lognormal:5.1,0.2", seed=1)
        simulate(wl, pol, curve, use_numba=use_numba)  # compile / warm caches
        best = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            res = simulate(wl, pol, curve, use_numba=use_numba)
            best = min(best, time.perf_counter() - t0)
        t0 = time.perf_counter()
        poisson_workload(1200.0, m, "lognormal:5.1,0.2", seed=1)
        gen = time.perf_counter() - t0
        print(
            f"  {'numba ' if use_numba else 'python'} {m:>9,d} queries ({res.utilization:.2f} utilisation, "
            f"{m * 2.7:,.0f} sub-batches approx): simulate {m / best / 1e6:6.2f} M queries/s; "
            f"with workload generation {m / (best + gen) / 1e6:6.2f} M queries/s"
        )


def section_analytic(quick: bool) -> dict[str, float]:
    from dse.cost.curve import ServiceCurve
    from dse.serve.analytic import analytic
    from dse.serve.des import simulate
    from dse.serve.load import saturation_qps
    from dse.serve.policy import Policy, ServerCosts
    from dse.serve.workload import parse_sizes, poisson_workload

    print("\n== Analytic model vs DES (p95) ==")
    curve = ServiceCurve("wnd-like", "bench", np.array([1.0, 4, 16, 64, 256, 1024]),
                         np.array([0.754, 1.133, 1.584, 2.893, 8.166, 29.28]) * 1e-3)
    dist = parse_sizes("lognormal:5.1,0.2")
    pmf = dist.pmf()
    n = 100_000 if quick else 400_000
    base = poisson_workload(1.0, n, dist, seed=7)
    errs, times = [], []
    loads = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
    print(f"  {'b':>4} {'jitter':>6} " + " ".join(f"{f'rho={x:.2f}':>9}" for x in loads) + "   (analytic/DES - 1)")
    for b in (16, 64, 256):
        for jitter in (0.0, 0.3):
            pol = Policy(b, cpu_workers=14, costs=ServerCosts(jitter=jitter))
            sat = saturation_qps(pmf, pol, curve)
            row = []
            for frac in loads:
                q = frac * sat
                t0 = time.perf_counter()
                a = analytic(q, pmf, pol, curve)
                times.append(time.perf_counter() - t0)
                d = simulate(base.at_rate(q), pol, curve, seed=7)
                e = a.p95_s / d.p95_s - 1
                errs.append(e)
                row.append(_pct(e))
            print(f"  {b:>4} {jitter:>6.1f} " + " ".join(f"{r:>9}" for r in row))
    errs_a = np.abs(errs)
    print(f"  p95 error: mean |err| {errs_a.mean() * 100:.1f}%, max |err| {errs_a.max() * 100:.1f}% over {len(errs)} points; "
          f"analytic {np.median(times) * 1e3:.1f} ms per point (median)")
    return {"mean_abs": float(errs_a.mean()), "max_abs": float(errs_a.max())}


def section_real(args: argparse.Namespace) -> None:
    from dse.calibrate import realrun as rr
    from dse.serve.api import capacity

    print("\n== Real run: h200_serving_wnd (14 CPU workers, lognormal(5.1, 0.2)) ==")
    points = rr.load_run()
    below = rr.below_saturation(points)
    cpu, gpu = rr.measured_curves()
    if args.curve == "summary":
        cpu = rr.anchored_cpu_curve(cpu, points)
    print(f"  data: {rr.measured_file(rr.SUMMARY)}")
    label = "isolated, 1 thread, cold" + (", with the summary's cpu_ms_at_b" if args.curve == "summary" else "")
    print(f"  CPU curve ({label}): " + ", ".join(f"t({int(b)})={s * 1e3:.3f} ms" for b, s in zip(cpu.batches, cpu.seconds)))
    for b in sorted({p.batch for p in points}):
        at = next(p.cpu_s_at_b for p in points if p.batch == b)
        print(f"    summary cpu_ms_at_b at b={b}: {at * 1e3:.3f} ms (curve {float(cpu(b)) * 1e3:.3f} ms, {_pct(float(cpu(b)) / at - 1)})")
    if args.coloc == "model":
        iso = cpu
        cpu = rr.loaded_cpu_curve(iso)
        print("  co-location from the cost model (wnd on h200_host), t_k(b)/t_1(b): " + "; ".join(
            f"b={b}: " + ", ".join(f"k={k} {float(c(b)) / float(iso(b)):.3f}" for k, c in zip(cpu.engines, cpu.curves)
                                   if k in (4, 8, 11, 14)) for b in (16, 64, 256)))
    else:
        print("  co-location: a fitted scalar kappa (the former model; --coloc fitted)")
    t0 = time.perf_counter()
    fit = rr.fit_server_costs(below, cpu, gpu, n_queries=args.fit_queries, max_evals=args.fit_evals,
                              fit_colocation=args.coloc == "fitted")
    c = fit.costs
    print(f"  fitted on {len(below)} points below saturation (measured p95 < {rr.BELOW_SATURATION_S * 1e3:.0f} ms) "
          f"in {time.perf_counter() - t0:.1f} s, {fit.evaluations} objective evaluations:")
    print(f"    query_overhead {c.query_overhead_s * 1e3:.3f} ms, subbatch_overhead {c.subbatch_overhead_s * 1e3:.4f} ms, "
          f"jitter CV {c.jitter:.3f}, colocation kappa {c.colocation:.3f}")
    if args.write_costs:
        Path(args.write_costs).write_text(json.dumps({"costs": c.as_dict(), "source": "benchmarks/bench_serving.py fit to "
                                                      "h200_serving_wnd_summary.csv"}, indent=2) + "\n")
        print(f"    written to {args.write_costs} (use with dse serve --costs)")

    comps = rr.predict(below, cpu, gpu, c, "des", n_queries=args.pred_queries, seed=11)
    comps_a = rr.predict(below, cpu, gpu, c, "analytic")
    print("\n  below saturation: measured vs predicted (steady state)")
    print(f"  {'pt':>3} {'b':>4} {'Q':>4} {'qps':>6} | {'meas p50':>8} {'p95':>7} | {'DES p50':>8} {'p95':>7} {'err95':>7} | "
          f"{'anal p95':>8} {'err95':>7} | {'5 s runs p95 5%..95%':>21}")
    for cd, ca in zip(comps, comps_a):
        p, r = cd.point, cd.predicted
        reps = [rr.predict_transient(p, cpu, gpu, c, seed=100 + i) for i in range(args.replicas)]
        band = np.percentile([x.p95_s for x in reps], [5, 95]) * 1e3
        inside = "in" if band[0] <= p.p95_s * 1e3 <= band[1] else "out"
        print(f"  {p.point:>3} {p.batch:>4} {str(p.threshold or '-'):>4} {p.qps:>6.0f} | {p.p50_s * 1e3:>8.2f} {p.p95_s * 1e3:>7.2f} | "
              f"{r.p50_s * 1e3:>8.2f} {r.p95_s * 1e3:>7.2f} {_pct(cd.p95_ratio - 1):>7} | "
              f"{ca.predicted.p95_s * 1e3:>8.2f} {_pct(ca.p95_ratio - 1):>7} | {band[0]:>7.1f} .. {band[1]:>6.1f} {inside}")
    e = rr.log_errors(comps)
    ea = rr.log_errors(comps_a)
    print(f"  p95 log error (DES): rms {np.sqrt(np.mean(e ** 2)):.3f}, max |.| {np.max(np.abs(e)):.3f} "
          f"(factor {math.exp(np.max(np.abs(e))):.2f}); median |p95 error| {np.median(np.abs(np.exp(e) - 1)) * 100:.1f}%")
    print(f"  p95 log error (analytic): rms {np.sqrt(np.mean(ea ** 2)):.3f}, max |.| {np.max(np.abs(ea)):.3f}")

    over = [p for p in points if p not in below]
    print("\n  saturated points (measured p95 >= 50 ms; the real runs last 5 s, so their p95 is a growing backlog)")
    for p in over:
        steady = rr.predict([p], cpu, gpu, c, "des", n_queries=20_000, seed=11)[0].predicted
        tr = rr.predict_transient(p, cpu, gpu, c, seed=11)
        print(f"  {p.point:>3} b={p.batch:<4} Q={str(p.threshold or '-'):<4} {p.qps:>6.0f} qps: measured p95 {p.p95_s * 1e3:8.1f} ms; "
              f"predicted utilisation {steady.utilization:.2f} stable={steady.stable}; 5 s simulated run p95 {tr.p95_s * 1e3:8.1f} ms")

    print(f"\n  load at which p95 crosses {SLA_S * 1e3:.0f} ms, per (b, Q) series")
    for (b, q), pts in sorted(rr.series(points).items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        meas = rr.measured_crossing(pts, SLA_S)
        pol = pts[0].policy(c)
        pd_ = capacity(SLA_S, pol, cpu, gpu if pol.accel_workers else None, method="des", n_queries=args.pred_queries, seed=11)
        pa = capacity(SLA_S, pol, cpu, gpu if pol.accel_workers else None, method="analytic")
        lo = max((p.qps for p in pts if p.p95_s <= SLA_S), default=None)
        if meas is None:
            m_txt = f"not bracketed (p95 <= 25 ms up to {lo:.0f} qps)" if lo else f"below {min(p.qps for p in pts):.0f} qps"
            err_d = err_a = ""
        else:
            m_txt = f"{meas:7.0f} qps"
            err_d = f" ({_pct(pd_.max_qps / meas - 1)})"
            err_a = f" ({_pct(pa.max_qps / meas - 1)})"
        print(f"  b={b:<4} Q={str(q or '-'):<4}: measured {m_txt}; predicted DES {pd_.max_qps:7.0f} qps{err_d}, "
              f"analytic {pa.max_qps:7.0f} qps{err_a}")


#: The h200_host stack's serving costs before co-location came from the cost model (a scalar kappa
#: fitted on WnD with the isolated curve, applied to every model on top of the engines=N curve).
FORMER_COSTS = dict(query_overhead_s=2.19e-3, subbatch_overhead_s=0.007e-3, jitter=0.35, colocation=0.31)


def section_contrast(quick: bool) -> None:
    """Capacity at a 25 ms SLA of RMC1 (embedding-heavy) and WnD (FC-heavy) on h200_host, 14
    engines: the former scalar co-location factor against the cost model's curve at the load."""
    from dse.cost import service_curve
    from dse.graph import load_graph
    from dse.serve.api import capacity
    from dse.serve.load import LoadedCurve, offered_load
    from dse.serve.policy import Policy, ServerCosts
    from dse.serve.workload import parse_sizes
    from dse.specs.hardware import load_platform

    n, plat = 14, load_platform("h200_host")
    new, former = ServerCosts.of_platform(plat), ServerCosts(**FORMER_COSTS)
    pmf = parse_sizes("lognormal:5.1,0.2").pmf()
    print(f"\n== Co-location: capacity at {SLA_S * 1e3:.0f} ms p95, h200_host, {n} engines, lognormal(5.1, 0.2), analytic ==")
    print(f"  former: engines={n} curve x (1 + {former.colocation} u), former costs; kappa: isolated curve x "
          f"(1 + {former.colocation} u), current costs; load: cost model's curve at the load, current costs (the default)")
    print(f"  {'model':>10} {'b':>4} | {'t14/t1':>6} | {'former':>7} {'kappa':>7} {'load':>7} | {'load/kappa':>10} | "
          f"{'slowdown at cap. (kappa, load)':>30}")
    for model in ("dlrm_rmc1", "wnd"):
        g = load_graph(model)
        loaded = LoadedCurve.build(lambda k: service_curve(g, plat, engines=k), n)
        variants = {
            "former": (loaded.busy, former),
            "kappa": (loaded.isolated, replace(new, colocation=former.colocation)),
            "load": (loaded, new),
        }
        for b in (16, 64, 256):
            caps, slow = {}, {}
            for name, (curve, costs) in variants.items():
                pol = Policy(b, cpu_workers=n, costs=costs)
                caps[name] = capacity(SLA_S, pol, curve, method="analytic").max_qps
                slow[name] = offered_load(caps[name], pmf, pol, curve).slowdown
            ratio = float(loaded.busy(b)) / float(loaded.isolated(b))
            print(f"  {model:>10} {b:>4} | {ratio:>6.3f} | {caps['former']:>7.0f} {caps['kappa']:>7.0f} {caps['load']:>7.0f} | "
                  f"{_pct(caps['load'] / caps['kappa'] - 1):>10} | {slow['kappa']:>14.3f} {slow['load']:>14.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (about a minute)")
    parser.add_argument("--sections", default="speed,analytic,real,contrast")
    parser.add_argument("--fit-queries", type=int, default=None, help="queries per point in the fit (default 30000; quick 10000)")
    parser.add_argument("--fit-evals", type=int, default=None, help="objective evaluations of the fit (default 300; quick 120)")
    parser.add_argument("--pred-queries", type=int, default=None, help="queries per predicted point (default 100000)")
    parser.add_argument("--replicas", type=int, default=None, help="simulated 5 s runs per point for the p95 band")
    parser.add_argument("--curve", choices=("models", "summary"), default="models",
                        help="CPU curve: h200_models.csv cold rows, or those with the summary's cpu_ms_at_b at b")
    parser.add_argument("--coloc", choices=("model", "fitted"), default="model",
                        help="co-location: the cost model's slowdown at the engines' load, or a fitted scalar kappa")
    parser.add_argument("--write-costs", default=None, help="write the fitted costs as JSON here")
    args = parser.parse_args(argv)
    args.fit_queries = args.fit_queries or (10_000 if args.quick else 30_000)
    args.fit_evals = args.fit_evals or (120 if args.quick else 300)
    args.pred_queries = args.pred_queries or (30_000 if args.quick else 100_000)
    args.replicas = args.replicas or (10 if args.quick else 30)
    sections = set(args.sections.split(","))
    from dse.errors import DseError

    try:
        if "speed" in sections:
            section_speed(args.quick)
        if "analytic" in sections:
            section_analytic(args.quick)
        if "real" in sections:
            section_real(args)
        if "contrast" in sections:
            section_contrast(args.quick)
    except DseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
