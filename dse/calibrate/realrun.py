"""The real serving run on the H200 host (FACTS section 5) and fitting :class:`ServerCosts` to it.

Data (``h200_serving_wnd_summary.csv``, ``h200_models.csv``; the queries file when present) is read
from ``../shared/data/measured`` beside the checkout when it exists, else from the copy in
``data/measured`` (the small files of the shared folder) so that the repository stands alone.

Derived, not fitted (docs/serving.md):

* the CPU service curve: single-thread, fresh-index (``cold=1``) forward times of the model from
  ``h200_models.csv`` (isolated inference, one engine); the summary's ``cpu_ms_at_b`` is reported
  beside it as a check;
* the co-location slowdown of the CPU curve (:func:`loaded_cpu_curve`): the cost model's
  ``t_k(b) / t_1(b)`` of the model on ``h200_host`` at k = 1..14 busy engines, applied to the
  measured isolated curve; the serving model takes it at the engines' load (:mod:`dse.serve.load`);
* the accelerator curve: ``threads=0, transfer=1`` GPU rows (with host<->device copies);
* the workload and policy of every load point (rate, sizes lognormal(5.1, 0.2), b, Q, 14 workers).

Fitted (:func:`fit_server_costs`): the per-query dispatch delay, the per-sub-batch engine overhead
and the service-time jitter (and, only when asked, ``colocation``: contention the cost model does
not explain; the former scalar co-location fit, kept for comparison), by Nelder-Mead on the weighted squared
log errors of p50 and p95 (weights ``FIT_WEIGHTS``) over the load points below saturation (measured p95 under ``limit_s``),
simulating each point with common random numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize

from dse.cost.curve import ServiceCurve
from dse.errors import DseError
from dse.paths import BUNDLED_MEASURED_DIR, SHARED_MEASURED_DIR
from dse.serve.api import PointEvaluator
from dse.serve.des import ServeResult
from dse.serve.load import CpuCurve, LoadedCurve
from dse.serve.policy import Policy, ServerCosts
from dse.serve.workload import DEFAULT_SIZES

SUMMARY = "h200_serving_wnd_summary.csv"
MODELS = "h200_models.csv"
QUERIES = "h200_serving_wnd_queries.csv.gz"
#: Where measured data is looked for, in order.
DATA_DIRS = (SHARED_MEASURED_DIR, BUNDLED_MEASURED_DIR)
#: Points with a measured p95 below this are "below saturation" (the rest are transient overloads
#: of the 5 s runs, p95 of hundreds of ms and more).
BELOW_SATURATION_S = 0.05
#: Warm-up of the real run (its statistics start 0.5 s into each 5 s point).
RUN_WARMUP_S = 0.5
RUN_SECONDS = 5.0
FIT_PARAMS = ("query_overhead_s", "subbatch_overhead_s", "jitter")
#: The platform whose cost model gives the real run's co-location slowdown, and its engines.
RUN_PLATFORM = "h200_host"
RUN_WORKERS = 14


def measured_file(name: str) -> Path:
    """Path of a measured-data file, preferring the shared data over the repository's copy."""
    for d in DATA_DIRS:
        p = d / name
        if p.is_file():
            return p
    raise DseError(f"{name}: not found in {' or '.join(str(d) for d in DATA_DIRS)}")


@dataclass(frozen=True)
class RunPoint:
    """One load point of the real run; times in seconds."""

    point: int
    model: str
    workers: int
    batch: int
    threshold: int | None
    gpu: bool
    target_qps: float
    qps: float  # achieved
    n: int
    p50_s: float
    p95_s: float
    p99_s: float
    gpu_frac: float
    cpu_s_at_b: float

    def policy(self, costs: ServerCosts = ServerCosts()) -> Policy:
        return Policy(self.batch, self.threshold, self.workers, 1 if self.gpu else 0, costs)

    @property
    def series(self) -> tuple[int, int | None]:
        return (self.batch, self.threshold)


def load_run(path: str | Path | None = None) -> list[RunPoint]:
    """The load points of the summary CSV."""
    p = Path(path) if path is not None else measured_file(SUMMARY)
    df = pd.read_csv(p)
    out = []
    for r in df.itertuples(index=False):
        q = None if pd.isna(r.Q) else int(r.Q)
        out.append(
            RunPoint(int(r.point), str(r.model), int(r.workers), int(r.b), q, bool(r.gpu), float(r.target_qps),
                     float(r.achieved_qps), int(r.n), r.p50_ms / 1e3, r.p95_ms / 1e3, r.p99_ms / 1e3,
                     float(r.gpu_frac), r.cpu_ms_at_b / 1e3)
        )
    return out


