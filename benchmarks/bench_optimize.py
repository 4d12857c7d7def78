"""DeepRecSched speed and results: optimised (model, configuration) points per second.

    python benchmarks/bench_optimize.py [--study studies/nmp.yaml] [--points 300] [--skip-table]
                                        [--sizes lognormal:5.1,0.2 | heavytail]

Two parts, both with ``method="analytic"`` on one core:

- ``table``: DeepRecSched (hill climbing + the exhaustive (b, Q) grid) for the eight models on
  Skylake, without and with a GTX 1080 Ti, under per-model SLAs of 1.5 mean-query service times
  (the tests' "medium" level): chosen b and Q, latency-bounded throughput, gain over the static
  baseline (b = 32), gain from the GPU, the hill climber's gap to the grid, time per call.
- ``sweep``: the sweep's ``evaluate(config)`` on the first ``--points`` configurations of a study
  in this process, starting with empty caches, so the rate includes loading the platforms with
  their overrides and computing every service curve (the configurations of nmp.yaml differ in
  their memory system, so every point builds its own CPU curve). The issue's target: at least
  100 points per second per core; ``dse sweep studies/nmp.yaml`` (3,072 points) under 2 minutes
  on 2 cores. Prints the split between curves and optimisation.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["dlrm_rmc1", "dlrm_rmc2", "dlrm_rmc3", "ncf", "wnd", "mtwnd", "din", "dien"]


def table(level: float = 1.5, sizes: str = "lognormal:5.1,0.2") -> None:
    from dse.graph import load_graph
    from dse.sched.deeprecsched import build_curves, optimize
    from dse.settings import DEFAULT_BATCHES, WorkloadSettings
    from dse.specs.hardware import load_platform

    cpu, gpu = load_platform("skylake"), load_platform("gtx1080ti")
    n = cpu.compute.engine_slots
    print(f"DeepRecSched on skylake ({n} engines), SLA = {level} x t_cpu(167 items), sizes {sizes}; analytic")
    print(f"{'model':10s} {'SLA ms':>7s} {'b':>4s} {'QPS':>9s} {'gain':>5s} {'gap':>5s} | "
          f"{'b':>4s} {'Q':>4s} {'QPS+GPU':>9s} {'xGPU':>5s} {'gap':>5s} {'QPS/W':>6s} | ms/call")
    for model in MODELS:
        g = load_graph(model)
        curves = build_curves(g, cpu, gpu, n, [*DEFAULT_BATCHES, 32], 1024)
        sla = level * float(curves.cpu(np.array([167.0]))[0])
        t0 = time.perf_counter()
        r0 = optimize(g, cpu, None, workload=WorkloadSettings(sizes=sizes), sla_s=sla, workers=n)
        t1 = time.perf_counter()
        r1 = optimize(g, cpu, gpu, workload=WorkloadSettings(sizes=sizes), sla_s=sla, workers=n, curves=curves)
        t2 = time.perf_counter()
        print(
            f"{model:10s} {sla * 1e3:7.2f} {r0.batch:4d} {r0.max_qps:9.0f} {r0.gain or math.nan:5.2f} {r0.gap:5.3f} | "
            f"{r1.batch:4d} {str(r1.threshold):>4s} {r1.max_qps:9.0f} {r1.max_qps / r0.max_qps:5.2f} {r1.gap:5.3f} "
            f"{r1.qps_per_watt:6.1f} | {1e3 * (t1 - t0):5.1f} / {1e3 * (t2 - t1):5.1f}"
        )


def sweep_rate(study: str, points: int) -> float:
    import dse.sweep.evaluate as ev
    from dse.sweep.resolve import load_study
    from dse.sweep.expand import expand
    from dse.sweep.run import DEFAULT_EVALUATOR, evaluator_version

    configs = expand(load_study(study), evaluator_version(DEFAULT_EVALUATOR)).tasks[:points]
    ev.check_configs(configs)
    for cache in (ev._graph, ev._base_platform, ev._platform, ev._cpu_curve, ev._accel_curve):
        cache.cache_clear()
    spent = {"curves": 0.0}
    cpu_curve, accel_curve = ev._cpu_curve, ev._accel_curve

    def timed(fn):  # noqa: ANN001, ANN202
        def wrapper(*args):  # noqa: ANN002, ANN202
            t = time.perf_counter()
            try:
                return fn(*args)
            finally:
                spent["curves"] += time.perf_counter() - t

        return wrapper

    ev._cpu_curve, ev._accel_curve = timed(cpu_curve), timed(accel_curve)
    try:
        t0 = time.perf_counter()
        for config in configs:
            ev.evaluate(config)
        dt = time.perf_counter() - t0
    finally:
        ev._cpu_curve, ev._accel_curve = cpu_curve, accel_curve
    rate = len(configs) / dt
    print(
        f"sweep evaluate() on {Path(study).name}: {len(configs)} points in {dt:.2f} s = {rate:.1f} points/s on one core "
        f"({1e3 * dt / len(configs):.2f} ms/point: service curves {1e3 * spent['curves'] / len(configs):.2f} ms, "
        f"platform loading and optimisation {1e3 * (dt - spent['curves']) / len(configs):.2f} ms)"
    )
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", default=str(ROOT / "studies" / "nmp.yaml"))
    parser.add_argument("--points", type=int, default=300, help="configurations for the sweep rate")
    parser.add_argument("--skip-table", action="store_true", help="only the sweep rate")
    parser.add_argument("--sizes", default="lognormal:5.1,0.2", help="query sizes of the table (heavytail: the findings' setting)")
    args = parser.parse_args(argv)
    if not args.skip_table:
        table(sizes=args.sizes)
        print()
    sweep_rate(args.study, args.points)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
