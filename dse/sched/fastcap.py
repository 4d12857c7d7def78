"""Latency-bounded throughput of the analytical serving model, fast and vectorised.

:func:`dse.serve.analytic.analytic` builds a query's whole latency CDF on a 4000-point time grid
at one load (2-15 ms) and :func:`dse.sched.capacity.max_qps_under_sla` calls it about nine times
per (b, Q). DeepRecSched in a sweep needs ten or more such searches per configuration and
thousands of configurations, so this module solves the same model for the same answer with far
less work. Two observations make it cheap:

1. ``p95(lambda) <= S`` is ``P(T <= S; lambda) >= 0.95``: the search needs the CDF at the one
   time ``S`` (the SLA), not the whole distribution.
2. In the analytical model the load enters only through the queue state an arrival sees
   (P(j engines busy), P(wait), the mean wait) when the co-location slowdown is 0 (the default;
   the cost model's curves already include the contention of N busy engines). The fork-join
   parts, ``D_f(S)`` (a query that finds ``f`` engines free) and the completion times of a query
   that waited, are computed once per policy and reused at every load.

With both, ``P(T <= S)`` at a load is ``sum_j P(j busy) D_{N-j}(S) + P_w P(W + D_1 <= S)``
(plus the accelerator path), and the queue state has closed forms: the head of the level-crossing
balance of :func:`dse.serve.analytic.batch_queue` (an explicit recursion over the N engines) and,
instead of running the tail recurrence, its mass and first moment summed in closed form::

    T  = sum_{j>=c} pi_j  = (pi_c + rho' sum_m P(K>m) H_m) / (1 - u)
    M1 = sum_{j>=c} j pi_j = (c pi_c + rho' sum_m P(K>m) (G_m + (m+1)(T + H_m))) / (1 - u)

with ``rho' = lambda / (c mu)``, ``u = rho' E[K]``, ``H_m = sum_{i=c-m}^{c-1} pi_i`` and
``G_m = sum_{i=c-m}^{c-1} i pi_i`` (sum the recurrence ``pi_{j+1} = rho' sum_m P(K>m) pi_{j-m}``,
``j >= c``, and its ``(j+1)``-weighted version over ``j >= c``). ``P_w = T / Z`` and
``E[ahead | wait] = (M1 - (c-1) T) / T``. All of it is vectorised over many (policy, load) rows at
once, so one numpy pass evaluates every candidate load of every candidate policy.

The exponential wait is convolved in closed form: for deterministic service (the default), the
completion time of a waiting query of size ``n`` is a number ``T1(n)`` and
``P(W + D_1 <= s) = sum_n w_n (1 - exp(-theta (s - T1(n))))_+``; with jitter or exponential
service, ``D_1`` is tabulated on a grid and convolved exactly as a piecewise-linear CDF, as
``analytic`` does. The analytical model's formulas (M^X/M/c state, heavy-traffic wait scaling,
mean-order-statistics start times) are those of :mod:`dse.serve.analytic`; only the numerics
differ (no time grid for deterministic service), so capacities agree with
``dse.serve.api.capacity(method="analytic")`` to its search tolerance (tests/test_sched_fastcap.py).

With a co-location slowdown > 0 the service times depend on the load, and the per-policy parts are
rebuilt at every load probed (correct, slower).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dse.errors import DseError
from dse.serve.analytic import _exp_convolve, _Law, _prune
from dse.serve.load import saturation_qps, split_sizes
from dse.serve.policy import Policy

Curve = Callable[[np.ndarray], np.ndarray]

#: The latency quantile of the SLA.
QUANTILE = 0.95
#: Utilisations probed first (fractions of the saturation rate).
FIRST_PASS = np.array(
    [1e-3, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99,
     0.995, 0.998, 0.999, 0.9995, 0.9999]
)
#: Interior points per refinement pass.
REFINE_POINTS = 15
#: Time-grid points for the convolution when service times are random (jitter, exponential).
SMOOTH_GRID = 512


_PRUNED: dict[tuple[int, int | None, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _pruned(p: np.ndarray, mask: np.ndarray, threshold: int | None, side: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`dse.serve.analytic._prune` of the sizes routed to one side, memoised per pmf
    object and threshold (the policies of one search share them)."""
    key = (id(p), threshold, side)
    hit = _PRUNED.get(key)
    if hit is not None and hit[0] is p:
        return hit[1], hit[2]
    n, q = _prune(p, mask)
    if len(_PRUNED) > 256:
        _PRUNED.clear()
    _PRUNED[key] = (p, n, q)
    return n, q


