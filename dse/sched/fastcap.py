"""Latency-bounded throughput of the analytical serving model, fast and vectorised.

:func:`dse.serve.analytic.analytic` builds a query's whole latency CDF on a 4000-point time grid
at one load (2-15 ms) and :func:`dse.serve.sla_search.max_qps_under_sla` calls it about nine times
per (b, Q). DeepRecSched in a sweep needs ten or more such searches per configuration and
thousands of configurations, so this module solves the same model for the same answer with far
less work. Two observations make it cheap:

1. ``p95(lambda) <= S`` is ``P(T <= S; lambda) >= 0.95``: the search needs the CDF at the one
   time ``S`` (the SLA), not the whole distribution.
2. In the analytical model the load enters only through the queue state an arrival sees
   (P(j engines busy), P(wait), the mean wait) when the CPU curve does not depend on the load
   (a plain curve and no ``colocation``; see :mod:`dse.serve.load`). The fork-join
   parts, ``D_f(S)`` (a query that finds ``f`` engines free) and the completion times of a query
   that waited, are computed once per policy and reused at every load.

With both, ``P(T <= S)`` at a load is ``sum_j P(j busy) D_{N-j}(S) + P_w P(W + D_1 <= S)``
(plus the accelerator path), and the queue state comes from
:func:`dse.serve.queueing.queue_state`, the closed-form sums of the level-crossing balance of
:func:`dse.serve.queueing.batch_queue` (no tail recurrence), vectorised over many (policy, load)
rows at once, so one numpy pass evaluates every candidate load of every candidate policy.

The exponential wait is convolved in closed form: for deterministic service (the default), the
completion time of a waiting query of size ``n`` is a number ``T1(n)`` and
``P(W + D_1 <= s) = sum_n w_n (1 - exp(-theta (s - T1(n))))_+``; with jitter or exponential
service, ``D_1`` is tabulated on a grid and convolved exactly as a piecewise-linear CDF, as
``analytic`` does. The analytical model's formulas (routing, per-policy moments, M^X/M/c state,
heavy-traffic wait scaling, mean-order-statistics start times) are those of
:mod:`dse.serve.queueing`, shared with :mod:`dse.serve.analytic`; only the numerics
differ (no time grid for deterministic service), so capacities agree with
``dse.serve.api.capacity(method="analytic")`` to its search tolerance (tests/test_sched_fastcap.py).

With a load-dependent CPU curve (:class:`dse.serve.load.LoadedCurve`, the cost model's curves at
1..N busy engines, or a ``colocation`` > 0) the service times depend on the load, and the
per-policy parts are rebuilt at every load probed (correct, slower).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dse.errors import DseError
from dse.serve.load import curve_at, load_dependent, offered_load, saturation_qps
from dse.serve.policy import Policy
from dse.serve.queueing import (
    AccelPath,
    CpuPath,
    ServiceLaw,
    accel_path,
    cpu_path,
    exp_convolve,
    forkjoin_gap,
    forkjoin_schedule,
    queue_state,
    routed_masks,
    routed_sizes,
    wait_rate,
)

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


_ROUTED: dict[tuple[int, int | None, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _routed_sizes_memo(p: np.ndarray, mask: np.ndarray, threshold: int | None, side: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`dse.serve.queueing.routed_sizes` of one side, memoised per pmf object and threshold
    (the policies of one search share them)."""
    key = (id(p), threshold, side)
    hit = _ROUTED.get(key)
    if hit is not None and hit[0] is p:
        return hit[1], hit[2]
    n, w = routed_sizes(p, mask)
    if len(_ROUTED) > 256:
        _ROUTED.clear()
    _ROUTED[key] = (p, n, w)
    return n, w


