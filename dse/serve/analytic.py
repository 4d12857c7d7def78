"""Analytical approximation of the serving system of :mod:`dse.serve.des` (no simulation).

The latency of a query is ``T = d_q + W + D`` (docs/serving.md has the derivation):

* The state an arriving query sees, from the M^X/M/c queue of sub-batches (batch-Poisson arrivals:
  a query brings its ``k`` sub-batches at once; ``c = N`` engines; exponential service with the
  mean sub-batch time): P(j engines busy) for j < N, the probability ``P_w`` that all are busy, and
  the mean number of sub-batches ahead, by a level-crossing recursion (:func:`batch_queue`). Batch
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
benchmark ``benchmarks/bench_serving.py`` measures its error against the simulator.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import signal, special

from dse.serve.des import ServeResult
from dse.serve.load import OfferedLoad, offered_load, split_sizes
from dse.serve.policy import Policy

Curve = Callable[[np.ndarray], np.ndarray]

#: Points of the time grid on which CDFs are evaluated.
GRID_POINTS = 4000
#: Probability mass of rare sizes dropped before building CDFs.
PRUNE_MASS = 1e-7


def erlang_c(servers: int, offered: float) -> float:
    """Erlang C: probability that an arrival waits in M/M/c with ``offered`` Erlangs."""
    if offered <= 0:
        return 0.0
    rho = offered / servers
    if rho >= 1:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):  # Erlang B recursion, stable for large c
        b = offered * b / (k + offered * b)
    return b / (1 - rho * (1 - b))


class _Law:
    """CDF of ``mean * factor``; factor = 1 (step), mean-one lognormal with CV ``cv``, or Exp(1)."""

    def __init__(self, law: str, cv: float) -> None:
        self.law = law
        self.cv = cv
        self.s = np.sqrt(np.log1p(cv * cv)) if cv > 0 else 0.0

    def cdf(self, t: np.ndarray, mean: np.ndarray | float) -> np.ndarray:
        m = np.asarray(mean, dtype=float)
        if self.law == "exponential":
            return np.where(t > 0, -np.expm1(-np.maximum(t, 0) / np.maximum(m, 1e-300)), 0.0)
        if self.s == 0:
            return (t >= m).astype(float)
        z = np.log(np.maximum(t, 1e-300)) * (1 / self.s) - (np.log(np.maximum(m, 1e-300)) * (1 / self.s) - self.s / 2)
        return special.ndtr(z)

    def mixture(self, t: np.ndarray, means: np.ndarray, weights: np.ndarray, log_points: int = 256) -> np.ndarray:
        """``sum_i weights_i * cdf(t, means_i)`` on the grid ``t``, without a (classes x grid) array:
        steps by cumulative weights; the smooth lognormal mixture on ``log_points`` log-spaced
        times across its support, then interpolated (error below 1e-4)."""
        means = np.asarray(means, dtype=float)
        weights = np.asarray(weights, dtype=float)
        if self.law == "exponential":
            return weights @ self.cdf(t[None, :], means[:, None])
        if self.s == 0:
            order = np.argsort(means)
            cum = np.concatenate([[0.0], np.cumsum(weights[order])])
            return cum[np.searchsorted(means[order], t, side="right")]
        lo = np.log(max(means.min(), 1e-300)) - 7 * self.s
        hi = np.log(max(means.max(), 1e-300)) + 7 * self.s
        u = np.linspace(lo, hi, log_points)
        z = (u[None, :] - np.log(np.maximum(means, 1e-300))[:, None]) / self.s + self.s / 2
        vals = weights @ special.ndtr(z)
        with np.errstate(divide="ignore"):
            lt = np.log(t)
        return np.interp(lt, u, vals, left=0.0, right=float(weights.sum()))

    def upper(self, mean: float) -> float:
        """A time beyond which the CDF is 1 to ~1e-9."""
        if self.law == "exponential":
            return mean * 21.0
        return mean * np.exp(6.0 * self.s) if self.s else mean


def _exp_convolve(cdf: np.ndarray, h: float, theta: float) -> np.ndarray:
    """CDF of ``X + E`` on the grid, E ~ Exp(theta) independent of X (``cdf`` piecewise linear)."""
    x = theta * h
    alpha = np.exp(-x)
    c1 = 1 - alpha
    c2 = c1 - (1 - alpha - alpha * x) / x if x > 1e-12 else x / 2
    f = np.asarray(cdf)
    drive = f[:-1] * (c1 - c2) + f[1:] * c2
    out = np.empty_like(f)
    out[0] = 0.0
    out[1:] = signal.lfilter([1.0], [1.0, -alpha], drive)
    return out


def batch_queue(servers: int, rate: float, mean_service: float, kpmf: np.ndarray, max_states: int = 200_000) -> tuple[np.ndarray, float, float]:
    """State seen by an arriving batch in the M^X/M/c queue (batch-Poisson arrivals of jobs, ``c``
    exponential engines).

    ``kpmf[k]`` = P(a batch has k jobs). Solves the level-crossing balance
    ``mu min(j+1, c) pi_{j+1} = lambda sum_{i<=j} pi_i P(K > j - i)`` and returns
    ``(busy, p_wait, mean_ahead)``: ``busy[j]`` = P(j engines busy, none queued), j < c;
    ``p_wait`` = P(all engines busy); ``mean_ahead`` = E[jobs queued + 1 | wait], so that the mean
    wait of the batch's first job is ``mean_ahead / (c mu)`` with exponential engines. PASTA makes
    these the probabilities an arriving batch sees.
    """
    kpmf = np.asarray(kpmf, dtype=float)
    kmax = kpmf.size - 1
    tail = np.concatenate([1.0 - np.cumsum(kpmf)[:-1], [0.0]])  # P(K > m), m = 0..kmax
    tail = np.clip(tail[:kmax], 0.0, 1.0)  # m = 0..kmax-1
    mu = 1.0 / mean_service
    lam = float(rate)
    # below c engines the coefficients depend on j: a short explicit loop
    head = np.zeros(servers + 1)
    head[0] = 1.0
    rev = tail[::-1]  # rev[kmax-1-m] = P(K > m)
    for j in range(servers):
        lo = max(0, j - kmax + 1)
        acc = float(np.dot(head[lo : j + 1], rev[kmax - 1 - (j - lo) :]))
        head[j + 1] = lam * acc / (mu * (j + 1))
    # from c on: pi_{j+1} = (lambda / (c mu)) sum_m P(K > m) pi_{j-m}, a linear recurrence run as
    # an IIR filter whose input reproduces the head exactly
    coef = np.concatenate([[1.0], -(lam / (mu * servers)) * tail])
    length = servers + 1 + 64 * kmax
    while True:
        x = np.zeros(length)
        x[: servers + 1] = signal.lfilter(coef, [1.0], head)  # residuals of the head
        pi = signal.lfilter([1.0], coef, x)
        if pi[-1] < 1e-14 * pi.sum() or length >= max_states:
            break
        length = min(4 * length, max_states)
    j = pi.size - 1
    p = pi[: j + 1]
    # geometric extrapolation of a truncated tail (only for loads very close to 1)
    ratio = p[-1] / p[-2] if p[-2] > 0 else 0.0
    extra = p[-1] * ratio / (1 - ratio) if 0 < ratio < 1 and p[-1] > 1e-12 * p.sum() else 0.0
    z = p.sum() + extra
    p = p / z
    busy = p[:servers]
    queued = p[servers:]
    p_wait = 1.0 - float(busy.sum())
    if p_wait <= 1e-15:
        return busy, 0.0, 1.0
    ahead = np.arange(queued.size) + 1.0
    mass_q = float(queued.sum())
    mean_ahead = (float(np.dot(queued, ahead)) + (extra / z) * (queued.size + 1 + 1 / (1 - ratio) if extra else 0.0))
    mean_ahead /= max(mass_q + extra / z, 1e-300)
    return busy, p_wait, mean_ahead


def analytic(
    qps: float,
    pmf: np.ndarray,
    policy: Policy,
    cpu_curve: Curve | None,
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


def _prune(p: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sizes (and their probabilities, renormalised to the routed mass) with non-negligible mass."""
    n = np.flatnonzero(mask & (p > 0))
    q = p[n]
    order = np.argsort(q)
    drop = np.cumsum(q[order]) <= PRUNE_MASS * q.sum()
    keep = np.sort(order[~drop])
    n, q_keep = n[keep], q[keep]
    return n, q_keep * (q.sum() / q_keep.sum())