def _step(law: _Law) -> bool:
    return law.law != "exponential" and law.s == 0


class PolicyModel:
    """The load-independent pieces of one policy (at a given CPU slowdown): routing, sub-batch
    split, the fork-join laws ``D_f`` and the accelerator's service-time law."""

    def __init__(
        self,
        policy: Policy,
        pmf: np.ndarray,
        cpu_curve: Curve | None,
        accel_curve: Curve | None = None,
        slowdown: float = 1.0,
    ) -> None:
        self.policy = policy
        p = np.asarray(pmf, dtype=float)
        sizes = np.arange(p.size)
        costs = policy.costs
        self.law = _Law(policy.service, 1.0 if policy.service == "exponential" else costs.jitter)
        self.step = _step(self.law)
        self.dq = costs.query_overhead_s
        if policy.threshold is not None:
            to_acc = (sizes >= policy.threshold) & (sizes >= 1)
        else:
            to_acc = np.zeros(p.size, bool)
        to_cpu = (sizes >= 1) & ~to_acc
        self.mass_cpu = float(p[to_cpu].sum())
        self.mass_acc = float(p[to_acc].sum())
        self.n_cpu = int(policy.cpu_workers)
        self.n_acc = int(policy.accel_workers)
        self._grids: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}
        if self.mass_cpu > 0:
            if cpu_curve is None or self.n_cpu < 1:
                raise DseError("queries below the threshold need CPU engines and a CPU service curve")
            self._init_cpu(p, to_cpu, cpu_curve, slowdown)
        if self.mass_acc > 0:
            if accel_curve is None or self.n_acc < 1:
                raise DseError("--threshold needs an accelerator service curve (--accel)")
            self._init_acc(p, to_acc, accel_curve)

    # -- CPU path ------------------------------------------------------------------------------

    def _init_cpu(self, p: np.ndarray, mask: np.ndarray, curve: Curve, slowdown: float) -> None:
        costs = self.policy.costs
        b = int(self.policy.batch)
        nw = self.n_cpu
        n, q = _pruned(p, mask, self.policy.threshold, "cpu")
        w = q / self.mass_cpu
        k, r = split_sizes(n, b)
        t_b = float(np.asarray(curve(np.array([float(b)])))[0]) * slowdown + costs.subbatch_overhead_s
        t_r = np.asarray(curve(r.astype(float)), dtype=float) * slowdown + costs.subbatch_overhead_s
        if not (np.isfinite(t_b) and np.all(np.isfinite(t_r))) or t_b < 0 or np.any(t_r < 0):
            raise DseError("the CPU service curve gave a negative or non-finite time")
        work = (k - 1) * t_b + t_r
        ex = float(w @ work)
        ek = float(w @ k)
        self.cpu_work = ex  # mean engine time per CPU query
        self.mean_sub = ex / ek
        m2 = float(w @ ((k - 1) * t_b**2 + t_r**2)) / ek * (1 + self.law.cv**2)
        self.scv = m2 / self.mean_sub**2 - 1
        kmax = int(k.max())
        kpmf = np.bincount(k, weights=w, minlength=kmax + 1)
        self.tail = np.clip(1.0 - np.cumsum(kpmf)[:kmax], 0.0, 1.0)  # P(K > m), m = 0..kmax-1
        self.idc = float(kpmf @ np.arange(kpmf.size) ** 2) / ek
        self.kmax = kmax
        self.w, self.k, self.t_b, self.t_r = w, k, t_b, t_r
        # fork-join geometry for f = 1..fmax engines free at the first start
        fmax = min(nw, kmax)
        f = np.arange(1, fmax + 1)[:, None]
        gap = self.mean_sub / (nw - f + 1)
        self._full0 = np.minimum(f, k - 1)  # full sub-batches starting at 0
        self._later = np.maximum(k - 1 - f, 0)  # full sub-batches starting at i * gap, i = 1..later
        self._off = np.maximum(k - f, 0) * gap  # start of the last sub-batch
        self._gap = gap[:, 0]
        self.fmax = fmax
        if self.step:
            # completion time of each size for each f (deterministic service)
            t_full0 = np.where(self._full0 >= 1, t_b, 0.0)
            t_later = np.where(self._later >= 1, self._later * gap + t_b, 0.0)
            done = np.maximum(np.maximum(t_full0, t_later), self._off + t_r)
            order = np.argsort(done, axis=1)
            self._done_sorted = np.take_along_axis(done, order, axis=1)
            self._done_cum = np.concatenate([np.zeros((fmax, 1)), np.cumsum(w[order], axis=1)], axis=1)
            self._t1 = done[0]  # f = 1: the law of a query that waited

    def cpu_forkjoin(self, s: np.ndarray) -> np.ndarray:
        """``D_f(s)`` for f = 1..N (columns; f >= kmax are all alike), times ``s`` (rows)."""
        s = np.atleast_1d(np.asarray(s, dtype=float))
        if self.step:
            d = np.empty((s.size, self.fmax))
            for i in range(self.fmax):
                d[:, i] = self._done_cum[i][np.searchsorted(self._done_sorted[i], s, side="right")]
        else:
            d = np.empty((s.size, self.fmax))
            law, t_b = self.law, self.t_b
            steps = np.arange(1, self.kmax + 1)
            for j, sj in enumerate(s):
                fb = float(law.cdf(np.array([sj]), t_b)[0])
                shifted = law.cdf(sj - steps[None, :] * self._gap[:, None], t_b)  # (F, kmax)
                cum = np.concatenate([np.ones((self.fmax, 1)), np.cumprod(shifted, axis=1)], axis=1)
                later = np.take_along_axis(cum, self._later, axis=1)
                last = law.cdf(sj - self._off, self.t_r[None, :])
                d[j] = (fb ** self._full0 * later * last) @ self.w
        if self.fmax < self.n_cpu:
            d = np.concatenate([d, np.repeat(d[:, -1:], self.n_cpu - self.fmax, axis=1)], axis=1)
        return d

    def _cpu_wait_grid(self, s_top: float) -> tuple[float, np.ndarray, np.ndarray]:
        """``D_1`` (the fork-join of a query that waited) on a grid over [0, s_top] (random service)."""
        g = self._grids.get("cpu")
        if g is not None and g[0] >= s_top:
            return g
        t = np.linspace(0.0, s_top, SMOOTH_GRID)
        law, t_b = self.law, self.t_b
        gap = self._gap[0]
        with np.errstate(divide="ignore"):
            fb = law.cdf(t, t_b)
        steps = np.arange(0, self.kmax + 1)
        shifted = law.cdf(t[None, :] - steps[:, None] * gap, t_b)  # row i: F_b(t - i gap)
        shifted[0] = 1.0
        cum = np.cumprod(shifted, axis=0)  # cum[m] = prod_{i=1..m} F_b(t - i gap)
        out = np.zeros_like(t)
        for kk in np.unique(self.k):
            sel = self.k == kk
            with np.errstate(divide="ignore"):
                lat = law.mixture(t, self.t_r[sel], self.w[sel])
            if kk > 1:
                lat = np.interp(t - (kk - 1) * gap, t, lat, left=0.0)
            out += fb ** min(1, kk - 1) * cum[max(kk - 2, 0)] * lat
        g = (s_top, t, out)
        self._grids["cpu"] = g
        return g

    def cpu_waited(self, s: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """``P(W + D_1 <= s)`` with ``W ~ Exp(theta)``, per row (``s`` and ``theta`` alike)."""
        if self.step:
            x = np.maximum(s[:, None] - self._t1[None, :], 0.0)
            return (-np.expm1(-theta[:, None] * x)) @ self.w
        return self._waited_grid("cpu", s, theta)

    # -- accelerator path ----------------------------------------------------------------------

    def _init_acc(self, p: np.ndarray, mask: np.ndarray, curve: Curve) -> None:
        costs = self.policy.costs
        n, q = _pruned(p, mask, self.policy.threshold, "acc")
        s = np.asarray(curve(n.astype(float)), dtype=float) + costs.accel_overhead_s
        if not np.all(np.isfinite(s)) or np.any(s < 0):
            raise DseError("the accelerator service curve gave a negative or non-finite time")
        w = q / self.mass_acc
        self.acc_s, self.acc_w = s, w
        self.acc_mean = float(w @ s)
        self.acc_scv = float(w @ (s * s)) * (1 + self.law.cv**2) / self.acc_mean**2 - 1
        order = np.argsort(s)
        self._acc_sorted = s[order]
        self._acc_cum = np.concatenate([[0.0], np.cumsum(w[order])])

    def acc_service(self, s: np.ndarray) -> np.ndarray:
        """P(accelerator service time <= s)."""
        if self.step:
            return self._acc_cum[np.searchsorted(self._acc_sorted, s, side="right")]
        return self.law.cdf(np.maximum(s, 0.0)[:, None], self.acc_s[None, :]) @ self.acc_w

    def acc_waited(self, s: np.ndarray, theta: np.ndarray) -> np.ndarray:
        if self.step:
            x = np.maximum(s[:, None] - self.acc_s[None, :], 0.0)
            return (-np.expm1(-theta[:, None] * x)) @ self.acc_w
        return self._waited_grid("acc", s, theta)

    def _acc_grid(self, s_top: float) -> tuple[float, np.ndarray, np.ndarray]:
        g = self._grids.get("acc")
        if g is not None and g[0] >= s_top:
            return g
        t = np.linspace(0.0, s_top, SMOOTH_GRID)
        with np.errstate(divide="ignore"):
            g = (s_top, t, self.law.mixture(t, self.acc_s, self.acc_w))
        self._grids["acc"] = g
        return g

    def _waited_grid(self, which: str, s: np.ndarray, theta: np.ndarray) -> np.ndarray:
        s_top = float(np.max(s)) if s.size else 0.0
        if s_top <= 0:
            return np.zeros_like(s)
        _, t, cdf = self._cpu_wait_grid(s_top) if which == "cpu" else self._acc_grid(s_top)
        h = t[1] - t[0]
        out = np.empty_like(s)
        for i, (si, th) in enumerate(zip(s, theta)):
            out[i] = np.interp(si, t, _exp_convolve(cdf, h, float(th))) if si > 0 else 0.0
        return out


# -- the queue state an arrival sees, vectorised over rows ---------------------------------------


def queue_state(servers: int, offered: np.ndarray, tails: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """M^X/M/c state seen by an arriving batch, for many rows at once (see the module doc).

    ``offered[i] = lambda_i / mu_i`` (batches per mean job time), ``tails[i, m] = P(K > m)`` (rows
    zero-padded). Returns ``(busy, p_wait, mean_ahead, u)``: ``busy[i, j]`` = P(j engines busy, none
    queued), ``p_wait`` = P(all busy), ``mean_ahead`` = E[jobs queued + 1 | wait], and the
    utilisation ``u``; rows with ``u >= 1`` are NaN. Agrees with :func:`dse.serve.analytic.batch_queue`.
    """
    a = np.asarray(offered, dtype=float)
    tails = np.atleast_2d(np.asarray(tails, dtype=float))
    rows, kmax = tails.shape
    c = int(servers)
    ek = tails.sum(axis=1)
    rho = a / c
    u = rho * ek
    trev = tails[:, ::-1]
    head = np.zeros((rows, c + 1))
    head[:, 0] = 1.0
    for j in range(c):
        lo = max(0, j - kmax + 1)
        acc = np.einsum("ri,ri->r", head[:, lo : j + 1], trev[:, kmax - 1 - (j - lo) :])
        head[:, j + 1] = a * acc / (j + 1)
        big = head[:, j + 1] > 1e250
        if big.any():  # rescale (only the ratios matter)
            head[big, : j + 2] /= head[big, j + 1 : j + 2]
    pc = head[:, c]
    # H_m, G_m: sums of pi_i and i pi_i over i = c-m .. c-1 (m = 0..kmax-1), zero-padded below 0
    lower = head[:, c - 1 :: -1] if c > 0 else np.zeros((rows, 0))  # pi_{c-1}, pi_{c-2}, ..., pi_0
    idx = np.arange(c - 1, -1, -1, dtype=float)
    width = max(kmax - 1, 0)
    hm = np.zeros((rows, kmax))
    gm = np.zeros((rows, kmax))
    if width and c:
        cum_h = np.cumsum(lower, axis=1)
        cum_g = np.cumsum(lower * idx[None, :], axis=1)
        take = np.minimum(np.arange(width), c - 1)
        hm[:, 1:] = cum_h[:, take]
        gm[:, 1:] = cum_g[:, take]
    m1 = np.arange(kmax, dtype=float) + 1.0
    stable = u < 1
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = np.where(stable, 1.0 - u, np.nan)
        t_mass = (pc + rho * np.einsum("rm,rm->r", tails, hm)) / denom
        m_first = (c * pc + rho * np.einsum("rm,rm->r", tails, gm + m1[None, :] * (t_mass[:, None] + hm))) / denom
        z = head[:, :c].sum(axis=1) + t_mass
        busy = head[:, :c] / z[:, None]
        p_wait = t_mass / z
        ahead = np.where(t_mass > 0, (m_first - (c - 1) * t_mass) / np.where(t_mass > 0, t_mass, 1.0), 1.0)
    return busy, p_wait, ahead, u


# -- P(T <= s) for many (policy, load, time) rows -----------------------------------------------


def cdf_rows(models: list[PolicyModel], qps: np.ndarray, s: np.ndarray) -> np.ndarray:
    """P(latency <= s_i) at load qps_i under ``models[i]`` (rows may share a model object)."""
    qps = np.asarray(qps, dtype=float)
    s = np.asarray(s, dtype=float)
    out = np.zeros(qps.size)
    cpu = np.array([i for i, m in enumerate(models) if m.mass_cpu > 0], dtype=int)
    if cpu.size:  # the CPU queues of all rows in one pass (rows with the same model and load once)
        kmax = max(models[i].kmax for i in cpu)
        uniq: dict[tuple[int, float], int] = {}
        first: list[int] = []
        which = np.empty(cpu.size, dtype=int)
        for j, i in enumerate(cpu):
            key = (id(models[i]), float(qps[i]))
            at = uniq.get(key)
            if at is None:
                at = uniq[key] = len(first)
                first.append(int(i))
            which[j] = at
        tails = np.zeros((len(first), kmax))
        offered = np.empty(len(first))
        for j, i in enumerate(first):
            m = models[i]
            tails[j, : m.kmax] = m.tail
            offered[j] = qps[i] * m.mass_cpu * m.mean_sub
        busy, pw, ahead, u = (x[which] for x in queue_state(models[cpu[0]].n_cpu, offered, tails))
        for m, pos in _groups(models, cpu):
            rows = cpu[pos]
            si = s[rows] - m.dq
            uniq, inv = np.unique(si, return_inverse=True)
            d = m.cpu_forkjoin(uniq)[inv]
            val = np.einsum("rj,rj->r", busy[pos], d[:, ::-1])
            pws = pw[pos]
            live = np.isfinite(pws) & (pws > 0)
            if live.any():
                mean_w = ahead[pos][live] * m.mean_sub / m.n_cpu * (m.idc + m.scv) / (m.idc + 1.0)
                val[live] += pws[live] * m.cpu_waited(si[live], 1.0 / mean_w)
            ok = np.isfinite(u[pos]) & (u[pos] < 1) & (si > 0)
            out[rows] += m.mass_cpu * np.where(ok, val, 0.0)
    acc = np.array([i for i, m in enumerate(models) if m.mass_acc > 0], dtype=int)
    if acc.size:
        c = models[acc[0]].n_acc
        offered = np.array([qps[i] * models[i].mass_acc * models[i].acc_mean for i in acc])
        busy, pw, ahead, u = queue_state(c, offered, np.ones((acc.size, 1)))
        for m, pos in _groups(models, acc):
            rows = acc[pos]
            si = s[rows] - m.dq
            pws = pw[pos]
            val = (1 - pws) * m.acc_service(si)
            live = np.isfinite(pws) & (pws > 0)
            if live.any():
                theta = c / (m.acc_mean * ahead[pos][live]) * 2.0 / (1.0 + m.acc_scv)
                val[live] += pws[live] * m.acc_waited(si[live], theta)
            ok = np.isfinite(u[pos]) & (u[pos] < 1) & (si > 0)
            out[rows] += m.mass_acc * np.where(ok, val, 0.0)
    return out


def _groups(models: list[PolicyModel], idx: np.ndarray) -> list[tuple[PolicyModel, np.ndarray]]:
    """Positions in ``idx`` grouped by model object: [(model, positions)]."""
    seen: dict[int, tuple[PolicyModel, list[int]]] = {}
    for j, i in enumerate(idx):
        m = models[i]
        entry = seen.get(id(m))
        if entry is None:
            entry = seen[id(m)] = (m, [])
        entry[1].append(j)
    return [(m, np.array(pos, dtype=int)) for m, pos in seen.values()]


# -- searches ------------------------------------------------------------------------------------


@dataclass
class FastCapacity:
    """Latency-bounded throughput of one policy by the analytical model."""

    max_qps: float
    saturation_qps: float
    met: bool
    #: load points evaluated (for the record)
    evaluations: int = 0


class PolicySet:
    """Builds :class:`PolicyModel` objects for policies sharing sizes and curves (memoised per
    policy and, with co-location, per slowdown)."""

    def __init__(self, pmf: np.ndarray, cpu_curve: Curve | None, accel_curve: Curve | None = None) -> None:
        self.pmf = np.asarray(pmf, dtype=float)
        self.cpu_curve = cpu_curve
        self.accel_curve = accel_curve
        self._models: dict[tuple[Policy, float], PolicyModel] = {}
        self._sat: dict[Policy, float] = {}

    def model(self, policy: Policy, slowdown: float = 1.0) -> PolicyModel:
        key = (policy, float(slowdown))
        m = self._models.get(key)
        if m is None:
            m = PolicyModel(policy, self.pmf, self.cpu_curve, self.accel_curve, slowdown)
            if len(self._models) > 4096:
                self._models.clear()
            self._models[key] = m
        return m

    def saturation(self, policy: Policy) -> float:
        sat = self._sat.get(policy)
        if sat is None:
            sat = saturation_qps(self.pmf, policy, self.cpu_curve, self.accel_curve)
            self._sat[policy] = sat
        return sat

    def models_at(self, policy: Policy, qps: np.ndarray) -> list[PolicyModel]:
        """The model of ``policy`` at each load (one shared object without co-location)."""
        kappa = policy.costs.colocation
        if kappa <= 0:
            m = self.model(policy)
            return [m] * len(qps)
        from dse.serve.load import offered_load

        out = []
        for q in qps:
            slow = offered_load(float(q), self.pmf, policy, self.cpu_curve, self.accel_curve).slowdown
            out.append(self.model(policy, round(slow, 12)))
        return out

    def cdf(self, policies: list[Policy], qps: np.ndarray, s: np.ndarray) -> np.ndarray:
        """P(latency <= s_i) at qps_i under policies[i]."""
        models: list[PolicyModel] = []
        for pol, q in zip(policies, qps):
            models.extend(self.models_at(pol, np.array([q])))
        return cdf_rows(models, qps, s)

    # -- the SLA search, many policies at once --------------------------------------------------

    def capacities(self, policies: list[Policy], sla_s: float, rel_tol: float = 1e-3) -> list[FastCapacity]:
        """Highest load with p95 <= ``sla_s`` for every policy (one vectorised search)."""
        if not (sla_s > 0 and math.isfinite(sla_s)):
            raise DseError(f"--sla-ms: {sla_s * 1e3:g} must be a positive number")
        sats = np.array([self.saturation(p) for p in policies], dtype=float)
        if not np.all(sats > 0):
            raise DseError("the service curves give the system no capacity")
        npol = len(policies)
        good = np.zeros(npol)  # highest load known to meet the SLA (0: none yet)
        bad = sats.copy()  # lowest load known to miss it (saturation is never evaluated)
        evals = np.zeros(npol, dtype=int)
        met = np.zeros(npol, dtype=bool)
        # pass 1: a fixed ladder of utilisations
        ok = self._probe(policies, sats[:, None] * FIRST_PASS[None, :], sla_s)
        evals += FIRST_PASS.size
        for i in range(npol):
            first_bad = np.flatnonzero(~ok[i])
            if first_bad.size == 0:
                good[i] = sats[i] * FIRST_PASS[-1]
                met[i] = True
            elif first_bad[0] > 0:
                good[i] = sats[i] * FIRST_PASS[first_bad[0] - 1]
                bad[i] = sats[i] * FIRST_PASS[first_bad[0]]
                met[i] = True
            else:
                bad[i] = sats[i] * FIRST_PASS[0]
        # the lowest rung missed: the SLA may sit below the zero-load latency
        low = np.flatnonzero(~met)
        if low.size:
            ladder = np.geomspace(FIRST_PASS[0] * 0.3, 1e-9, 8)
            ok = self._probe([policies[i] for i in low], sats[low, None] * ladder[None, :], sla_s)
            evals[low] += ladder.size
            for j, i in enumerate(low):
                hit = np.flatnonzero(ok[j])
                if hit.size:
                    met[i] = True
                    good[i] = sats[i] * ladder[hit[0]]
                    bad[i] = sats[i] * (ladder[hit[0] - 1] if hit[0] > 0 else FIRST_PASS[0])
        # refine the brackets together
        while True:
            todo = np.flatnonzero(met & (bad / np.maximum(good, 1e-300) - 1 > rel_tol))
            if todo.size == 0:
                break
            frac = np.arange(1, REFINE_POINTS + 1) / (REFINE_POINTS + 1)
            loads = good[todo, None] + (bad[todo] - good[todo])[:, None] * frac[None, :]
            ok = self._probe([policies[i] for i in todo], loads, sla_s)
            evals[todo] += REFINE_POINTS
            for j, i in enumerate(todo):
                first_bad = np.flatnonzero(~ok[j])
                if first_bad.size == 0:
                    good[i] = loads[j, -1]
                else:
                    if first_bad[0] > 0:
                        good[i] = loads[j, first_bad[0] - 1]
                    bad[i] = loads[j, first_bad[0]]
        return [FastCapacity(float(good[i]) if met[i] else 0.0, float(sats[i]), bool(met[i]), int(evals[i])) for i in range(npol)]

    def _probe(self, policies: list[Policy], loads: np.ndarray, sla_s: float) -> np.ndarray:
        """Whether each (policy row, load column) meets the SLA."""
        npol, nl = loads.shape
        flat = loads.reshape(-1)
        models: list[PolicyModel] = []
        for i, pol in enumerate(policies):
            models.extend(self.models_at(pol, loads[i]))
        g = cdf_rows(models, flat, np.full(flat.size, sla_s))
        return (g >= QUANTILE - 1e-12).reshape(npol, nl)

    # -- quantiles --------------------------------------------------------------------------------

    def p95(self, policy: Policy, qps: float, upper: float, rel_tol: float = 5e-4, known: bool = False) -> float:
        """p95 latency at ``qps`` (0 < qps < saturation), searched below ``upper``: an upper bound
        such as the SLA that the load is known to meet (``known=True`` skips checking it), else
        doubled until it is one."""
        return self._quantile(lambda s: self.cdf([policy] * s.size, np.full(s.size, qps), s), upper, rel_tol, known)

    def zero_load_p95(self, policy: Policy, upper: float, rel_tol: float = 5e-4) -> float:
        """p95 latency as the load goes to 0 (every engine free): the best p95 the policy reaches."""
        sat = self.saturation(policy)
        return self.p95(policy, sat * 1e-9, upper, rel_tol)

    @staticmethod
    def _quantile(
        cdf: Callable[[np.ndarray], np.ndarray], upper: float, rel_tol: float, known: bool = False, points: int = 48
    ) -> float:
        """Smallest time with ``cdf >= 0.95`` to ``rel_tol`` (relative), by passes of ``points``
        evaluations over the current bracket."""
        hi = float(upper)
        for _ in range(0 if known else 60):
            if cdf(np.array([hi]))[0] >= QUANTILE:
                break
            hi *= 2.0
        else:
            if not known:
                return math.inf
        lo = 0.0
        while hi - lo > rel_tol * hi:
            pts = lo + (hi - lo) * np.arange(1, points + 1) / (points + 1)
            ok = cdf(pts) >= QUANTILE
            first = np.flatnonzero(ok)
            if first.size == 0:
                lo = pts[-1]
            else:
                hi = pts[first[0]]
                if first[0] > 0:
                    lo = pts[first[0] - 1]
        return hi