class PolicyModel:
    """The load-independent pieces of one policy (at a given CPU slowdown): the CPU and
    accelerator paths of :mod:`dse.serve.queueing`, the fork-join laws ``D_f`` and the
    accelerator's service-time law."""

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
        self.law = ServiceLaw.for_policy(policy)
        self.step = self.law.deterministic
        self.dq = policy.costs.query_overhead_s
        to_cpu, to_acc = routed_masks(p.size, policy)
        self.mass_cpu = float(p[to_cpu].sum())
        self.mass_acc = float(p[to_acc].sum())
        self.n_cpu = int(policy.cpu_workers)
        self.n_acc = int(policy.accel_workers)
        self._grids: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}
        self._fj_memo: dict[float, np.ndarray] = {}
        if self.mass_cpu > 0:
            if cpu_curve is None or self.n_cpu < 1:
                raise DseError("queries below the threshold need CPU engines and a CPU service curve")
            n, w = _routed_sizes_memo(p, to_cpu, policy.threshold, "cpu")
            self._init_cpu(cpu_path(n, w, policy, cpu_curve, self.law, slowdown))
        if self.mass_acc > 0:
            if accel_curve is None or self.n_acc < 1:
                raise DseError("--threshold needs an accelerator service curve (--accel)")
            n, w = _routed_sizes_memo(p, to_acc, policy.threshold, "acc")
            self._init_acc(accel_path(n, w, policy, accel_curve, self.law))

    # -- CPU path ------------------------------------------------------------------------------

    def _init_cpu(self, cpu: CpuPath) -> None:
        self.cpu = cpu
        nw = self.n_cpu
        self.w, self.k = cpu.weights, cpu.subbatches.count
        self.t_b, self.t_r = cpu.subbatches.full_s, cpu.subbatches.last_s
        self.kmax = cpu.kmax
        # fork-join geometry for f = 1..fmax engines free at the first start
        fmax = min(nw, self.kmax)
        f = np.arange(1, fmax + 1)[:, None]
        gap = forkjoin_gap(cpu.mean_sub_s, nw, f)
        self._full0, self._later, last_start = forkjoin_schedule(self.k, f)
        self._off = last_start * gap  # start of the last sub-batch
        self._gap = gap[:, 0]
        self.fmax = fmax
        if self.step:
            # completion time of each size for each f (deterministic service)
            t_full0 = np.where(self._full0 >= 1, self.t_b, 0.0)
            t_later = np.where(self._later >= 1, self._later * gap + self.t_b, 0.0)
            done = np.maximum(np.maximum(t_full0, t_later), self._off + self.t_r)
            order = np.argsort(done, axis=1)
            self._done_sorted = np.take_along_axis(done, order, axis=1)
            self._done_cum = np.concatenate([np.zeros((fmax, 1)), np.cumsum(self.w[order], axis=1)], axis=1)
            self._t1 = done[0]  # f = 1: the law of a query that waited

    def cpu_forkjoin(self, s: np.ndarray) -> np.ndarray:
        """``D_f(s)`` for f = 1..N (columns; f >= kmax are all alike), times ``s`` (rows).

        One time (the SLA, in every pass of a capacity search) is remembered: it is asked again
        and again at every load."""
        s = np.atleast_1d(np.asarray(s, dtype=float))
        if s.size == 1:
            key = float(s[0])
            hit = self._fj_memo.get(key)
            if hit is None:
                hit = self._fj_memo[key] = self._cpu_forkjoin(s)
            return hit
        return self._cpu_forkjoin(s)

    def _cpu_forkjoin(self, s: np.ndarray) -> np.ndarray:
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
            at_start, full_later, last_start = forkjoin_schedule(kk, 1)
            if last_start > 0:
                lat = np.interp(t - last_start * gap, t, lat, left=0.0)
            out += fb**at_start * cum[full_later] * lat
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

    def _init_acc(self, acc: AccelPath) -> None:
        self.acc = acc
        self.acc_s, self.acc_w = acc.service_s, acc.weights
        order = np.argsort(acc.service_s)
        self._acc_sorted = acc.service_s[order]
        self._acc_cum = np.concatenate([[0.0], np.cumsum(acc.weights[order])])

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
            out[i] = np.interp(si, t, exp_convolve(cdf, h, float(th))) if si > 0 else 0.0
        return out


# -- P(T <= s) for many (policy, load, time) rows -----------------------------------------------


def cdf_rows(models: list[PolicyModel], qps: np.ndarray, s: np.ndarray) -> np.ndarray:
    """P(latency <= s_i) at load qps_i under ``models[i]`` (rows may share a model object)."""
    qps = np.asarray(qps, dtype=float)
    s = np.asarray(s, dtype=float)
    out = np.zeros(qps.size)
    # one vectorised queue per engine count (rows of policies with other counts cannot share it)
    for cpu in _by_engines([i for i, m in enumerate(models) if m.mass_cpu > 0], [m.n_cpu for m in models]):
        _add_cpu_rows(out, models, qps, s, cpu)
    for acc in _by_engines([i for i, m in enumerate(models) if m.mass_acc > 0], [m.n_acc for m in models]):
        _add_acc_rows(out, models, qps, s, acc)
    return out