def _components(qps, pmf, policy: Policy, cpu_curve, accel_curve, load: OfferedLoad):
    """[(weight, cdf_builder(t), t_upper)] for the CPU and accelerator paths."""
    p = np.asarray(pmf, dtype=float)
    sizes = np.arange(p.size)
    costs = policy.costs
    law = _Law(policy.service, 1.0 if policy.service == "exponential" else costs.jitter)  # cv of a service time
    to_acc = (sizes >= policy.threshold) & (sizes >= 1) if policy.threshold is not None else np.zeros(p.size, bool)
    to_cpu = (sizes >= 1) & ~to_acc
    out = []
    mass_cpu = float(p[to_cpu].sum())
    if mass_cpu > 0:
        n, q = _prune(p, to_cpu)
        out.append(_cpu_component(qps, n, q, mass_cpu, policy, cpu_curve, load, law))
    mass_acc = float(p[to_acc].sum())
    if mass_acc > 0:
        n, q = _prune(p, to_acc)
        s = np.asarray(accel_curve(n.astype(float)), dtype=float) + costs.accel_overhead_s
        w = q / mass_acc
        es = float(w @ s)
        scv = float(w @ (s * s)) * (1 + law.cv**2) / es**2 - 1
        _, pw, ahead = batch_queue(policy.accel_workers, qps * mass_acc, es, np.array([0.0, 1.0]))
        theta = policy.accel_workers / (es * ahead) * 2.0 / (1.0 + scv) if pw > 0 else float("inf")
        upper = law.upper(float(s.max())) + (np.log(pw / 1e-7) / theta if pw > 1e-7 else 0.0)

        def build_acc(t: np.ndarray) -> np.ndarray:
            f = law.mixture(t, s, w)
            g = _exp_convolve(f, t[1] - t[0], theta) if pw > 0 else f
            return (1 - pw) * f + pw * g

        out.append((mass_acc, build_acc, upper))
    return out


