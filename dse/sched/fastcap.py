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
The search itself probes few loads: the first load of a pass that misses the SLA is found by a
predicted, then k-ary, search (:func:`first_true`) rather than by probing every point, with the
same bracket, and a sweep chunk's models are built for all its configurations at once
(:class:`BulkModels`).

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

import hashlib
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dse.errors import DseError
from dse.serve.load import (LoadParts, curve_at, load_dependent, load_parts, offered_load, saturation_qps,
                            saturation_rate)
from dse.serve.policy import Policy
from dse.serve.queueing import (
    AccelPath,
    CpuPath,
    CpuSplit,
    ServiceLaw,
    SubBatches,
    accel_path,
    cpu_path,
    cpu_moments,
    cpu_split,
    exp_convolve,
    forkjoin_done,
    forkjoin_gap,
    forkjoin_terms,
    forkjoin_schedule,
    queue_state,
    routed_masks,
    routed_sizes,
    split_sizes,
    wait_rate,
)

Curve = Callable[[np.ndarray], np.ndarray]

#: The latency quantile of the SLA.
QUANTILE = 0.95
#: P(T <= S) at or above which a load meets the SLA (the quantile, less rounding noise).
MEETS = QUANTILE - 1e-12
#: Bound (absolute) on the error of P(T <= S) when the exponential waits are summed in single
#: precision (:class:`SlaCdf`, ``rough``): each term ``w_n exp(-x_n)`` is off by at most
#: ``w_n exp(-x_n) (3 x_n + 2) 2^-24`` (the float32 roundings of the slack, theta and their
#: product, and exp's own error) and ``x exp(-x) <= 1/e``, so the sum, whose weights add up to 1
#: at most, by less than 2e-7; fifty times that leaves room to spare.
ROUGH_ERROR = 1e-5
#: Utilisations probed first (fractions of the saturation rate).
FIRST_PASS = np.array(
    [1e-3, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99,
     0.995, 0.998, 0.999, 0.9995, 0.9999]
)
#: Interior points per refinement pass.
REFINE_POINTS = 15
#: Time-grid points for the convolution when service times are random (jitter, exponential).
SMOOTH_GRID = 512


@dataclass(frozen=True)
class PolicySplit:
    """What a policy's model owes to the query sizes and the policy alone, not to the service
    curves: the routed masses, the routed sizes and weights of each side
    (:func:`dse.serve.queueing.routed_sizes`), the CPU side's sub-batch split and its fork-join
    start schedule for f = 1..fmax engines free (:func:`dse.serve.queueing.forkjoin_schedule`).
    A sweep's configurations share sizes and policies but not curves, so these are computed once
    per (sizes, b, Q, N) (:func:`policy_split`)."""

    mass_cpu: float
    mass_acc: float
    cpu: CpuSplit | None
    #: fork-join schedule (f x sizes): full sub-batches at the start, later, start of the last
    full0: np.ndarray | None
    later: np.ndarray | None
    last_start: np.ndarray | None
    acc_sizes: np.ndarray | None
    acc_weights: np.ndarray | None
    #: every CPU size of non-zero probability (none pruned), its probability (not conditional) and
    #: its split, as :func:`dse.serve.load.offered_load` reads them for the saturation rate
    full_p: np.ndarray | None = None
    full_count: np.ndarray | None = None
    full_last: np.ndarray | None = None
    #: the fork-join schedule per distinct sub-batch count (f x counts) and each size's count
    count_index: np.ndarray | None = None
    by_count: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    #: the sizes at which the CPU curve is read (b, each last sub-batch, every size's last), ascending
    read: np.ndarray | None = None


_SPLITS: dict[tuple[bytes, int, int | None, int], PolicySplit] = {}
#: Bytes of the arrays :data:`_SPLITS` holds, and the most it may hold before it is emptied (a
#: heavy-tailed size distribution at b = 32 makes a split of about 0.9 MB: a bound on the count of
#: entries alone would let the memo grow to gigabytes).
_SPLITS_BYTES = [0]
SPLITS_MAX_BYTES = 256 * 2**20


