"""Offered load of a policy: engine utilisation, the co-location fixed point, the saturation rate.

Shared by the simulator and the analytical model so that both see the same service times; the
routing and the sub-batch split are those of :mod:`dse.serve.queueing`.

For a query of size ``n`` below the threshold: ``k = ceil(n/b)`` sub-batches, ``k-1`` of ``b``
items and one of ``r = n - (k-1) b``; its CPU work is ``(k-1) t(b) + t(r)`` of curve time plus ``k``
sub-batch overheads. With arrival rate ``lambda`` and size probabilities ``p_n``, the CPU engines'
utilisation ``u`` solves the mean-field co-location fixed point

    u = lambda * (A * (1 + kappa * u) + D) / N,   A = sum_{n<Q} p_n work_n,   D = sum_{n<Q} p_n k_n d_s

so ``u = lambda (A + D) / (N - kappa lambda A)``; the CPU curve is then scaled by
``slowdown = 1 + kappa * min(u, 1)``. The accelerator pool has ``u_a = lambda sum_{n>=Q} p_n
(t_a(n) + d_a) / c_a``. The system is stable when both are below 1. A mean-one jitter changes no
mean, so it does not enter here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from dse.errors import DseError
from dse.serve.policy import Policy
from dse.serve.queueing import curve_times, routed_masks, sub_batches

Curve = Callable[[np.ndarray], np.ndarray]


def sizes_pmf(sizes: np.ndarray, max_size: int | None = None) -> np.ndarray:
    """Empirical probabilities of sizes ``0..max_size`` (index = size) from a sample."""
    s = np.asarray(sizes, dtype=np.int64)
    m = int(s.max()) if max_size is None else int(max_size)
    counts = np.bincount(s, minlength=m + 1)[: m + 1].astype(float)
    return counts / counts.sum()


@dataclass(frozen=True)
class OfferedLoad:
    qps: float
    accel_fraction: float
    cpu_utilization: float
    accel_utilization: float
    slowdown: float
    #: mean curve work (s) and mean sub-batch count per arriving query, CPU side
    cpu_curve_work: float
    cpu_subbatches: float
    #: mean accelerator work (s) per arriving query (0 for CPU queries)
    accel_work: float

    @property
    def utilization(self) -> float:
        return max(self.cpu_utilization, self.accel_utilization)

    @property
    def stable(self) -> bool:
        return self.cpu_utilization < 1 and self.accel_utilization < 1


def offered_load(
    qps: float, pmf: np.ndarray, policy: Policy, cpu_curve: Curve | None, accel_curve: Curve | None = None
) -> OfferedLoad:
    """Utilisations and slowdown at ``qps`` for size probabilities ``pmf`` (index = size)."""
    p = np.asarray(pmf, dtype=float)
    n = np.arange(p.size)
    to_cpu, to_acc = (mask & (p > 0) for mask in routed_masks(p.size, policy))
    costs = policy.costs
    a_work = sub = acc_work = 0.0
    if to_cpu.any():
        if cpu_curve is None or policy.cpu_workers < 1:
            raise DseError("queries below the threshold need CPU engines and a CPU service curve")
        split = sub_batches(n[to_cpu], policy.batch, cpu_curve)
        a_work = float(np.dot(p[to_cpu], split.work_s))
        sub = float(np.dot(p[to_cpu], split.count))
    if to_acc.any():
        if accel_curve is None or policy.accel_workers < 1:
            raise DseError("--threshold needs an accelerator service curve (--accel)")
        acc_work = float(np.dot(p[to_acc], curve_times(accel_curve, n[to_acc], "accelerator") + costs.accel_overhead_s))
    kappa = costs.colocation
    lam = float(qps)
    if a_work or sub:
        nw = policy.cpu_workers
        denom = nw - kappa * lam * a_work
        u = lam * (a_work + sub * costs.subbatch_overhead_s) / denom if denom > 0 else float("inf")
        if not u < 1:  # overloaded: report the utilisation at full contention
            u = lam * (a_work * (1 + kappa) + sub * costs.subbatch_overhead_s) / nw
    else:
        u = 0.0
    ua = lam * acc_work / policy.accel_workers if policy.accel_workers else 0.0
    return OfferedLoad(
        qps=lam,
        accel_fraction=float(p[to_acc].sum()),
        cpu_utilization=float(u),
        accel_utilization=float(ua),
        slowdown=float(1 + kappa * min(u, 1.0)),
        cpu_curve_work=a_work,
        cpu_subbatches=sub,
        accel_work=acc_work,
    )


def saturation_qps(pmf: np.ndarray, policy: Policy, cpu_curve: Curve | None, accel_curve: Curve | None = None) -> float:
    """The arrival rate at which the busier engine pool reaches utilisation 1."""
    load = offered_load(1.0, pmf, policy, cpu_curve, accel_curve)
    rates = []
    cpu_per_query = load.cpu_curve_work * (1 + policy.costs.colocation) + load.cpu_subbatches * policy.costs.subbatch_overhead_s
    if cpu_per_query > 0:
        rates.append(policy.cpu_workers / cpu_per_query)
    if load.accel_work > 0:
        rates.append(policy.accel_workers / load.accel_work)
    return min(rates) if rates else float("inf")