def _by_engines(rows: list[int], engines: list[int]) -> list[np.ndarray]:
    """``rows`` split by their engine count, order kept within each part."""
    parts: dict[int, list[int]] = {}
    for i in rows:
        parts.setdefault(engines[i], []).append(i)
    return [np.array(part, dtype=int) for part in parts.values()]


def _add_cpu_rows(out: np.ndarray, models: list[PolicyModel], qps: np.ndarray, s: np.ndarray, cpu: np.ndarray) -> None:
    """Add the CPU path's share of P(latency <= s) to ``out`` at ``cpu`` rows (one engine count):
    the queues of all rows in one pass, rows with the same model and load once."""
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
        tails[j, : m.kmax] = m.cpu.tail
        offered[j] = qps[i] * m.mass_cpu * m.cpu.mean_sub_s
    busy, pw, ahead, u = (x[which] for x in queue_state(models[cpu[0]].n_cpu, offered, tails))
    for m, pos in _groups(models, cpu):
        rows = cpu[pos]
        si = s[rows] - m.dq
        uniq_s, inv = np.unique(si, return_inverse=True)
        d = m.cpu_forkjoin(uniq_s)[inv]
        val = np.einsum("rj,rj->r", busy[pos], d[:, ::-1])
        pws = pw[pos]
        live = np.isfinite(pws) & (pws > 0)
        if live.any():
            theta = wait_rate(ahead[pos][live], m.cpu.mean_sub_s, m.n_cpu, m.cpu.dispersion, m.cpu.scv)
            val[live] += pws[live] * m.cpu_waited(si[live], theta)
        ok = np.isfinite(u[pos]) & (u[pos] < 1) & (si > 0)
        out[rows] += m.mass_cpu * np.where(ok, val, 0.0)


def _add_acc_rows(out: np.ndarray, models: list[PolicyModel], qps: np.ndarray, s: np.ndarray, acc: np.ndarray) -> None:
    """Add the accelerator path's share of P(latency <= s) to ``out`` at ``acc`` rows (one engine
    count; one job per query)."""
    c = models[acc[0]].n_acc
    offered = np.array([qps[i] * models[i].mass_acc * models[i].acc.mean_s for i in acc])
    busy, pw, ahead, u = queue_state(c, offered, np.ones((acc.size, 1)))
    for m, pos in _groups(models, acc):
        rows = acc[pos]
        si = s[rows] - m.dq
        pws = pw[pos]
        val = (1 - pws) * m.acc_service(si)
        live = np.isfinite(pws) & (pws > 0)
        if live.any():
            theta = wait_rate(ahead[pos][live], m.acc.mean_s, c, 1.0, m.acc.scv)
            val[live] += pws[live] * m.acc_waited(si[live], theta)
        ok = np.isfinite(u[pos]) & (u[pos] < 1) & (si > 0)
        out[rows] += m.mass_acc * np.where(ok, val, 0.0)


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

    def model(self, policy: Policy, load: float = 0.0) -> PolicyModel:
        """The model of ``policy`` with the CPU curve at utilisation ``load`` (any load without
        co-location)."""
        key = (policy, float(load))
        m = self._models.get(key)
        if m is None:
            curve = curve_at(self.cpu_curve, load, policy.costs.colocation)
            m = PolicyModel(policy, self.pmf, curve, self.accel_curve)
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
        if not load_dependent(self.cpu_curve, policy.costs.colocation):
            m = self.model(policy)
            return [m] * len(qps)
        out = []
        for q in qps:
            u = offered_load(float(q), self.pmf, policy, self.cpu_curve, self.accel_curve).cpu_utilization
            out.append(self.model(policy, round(min(u, 1.0), 12)))
        return out

    def cdf(self, policies: list[Policy], qps: np.ndarray, s: np.ndarray) -> np.ndarray:
        """P(latency <= s_i) at qps_i under policies[i]."""
        models: list[PolicyModel] = []
        for pol, q in zip(policies, qps):
            models.extend(self.models_at(pol, np.array([q])))
        return cdf_rows(models, qps, s)

    # -- the SLA search, many policies at once --------------------------------------------------

    def capacities(self, policies: list[Policy], sla_s: float, rel_tol: float = 1e-3) -> list[FastCapacity]:
        """Highest load with p95 <= ``sla_s`` for every policy (one vectorised search,
        :func:`joint_capacities`)."""
        return joint_capacities([(self, pol) for pol in policies], np.full(len(policies), float(sla_s)), rel_tol)

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


