"""One entry point for a load point and for latency-bounded throughput, by either method.

``serve_point`` evaluates one arrival rate with the simulator (``method="des"``) or the analytical
model (``method="analytic"``); ``capacity`` runs the monotone SLA search of
:mod:`dse.serve.sla_search` over it. Both take a :class:`SizeDistribution` (or a spec string) and
reuse one seeded set of queries at every rate (common random numbers), so p95 is monotone in the
rate and the search is deterministic for a seed.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from dse.errors import DseError
from dse.serve.sla_search import CapacityResult, max_qps_under_sla
from dse.serve.analytic import analytic
from dse.serve.des import ServeResult, simulate
from dse.serve.load import CpuCurve, saturation_qps
from dse.serve.policy import Policy
from dse.serve.workload import DEFAULT_SIZES, SizeDistribution, Workload, parse_sizes, poisson_workload

METHODS = ("des", "analytic")
Curve = Callable[[np.ndarray], np.ndarray]


def _dist(sizes: SizeDistribution | str) -> SizeDistribution:
    return parse_sizes(sizes) if isinstance(sizes, str) else sizes


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise DseError(f"--method: '{method}' is not one of {', '.join(METHODS)}")


class PointEvaluator:
    """``evaluate(qps) -> ServeResult`` with fixed policy, curves, sizes and random numbers."""

    def __init__(
        self,
        policy: Policy,
        cpu_curve: CpuCurve | None,
        accel_curve: Curve | None = None,
        sizes: SizeDistribution | str = DEFAULT_SIZES,
        method: str = "des",
        n_queries: int = 100_000,
        seed: int = 0,
        warmup: float = 0.1,
    ) -> None:
        _check_method(method)
        self.policy = policy
        self.cpu_curve = cpu_curve
        self.accel_curve = accel_curve
        self.dist = _dist(sizes)
        self.method = method
        self.seed = seed
        self.warmup = warmup
        self._base: Workload | None = None
        if method == "des":
            self._base = poisson_workload(1.0, n_queries, self.dist, seed)

    def __call__(self, qps: float) -> ServeResult:
        if not (qps > 0 and math.isfinite(qps)):
            raise DseError(f"--qps: {qps} must be a positive number")
        if self.method == "analytic":
            return analytic(qps, self.dist.pmf(), self.policy, self.cpu_curve, self.accel_curve)
        assert self._base is not None
        return simulate(self._base.at_rate(qps), self.policy, self.cpu_curve, self.accel_curve, self.seed, self.warmup)

    def p95(self, qps: float) -> float:
        r = self(qps)
        return r.p95_s if r.stable else math.inf

    def saturation_qps(self) -> float:
        return saturation_qps(self.dist.pmf(), self.policy, self.cpu_curve, self.accel_curve)


def serve_point(
    qps: float,
    policy: Policy,
    cpu_curve: CpuCurve | None,
    accel_curve: Curve | None = None,
    sizes: SizeDistribution | str = DEFAULT_SIZES,
    method: str = "des",
    n_queries: int = 100_000,
    seed: int = 0,
) -> ServeResult:
    """Latency statistics at one arrival rate."""
    return PointEvaluator(policy, cpu_curve, accel_curve, sizes, method, n_queries, seed)(qps)


def capacity(
    sla_s: float,
    policy: Policy,
    cpu_curve: CpuCurve | None,
    accel_curve: Curve | None = None,
    sizes: SizeDistribution | str = DEFAULT_SIZES,
    method: str = "des",
    n_queries: int = 100_000,
    seed: int = 0,
    rel_tol: float = 0.005,
) -> CapacityResult:
    """Highest rate with p95 <= ``sla_s`` (bracketed below the saturation rate)."""
    ev = PointEvaluator(policy, cpu_curve, accel_curve, sizes, method, n_queries, seed)
    sat = ev.saturation_qps()
    if not sat > 0:
        raise DseError("the service curves give the system no capacity")
    return max_qps_under_sla(ev.p95, sla_s, start=sat / 2, hi=sat, rel_tol=rel_tol)