def below_saturation(points: list[RunPoint], limit_s: float = BELOW_SATURATION_S) -> list[RunPoint]:
    return [p for p in points if p.p95_s < limit_s]


def measured_curves(model: str = "wnd", path: str | Path | None = None) -> tuple[ServiceCurve, ServiceCurve]:
    """(CPU, GPU) service curves of ``model`` from the H200 host's isolated forward times."""
    p = Path(path) if path is not None else measured_file(MODELS)
    df = pd.read_csv(p)
    if "cold" not in df.columns:
        df["cold"] = 0
    df["cold"] = df["cold"].fillna(0)
    m = df[df.model == model]
    cpu = m[(m.tag == "cpu") & (m.threads == 1) & (m.transfer == 0) & (m.cold == 1)].sort_values("batch")
    gpu = m[(m.tag == "gpu") & (m.threads == 0) & (m.transfer == 1) & (m.cold == 0)].sort_values("batch")
    if cpu.empty or gpu.empty:
        raise DseError(f"{p}: no single-thread cold CPU rows or GPU transfer rows for model '{model}'")
    return (
        ServiceCurve(model, "h200-cpu-1thread-measured", cpu.batch.to_numpy(float), cpu.median_ms.to_numpy() / 1e3),
        ServiceCurve(model, "h200-gpu-measured", gpu.batch.to_numpy(float), gpu.median_ms.to_numpy() / 1e3),
    )


def loaded_cpu_curve(cpu: ServiceCurve, model: str = "wnd", platform: str = RUN_PLATFORM,
                     workers: int = RUN_WORKERS) -> LoadedCurve:
    """The measured isolated curve ``cpu`` times the cost model's co-location slowdown
    ``t_k(b) / t_1(b)`` of ``model`` on ``platform`` with k = 1..``workers`` engines busy (at the
    curve's batch sizes; linear interpolation between them)."""
    from dse.cost import service_curve
    from dse.graph import load_graph
    from dse.specs.hardware import load_platform

    graph, plat = load_graph(model), load_platform(platform)
    alone = service_curve(graph, plat, cpu.batches, engines=1).seconds

    def at(k: int) -> ServiceCurve:
        ratio = service_curve(graph, plat, cpu.batches, engines=k).seconds / alone
        return ServiceCurve(cpu.model, f"{cpu.platform}x{platform}-k{k}", cpu.batches, cpu.seconds * ratio, engines=k)

    return LoadedCurve.build(at, workers)


def anchored_cpu_curve(cpu: ServiceCurve, points: list[RunPoint]) -> ServiceCurve:
    """The CPU curve with the summary's ``cpu_ms_at_b`` values replacing the grid points at those b."""
    at = {p.batch: p.cpu_s_at_b for p in points}
    b = np.union1d(cpu.batches, np.array(sorted(at), dtype=float))
    s = np.interp(b, cpu.batches, cpu.seconds)
    for k, v in at.items():
        s[b == k] = v
    return ServiceCurve(cpu.model, cpu.platform + "+cpu_ms_at_b", b, s)


@dataclass
class PointComparison:
    point: RunPoint
    predicted: ServeResult

    @property
    def p95_ratio(self) -> float:
        return self.predicted.p95_s / self.point.p95_s if self.predicted.stable else math.inf


def predict(
    points: list[RunPoint],
    cpu: CpuCurve,
    gpu: ServiceCurve,
    costs: ServerCosts,
    method: str = "des",
    n_queries: int = 40_000,
    seed: int = 0,
    sizes: str = DEFAULT_SIZES,
) -> list[PointComparison]:
    """Predicted latency of each measured point (steady state, at the achieved rate)."""
    out = []
    for p in points:
        ev = PointEvaluator(p.policy(costs), cpu, gpu, sizes, method, n_queries, seed)
        out.append(PointComparison(p, ev(p.qps)))
    return out


def predict_transient(
    point: RunPoint, cpu: CpuCurve, gpu: ServiceCurve, costs: ServerCosts, seed: int = 0, sizes: str = DEFAULT_SIZES
) -> ServeResult:
    """The simulator run exactly like the real point: 5 s of Poisson arrivals, statistics over the
    queries arriving after 0.5 s (meaningful also for overloaded points, whose backlog grows)."""
    from dse.serve.des import simulate
    from dse.serve.workload import poisson_workload

    n = max(2, int(round(point.qps * RUN_SECONDS)))
    wl = poisson_workload(point.qps, n, sizes, seed)
    return simulate(wl, point.policy(costs), cpu, gpu, seed, warmup_s=RUN_WARMUP_S)