def _cpu_component(qps, n, q, mass, policy: Policy, cpu_curve, load: OfferedLoad, law: _Law):
    costs = policy.costs
    b = int(policy.batch)
    nw = int(policy.cpu_workers)
    k, r = split_sizes(n, b)
    t_b = float(np.asarray(cpu_curve(np.array([float(b)])))[0]) * load.slowdown + costs.subbatch_overhead_s
    t_r = np.asarray(cpu_curve(r.astype(float)), dtype=float) * load.slowdown + costs.subbatch_overhead_s
    w = q / mass
    work = (k - 1) * t_b + t_r
    # batch-aware queue state: jobs are sub-batches, batches are queries (see batch_queue)
    lam = qps * mass
    ex = float(np.dot(w, work))
    ek = float(np.dot(w, k))
    mean_sub = ex / ek
    m2_sub = float(np.dot(w, (k - 1) * t_b**2 + t_r**2)) / ek * (1 + law.cv**2)
    scv_sub = m2_sub / mean_sub**2 - 1
    kpmf = np.bincount(k, weights=w, minlength=int(k.max()) + 1)
    busy, pw, ahead = batch_queue(nw, lam, mean_sub, kpmf)
    idc = float(np.dot(kpmf, np.arange(kpmf.size) ** 2)) / ek  # E[K^2]/E[K]: arrival variability
    mean_w = ahead / (nw / mean_sub) * (idc + scv_sub) / (idc + 1.0)
    theta = 1.0 / mean_w if pw > 0 else float("inf")
    kmax = int(k.max())
    # free engines seen by a query that does not wait: f = N - busy >= 1
    free = nw - np.arange(nw)
    fmax = min(nw, kmax)
    pf = np.zeros(fmax + 1)
    np.add.at(pf, np.minimum(free, fmax), busy)
    upper_w = np.log(pw / 1e-7) / theta if pw > 1e-7 else 0.0
    upper = (kmax - 1) * mean_sub + law.upper(max(t_b, float(t_r.max()))) + upper_w

    # group the sizes by sub-batch count k: the last sub-batch's law is a mixture over r within k
    ks, k_idx = np.unique(k, return_inverse=True)
    wk = np.bincount(k_idx, weights=w)

    def build_cpu(t: np.ndarray) -> np.ndarray:
        h = t[1] - t[0]
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
            # P(D <= t), mixed over sizes, when f engines are free as the first sub-batch starts:
            # sub-batches 1..f start at once; sub-batch j > f starts at the (j - f)-th release of
            # the N - f busy engines, (j - f) * E[s] / (N - f + 1) later (mean order statistics of
            # their residual times; E[s] / N apart for a query that waited, f = 1)
            gap = mean_sub / (nw - f + 1)
            later = max(int(ks.max()) - 1 - f, 0)
            shifted = np.ones((later + 1, t.size))  # shifted[m] = prod_{i<=m} F_b(t - i gap)
            for m in range(1, later + 1):
                shifted[m] = shifted[m - 1] * np.interp(t - m * gap, t, fb, left=0.0)
            out = np.zeros_like(t)
            for i, kk in enumerate(ks):
                off = max(kk - f, 0) * gap
                lst = np.interp(t - off, t, last[i], left=0.0) if off > 0 else last[i]
                out += wk[i] * fb_pow[min(f, kk - 1)] * shifted[max(kk - 1 - f, 0)] * lst
            return out

        d1 = fork_join(1)
        cdf = pf[1] * d1
        for f in range(2, fmax + 1):
            if pf[f] > 1e-9:
                cdf = cdf + pf[f] * fork_join(f)
        if pw > 0:
            cdf = cdf + pw * _exp_convolve(d1, h, theta)
        return cdf

    return mass, build_cpu, upper
