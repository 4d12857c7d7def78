"""Analytical approximation of the serving system of :mod:`dse.serve.des` (no simulation).

The latency of a query is ``T = d_q + W + D`` (docs/serving.md has the derivation):

* The state an arriving query sees, from the M^X/M/c queue of sub-batches (batch-Poisson arrivals:
  a query brings its ``k`` sub-batches at once; ``c = N`` engines; exponential service with the
  mean sub-batch time): P(j engines busy) for j < N, the probability ``P_w`` that all are busy, and
  the mean number of sub-batches ahead, by a level-crossing recursion
  (:func:`dse.serve.queueing.batch_queue`). Batch
  arrivals matter: a query of 11 sub-batches on 14 engines often finds too few free engines at
  loads where Erlang C (single arrivals) says nobody waits.
* ``W``, the wait of the query's first sub-batch: zero with probability ``1 - P_w``, else
  exponential with mean ``E[ahead] / (N mu) * (I + c_s^2) / (I + 1)``: the M^X/M/c mean scaled
  from exponential to the real service variability ``c_s^2`` with the heavy-traffic weight of the
  arrival variability ``I = E[K^2] / E[K]`` (exact M/M/c for single jobs; Pollaczek-Khinchine for
  M/G/1).
* ``D``, fork-join of the query's ``k`` sub-batches from the first start. With ``f`` engines
  free, sub-batches ``1..f`` start at once and sub-batch ``j > f`` starts ``(j - f) E[s] / (N - f + 1)``
  later (the mean order statistics of the residual times of the ``N - f`` busy engines); a query
  that waited sees ``f = 1`` (releases ``E[s] / N`` apart). ``P(D <= t) = prod_j F_j(t - start_j)`` with ``F_j`` the service-time law of
  sub-batch ``j`` (step, mean-one lognormal jitter, or exponential).
* Accelerator queries: the same with one job per query (M/G/c), ``T = d_q + W_a + s_a(n)``.

The CDF is built on a time grid (the exponential wait is convolved in exactly, with a first-order
recursive filter), mixed over query sizes, and inverted for p50/p95/p99; the mean is the integral
of the survival function. For single-job queries with exponential service it is exactly M/M/c. The
benchmark ``benchmarks/bench_serving.py`` measures its error against the simulator. The formulas
(routing, moments, queue state, wait scaling, fork-join schedule, service law, convolution) are
those of :mod:`dse.serve.queueing`; this module assembles them into the full CDF.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from dse.serve.des import ServeResult
from dse.serve.load import CpuCurve, OfferedLoad, offered_load
from dse.serve.policy import Policy
from dse.serve.queueing import (
    AccelPath,
    CpuPath,
    ServiceLaw,
    accel_path,
    batch_queue,
    cpu_path,
    exp_convolve,
    forkjoin_gap,
    forkjoin_schedule,
    routed_masks,
    routed_sizes,
    wait_rate,
)

Curve = Callable[[np.ndarray], np.ndarray]

#: Points of the time grid on which CDFs are evaluated.
GRID_POINTS = 4000
#: Below this probability of waiting the wait's tail is not worth extending the grid for.
WAIT_TAIL = 1e-7


def analytic(
    qps: float,
    pmf: np.ndarray,
    policy: Policy,
    cpu_curve: CpuCurve | None,
    accel_curve: Curve | None = None,
    grid_points: int = GRID_POINTS,
) -> ServeResult:
    """p50/p95/p99/mean latency at ``qps`` for size probabilities ``pmf`` (index = size)."""
    load = offered_load(qps, pmf, policy, cpu_curve, accel_curve)
    nan = float("nan")
    base = dict(
        method="analytic",
        qps=float(qps),
        utilization=load.utilization,
        cpu_utilization=load.cpu_utilization,
        accel_utilization=load.accel_utilization,
        accel_fraction=load.accel_fraction,
    )
    if not load.stable:
        return ServeResult(p50_s=nan, p95_s=nan, p99_s=nan, mean_s=nan, stable=False, **base)
    parts = _components(qps, pmf, policy, cpu_curve, accel_curve, load)
    t_max = max(p[2] for p in parts)
    t = np.linspace(0.0, t_max, grid_points)
    total = np.zeros_like(t)
    for weight, build, _ in parts:
        total += weight * build(t)
    total = np.maximum.accumulate(np.clip(total, 0.0, 1.0))
    total /= total[-1] if total[-1] > 0 else 1.0
    d_q = policy.costs.query_overhead_s
    p50, p95, p99 = (float(np.interp(q, total, t)) + d_q for q in (0.5, 0.95, 0.99))
    mean = float(np.trapezoid(1.0 - total, t)) + d_q
    return ServeResult(p50_s=p50, p95_s=p95, p99_s=p99, mean_s=mean, stable=True, **base)


def _wait_upper(p_wait: float, theta: float) -> float:
    """Extra grid time (s) for the exponential wait's tail beyond ``WAIT_TAIL``."""
    return np.log(p_wait / WAIT_TAIL) / theta if p_wait > WAIT_TAIL else 0.0