def log_errors(comparisons: list[PointComparison]) -> np.ndarray:
    """ln(predicted p95 / measured p95) per point (inf for a predicted-unstable point)."""
    return np.array([math.log(c.p95_ratio) if math.isfinite(c.p95_ratio) else math.inf for c in comparisons])


@dataclass
class FitResult:
    costs: ServerCosts
    objective: float
    evaluations: int
    comparisons: list[PointComparison] = field(default_factory=list)


#: Weights of the squared log errors of p50 and p95 in the fit (p95 is the quantity of interest;
#: p50 pins the dispatch delay).
FIT_WEIGHTS = (0.25, 1.0)


def _objective_terms(p: RunPoint, r: ServeResult) -> float:
    if not r.stable:  # a smooth penalty that grows with the overload
        return 2 * math.log(10 * max(r.utilization, 1.0)) ** 2
    w50, w95 = FIT_WEIGHTS
    return w50 * math.log(r.p50_s / p.p50_s) ** 2 + w95 * math.log(r.p95_s / p.p95_s) ** 2


def fit_server_costs(
    points: list[RunPoint],
    cpu: CpuCurve,
    gpu: ServiceCurve,
    n_queries: int = 30_000,
    seed: int = 0,
    max_evals: int = 400,
    start: ServerCosts | None = None,
    sizes: str = DEFAULT_SIZES,
    fit_colocation: bool = False,
) -> FitResult:
    """Fit query/sub-batch overheads and jitter (with ``fit_colocation``, also the scalar
    ``colocation``) to ``points`` (see module doc). ``cpu``: the load-dependent curve
    (:func:`loaded_cpu_curve`), or a plain isolated curve for the scalar fit.

    The parameters are optimised as square roots (kept >= 0) with Nelder-Mead, each point simulated
    with ``n_queries`` queries of one seeded workload (common random numbers across evaluations).
    ``start`` defaults to a data-derived guess: the dispatch delay is the measured p50 of the
    lightest point minus its ideal prediction.
    """
    if not points:
        raise DseError("no measured load point to fit")
    evaluators = [PointEvaluator(p.policy(), cpu, gpu, sizes, "des", n_queries, seed) for p in points]
    if start is None:
        light = min(range(len(points)), key=lambda i: points[i].qps / evaluators[i].saturation_qps())
        ideal = evaluators[light](points[light].qps)
        start = ServerCosts(
            query_overhead_s=max(points[light].p50_s - ideal.p50_s, 0.0) * 0.8,
            subbatch_overhead_s=1e-5,
            jitter=0.3,
            colocation=0.2 if fit_colocation else 0.0,
        )
    names = FIT_PARAMS + (("colocation",) if fit_colocation else ())
    x0 = np.sqrt([getattr(start, name) for name in names])
    scale = np.array([1e-3, 1e-3, 1.0, 1.0][: len(names)]) ** 0.5  # optimise in units of ms and 1
    count = [0]

    def costs_of(x: np.ndarray) -> ServerCosts:
        v = (x * scale) ** 2
        return replace(start, **dict(zip(names, map(float, v))))

    def objective(x: np.ndarray) -> float:
        count[0] += 1
        costs = costs_of(x)
        total = 0.0
        for p, ev in zip(points, evaluators):
            ev.policy = p.policy(costs)
            total += _objective_terms(p, ev(p.qps))
        return total

    res = optimize.minimize(
        objective, x0 / scale, method="Nelder-Mead",
        options=dict(maxfev=max_evals, xatol=1e-3, fatol=1e-4, initial_simplex=None),
    )
    costs = costs_of(res.x)
    return FitResult(costs, float(res.fun), count[0], predict(points, cpu, gpu, costs, "des", n_queries, seed, sizes))


def measured_crossing(points: list[RunPoint], sla_s: float) -> float | None:
    """Rate at which the measured p95 of one (b, Q) series crosses ``sla_s``: log-linear
    interpolation between the last point under and the first point over; None if not bracketed."""
    pts = sorted(points, key=lambda p: p.qps)
    for lo, hi in zip(pts, pts[1:]):
        if lo.p95_s <= sla_s < hi.p95_s:
            f = math.log(sla_s / lo.p95_s) / math.log(hi.p95_s / lo.p95_s)
            return lo.qps + f * (hi.qps - lo.qps)
    return None


def series(points: list[RunPoint]) -> dict[tuple[int, int | None], list[RunPoint]]:
    out: dict[tuple[int, int | None], list[RunPoint]] = {}
    for p in points:
        out.setdefault(p.series, []).append(p)
    return out