# -- the SLA search over many (policy set, policy) rows ---------------------------------------

Row = tuple[PolicySet, Policy]


def joint_capacities(rows: list[Row], sla_s: np.ndarray, rel_tol: float = 1e-3) -> list[FastCapacity]:
    """Highest load with p95 <= ``sla_s[i]`` for every row ``(policy set, policy)``: one
    vectorised search for policies of one set (:meth:`PolicySet.capacities`) or of many sets,
    e.g. the configurations of a sweep chunk, each with its own curves and SLA (every row's
    bracket is refined on its own probes only, so a row's answer does not depend on the others)."""
    sla_s = np.asarray(sla_s, dtype=float)
    if not np.all((sla_s > 0) & np.isfinite(sla_s)):
        bad = float(sla_s[~((sla_s > 0) & np.isfinite(sla_s))][0])
        raise DseError(f"--sla-ms: {bad * 1e3:g} must be a positive number")
    sats = np.array([ps.saturation(pol) for ps, pol in rows], dtype=float)
    if not np.all(sats > 0):
        raise DseError("the service curves give the system no capacity")
    npol = len(rows)
    good = np.zeros(npol)  # highest load known to meet the SLA (0: none yet)
    bad = sats.copy()  # lowest load known to miss it (saturation is never evaluated)
    evals = np.zeros(npol, dtype=int)
    met = np.zeros(npol, dtype=bool)
    # pass 1: a fixed ladder of utilisations
    ok = _probe(rows, sats[:, None] * FIRST_PASS[None, :], sla_s)
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
    _below_first_rung(rows, sla_s, sats, good, bad, met, evals)
    # refine the brackets together
    while True:
        todo = np.flatnonzero(met & (bad / np.maximum(good, 1e-300) - 1 > rel_tol))
        if todo.size == 0:
            break
        frac = np.arange(1, REFINE_POINTS + 1) / (REFINE_POINTS + 1)
        loads = good[todo, None] + (bad[todo] - good[todo])[:, None] * frac[None, :]
        ok = _probe([rows[i] for i in todo], loads, sla_s[todo])
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


def _below_first_rung(rows: list[Row], sla_s: np.ndarray, sats: np.ndarray, good: np.ndarray, bad: np.ndarray,
                      met: np.ndarray, evals: np.ndarray) -> None:
    """Rows whose lowest rung missed: the SLA may sit below the zero-load latency; probe a
    geometric ladder further down (updates the brackets in place)."""
    low = np.flatnonzero(~met)
    if not low.size:
        return
    ladder = np.geomspace(FIRST_PASS[0] * 0.3, 1e-9, 8)
    ok = _probe([rows[i] for i in low], sats[low, None] * ladder[None, :], sla_s[low])
    evals[low] += ladder.size
    for j, i in enumerate(low):
        hit = np.flatnonzero(ok[j])
        if hit.size:
            met[i] = True
            good[i] = sats[i] * ladder[hit[0]]
            bad[i] = sats[i] * (ladder[hit[0] - 1] if hit[0] > 0 else FIRST_PASS[0])


def _probe(rows: list[Row], loads: np.ndarray, sla_s: np.ndarray) -> np.ndarray:
    """Whether each (row, load column) meets the row's SLA."""
    npol, nl = loads.shape
    flat = loads.reshape(-1)
    models: list[PolicyModel] = []
    for i, (ps, pol) in enumerate(rows):
        models.extend(ps.models_at(pol, loads[i]))
    g = cdf_rows(models, flat, np.repeat(np.asarray(sla_s, dtype=float), nl))
    return (g >= QUANTILE - 1e-12).reshape(npol, nl)