def _components(qps, pmf, policy: Policy, cpu_curve, accel_curve, load: OfferedLoad):
    """[(weight, cdf_builder(t), t_upper)] for the CPU and accelerator paths."""
    p = np.asarray(pmf, dtype=float)
    law = ServiceLaw.for_policy(policy)
    to_cpu, to_acc = routed_masks(p.size, policy)
    out = []
    mass_cpu = float(p[to_cpu].sum())
    if mass_cpu > 0:
        n, w = routed_sizes(p, to_cpu)
        cpu = cpu_path(n, w, policy, load.cpu_curve, law)
        out.append((mass_cpu, *_cpu_component(qps * mass_cpu, cpu, int(policy.cpu_workers), law)))
    mass_acc = float(p[to_acc].sum())
    if mass_acc > 0:
        n, w = routed_sizes(p, to_acc)
        out.append((mass_acc, *_accel_component(qps * mass_acc, accel_path(n, w, policy, accel_curve, law), policy, law)))
    return out


def _accel_component(rate: float, acc: AccelPath, policy: Policy, law: ServiceLaw):
    """(cdf_builder(t), t_upper) of the accelerator path (M/G/c, one job per query)."""
    c = policy.accel_workers
    _, pw, ahead = batch_queue(c, rate, acc.mean_s, np.array([0.0, 1.0]))
    theta = wait_rate(ahead, acc.mean_s, c, 1.0, acc.scv) if pw > 0 else float("inf")
    upper = law.upper(float(acc.service_s.max())) + _wait_upper(pw, theta)

    def build_acc(t: np.ndarray) -> np.ndarray:
        f = law.mixture(t, acc.service_s, acc.weights)
        g = exp_convolve(f, t[1] - t[0], theta) if pw > 0 else f
        return (1 - pw) * f + pw * g

    return build_acc, upper


def _cpu_component(rate: float, cpu: CpuPath, nw: int, law: ServiceLaw):
    """(cdf_builder(t), t_upper) of the CPU path at ``rate`` CPU queries per second."""
    sub = cpu.subbatches
    t_b, t_r, k, w = sub.full_s, sub.last_s, sub.count, cpu.weights
    mean_sub = cpu.mean_sub_s
    # batch-aware queue state: jobs are sub-batches, batches are queries (see batch_queue)
    busy, pw, ahead = batch_queue(nw, rate, mean_sub, cpu.kpmf)
    theta = wait_rate(ahead, mean_sub, nw, cpu.dispersion, cpu.scv) if pw > 0 else float("inf")
    kmax = cpu.kmax
    # free engines seen by a query that does not wait: f = N - busy >= 1
    free = nw - np.arange(nw)
    fmax = min(nw, kmax)
    pf = np.zeros(fmax + 1)
    np.add.at(pf, np.minimum(free, fmax), busy)
    upper = (kmax - 1) * mean_sub + law.upper(max(t_b, float(t_r.max()))) + _wait_upper(pw, theta)

    # group the sizes by sub-batch count k: the last sub-batch's law is a mixture over r within k
    ks, k_idx = np.unique(k, return_inverse=True)
    wk = np.bincount(k_idx, weights=w)

    def build_cpu(t: np.ndarray) -> np.ndarray:
        fb = law.cdf(t, t_b)  # a full sub-batch started at 0
        fb_pow = np.ones((kmax, t.size))
        for m in range(1, kmax):
            fb_pow[m] = fb_pow[m - 1] * fb
        # last[i] = P(last sub-batch of a k = ks[i] query <= t), mixed over its sizes r
        last = np.empty((ks.size, t.size))
        for i in range(ks.size):
            sel = k_idx == i
            last[i] = law.mixture(t, t_r[sel], w[sel] / wk[i])

        def fork_join(f: int) -> np.ndarray:
            # P(D <= t), mixed over sizes, when f engines are free as the first sub-batch starts
            gap = forkjoin_gap(mean_sub, nw, f)
            later = max(int(ks.max()) - 1 - f, 0)
            shifted = np.ones((later + 1, t.size))  # shifted[m] = prod_{i<=m} F_b(t - i gap)
            for m in range(1, later + 1):
                shifted[m] = shifted[m - 1] * np.interp(t - m * gap, t, fb, left=0.0)
            out = np.zeros_like(t)
            for i, kk in enumerate(ks):
                at_start, full_later, last_start = forkjoin_schedule(kk, f)
                off = last_start * gap
                lst = np.interp(t - off, t, last[i], left=0.0) if off > 0 else last[i]
                out += wk[i] * fb_pow[at_start] * shifted[full_later] * lst
            return out

        d1 = fork_join(1)
        cdf = pf[1] * d1
        for f in range(2, fmax + 1):
            if pf[f] > 1e-9:
                cdf = cdf + pf[f] * fork_join(f)
        if pw > 0:
            cdf = cdf + pw * exp_convolve(d1, t[1] - t[0], theta)
        return cdf

    return build_cpu, upper
