"""Exact discrete-event simulation of the DeepRecSys serving system (FACTS section 2).

System: a query of size ``n >= Q`` goes whole to the accelerator FIFO (``accel_workers`` engines,
service ``accel_curve(n)``); any other query is cut greedily into ``ceil(n/b)`` sub-batches
``b, b, ..., n - (k-1) b`` that join ONE shared FIFO served by ``N`` identical CPU engines (service
``cpu_curve(size)``). Latency runs from the arrival to the completion of the query's last
sub-batch (fork-join).

Why it is exact and fast: with identical servers and FIFO order, jobs start in arrival order and
job ``k`` starts at ``max(arrival_k, earliest server-free time)`` (Kiefer-Wolfowitz recursion).
Everything but that recursion is vectorised with numpy (routing, splitting, service times, jitter,
fork-join maximum via ``np.maximum.reduceat``, quantiles); the recursion is a numba-compiled loop
over a preallocated array with a binary heap of server-free times (:mod:`dse.serve.fifo_numba`,
imported on first use: numba costs about 0.5 s to import), or a ``heapq`` loop when numba is
missing. No Python object per event.

Statistics: the first ``warmup`` fraction of queries (by count, so the measured set is the same at
every rate) or those arriving before ``warmup_s`` are dropped; p95/p99 carry 95% confidence
intervals by batch quantiles (the measured queries in arrival order are cut into 20 consecutive
batches; half-width = t(0.975, 19) * sd(batch quantiles) / sqrt(20)). ``stable`` is False when an
engine pool's offered utilisation is >= 1 or the backlog grows: no query found a free engine in the
last half of the run while waits at the end exceed those in the middle.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from dse.errors import DseError
from dse.serve.load import CpuCurve, OfferedLoad, offered_load, sizes_pmf
from dse.serve.policy import Policy
from dse.serve.queueing import curve_times, split_sizes
from dse.serve.workload import Workload

Curve = Callable[[np.ndarray], np.ndarray]

#: Number of consecutive batches for the batch-quantile confidence intervals.
CI_BATCHES = 20


def _fifo_python(arrive: np.ndarray, service: np.ndarray, servers: int, finish: np.ndarray) -> None:
    """Kiefer-Wolfowitz recursion with heapq (fallback without numba)."""
    free = [-np.inf] * servers
    heapq.heapify(free)
    a = arrive.tolist()
    s = service.tolist()
    out = [0.0] * len(a)
    replace = heapq.heapreplace
    for k in range(len(a)):
        t0 = free[0]
        ak = a[k]
        f = (ak if ak > t0 else t0) + s[k]
        out[k] = f
        replace(free, f)
    finish[:] = out


_KERNEL: list = []  # [the numba kernel or None], filled on first use


def _numba_kernel() -> Callable | None:
    """The compiled FIFO kernel (:mod:`dse.serve.fifo_numba`), or None without numba. Loaded on
    first use so that importing the serving model does not load numba (about 0.5 s)."""
    if not _KERNEL:
        try:
            from dse.serve.fifo_numba import fifo_numba
        except ImportError:  # pragma: no cover - numba missing
            fifo_numba = None
        _KERNEL.append(fifo_numba)
    return _KERNEL[0]


def __getattr__(name: str) -> object:
    # ``HAVE_NUMBA`` is answered by trying the import, when someone asks
    if name == "HAVE_NUMBA":
        return _numba_kernel() is not None
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fifo_finish_times(arrive: np.ndarray, service: np.ndarray, servers: int, use_numba: bool | None = None) -> np.ndarray:
    """Completion times of jobs (in FIFO order) on ``servers`` identical engines.

    ``arrive`` must be non-decreasing. One engine uses the closed form of Lindley's recursion,
    ``finish_k = C_k + max_{j<=k}(a_j - C_{j-1})`` with ``C`` the cumulative service, vectorised.
    """
    arrive = np.ascontiguousarray(arrive, dtype=np.float64)
    service = np.ascontiguousarray(service, dtype=np.float64)
    if arrive.size == 0:
        return np.empty(0)
    if servers == 1:
        c = np.cumsum(service)
        return c + np.maximum.accumulate(arrive - (c - service))
    finish = np.empty_like(arrive)
    kernel = _numba_kernel() if use_numba is None or use_numba else None
    if use_numba and kernel is None:
        raise DseError("use_numba=True needs numba (pip install numba)")
    if kernel is not None:
        kernel(arrive, service, int(servers), finish)
    else:
        _fifo_python(arrive, service, int(servers), finish)
    return finish


def jitter_factors(rng: np.random.Generator, n: int, cv: float) -> np.ndarray | None:
    """``n`` mean-one lognormal factors with coefficient of variation ``cv`` (None when cv = 0)."""
    if cv <= 0:
        return None
    s2 = np.log1p(cv * cv)
    return rng.lognormal(-s2 / 2.0, np.sqrt(s2), n)


@dataclass
class ServeResult:
    """Latency statistics of one load point (seconds). Numbers are NaN when ``stable`` is False."""

    method: str
    qps: float
    p50_s: float
    p95_s: float
    p99_s: float
    mean_s: float
    utilization: float
    cpu_utilization: float
    accel_utilization: float
    accel_fraction: float
    stable: bool
    n_measured: int = 0
    p95_ci: tuple[float, float] = (float("nan"), float("nan"))
    p99_ci: tuple[float, float] = (float("nan"), float("nan"))
    latencies: np.ndarray | None = field(default=None, repr=False)

    def as_json(self) -> dict[str, object]:
        """The ``dse serve --json`` object; latency fields are null for an unstable system."""

        def num(x: float) -> float | None:
            return float(x) if self.stable and np.isfinite(x) else None

        return {
            "qps": float(self.qps),
            "p50_s": num(self.p50_s),
            "p95_s": num(self.p95_s),
            "p99_s": num(self.p99_s),
            "mean_s": num(self.mean_s),
            "utilization": float(self.utilization),
            "accel_fraction": float(self.accel_fraction),
            "stable": bool(self.stable),
        }


@dataclass
class Trajectory:
    """Per-query outcome of a simulation (all queries, arrival order)."""

    arrivals: np.ndarray
    sizes: np.ndarray
    latency: np.ndarray
    wait: np.ndarray  # queueing delay before the query's first job starts
    accel: np.ndarray  # bool: served by the accelerator
    cpu_busy_s: float
    accel_busy_s: float


def simulate_queries(
    workload: Workload,
    policy: Policy,
    cpu_curve: Curve | None,
    accel_curve: Curve | None = None,
    seed: int = 0,
    use_numba: bool | None = None,
    slowdown: float = 1.0,
) -> Trajectory:
    """Run the simulation and return every query's latency (no statistics).

    ``cpu_curve`` is a plain curve (the curve at the load: :func:`dse.serve.load.curve_at`);
    ``slowdown`` multiplies it."""
    arrivals = np.asarray(workload.arrivals, dtype=np.float64)
    sizes = np.asarray(workload.sizes, dtype=np.int64)
    nq = sizes.size
    costs = policy.costs
    if policy.threshold is not None and accel_curve is None:
        raise DseError("--threshold needs an accelerator service curve (--accel)")
    accel = policy.to_accelerator(sizes)
    latency = np.empty(nq)
    wait = np.empty(nq)
    rng_cpu = np.random.default_rng([int(seed), 1])
    rng_acc = np.random.default_rng([int(seed), 2])
    cpu_busy = acc_busy = 0.0

    cpu_idx = np.flatnonzero(~accel)
    if cpu_idx.size:
        if cpu_curve is None or policy.cpu_workers < 1:
            raise DseError("queries below the threshold need CPU engines and a CPU service curve")
        b = int(policy.batch)
        n = sizes[cpu_idx]
        k, last = split_sizes(n, b)
        first = np.cumsum(k) - k
        sub = np.full(int(k.sum()), b, dtype=np.int64)
        sub[first + k - 1] = last
        table = curve_times(cpu_curve, np.arange(1, min(b, int(n.max())) + 1), "CPU") * slowdown + costs.subbatch_overhead_s
        service = table[sub - 1]
        service = _randomise(service, policy.service, costs.jitter, rng_cpu)
        arrive = np.repeat(arrivals[cpu_idx], k)
        finish = fifo_finish_times(arrive, service, policy.cpu_workers, use_numba)
        done = np.maximum.reduceat(finish, first)
        a = arrivals[cpu_idx]
        latency[cpu_idx] = done - a
        wait[cpu_idx] = finish[first] - service[first] - a
        cpu_busy = float(service.sum())

    acc_idx = np.flatnonzero(accel)
    if acc_idx.size:
        n = sizes[acc_idx]
        uniq, inv = np.unique(n, return_inverse=True)
        table = curve_times(accel_curve, uniq, "accelerator") + costs.accel_overhead_s
        service = _randomise(table[inv], policy.service, costs.jitter, rng_acc)
        a = arrivals[acc_idx]
        finish = fifo_finish_times(a, service, policy.accel_workers, use_numba)
        latency[acc_idx] = finish - a
        wait[acc_idx] = finish - service - a
        acc_busy = float(service.sum())

    latency += costs.query_overhead_s
    return Trajectory(arrivals, sizes, latency, wait, accel, cpu_busy, acc_busy)


def _randomise(mean: np.ndarray, law: str, jitter: float, rng: np.random.Generator) -> np.ndarray:
    if law == "exponential":
        return mean * rng.standard_exponential(mean.size)
    f = jitter_factors(rng, mean.size, jitter)
    return mean if f is None else mean * f


def simulate(
    workload: Workload,
    policy: Policy,
    cpu_curve: CpuCurve | None,
    accel_curve: Curve | None = None,
    seed: int = 0,
    warmup: float = 0.1,
    warmup_s: float | None = None,
    keep_latencies: bool = False,
    use_numba: bool | None = None,
) -> ServeResult:
    """Simulate ``workload`` under ``policy`` and summarise the latencies of the measured queries.

    ``warmup``: fraction of queries (by count) dropped at the start; ``warmup_s``: drop queries
    arriving before this time instead. Utilisation and the CPU curve at the load come from
    :func:`dse.serve.load.offered_load` with the workload's size distribution (its exact pmf for a
    Poisson workload, the sample's for a trace).
    """
    if not 0 <= warmup < 1:
        raise DseError(f"warmup: {warmup} must be in [0, 1)")
    load = workload_load(workload, policy, cpu_curve, accel_curve)
    traj = simulate_queries(workload, policy, load.cpu_curve, accel_curve, seed, use_numba)
    nq = traj.latency.size
    cpu_u, acc_u = load.cpu_utilization, load.accel_utilization
    if warmup_s is not None:
        start = int(np.searchsorted(traj.arrivals, traj.arrivals[0] + warmup_s, side="left"))
    else:
        start = int(np.floor(warmup * nq))
    lat = traj.latency[start:]
    if lat.size == 0:
        raise DseError("no query left after the warm-up; simulate more queries")
    stable = bool(cpu_u < 1 and acc_u < 1 and not _backlog_grows(traj, start))
    p50, p95, p99 = np.percentile(lat, [50, 95, 99])
    return ServeResult(
        method="des",
        qps=float(workload.offered_qps),
        p50_s=float(p50),
        p95_s=float(p95),
        p99_s=float(p99),
        mean_s=float(lat.mean()),
        utilization=float(max(cpu_u, acc_u)),
        cpu_utilization=float(cpu_u),
        accel_utilization=float(acc_u),
        accel_fraction=float(traj.accel.mean()),
        stable=stable,
        n_measured=int(lat.size),
        p95_ci=batch_quantile_ci(lat, 95.0),
        p99_ci=batch_quantile_ci(lat, 99.0),
        latencies=lat if keep_latencies else None,
    )


def workload_load(workload: Workload, policy: Policy, cpu_curve: CpuCurve | None, accel_curve: Curve | None) -> OfferedLoad:
    """Offered load of ``workload`` (exact size pmf when Poisson, sample pmf for a trace)."""
    if workload.unit_times is not None and workload.sizes_dist is not None:
        pmf = workload.sizes_dist.pmf()
    else:
        pmf = sizes_pmf(workload.sizes)
    return offered_load(workload.offered_qps, pmf, policy, cpu_curve, accel_curve)


def batch_quantile_ci(x: np.ndarray, q: float, batches: int = CI_BATCHES) -> tuple[float, float]:
    """95% confidence interval of the ``q``-th percentile by batch quantiles (see module doc)."""
    if x.size < batches * 20:
        return (float("nan"), float("nan"))
    usable = x[: (x.size // batches) * batches].reshape(batches, -1)
    per = np.percentile(usable, q, axis=1)
    # Student's t quantile: special.stdtrit is what scipy.stats.t.ppf evaluates (scipy.stats
    # itself costs about 0.5 s to import; scipy.special 0.45 s, so only a simulation loads it)
    from scipy import special

    half = special.stdtrit(batches - 1, 0.975) * per.std(ddof=1) / np.sqrt(batches)
    centre = float(np.percentile(x, q))
    return (centre - float(half), centre + float(half))


def _backlog_grows(traj: Trajectory, start: int) -> bool:
    """True when the queue stopped emptying: in the last half of the measured queries no query
    found an idle engine (zero wait), for either engine pool, and the mean wait of the last tenth
    exceeds that of the middle tenth."""
    for mask in (~traj.accel, traj.accel):
        w = traj.wait[start:][mask[start:]]
        if w.size < 20:
            continue
        half = w[w.size // 2 :]
        if np.any(half <= 1e-12):
            continue
        tenth = max(1, w.size // 10)
        mid = w[w.size // 2 - tenth // 2 : w.size // 2 + (tenth + 1) // 2]
        if w[-tenth:].mean() > mid.mean():
            return True
    return False
