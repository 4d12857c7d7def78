"""Offered load of a policy: engine utilisation, the co-location fixed point, the saturation rate.

Shared by the simulator and the analytical model so that both see the same service times; the
routing and the sub-batch split are those of :mod:`dse.serve.queueing`.

For a query of size ``n`` below the threshold: ``k = ceil(n/b)`` sub-batches, ``k-1`` of ``b``
items and one of ``r = n - (k-1) b``; its CPU work is ``(k-1) t(b) + t(r)`` of curve time plus ``k``
sub-batch overheads ``d_s``.

Co-location (the one home of the formula). The CPU curve depends on how many engines run at
once: a :class:`LoadedCurve` holds the cost model's curves ``t_k`` with ``k = 1..N`` engines busy
(``service_curve(..., engines=k)``); a plain curve has no load dependence. In mean field, an
engine serving a sub-batch at CPU utilisation ``u`` runs beside ``u (N - 1)`` busy others, so

    t(m; u) = t_{k(u)}(m) * (1 + kappa * u),   k(u) = 1 + u (N - 1),

interpolated linearly in ``k`` between the tabulated engine counts (``kappa``:
``ServerCosts.colocation``, contention the cost model does not explain, default 0). The
utilisation solves

    u = lambda * (A(u) + D) / N,   A(u) = sum_{n<Q} p_n work_n(u),   D = sum_{n<Q} p_n k_n d_s;

``A`` is piecewise linear in ``u``, so the smallest root is found exactly segment by segment.
Saturation (``u = 1``) is at ``lambda_sat = N / (A(1) + D)``: the all-busy curve. A plain curve
with ``kappa`` gives the scalar ``slowdown = 1 + kappa u`` and ``u = lambda (A + D) / (N - kappa
lambda A)``. The accelerator pool has ``u_a = lambda sum_{n>=Q} p_n (t_a(n) + d_a) / c_a``. The
system is stable when both are below 1. A mean-one jitter changes no mean, so it does not enter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike

from dse.errors import DseError
from dse.serve.policy import Policy
from dse.serve.queueing import curve_times, routed_masks, split_sizes, sub_batches

Curve = Callable[[np.ndarray], np.ndarray]


def sizes_pmf(sizes: np.ndarray, max_size: int | None = None) -> np.ndarray:
    """Empirical probabilities of sizes ``0..max_size`` (index = size) from a sample."""
    s = np.asarray(sizes, dtype=np.int64)
    m = int(s.max()) if max_size is None else int(max_size)
    counts = np.bincount(s, minlength=m + 1)[: m + 1].astype(float)
    return counts / counts.sum()


#: Most engine counts a :class:`LoadedCurve` tabulates (every count up to this many engines).
MAX_ENGINE_POINTS = 32


def engine_counts(workers: int) -> list[int]:
    """Engine counts to tabulate for ``workers`` engines: every count up to
    :data:`MAX_ENGINE_POINTS` engines, else that many evenly spaced (1 and ``workers`` included).
    The cost model's slowdown is not linear in the count (no contention until the shared
    bandwidth saturates), so a curve at 1 and N engines alone would not do (docs/serving.md)."""
    n = int(workers)
    if n < 1:
        raise DseError(f"--workers: {n} must be >= 1")
    if n <= MAX_ENGINE_POINTS:
        return list(range(1, n + 1))
    return sorted({int(round(k)) for k in np.linspace(1, n, MAX_ENGINE_POINTS)})


@dataclass(frozen=True)
class LoadedCurve:
    """The CPU curve as a function of how many engines run at once: ``curves[i]`` is the time of
    one engine's sub-batch (s) while ``engines[i]`` engines are busy (``engines`` ascending from 1;
    the last count is "all busy"). Where a plain curve is accepted, it means no load dependence."""

    engines: tuple[int, ...]
    curves: tuple[Curve, ...]

    def __post_init__(self) -> None:
        e = self.engines
        if not e or len(e) != len(self.curves) or e[0] != 1 or any(b <= a for a, b in zip(e, e[1:])):
            raise DseError("a loaded CPU curve needs one curve per engine count, counts ascending from 1")

    @classmethod
    def build(cls, curve_of: Callable[[int], Curve], workers: int) -> "LoadedCurve":
        """``curve_of(k)`` (e.g. ``service_curve(..., engines=k)``) at :func:`engine_counts`."""
        ks = engine_counts(workers)
        return cls(tuple(ks), tuple(curve_of(k) for k in ks))

    @property
    def isolated(self) -> Curve:
        return self.curves[0]

    @property
    def busy(self) -> Curve:
        return self.curves[-1]


CpuCurve = Curve | LoadedCurve


def _knots(curve: CpuCurve, kappa: float) -> tuple[np.ndarray, tuple[Curve, ...], np.ndarray]:
    """(utilisations, curves, factors) at which the curve at load is tabulated (module doc)."""
    if isinstance(curve, LoadedCurve) and len(curve.engines) > 1:
        k = np.asarray(curve.engines, dtype=float)
        u = (k - 1) / (k[-1] - 1)
        curves = curve.curves
    else:
        plain = curve.busy if isinstance(curve, LoadedCurve) else curve
        u, curves = np.array([0.0, 1.0]), (plain, plain)
    return u, curves, 1 + kappa * u


def curve_at(curve: CpuCurve | None, u: float, kappa: float = 0.0) -> Curve | None:
    """The plain CPU curve at utilisation ``u`` (clipped to [0, 1]): see the module doc."""
    if curve is None:
        return None
    uk, curves, f = _knots(curve, kappa)
    u = min(max(float(u), 0.0), 1.0)
    i = min(int(np.searchsorted(uk, u, side="right")) - 1, uk.size - 2)
    w = (u - uk[i]) / (uk[i + 1] - uk[i])
    lo, hi = (curves[i], (1 - w) * f[i]), (curves[i + 1], w * f[i + 1])
    parts = [(c, a) for c, a in (lo, hi) if a != 0]
    if len(parts) == 1 and parts[0][1] == 1.0:
        return parts[0][0]  # a tabulated curve itself (keeps a ServiceCurve a ServiceCurve)
    return lambda m: sum(a * np.asarray(c(m), dtype=float) for c, a in parts)


def load_dependent(curve: CpuCurve | None, kappa: float = 0.0) -> bool:
    """Whether CPU service times change with the load."""
    return kappa > 0 or (isinstance(curve, LoadedCurve) and len(curve.engines) > 1)


def _utilisation(lam: float, u_knots: np.ndarray, work: np.ndarray, overhead: float, workers: int) -> float:
    """Smallest root of ``u = lam (A(u) + D) / N`` with ``A`` linear between knots; past saturation
    (no root below 1), the utilisation at full contention ``lam (A(1) + D) / N``. In Python
    floats: a handful of knots (2 for a plain curve), the same operations as elementwise numpy."""
    uk, wk = u_knots.tolist(), work.tolist()
    g = [lam * (w + overhead) / workers - u for w, u in zip(wk, uk)]
    if not g[-1] < 0:
        return float(lam * (wk[-1] + overhead) / workers)
    if not g[0] > 0:  # no work at all
        return 0.0
    i = next(j for j, x in enumerate(g) if x <= 0)  # first knot at or past the root (g[0] > 0)
    return float(uk[i - 1] + (uk[i] - uk[i - 1]) * g[i - 1] / (g[i - 1] - g[i]))


@dataclass(frozen=True)
class OfferedLoad:
    qps: float
    accel_fraction: float
    cpu_utilization: float
    accel_utilization: float
    #: mean slowdown of CPU curve time at this load against the isolated curve
    slowdown: float
    #: mean curve work (s, isolated curve) and mean sub-batch count per arriving query, CPU side
    cpu_curve_work: float
    cpu_subbatches: float
    #: mean accelerator work (s) per arriving query (0 for CPU queries)
    accel_work: float
    #: mean curve work (s) per arriving query with every CPU engine busy (saturation)
    cpu_busy_work: float = 0.0
    #: the plain CPU curve at this load (what the engines' service times come from)
    cpu_curve: Curve | None = field(default=None, compare=False, repr=False)

    @property
    def utilization(self) -> float:
        return max(self.cpu_utilization, self.accel_utilization)

    @property
    def stable(self) -> bool:
        return self.cpu_utilization < 1 and self.accel_utilization < 1


@dataclass(frozen=True)
class LoadParts:
    """What :func:`offered_load` owes to the sizes, the policy and the curves, not to the load:
    the utilisations at which the CPU curve is tabulated (:func:`_knots`) and the mean curve work
    per arriving query there (s, co-location factors applied), the mean sub-batch count per
    arriving query on the CPU side, the accelerator's mean work per arriving query (s) and the
    fraction of queries offloaded. Computed once per policy by callers that ask for many loads."""

    knots: np.ndarray
    work: np.ndarray
    subbatches: float
    accel_work: float
    accel_fraction: float

    @classmethod
    def plain(cls, work_s: float, subbatches: float, accel_fraction: float = 0.0) -> "LoadParts":
        """A CPU curve that does not depend on the load (no co-location) and no accelerator work:
        ``work_s`` and ``subbatches`` per arriving query."""
        return cls(np.array([0.0, 1.0]), np.array([work_s, work_s]), float(subbatches), 0.0, float(accel_fraction))


def load_parts(pmf: np.ndarray, policy: Policy, cpu_curve: CpuCurve | None, accel_curve: Curve | None = None) -> LoadParts:
    """:class:`LoadParts` of ``policy`` for size probabilities ``pmf`` (index = size)."""
    p = np.asarray(pmf, dtype=float)
    n = np.arange(p.size)
    to_cpu, to_acc = (mask & (p > 0) for mask in routed_masks(p.size, policy))
    costs = policy.costs
    uk, work, sub, acc_work = np.array([0.0, 1.0]), np.zeros(2), 0.0, 0.0
    if to_cpu.any():
        if cpu_curve is None or policy.cpu_workers < 1:
            raise DseError("queries below the threshold need CPU engines and a CPU service curve")
        uk, curves, f = _knots(cpu_curve, costs.colocation)
        work_of: dict[int, float] = {}  # a plain curve is both knots: its work once
        for c in curves:
            if id(c) not in work_of:
                work_of[id(c)] = float(np.dot(p[to_cpu], sub_batches(n[to_cpu], policy.batch, c).work_s))
        work = np.array([work_of[id(c)] for c in curves]) * f
        sub = float(np.dot(p[to_cpu], split_sizes(n[to_cpu], policy.batch)[0]))
    if to_acc.any():
        if accel_curve is None or policy.accel_workers < 1:
            raise DseError("--threshold needs an accelerator service curve (--accel)")
        acc_work = float(np.dot(p[to_acc], curve_times(accel_curve, n[to_acc], "accelerator") + costs.accel_overhead_s))
    return LoadParts(uk, work, sub, acc_work, float(p[to_acc].sum()))


def utilisations(qps: float, policy: Policy, parts: LoadParts) -> tuple[float, float]:
    """``(CPU, accelerator)`` utilisation at ``qps`` (1/s) from the policy's :class:`LoadParts`
    (the co-location fixed point on the CPU side; module doc)."""
    lam = float(qps)
    u = 0.0
    if parts.subbatches > 0:
        u = _utilisation(lam, parts.knots, parts.work, parts.subbatches * policy.costs.subbatch_overhead_s,
                         policy.cpu_workers)
    ua = lam * parts.accel_work / policy.accel_workers if policy.accel_workers else 0.0
    return float(u), float(ua)


def offered_load(
    qps: float, pmf: np.ndarray, policy: Policy, cpu_curve: CpuCurve | None, accel_curve: Curve | None = None,
    parts: LoadParts | None = None,
) -> OfferedLoad:
    """Utilisations and the CPU curve at ``qps`` for size probabilities ``pmf`` (index = size);
    ``parts``: their :func:`load_parts` when the caller has them."""
    lp = parts if parts is not None else load_parts(pmf, policy, cpu_curve, accel_curve)
    u, ua = utilisations(qps, policy, lp)
    a_now = float(np.interp(min(u, 1.0), lp.knots, lp.work)) if lp.subbatches > 0 else 0.0
    work = lp.work
    return OfferedLoad(
        qps=float(qps),
        accel_fraction=lp.accel_fraction,
        cpu_utilization=u,
        accel_utilization=ua,
        slowdown=a_now / work[0] if work[0] > 0 else 1.0,
        cpu_curve_work=float(work[0]),
        cpu_subbatches=lp.subbatches,
        accel_work=lp.accel_work,
        cpu_busy_work=float(work[-1]),
        cpu_curve=curve_at(cpu_curve, u, policy.costs.colocation),
    )


def saturation_qps(pmf: np.ndarray, policy: Policy, cpu_curve: CpuCurve | None, accel_curve: Curve | None = None) -> float:
    """The arrival rate at which the busier engine pool reaches utilisation 1 (the CPU engines
    with the all-busy curve)."""
    load = offered_load(1.0, pmf, policy, cpu_curve, accel_curve)
    cpu_per_query = load.cpu_busy_work + load.cpu_subbatches * policy.costs.subbatch_overhead_s
    return float(saturation_rate(cpu_per_query, policy.cpu_workers, load.accel_work, policy.accel_workers))


def saturation_rate(cpu_work_s: ArrayLike, cpu_workers: int, accel_work_s: ArrayLike = 0.0, accel_workers: int = 0) -> np.ndarray:
    """The arrival rate (1/s) at which the busier engine pool reaches utilisation 1, from each
    pool's mean engine time per arriving query (s; the CPU's with every engine busy, sub-batch
    overheads included); infinite when neither has work. Elementwise over arrays of work."""
    cpu = np.asarray(cpu_work_s, dtype=float)
    acc = np.asarray(accel_work_s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_cpu = np.where(cpu > 0, cpu_workers / cpu, np.inf)
        by_acc = np.where(acc > 0, accel_workers / acc, np.inf)
    return np.minimum(by_cpu, by_acc)