def _nbytes(value: object) -> int:
    """Bytes of the numpy arrays in ``value`` (a dataclass, tuple or array, nested)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, tuple):
        return sum(_nbytes(v) for v in value)
    fields = getattr(value, "__dataclass_fields__", None)
    return sum(_nbytes(getattr(value, f)) for f in fields) if fields else 0


_PMF_KEYS: dict[int, tuple[np.ndarray, bytes]] = {}


def pmf_key(pmf: np.ndarray) -> bytes:
    """A digest of the size probabilities (the key of :func:`policy_split`'s memo); remembered for
    a read-only array (a sweep's configurations share one, :func:`dse.sched.deeprecsched.size_pmf`)."""
    hit = _PMF_KEYS.get(id(pmf))
    if hit is not None and hit[0] is pmf:
        return hit[1]
    key = hashlib.blake2b(np.ascontiguousarray(pmf, dtype=float).tobytes(), digest_size=16).digest()
    if isinstance(pmf, np.ndarray) and not pmf.flags.writeable and pmf.base is None:
        if len(_PMF_KEYS) > 64:
            _PMF_KEYS.clear()
        _PMF_KEYS[id(pmf)] = (pmf, key)  # the array is kept: its id cannot be reused
    return key


def policy_split(pmf: np.ndarray, policy: Policy, key: bytes | None = None) -> PolicySplit:
    """:class:`PolicySplit` of ``policy`` for sizes ``pmf``, memoised on (``key`` or the pmf's
    digest, b, Q, N)."""
    p = np.asarray(pmf, dtype=float)
    memo = (key if key is not None else pmf_key(p), int(policy.batch), policy.threshold, int(policy.cpu_workers))
    hit = _SPLITS.get(memo)
    if hit is not None:
        return hit
    to_cpu, to_acc = routed_masks(p.size, policy)
    mass_cpu, mass_acc = float(p[to_cpu].sum()), float(p[to_acc].sum())
    cpu = full0 = later = last_start = acc_n = acc_w = None
    full_p = full_k = full_r = count_index = by_count = None
    if mass_cpu > 0:
        cpu = cpu_split(*routed_sizes(p, to_cpu), int(policy.batch))
        fmax = min(int(policy.cpu_workers), cpu.kpmf.size - 1)
        full0, later, last_start = forkjoin_schedule(cpu.count, np.arange(1, fmax + 1)[:, None])
        counts, count_index = np.unique(cpu.count, return_inverse=True)
        by_count = forkjoin_schedule(counts, np.arange(1, fmax + 1)[:, None])
        every = np.flatnonzero(to_cpu & (p > 0))
        full_p = p[every]
        full_k, full_r = split_sizes(every, int(policy.batch))
    if mass_acc > 0:
        acc_n, acc_w = routed_sizes(p, to_acc)
    read = None if cpu is None else np.unique(np.concatenate([[cpu.batch], cpu.last, full_r]))
    out = PolicySplit(mass_cpu, mass_acc, cpu, full0, later, last_start, acc_n, acc_w, full_p, full_k,
                      full_r, None if count_index is None else count_index.reshape(-1), by_count, read)
    size = _nbytes(out)
    if _SPLITS_BYTES[0] + size > SPLITS_MAX_BYTES:
        _SPLITS.clear()
        _SPLITS_BYTES[0] = 0
    _SPLITS[memo] = out
    _SPLITS_BYTES[0] += size
    return out


class PolicyModel:
    """The load-independent pieces of one policy (at a given CPU slowdown): the CPU and
    accelerator paths of :mod:`dse.serve.queueing`, the fork-join laws ``D_f`` and the
    accelerator's service-time law. ``split``: the policy's :func:`policy_split` for ``pmf``
    (computed when not given)."""

    def __init__(
        self,
        policy: Policy,
        pmf: np.ndarray,
        cpu_curve: Curve | None,
        accel_curve: Curve | None = None,
        slowdown: float = 1.0,
        split: PolicySplit | None = None,
    ) -> None:
        sp = split if split is not None else policy_split(pmf, policy)
        self._setup(policy, sp, ServiceLaw.for_policy(policy))
        if self.mass_cpu > 0:
            if cpu_curve is None or self.n_cpu < 1:
                raise DseError("queries below the threshold need CPU engines and a CPU service curve")
            c = sp.cpu
            cpu = cpu_path(c.sizes, c.weights, policy, cpu_curve, self.law, slowdown, c)
            # fork-join geometry for f = 1..fmax engines free at the first start
            f = np.arange(1, min(self.n_cpu, cpu.kmax) + 1)[:, None]
            gap = forkjoin_gap(cpu.mean_sub_s, self.n_cpu, f)
            done = None
            if self.step:  # completion time of each size for each f (deterministic service)
                done = forkjoin_done(sp.full0, sp.later, sp.last_start, gap, cpu.subbatches.full_s, cpu.subbatches.last_s)
            self._init_cpu(cpu, sp, gap[:, 0], sp.last_start * gap, done)
        if self.mass_acc > 0:
            if accel_curve is None or self.n_acc < 1:
                raise DseError("--threshold needs an accelerator service curve (--accel)")
            self._init_acc(accel_path(sp.acc_sizes, sp.acc_weights, policy, accel_curve, self.law))

    def _setup(self, policy: Policy, sp: PolicySplit, law: ServiceLaw) -> None:
        self.policy = policy
        self.law = law
        self.step = law.deterministic
        self.dq = policy.costs.query_overhead_s
        self.mass_cpu, self.mass_acc = sp.mass_cpu, sp.mass_acc
        self.n_cpu = int(policy.cpu_workers)
        self.n_acc = int(policy.accel_workers)
        self._grids: dict[str, tuple[float, np.ndarray, np.ndarray]] = {}
        self._fj_memo: dict[float, np.ndarray] = {}

    # -- CPU path ------------------------------------------------------------------------------

    def _init_cpu(self, cpu: CpuPath, sp: PolicySplit, gap: np.ndarray, off: np.ndarray | None,
                  done: np.ndarray | None) -> None:
        """``gap``: :func:`forkjoin_gap` for f = 1..fmax; ``off``: the start of the last sub-batch
        (f x sizes; None: computed when read); ``done``: the completion times (deterministic
        service)."""
        self.cpu = cpu
        self.w, self.k = cpu.weights, cpu.subbatches.count
        self.t_b, self.t_r = cpu.subbatches.full_s, cpu.subbatches.last_s
        self.kmax = cpu.kmax
        self.fmax = gap.size
        self._full0, self._later = sp.full0, sp.later
        self._off_given = off
        self._last_start = sp.last_start
        self._gap = gap
        if done is not None:
            self._done = done
            self._t1 = done[0]  # f = 1: the law of a query that waited

    @property
    def _off(self) -> np.ndarray:
        """Start of the last sub-batch (s), f x sizes."""
        if self._off_given is None:
            self._off_given = self._last_start * self._gap[:, None]
        return self._off_given

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
            d = (self._done[None, :, :] <= s[:, None, None]) @ self.w  # the mass done by s, per f
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
        return self._every_free(d)

    def _every_free(self, d: np.ndarray) -> np.ndarray:
        """``D_f`` for f = 1..fmax (columns) extended to f = 1..N (f >= kmax are all alike)."""
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
            return exp_wait_sum(np.maximum(s[:, None] - self._t1[None, :], 0.0), theta, self.w)
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
            return exp_wait_sum(np.maximum(s[:, None] - self.acc_s[None, :], 0.0), theta, self.acc_w)
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


class BulkModels:
    """One policy's models for many CPU curves at once (the configurations of a sweep chunk share
    their policies but not their curves), as arrays over the rows of ``tables`` (each a CPU curve
    at sizes 0..L-1, as :class:`TabulatedCurve` holds it): :class:`PolicyModel`'s and
    :func:`dse.serve.load.saturation_qps`'s numbers, for deterministic service with neither
    offload nor co-location, sizes and ``b`` below L (see :func:`_bulk_models`). With them what a
    capacity search reads (:class:`SlaCdf`): each curve's fork-join laws at the time
    ``times[j]`` (s; its SLA) and the completion time of each size of a query that waited. A
    :class:`PolicyModel` object is built only when one is asked for (:meth:`model`)."""

    def __init__(self, policy: Policy, sp: PolicySplit, tables: np.ndarray, times: np.ndarray) -> None:
        c, self.law, nw = sp.cpu, ServiceLaw.for_policy(policy), int(policy.cpu_workers)
        self.policy, self.split = policy, sp
        self.mass_cpu, self.mass_acc, self.n_cpu, self.n_acc = sp.mass_cpu, 0.0, nw, int(policy.accel_workers)
        self.dq = policy.costs.query_overhead_s
        d_s = policy.costs.subbatch_overhead_s
        self.t_full = tables[:, c.batch] + d_s
        self.t_last = tables[:, c.last] + d_s
        self.ex, self.mean_sub, self.scv = cpu_moments(SubBatches(c.count, self.t_full[:, None], self.t_last), c,
                                                       self.law.second_moment_factor)
        f = np.arange(1, min(nw, c.kpmf.size - 1) + 1)[:, None]
        self.gap = forkjoin_gap(self.mean_sub[:, None, None], nw, f[None])
        self.si = times - self.dq
        free, self.t1 = self._free_at(self.si)
        #: D_f(S - dq) for f = 1..N (f >= fmax alike)
        self.free = np.concatenate([free, np.repeat(free[:, -1:], nw - free.shape[1], axis=1)], axis=1)
        #: mean curve work (s) and sub-batch count per arriving query
        self.work = SubBatches(sp.full_count, tables[:, c.batch][:, None], tables[:, sp.full_last]).work_s @ sp.full_p
        self.subbatches = float(sp.full_p @ sp.full_count)
        self.sats = saturation_rate(self.work + self.subbatches * d_s, nw)

    def _free_at(self, si: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``D_f(si)`` for f = 1..fmax and the completion time (s) of each size of a query that
        waited (f = 1), per curve: :func:`dse.serve.queueing.forkjoin_done`'s times, compared with
        ``si`` a block of sizes with one sub-batch count ``k`` at a time, for f = 1..k only (from
        f = k on, every sub-batch starts at once: the block's share no longer depends on f)."""
        c, (full0, later, last_start) = self.split.cpu, self.split.by_count
        gap, t_full = self.gap, self.t_full[:, None, None]
        full, start = forkjoin_terms(full0, later, last_start, gap, t_full)  # per (curve, f, count)
        index = self.split.count_index
        t1 = np.maximum(full[:, 0, index], start[:, 0, index] + self.t_last)
        fmax = gap.shape[1]
        counts = np.unique(c.count)
        bounds = np.searchsorted(index, np.arange(counts.size + 1))  # sizes ascend, so counts do
        free = np.zeros((si.size, fmax))
        for q, k in enumerate(counts):
            a, b, fk = bounds[q], bounds[q + 1], min(int(k), fmax)
            # max(full, last) <= si is full <= si and last <= si: the last sub-batches' times are
            # compared (as 1.0 or 0.0, in place), the full ones' once per (curve, f)
            last = start[:, :fk, q, None] + self.t_last[:, None, a:b]
            np.less_equal(last, si[:, None, None], out=last)
            part = (last @ c.weights[a:b]) * (full[:, :fk, q] <= si[:, None])
            free[:, :fk] += part
            free[:, fk:] += part[:, -1:]
        return free, t1

    def load_parts(self, j: int) -> LoadParts:
        """:func:`dse.serve.load.load_parts` of curve ``j``."""
        return LoadParts.plain(float(self.work[j]), self.subbatches, self.split.mass_acc)

    def model(self, j: int) -> PolicyModel:
        """The :class:`PolicyModel` of curve ``j``."""
        c = self.split.cpu
        m = PolicyModel.__new__(PolicyModel)
        m._setup(self.policy, self.split, self.law)
        sub = SubBatches(c.count, float(self.t_full[j]), self.t_last[j])
        m._init_cpu(CpuPath(c.weights, sub, float(self.ex[j]), float(self.mean_sub[j]), float(self.scv[j]), c.kpmf,
                            c.tail, c.dispersion), self.split, self.gap[j, :, 0], None,
                    forkjoin_done(*self.split.by_count, self.gap[j], self.t_full[j], self.t_last[j][None, :],
                                  self.split.count_index))
        m._fj_memo[float(self.si[j])] = self.free[j : j + 1]
        return m


# -- P(T <= s) for many (policy, load, time) rows -----------------------------------------------


def exp_wait_sum(slack: np.ndarray, theta: np.ndarray, weights: np.ndarray,
                 weight_sum: np.ndarray | None = None) -> np.ndarray:
    """``sum_n w_n (1 - exp(-theta slack_n))`` per row: P(W + T <= s) for a wait ``W ~
    Exp(theta)`` (1/s) and a completion time ``T(n) = s - slack_n`` of probability ``w_n``
    (``slack >= 0`` (s), rows x sizes, overwritten; ``weights`` rows x sizes or one row;
    ``weight_sum``: the weights' row sums when known). Written as ``sum w - sum w exp(..)``:
    ``exp`` costs a third of ``expm1``, and the cancellation when ``theta slack`` is small costs
    only an absolute 1e-16, which is what the comparisons with 0.95 read. A float32 ``slack`` is
    exponentiated in float32 (a quarter of the time; see :data:`ROUGH_ERROR`) and summed in float64."""
    np.multiply(slack, -np.asarray(theta, dtype=slack.dtype)[:, None], out=slack)
    np.exp(slack, out=slack)
    if weights.ndim == 1:
        return (weights.sum() if weight_sum is None else weight_sum) - slack @ weights
    total = weights.sum(axis=1) if weight_sum is None else weight_sum
    return total - np.einsum("rn,rn->r", slack, weights)

#: Rows per block of the exponential-wait sums (bounds the (rows x sizes) temporaries).
WAIT_BLOCK = 4096


def cdf_rows(models: list[PolicyModel], qps: np.ndarray, s: np.ndarray) -> np.ndarray:
    """P(latency <= s_i) at load qps_i under ``models[i]`` (rows may share a model object)."""
    index: dict[int, int] = {}
    uniq: list[PolicyModel] = []
    which = np.empty(len(models), dtype=np.intp)
    for j, m in enumerate(models):
        at = index.get(id(m))
        if at is None:
            at = index[id(m)] = len(uniq)
            uniq.append(m)
        which[j] = at
    return cdf_indexed(uniq, which, qps, s)


def cdf_indexed(models: list[PolicyModel], which: np.ndarray, qps: np.ndarray, s: np.ndarray) -> np.ndarray:
    """P(latency <= s_i) at load qps_i under ``models[which[i]]``: every row in a few numpy
    passes, the per-model quantities gathered from arrays over the models (many configurations'
    policies at once in a sweep chunk)."""
    qps = np.asarray(qps, dtype=float)
    s = np.asarray(s, dtype=float)
    which = np.asarray(which, dtype=np.intp)
    out = np.zeros(qps.size)
    # one vectorised queue per engine count (rows of policies with other counts cannot share it)
    for side, add in (("cpu", _add_cpu_rows), ("acc", _add_acc_rows)):
        live = np.array([getattr(m, "mass_" + side) > 0 for m in models], dtype=bool)
        engines = np.array([getattr(m, "n_" + side) for m in models], dtype=int)
        for n in np.unique(engines[live]):
            rows = np.flatnonzero((live & (engines == n))[which])
            if rows.size:
                add(out, models, which, qps, s, rows)
    return out


def _local(models: list[PolicyModel], which: np.ndarray, rows: np.ndarray) -> tuple[list[PolicyModel], np.ndarray]:
    """The models ``rows`` use and each row's position among them."""
    used, local = np.unique(which[rows], return_inverse=True)
    return [models[i] for i in used], local.reshape(-1)


def _pairs(local: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (model, value) pairs of the rows, sorted by model then value: ``(model, value,
    inverse)`` with ``pairs[inverse] == rows``."""
    order = np.lexsort((x, local))
    lo, xo = local[order], x[order]
    new = np.ones(order.size, dtype=bool)
    new[1:] = (lo[1:] != lo[:-1]) | (xo[1:] != xo[:-1])
    inverse = np.empty(order.size, dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    return lo[new], xo[new], inverse


def _runs(sorted_ids: np.ndarray) -> list[tuple[int, slice]]:
    """``(id, slice)`` of each run of equal values in a sorted array."""
    if not sorted_ids.size:
        return []
    cut = np.flatnonzero(sorted_ids[1:] != sorted_ids[:-1]) + 1
    starts = np.concatenate([[0], cut])
    ends = np.concatenate([cut, [sorted_ids.size]])
    return [(int(sorted_ids[a]), slice(int(a), int(b))) for a, b in zip(starts, ends)]


def _merge_rows(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One group's arrays from parts of it (rows one after the other; 2-D arrays zero-padded to
    the widest part: a zero tail probability or slack adds nothing). Each part's rows carry its
    number (``part``) and its weight vector (``wvecs``: one per part, None for the part of single
    models, whose ``weight`` rows come first)."""
    out: dict[str, object] = {"part": np.repeat(np.arange(len(parts)), [p["rows"].size for p in parts]),
                              "wvecs": [p.get("wvec") for p in parts]}
    for key in ("weight", "wsum"):
        if key in parts[0]:
            out[key] = parts[0][key]
    for key, value in parts[0].items():
        if key in ("weight", "wsum", "wvec"):
            continue
        arrays = [p[key] for p in parts]
        if value.ndim == 2 and len(arrays) > 1:  # one zeroed array filled part by part (np.pad costs more)
            merged = np.zeros((sum(a.shape[0] for a in arrays), max(a.shape[1] for a in arrays)), dtype=value.dtype)
            at = 0
            for a in arrays:
                merged[at : at + a.shape[0], : a.shape[1]] = a
                at += a.shape[0]
            out[key] = merged
        else:
            out[key] = np.concatenate(arrays)
    return out  # type: ignore[return-value]


class SlaCdf:
    """``P(latency <= S_i)`` under ``models[i]`` at any load, for rows each with its own fixed
    time ``S_i`` (a capacity search asks for the SLA at every load it probes): what does not
    depend on the load is gathered once per row (the per-policy moments, the fork-join laws
    ``D_f(S_i)``, the accelerator's service law at ``S_i`` and, for deterministic service, the
    slack ``S_i - T(n)`` of each size a waiting query may have), so that each call computes only
    the queue states and the exponential waits. The same numbers as :func:`cdf_indexed`. A row's
    model may be given as ``(bulk, j)`` (:class:`BulkModels`, gathered from its arrays)."""

    def __init__(self, models: list["PolicyModel | tuple[BulkModels, int]"], s: np.ndarray) -> None:
        self.models = models
        objs = [m[0] if isinstance(m, tuple) else m for m in models]
        self.si = np.asarray(s, dtype=float) - np.array([m.dq for m in objs], dtype=float)
        self.groups: list[tuple[str, int, np.ndarray, dict[str, np.ndarray]]] = []
        for side in ("cpu", "acc"):
            live = np.array([getattr(m, "mass_" + side) > 0 for m in objs], dtype=bool)
            engines = np.array([getattr(m, "n_" + side) for m in objs], dtype=int)
            for n in np.unique(engines[live]):
                g = self._gather(side, int(n), np.flatnonzero(live & (engines == n)))
                slot = np.full(len(models), -1, dtype=np.intp)
                slot[g["rows"]] = np.arange(g["rows"].size)
                self.groups.append((side, int(n), slot, g))

    def _gather(self, side: str, n: int, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The group's arrays (rows in the order of ``g["rows"]``): models one by one, bulk rows
        per :class:`BulkModels` at once."""
        bulk: dict[int, list[int]] = {}
        single = []
        for i in rows:
            m = self.models[i]
            if isinstance(m, tuple):
                bulk.setdefault(id(m[0]), []).append(int(i))
            else:
                single.append(int(i))
        parts = [self._gather_models(side, np.array(single, dtype=np.intp))] if single else []
        for idx in bulk.values():
            parts.append(self._gather_bulk(np.array(idx, dtype=np.intp)))
        return _merge_rows(parts)

    def _gather_bulk(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        bulk: BulkModels = self.models[rows[0]][0]  # type: ignore[index]
        js = np.array([self.models[i][1] for i in rows], dtype=np.intp)  # type: ignore[index]
        c, si = bulk.split.cpu, self.si[rows]
        # a size whose waiting query cannot finish by S has slack 0: it adds w (1 - exp(0)) = 0
        slack = np.maximum(si[:, None] - bulk.t1[js], 0.0)
        keep = np.flatnonzero((slack > 0).any(axis=0))  # the sizes some row's waiting query may finish
        k = rows.size
        return {
            "rows": rows, "si": si, "mass": np.full(k, bulk.mass_cpu), "mean": bulk.mean_sub[js], "scv": bulk.scv[js],
            "disp": np.full(k, c.dispersion), "step": np.ones(k, dtype=bool),
            "tails": np.broadcast_to(c.tail, (k, c.tail.size)), "free": bulk.free[js, ::-1],
            "slack": slack[:, keep] if keep.size else np.zeros((k, 1)),
            "slack32": (slack[:, keep] if keep.size else np.zeros((k, 1))).astype(np.float32),
            "wvec": c.weights[keep] if keep.size else np.zeros(1),
        }

    def _gather_models(self, side: str, rows: np.ndarray) -> dict[str, np.ndarray]:
        used: list[PolicyModel] = [self.models[i] for i in rows]  # type: ignore[misc]
        si = self.si[rows]
        cpu = side == "cpu"
        g: dict[str, np.ndarray] = {
            "rows": rows, "si": si,
            "mass": np.array([m.mass_cpu if cpu else m.mass_acc for m in used]),
            "mean": np.array([m.cpu.mean_sub_s if cpu else m.acc.mean_s for m in used]),
            "scv": np.array([m.cpu.scv if cpu else m.acc.scv for m in used]),
            "disp": np.array([m.cpu.dispersion for m in used]) if cpu else np.ones(rows.size),
            "step": np.array([m.step for m in used], dtype=bool),
        }
        if cpu:
            g["tails"] = np.zeros((rows.size, max(m.kmax for m in used)))
            for j, m in enumerate(used):
                g["tails"][j, : m.kmax] = m.cpu.tail
            g["free"] = np.array([m.cpu_forkjoin(np.array([x]))[0, ::-1] for m, x in zip(used, si)])
        else:
            g["tails"] = np.ones((rows.size, 1))
            g["free"] = np.array([m.acc_service(np.array([x]))[0] for m, x in zip(used, si)])
        # deterministic service: the slack of each size of a waiting query, zero-padded
        slack = [np.maximum(x - (m._t1 if cpu else m.acc_s), 0.0) if m.step else np.zeros(0) for m, x in zip(used, si)]
        weights = [(m.w if cpu else m.acc_w) if m.step else np.zeros(0) for m in used]
        keep = [x > 0 for x in slack]
        width = max([int(k.sum()) for k in keep] + [1])
        g["slack"] = np.zeros((rows.size, width))
        g["weight"] = np.zeros((rows.size, width))
        for j, (x, w, k) in enumerate(zip(slack, weights, keep)):
            g["slack"][j, : k.sum()], g["weight"][j, : k.sum()] = x[k], w[k]
        g["slack32"] = g["slack"].astype(np.float32)
        g["wsum"] = g["weight"].sum(axis=1)
        return g

    def __call__(self, idx: np.ndarray, qps: np.ndarray, rough: bool = False) -> np.ndarray:
        """P(latency <= S_idx[j]) at load ``qps[j]`` under ``models[idx[j]]``; ``rough``: the
        deterministic waits summed in single precision (within :data:`ROUGH_ERROR`)."""
        out = np.zeros(idx.size)
        for side, n, slot, g in self.groups:
            at = np.flatnonzero(slot[idx] >= 0)
            if at.size:
                out[at] += self._side(side, n, g, slot[idx[at]], qps[at], rough)

        return out

    def meets(self, idx: np.ndarray, qps: np.ndarray) -> np.ndarray:
        """P(latency <= S_idx[j]) at load ``qps[j]``, rough (:meth:`__call__`) where that is
        farther than :data:`ROUGH_ERROR` from :data:`MEETS`, so that ``>= MEETS`` reads as it would
        in double precision; recomputed in double precision elsewhere (and where it is NaN: a rate
        beyond float32's range)."""
        g = self(idx, qps, rough=True)
        close = np.flatnonzero(~(np.abs(g - MEETS) > ROUGH_ERROR))
        if close.size:
            g[close] = self(idx[close], qps[close])
        return g

    def _side(self, side: str, n: int, g: dict[str, np.ndarray], r: np.ndarray, qps: np.ndarray,
              rough: bool = False) -> np.ndarray:
        """One side's share (CPU or accelerator, ``n`` engines) for group rows ``r``."""
        mass, mean = g["mass"][r], g["mean"][r]
        busy, pw, ahead, u = queue_state(n, qps * mass * mean, g["tails"][r])
        if side == "cpu":
            val = np.einsum("rj,rj->r", busy, g["free"][r])
        else:
            val = (1 - pw) * g["free"][r]
        live = np.flatnonzero(np.isfinite(pw) & (pw > 0))
        if live.size:
            rl = r[live]
            theta = wait_rate(ahead[live], mean[live], n, g["disp"][rl], g["scv"][rl])
            val[live] += pw[live] * self._waited(side, g, rl, theta, rough)
        ok = np.isfinite(u) & (u < 1) & (g["si"][r] > 0)
        return mass * np.where(ok, val, 0.0)

    def _waited(self, side: str, g: dict[str, np.ndarray], r: np.ndarray, theta: np.ndarray,
                rough: bool = False) -> np.ndarray:
        """``P(W + D <= S)``, ``W ~ Exp(theta)`` (see :func:`_waited`), for group rows ``r``."""
        out = np.empty(r.size)
        slack = g["slack32" if rough else "slack"]
        step = g["step"][r]
        det = np.flatnonzero(step)
        parts = g["part"][r[det]]
        for p, wvec in enumerate(g["wvecs"]):
            rows = det[parts == p] if len(g["wvecs"]) > 1 else det
            for a in range(0, rows.size, WAIT_BLOCK):
                d = rows[a : a + WAIT_BLOCK]
                if wvec is None:  # single models: each row its weights
                    out[d] = exp_wait_sum(slack[r[d], : g["weight"].shape[1]], theta[d], g["weight"][r[d]],
                                          g["wsum"][r[d]])
                else:  # one policy's bulk models: one weight vector
                    out[d] = exp_wait_sum(slack[r[d], : wvec.size], theta[d], wvec)
        for j in np.flatnonzero(~step):
            m = self.models[g["rows"][r[j]]]
            s, th = g["si"][r[j] : r[j] + 1], theta[j : j + 1]
            out[j] = (m.cpu_waited(s, th) if side == "cpu" else m.acc_waited(s, th))[0]
        return out


def count_below(sorted_rows: np.ndarray, row: np.ndarray, t: np.ndarray, strict: bool = False) -> np.ndarray:
    """For each probe ``j``, how many entries of ``sorted_rows[row[j]]`` (ascending) are ``<= t[j]``
    (``< t[j]`` when ``strict``): a binary search of every probe at once."""
    size = sorted_rows.shape[1]
    lo = np.zeros(t.size, dtype=np.intp)
    hi = np.full(t.size, size, dtype=np.intp)
    for _ in range(int(size).bit_length()):
        mid = (lo + hi) >> 1
        v = sorted_rows[row, np.minimum(mid, size - 1)]
        up = ((v < t) if strict else (v <= t)) & (mid < hi)
        lo = np.where(up, mid + 1, lo)
        hi = np.where(up, hi, mid)
    return lo


class TimeCdf:
    """``P(latency <= t)`` of each row ``(policy set, policy)`` at its own fixed load ``qps[i]``,
    for any times (what a quantile search asks). For deterministic service on the CPU alone the
    load-dependent parts (the queue state, the wait rate theta) are computed once per row, and the
    CDF is a table look-up: ``sum_f P(f free) D_f(t)`` is a step function (the completion times
    of every size and f, sorted, with their cumulative probabilities) and the wait's part
    ``sum_{T1(n) < t} w_n (1 - exp(-theta (t - T1(n))))`` is ``W(t) - exp(log E(t) - theta t)``
    with ``E(t) = sum_{T1(n) < t} w_n exp(theta T1(n))`` accumulated in logarithms (no
    overflow). Other rows (jitter, offload) go through :func:`cdf_indexed`. The same numbers as
    :func:`cdf_indexed` up to the order of the sums."""

    def __init__(self, rows: list[Row], qps: np.ndarray) -> None:
        self.qps = np.asarray(qps, dtype=float)
        #: the model of each row read through cdf_indexed (None: the row's tables are built)
        self.models: list[PolicyModel | None] = [None] * len(rows)
        bulk: dict[int, list[tuple[int, BulkModels, int]]] = {}
        single: dict[tuple[int, int, tuple[int, ...]], list[int]] = {}
        for i, ((ps, pol), q) in enumerate(zip(rows, self.qps)):
            kept = ps.kept(pol)
            if kept is not None:
                bulk.setdefault(id(kept[0]), []).append((i, *kept))
                continue
            m = self.models[i] = ps.models_at(pol, np.array([q]))[0]
            if m.step and m.mass_acc <= 0 < m.mass_cpu:
                single.setdefault((id(m.w), m.n_cpu, m._done.shape), []).append(i)
        self.slot = np.full(len(rows), -1, dtype=np.intp)
        self.at = np.zeros(len(rows), dtype=np.intp)
        self.parts = []
        for part in bulk.values():
            idx = [i for i, _, _ in part]
            b, js = part[0][1], np.array([j for _, _, j in part], dtype=np.intp)
            sp = b.split
            done = forkjoin_done(*sp.by_count, b.gap[js], b.t_full[js][:, None, None], b.t_last[js][:, None, :],
                                 sp.count_index)
            self._add(idx, self._tables(sp.cpu, b.n_cpu, sp.mass_cpu, b.mean_sub[js], b.scv[js], np.full(js.size, b.dq),
                                        done, self.qps[idx]))
        for idx in single.values():
            used: list[PolicyModel] = [self.models[i] for i in idx]  # type: ignore[misc]
            m0 = used[0]
            self._add(idx, self._tables(m0.cpu, m0.n_cpu, m0.mass_cpu, np.array([m.cpu.mean_sub_s for m in used]),
                                        np.array([m.cpu.scv for m in used]), np.array([m.dq for m in used]),
                                        np.stack([m._done for m in used]), self.qps[idx]))
            for i in idx:
                self.models[i] = None

    def _add(self, idx: list[int], tables: dict[str, np.ndarray]) -> None:
        self.slot[idx], self.at[idx] = len(self.parts), np.arange(len(idx))
        self.parts.append(tables)

    @staticmethod
    def _tables(c: "CpuSplit | CpuPath", n: int, mass: float, mean: np.ndarray, scv: np.ndarray, dq: np.ndarray,
                done: np.ndarray, qps: np.ndarray) -> dict[str, np.ndarray]:
        """The look-up tables of rows sharing sizes, weights, engines and f range (``c``: their
        split or CPU path): mean sub-batch time, squared coefficient of variation and query
        overhead (s) per row, the completion times ``done`` (rows x f x sizes, s), the loads."""
        rows, fmax, w = done.shape[0], done.shape[1], c.weights
        busy, pw, ahead, u = queue_state(n, qps * mass * mean, np.broadcast_to(c.tail, (rows, c.tail.size)))
        # P(f engines free), f = 1..fmax, the last also for every f beyond (D_f alike there)
        free = busy[:, ::-1][:, :fmax].copy()
        free[:, -1] = busy[:, : n - fmax + 1].sum(axis=1)
        order = np.argsort(done.reshape(rows, -1), axis=1)
        step_t = np.take_along_axis(done.reshape(rows, -1), order, axis=1)
        step_w = np.take_along_axis((free[:, :, None] * w[None, None, :]).reshape(rows, -1), order, axis=1)
        live = np.isfinite(pw) & (pw > 0)
        theta = np.where(live, wait_rate(np.where(live, ahead, 1.0), mean, n, c.dispersion, scv), 0.0)
        t1 = done[:, 0, :]
        order1 = np.argsort(t1, axis=1)
        wait_t = np.take_along_axis(t1, order1, axis=1)
        w1 = w[order1]
        with np.errstate(divide="ignore"):
            log_e = np.logaddexp.accumulate(np.log(w1) + theta[:, None] * wait_t, axis=1)
        zero = np.zeros((rows, 1))
        return {
            "dq": dq, "mass": np.full(rows, mass), "pw": np.where(live, pw, 0.0),
            "theta": theta, "ok": np.isfinite(u) & (u < 1), "step_t": step_t,
            "step_cum": np.concatenate([zero, np.cumsum(step_w, axis=1)], axis=1), "wait_t": wait_t,
            "wait_cum": np.concatenate([zero, np.cumsum(w1, axis=1)], axis=1),
            "log_e": np.concatenate([np.full((rows, 1), -np.inf), log_e], axis=1),
        }

    def __call__(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        """P(latency <= t[j]) of row ``idx[j]`` at its load."""
        idx = np.asarray(idx, dtype=np.intp)
        t = np.asarray(t, dtype=float)
        out = np.empty(idx.size)
        slot = self.slot[idx]
        for k, g in enumerate(self.parts):
            j = np.flatnonzero(slot == k)
            if j.size:
                out[j] = self._look_up(g, self.at[idx[j]], t[j])
        rest = np.flatnonzero(slot < 0)
        if rest.size:
            models: list[PolicyModel] = [self.models[i] for i in idx[rest]]  # type: ignore[misc]
            out[rest] = cdf_rows(models, self.qps[idx[rest]], t[rest])
        return out

    @staticmethod
    def _look_up(g: dict[str, np.ndarray], r: np.ndarray, t: np.ndarray) -> np.ndarray:
        si = t - g["dq"][r]
        val = g["step_cum"][r, count_below(g["step_t"], r, si)]
        k = count_below(g["wait_t"], r, si, strict=True)
        with np.errstate(over="ignore", invalid="ignore"):
            waited = g["wait_cum"][r, k] - np.exp(g["log_e"][r, k] - g["theta"][r] * si)
        val = val + g["pw"][r] * np.where(k > 0, waited, 0.0)
        return g["mass"][r] * np.where(g["ok"][r] & (si > 0), val, 0.0)


def _add_cpu_rows(out: np.ndarray, models: list[PolicyModel], which: np.ndarray, qps: np.ndarray, s: np.ndarray,
                  rows: np.ndarray) -> None:
    """Add the CPU path's share of P(latency <= s) to ``out`` at ``rows`` (one engine count): the
    queues of all distinct (model, load) pairs in one pass, the fork-join laws once per distinct
    (model, time), the waits of all rows in blocks."""
    used, local = _local(models, which, rows)
    n_cpu = used[0].n_cpu
    mean_sub = np.array([m.cpu.mean_sub_s for m in used])
    mass = np.array([m.mass_cpu for m in used])
    tails = np.zeros((len(used), max(m.kmax for m in used)))
    for j, m in enumerate(used):
        tails[j, : m.kmax] = m.cpu.tail
    pl, pq, inv = _pairs(local, qps[rows])
    busy, pw, ahead, u = (x[inv] for x in queue_state(n_cpu, pq * mass[pl] * mean_sub[pl], tails[pl]))
    si = s[rows] - np.array([m.dq for m in used])[local]
    dl, ds, dinv = _pairs(local, si)
    d = np.empty((dl.size, n_cpu))
    for j, part in _runs(dl):
        d[part] = used[j].cpu_forkjoin(ds[part])
    val = np.einsum("rj,rj->r", busy, d[dinv, ::-1])
    live = np.isfinite(pw) & (pw > 0)
    if live.any():
        lv = np.flatnonzero(live)
        disp = np.array([m.cpu.dispersion for m in used])
        scv = np.array([m.cpu.scv for m in used])
        theta = wait_rate(ahead[lv], mean_sub[local[lv]], n_cpu, disp[local[lv]], scv[local[lv]])
        val[lv] += pw[lv] * _waited(used, local[lv], si[lv], theta, "cpu")
    ok = np.isfinite(u) & (u < 1) & (si > 0)
    out[rows] += mass[local] * np.where(ok, val, 0.0)


def _waited(used: list[PolicyModel], local: np.ndarray, s: np.ndarray, theta: np.ndarray, side: str) -> np.ndarray:
    """``P(W + D <= s)`` per row, ``W ~ Exp(theta)``, D the completion law of a query that waited
    (CPU: ``D_1``; accelerator: its service time) under ``used[local]``. Deterministic service:
    ``sum_n w_n (1 - exp(-theta (s - T(n))))_+`` for all such rows at once, the completion times
    zero-padded into one (models x sizes) table; random service: each model's grid convolution."""
    out = np.empty(s.size)
    step = np.array([m.step for m in used], dtype=bool)
    det = np.flatnonzero(step[local])
    if det.size:
        times = [(m._t1, m.w) if side == "cpu" else (m.acc_s, m.acc_w) for m in used if m.step]
        t_pad = np.full((len(used), max(t.size for t, _ in times)), np.inf)
        w_pad = np.zeros_like(t_pad)
        for j, (t, w) in zip(np.flatnonzero(step), times):
            t_pad[j, : t.size], w_pad[j, : w.size] = t, w
        for a in range(0, det.size, WAIT_BLOCK):
            r = det[a : a + WAIT_BLOCK]
            x = np.maximum(s[r, None] - t_pad[local[r]], 0.0)
            out[r] = exp_wait_sum(x, theta[r], w_pad[local[r]])
    rest = np.flatnonzero(~step[local])
    order = rest[np.argsort(local[rest], kind="stable")]
    for j, part in _runs(local[order]):
        r = order[part]
        m = used[j]
        out[r] = m.cpu_waited(s[r], theta[r]) if side == "cpu" else m.acc_waited(s[r], theta[r])
    return out


def _add_acc_rows(out: np.ndarray, models: list[PolicyModel], which: np.ndarray, qps: np.ndarray, s: np.ndarray,
                  rows: np.ndarray) -> None:
    """Add the accelerator path's share of P(latency <= s) to ``out`` at ``rows`` (one engine
    count; one job per query)."""
    used, local = _local(models, which, rows)
    c = used[0].n_acc
    mean_s = np.array([m.acc.mean_s for m in used])
    mass = np.array([m.mass_acc for m in used])
    busy, pw, ahead, u = queue_state(c, qps[rows] * mass[local] * mean_s[local], np.ones((rows.size, 1)))
    si = s[rows] - np.array([m.dq for m in used])[local]
    served = np.empty(rows.size)
    order = np.argsort(local, kind="stable")
    for j, part in _runs(local[order]):
        served[order[part]] = used[j].acc_service(si[order[part]])
    val = (1 - pw) * served
    live = np.isfinite(pw) & (pw > 0)
    if live.any():
        lv = np.flatnonzero(live)
        scv = np.array([m.acc.scv for m in used])
        theta = wait_rate(ahead[lv], mean_s[local[lv]], c, 1.0, scv[local[lv]])
        val[lv] += pw[lv] * _waited(used, local[lv], si[lv], theta, "acc")
    ok = np.isfinite(u) & (u < 1) & (si > 0)
    out[rows] += mass[local] * np.where(ok, val, 0.0)


# -- searches ------------------------------------------------------------------------------------


@dataclass
class FastCapacity:
    """Latency-bounded throughput of one policy by the analytical model."""

    max_qps: float
    saturation_qps: float
    met: bool
    #: load points evaluated (for the record)
    evaluations: int = 0


class TabulatedCurve:
    """``curve`` read at integer sizes from a table of ``curve(0..top)`` computed once (the
    policies of a set read the same sub-batch sizes again and again); any other argument goes to
    ``curve`` itself. Elementwise the same numbers as ``curve``."""

    def __init__(self, curve: Curve, top: int) -> None:
        self.curve = curve
        self.table = np.asarray(curve(np.arange(max(int(top), 1) + 1, dtype=float)), dtype=float)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        i = x.astype(np.int64)
        if x.size and (i == x).all() and i.min() >= 0 and i.max() < self.table.size:
            return self.table[i]
        return np.asarray(self.curve(x), dtype=float)


class PolicySet:
    """Builds :class:`PolicyModel` objects for policies sharing sizes and curves (memoised per
    policy and, with co-location, per slowdown)."""

    def __init__(self, pmf: np.ndarray, cpu_curve: Curve | None, accel_curve: Curve | None = None) -> None:
        self.pmf = np.asarray(pmf, dtype=float)
        self.key = pmf_key(self.pmf)
        self.cpu_curve = TabulatedCurve(cpu_curve, self.pmf.size) if cpu_curve is not None else None
        self.accel_curve = TabulatedCurve(accel_curve, self.pmf.size) if accel_curve is not None else None
        self._models: dict[tuple[Policy, float], PolicyModel] = {}
        self._bulk: dict[Policy, tuple[BulkModels, int]] = {}
        self._sat: dict[Policy, float] = {}
        self._parts: dict[Policy, LoadParts] = {}

    def model(self, policy: Policy, load: float = 0.0) -> PolicyModel:
        """The model of ``policy`` with the CPU curve at utilisation ``load`` (any load without
        co-location)."""
        key = (policy, float(load))
        m = self._models.get(key)
        if m is None:
            bulk = self._bulk.get(policy) if key[1] == 0.0 else None
            if bulk is not None:
                m = bulk[0].model(bulk[1])
            else:
                curve = curve_at(self.cpu_curve, load, policy.costs.colocation)
                m = PolicyModel(policy, self.pmf, curve, self.accel_curve, split=policy_split(self.pmf, policy, self.key))
            if len(self._models) > 4096:
                self._models.clear()
            self._models[key] = m
        return m

    def keep(self, policy: Policy, bulk: BulkModels, j: int) -> None:
        """Take the model (load-independent) and saturation rate of ``policy`` from curve ``j`` of
        models built elsewhere (:func:`_bulk_models`)."""
        self._bulk[policy] = (bulk, j)  # its saturation rate too (:meth:`saturation`)

    def load_parts(self, policy: Policy) -> LoadParts:
        """:func:`dse.serve.load.load_parts` of ``policy`` (memoised)."""
        hit = self._parts.get(policy)
        if hit is None:
            bulk = self._bulk.get(policy)
            if bulk is not None:
                hit = bulk[0].load_parts(bulk[1])
            else:
                hit = load_parts(self.pmf, policy, self.cpu_curve, self.accel_curve)
            self._parts[policy] = hit
        return hit

    def kept(self, policy: Policy) -> "tuple[BulkModels, int] | None":
        """The bulk models and row ``policy``'s model is kept as (:meth:`keep`), if so."""
        return self._bulk.get(policy)

    def known(self, policy: Policy) -> bool:
        """Whether the load-independent model of ``policy`` is built (or kept)."""
        return policy in self._bulk or (bool(self._models) and (policy, 0.0) in self._models)

    def source(self, policy: Policy) -> "PolicyModel | tuple[BulkModels, int]":
        """What :class:`SlaCdf` reads for ``policy``: its bulk models and row when kept, else its model."""
        return self.kept(policy) or self.model(policy)

    def saturation(self, policy: Policy) -> float:
        bulk = self._bulk.get(policy)
        if bulk is not None:
            return float(bulk[0].sats[bulk[1]])
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
        doubled until it is one (:func:`joint_p95` for one row)."""
        hi = float(upper)
        if not known:
            cdf = TimeCdf([(self, policy)], np.array([float(qps)]))
            for _ in range(60):
                if cdf(np.array([0]), np.array([hi]))[0] >= QUANTILE:
                    break
                hi *= 2.0
            else:
                return math.inf
        return float(joint_p95([(self, policy)], np.array([float(qps)]), np.array([hi]), rel_tol)[0])

    def zero_load_p95(self, policy: Policy, upper: float, rel_tol: float = 5e-4) -> float:
        """p95 latency as the load goes to 0 (every engine free): the best p95 the policy reaches."""
        sat = self.saturation(policy)
        return self.p95(policy, sat * 1e-9, upper, rel_tol)


# -- the SLA search over many (policy set, policy) rows ---------------------------------------

Row = tuple[PolicySet, Policy]

#: Probes per row per round of the searches below (each round narrows a row's candidates to about
#: 1/(SEARCH_WIDTH + 1)); more probes per round mean fewer numpy passes but more rows evaluated.
SEARCH_WIDTH = 2
#: The coordinate ``(1 - u)^-PREDICT_POWER`` (u: load / saturation) in which :func:`_first_miss`
#: draws its line through P(T <= S) (the queue's mean wait grows as ``1 / (1 - u)``, P(T <= S)
#: falls faster). The line's guess of the first load that misses the SLA is right for 94% of the
#: refinement passes of studies/nmp.yaml with 2, 53% with ``-log(1 - u)`` (too early otherwise:
#: P(T <= S) is concave in it): 18% fewer probes and 28% fewer rounds. Only which loads are
#: probed depends on it, not the capacities.
PREDICT_POWER = 2.0
#: Below this many rows a round's fixed cost dominates: :data:`FEW_WIDTH` probes per row per round.
FEW_ROWS = 64
FEW_WIDTH = 6


def first_true(pred: Callable[[np.ndarray, np.ndarray], np.ndarray], count: int, length: int,
               evals: np.ndarray | None = None, width: int = SEARCH_WIDTH,
               predict: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """For each of ``count`` rows, the first index of ``0..length-1`` at which ``pred(rows, index)``
    (vectorised over (row, index) pairs) holds, ``length`` when it holds nowhere, for predicates
    that hold from some index on (false, ..., false, true, ...): the answer of a scan of the whole
    list, by a ``width``-ary search (about ``width * log_{width+1}(length)`` evaluations per row
    instead of ``length``). ``predict(rows, lo, hi)``: a guess of each row's answer within its
    remaining range ``lo..hi`` (-1: none); the guess and the index below it are probed (with
    ``width - 2`` evenly spread others), which settles a right guess in one round. Every evaluation is counted in ``evals[row]``."""
    lo = np.zeros(count, dtype=np.intp)
    hi = np.full(count, int(length), dtype=np.intp)
    steps = np.arange(1, width + 1)
    while True:
        act = np.flatnonzero(lo < hi)
        if not act.size:
            return lo
        pos = lo[act, None] + ((hi - lo)[act, None] * steps[None, :]) // (width + 1)
        if predict is not None and width >= 2:
            g = np.asarray(predict(act, lo[act], hi[act]), dtype=np.intp)
            near = np.clip(np.stack([g - 1, g], axis=1), lo[act, None], hi[act, None] - 1)
            spread = lo[act, None] + ((hi - lo)[act, None] * steps[None, : width - 2]) // (width - 1)
            pos = np.where((g >= 0)[:, None], np.sort(np.concatenate([near, spread], axis=1), axis=1), pos)
        keep = np.ones(pos.shape, dtype=bool)
        keep[:, 1:] = pos[:, 1:] != pos[:, :-1]  # short ranges: each index once
        rr, pp = np.repeat(act, width)[keep.reshape(-1)], pos[keep]
        hit = np.asarray(pred(rr, pp), dtype=bool)
        if evals is not None:
            np.add.at(evals, rr, 1)
        np.minimum.at(hi, rr[hit], pp[hit])
        below = ~hit & (pp < hi[rr])  # a miss above a hit would break monotony: trust the hit
        np.maximum.at(lo, rr[below], pp[below] + 1)


def joint_capacities(rows: list[Row], sla_s: np.ndarray, rel_tol: float = 1e-3) -> list[FastCapacity]:
    """Highest load with p95 <= ``sla_s[i]`` for every row ``(policy set, policy)``: one
    vectorised search for policies of one set (:meth:`PolicySet.capacities`) or of many sets,
    e.g. the configurations of a sweep chunk, each with its own curves and SLA (every row's
    bracket is refined on its own probes only, so a row's answer does not depend on the others).

    The search: a fixed ladder of utilisations (:data:`FIRST_PASS`) brackets the answer between
    the last rung that meets the SLA and the first that misses, then passes of
    :data:`REFINE_POINTS` evenly spaced loads narrow the bracket to ``rel_tol``. P(T <= S) falls
    with the load, so the first rung or point that misses is found by :func:`first_true` (a few
    probes per pass instead of all of them: the same bracket as probing every point)."""
    sla_s = np.asarray(sla_s, dtype=float)
    if not np.all((sla_s > 0) & np.isfinite(sla_s)):
        bad = float(sla_s[~((sla_s > 0) & np.isfinite(sla_s))][0])
        raise DseError(f"--sla-ms: {bad * 1e3:g} must be a positive number")
    _bulk_models(rows, sla_s)
    sats = np.array([ps.saturation(pol) for ps, pol in rows], dtype=float)
    if not np.all(sats > 0):
        raise DseError("the service curves give the system no capacity")
    npol = len(rows)
    probe = _Prober(rows, sla_s)
    evals = np.zeros(npol, dtype=int)
    every = np.arange(npol)
    # pass 1: a fixed ladder of utilisations
    ladder = sats[:, None] * FIRST_PASS[None, :]
    first, seen = _ladder(probe, rows, ladder, evals, sats)
    met = first > 0
    good = np.where(met, ladder[every, np.maximum(first - 1, 0)], 0.0)  # highest load known to meet
    bad = np.where(first < FIRST_PASS.size, ladder[every, np.minimum(first, FIRST_PASS.size - 1)], sats)
    # P(T <= S) at good and bad where probed (NaN: not known)
    g_good, g_bad = _bracket_values(seen, first, np.full(npol, np.nan), np.full(npol, np.nan))
    _below_first_rung(probe, sats, good, bad, met, evals)
    g_good[~(first > 0)] = g_bad[~(first > 0)] = np.nan
    # refine the brackets together
    frac = np.arange(1, REFINE_POINTS + 1) / (REFINE_POINTS + 1)
    while True:
        todo = np.flatnonzero(met & (bad / np.maximum(good, 1e-300) - 1 > rel_tol))
        if todo.size == 0:
            break
        loads = good[todo, None] + (bad[todo] - good[todo])[:, None] * frac[None, :]
        sub = np.zeros(todo.size, dtype=int)
        fb, seen = _first_miss(probe, todo, loads, sub, sats[todo], (good[todo], bad[todo], g_good[todo], g_bad[todo]))
        evals[todo] += sub
        g_good[todo], g_bad[todo] = _bracket_values(seen, fb, g_good[todo], g_bad[todo])
        idx = np.arange(todo.size)
        good[todo] = np.where(fb > 0, loads[idx, np.maximum(fb - 1, 0)], good[todo])
        missed = fb < REFINE_POINTS
        bad[todo[missed]] = loads[idx[missed], fb[missed]]
    return [FastCapacity(float(good[i]) if met[i] else 0.0, float(sats[i]), bool(met[i]), int(evals[i])) for i in range(npol)]


def _first_miss(probe: "_Prober", rows: np.ndarray, loads: np.ndarray, evals: np.ndarray, sats: np.ndarray,
                outside: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                prior: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first of each row's ascending ``loads`` that misses its SLA (``loads.shape[1]``
    when none does), by :func:`first_true`, and the P(T <= S) seen at each probed load (NaN
    elsewhere). ``outside``: the loads just below the first and just above the last, and
    P(T <= S) there (NaN: unknown). A straight line through the remaining bracket's two values,
    against ``(1 - load / saturation)^-PREDICT_POWER`` (:data:`PREDICT_POWER`), predicts the
    answer; ``sats``: each row's saturation; ``prior``: a guess of each row's answer for when the
    line cannot be drawn. The guess decides only which loads are probed first, not the answer."""
    m = loads.shape[1]
    seen = np.full((rows.size, m + 2), np.nan)  # column j + 1: loads[:, j]; 0 and m + 1: the outsides
    seen[:, 0], seen[:, -1] = outside[2], outside[3]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.concatenate([outside[0][:, None], loads, outside[1][:, None]], axis=1) / sats[:, None]
        ends = (1.0 - u) ** -PREDICT_POWER
    coord = ends[:, 1:-1]

    def miss(r: np.ndarray, j: np.ndarray) -> np.ndarray:
        g = probe(rows[r], loads[r, j])
        seen[r, j + 1] = g
        return ~(g >= MEETS)

    def predict(act: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        g_lo, g_hi = seen[act, lo], seen[act, hi + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (g_lo - QUANTILE) / (g_lo - g_hi)
            at = ends[act, lo] + t * (ends[act, hi + 1] - ends[act, lo])
        inside = (np.arange(m)[None, :] >= lo[:, None]) & (np.arange(m)[None, :] < hi[:, None])
        guess = lo + (inside & (coord[act] < at[:, None])).sum(axis=1)
        line = np.isfinite(t) & (t > 0) & (t <= 1)
        if prior is None:
            return np.where(line, guess, -1)
        p = prior[act]
        return np.where(line, guess, np.where((p >= lo) & (p <= hi), p, -1))

    width = SEARCH_WIDTH if rows.size >= FEW_ROWS else FEW_WIDTH
    first = first_true(miss, rows.size, m, evals, width=width, predict=predict)
    return first, seen[:, 1:-1]


def _ladder(probe: "_Prober", rows: list[Row], ladder: np.ndarray, evals: np.ndarray,
            sats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_first_miss` on the ladder: first one policy of each policy set, then the others,
    each starting from the rung where its set's first policy missed (policies of one set, e.g.
    DeepRecSched's batch sizes for one configuration, tend to miss at the same rung or nearby);
    all at once when there are few rows."""
    npol = len(rows)
    lead_of: dict[int, int] = {}
    lead = np.array([lead_of.setdefault(id(ps), i) for i, (ps, _) in enumerate(rows)], dtype=np.intp)
    if npol < FEW_ROWS:  # few rows: fewer rounds matter more than fewer probes
        lead = np.arange(npol)
    first = np.zeros(npol, dtype=np.intp)
    seen = np.full(ladder.shape, np.nan)
    prior = None
    for part in (np.flatnonzero(lead == np.arange(npol)), np.flatnonzero(lead != np.arange(npol))):
        if not part.size:
            continue
        sub = np.zeros(part.size, dtype=int)
        unknown = np.full(part.size, np.nan)
        if prior is not None:
            prior = first[lead[part]]
        first[part], seen[part] = _first_miss(probe, part, ladder[part], sub, sats[part],
                                              (np.zeros(part.size), sats[part], unknown, unknown), prior)
        evals[part] += sub
        prior = first
    return first, seen


def _bracket_values(seen: np.ndarray, first: np.ndarray, g_good: np.ndarray,
                    g_bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(T <= S) at the new bracket's ends (the loads before and at ``first``), where they moved."""
    idx = np.arange(first.size)
    m = seen.shape[1]
    g_good = np.where(first > 0, seen[idx, np.maximum(first - 1, 0)], g_good)
    g_bad = np.where(first < m, seen[idx, np.minimum(first, m - 1)], g_bad)
    return g_good, g_bad


def joint_p95(rows: list[Row], qps: np.ndarray, upper: np.ndarray, rel_tol: float = 5e-4, points: int = 48) -> np.ndarray:
    """p95 latency (s) of every row ``(policy set, policy)`` at its load ``qps[i]`` (0 < qps <
    saturation), each known to meet its bound ``upper[i]`` (e.g. the SLA at the row's max_qps),
    all rows at once: passes of ``points`` evenly spaced times over each row's bracket ``[0,
    upper]``, each keeping the cell where P(T <= t) first reaches 0.95, until the bracket is
    narrower than ``rel_tol`` (relative). Every point is evaluated (:class:`TimeCdf` makes a
    point cost a few table look-ups), so the answer is that of a scan."""
    qps = np.asarray(qps, dtype=float)
    hi = np.array(upper, dtype=float)
    lo = np.zeros_like(hi)
    cdf = TimeCdf(rows, qps)
    frac = np.arange(1, points + 1) / (points + 1)
    while True:
        todo = np.flatnonzero(hi - lo > rel_tol * hi)
        if not todo.size:
            return hi
        pts = lo[todo, None] + (hi - lo)[todo, None] * frac[None, :]
        ok = (cdf(np.repeat(todo, points), pts.reshape(-1)) >= QUANTILE).reshape(todo.size, points)
        hit = ok.any(axis=1)
        first = np.argmax(ok, axis=1)
        lo[todo[~hit]] = pts[~hit, -1]
        h = np.flatnonzero(hit)
        hi[todo[h]] = pts[h, first[h]]
        inner = h[first[h] > 0]
        lo[todo[inner]] = pts[inner, first[inner] - 1]


def _below_first_rung(probe: "_Prober", sats: np.ndarray, good: np.ndarray, bad: np.ndarray, met: np.ndarray,
                      evals: np.ndarray) -> None:
    """Rows whose lowest rung missed: the SLA may sit below the zero-load latency; probe a
    geometric ladder further down (updates the brackets in place)."""
    low = np.flatnonzero(~met)
    if not low.size:
        return
    ladder = np.geomspace(FIRST_PASS[0] * 0.3, 1e-9, 8)
    loads = sats[low, None] * ladder[None, :]
    g = probe(np.repeat(low, ladder.size), loads.reshape(-1)).reshape(low.size, ladder.size)
    ok = g >= MEETS
    evals[low] += ladder.size
    for j, i in enumerate(low):
        hit = np.flatnonzero(ok[j])
        if hit.size:
            met[i] = True
            good[i] = sats[i] * ladder[hit[0]]
            bad[i] = sats[i] * (ladder[hit[0] - 1] if hit[0] > 0 else FIRST_PASS[0])


def _bulk_models(rows: list[Row], sla_s: np.ndarray) -> None:
    """Build the models and saturation rates of the rows in one vectorised pass per (sizes,
    policy) over the policy sets that share them (:class:`BulkModels`: the
    configurations of a sweep chunk share their policies but not their curves), for deterministic
    service without offload or co-location; the sets keep them (:meth:`PolicySet.model`,
    :meth:`PolicySet.saturation`). Other rows, and curves with a negative or non-finite time where
    it is read, are built one by one when asked (which reports the bad curve)."""
    groups: dict[tuple[bytes, Policy], dict[int, tuple[PolicySet, float]]] = {}
    for (ps, pol), sla in zip(rows, sla_s):
        if ps.cpu_curve is None or pol.costs.colocation > 0 or not ServiceLaw.for_policy(pol).deterministic \
                or ps.known(pol):
            continue
        groups.setdefault((ps.key, pol), {}).setdefault(id(ps), (ps, float(sla)))
    stacked: dict[tuple[int, ...], np.ndarray | None] = {}  # the sets' tables, once per list of sets
    for (key, pol), by_id in groups.items():
        sets = [ps for ps, _ in by_id.values()]
        sp = policy_split(sets[0].pmf, pol, key)
        if sp.mass_acc > 0 or sp.mass_cpu <= 0:
            continue
        ids = tuple(by_id)
        if ids not in stacked:
            widths = {ps.cpu_curve.table.size for ps in sets}
            stacked[ids] = np.array([ps.cpu_curve.table for ps in sets]) if len(widths) == 1 else None
        tables = stacked[ids]
        if tables is None or sp.read[-1] >= tables.shape[1]:
            continue
        read = tables[:, sp.read]
        good = np.flatnonzero(np.isfinite(read).all(axis=1) & (read >= 0).all(axis=1))
        if not good.size:
            continue
        times = np.array([sla for _, sla in by_id.values()])
        if good.size < len(sets):
            tables, times = tables[good], times[good]
        bulk = BulkModels(pol, sp, tables, times)
        for j, at in enumerate(good):
            sets[at].keep(pol, bulk, j)


class _Prober:
    """P(latency <= SLA) of row ``i`` of a capacity search at a load, for many (row, load) pairs
    at once: rows whose model does not depend on the load through :class:`SlaCdf` (everything
    but the queue state computed once; :meth:`SlaCdf.meets`: within :data:`ROUGH_ERROR` where that
    cannot change whether the load meets the SLA, which is all a search reads but the guesses of
    :func:`_first_miss`), co-located rows with their model at each load."""

    def __init__(self, rows: list[Row], sla_s: np.ndarray) -> None:
        self.rows, self.sla_s = rows, sla_s
        plain = np.array([pol.costs.colocation <= 0 for _, pol in rows], dtype=bool)
        at = np.flatnonzero(plain)
        self.slot = np.full(len(rows), -1, dtype=np.intp)
        self.slot[at] = np.arange(at.size)
        self.cdf = SlaCdf([rows[i][0].source(rows[i][1]) for i in at], sla_s[at])

    def __call__(self, idx: np.ndarray, loads: np.ndarray) -> np.ndarray:
        g = np.empty(idx.size)
        slot = self.slot[idx]
        plain = slot >= 0
        if plain.any():
            g[plain] = self.cdf.meets(slot[plain], loads[plain])
        rest = np.flatnonzero(~plain)
        if rest.size:
            models: list[PolicyModel] = []
            for i, q in zip(idx[rest], loads[rest]):
                ps, pol = self.rows[i]
                models.extend(ps.models_at(pol, np.array([q])))
            g[rest] = cdf_rows(models, loads[rest], self.sla_s[idx[rest]])
        return g
