"""The formulas of the serving model, each defined once (docs/serving.md, "Where the formulas live").

:mod:`dse.serve.analytic` (the full latency CDF), :mod:`dse.serve.load` (offered load),
:mod:`dse.serve.des` (routing and splitting in the simulator) and :mod:`dse.sched.fastcap` (the
vectorised SLA search) all build on this module:

* routing (:func:`routed_masks`, over :meth:`dse.serve.policy.Policy.to_accelerator`, the one
  place that decides offload), the pruning of rare sizes (:func:`routed_sizes`), the sub-batch
  split (:func:`split_sizes`, :func:`sub_batches`) and the validated curve lookup
  (:func:`curve_times`);
* the per-policy moments the queue needs (:class:`CpuPath`, :class:`AccelPath`): mean sub-batch
  time, squared coefficient of variation of a service time, ``P(K > m)``, the index of
  dispersion ``E[K^2] / E[K]`` of the sub-batch count;
* the M^X/M/c state an arriving query sees: scalar (:func:`batch_queue`, a level-crossing
  recursion) and vectorised over many rows (:func:`queue_state`, its closed-form sums);
  :func:`erlang_c` for single jobs;
* the heavy-traffic scaling of the exponential wait (:func:`wait_rate`), the fork-join start
  schedule (:func:`forkjoin_schedule`, :func:`forkjoin_gap`), the service-time law
  (:class:`ServiceLaw`) and the exact convolution with an exponential wait (:func:`exp_convolve`).

All times are seconds; rates are per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np
from numpy.typing import ArrayLike

from dse.errors import DseError
from dse.special import normal_cdf
from dse.serve.policy import Policy

Curve = Callable[[np.ndarray], np.ndarray]

#: Probability mass of rare sizes dropped before building CDFs.
PRUNE_MASS = 1e-7


# -- routing, sizes and sub-batches ----------------------------------------------------------------


def routed_masks(size_count: int, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """``(to_cpu, to_accelerator)`` boolean masks over the sizes ``0..size_count-1`` (size 0 goes
    nowhere: it carries no work)."""
    sizes = np.arange(size_count)
    to_acc = policy.to_accelerator(sizes)
    return (sizes >= 1) & ~to_acc, to_acc


def routed_sizes(pmf: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sizes routed by ``mask`` with non-negligible mass and ``P(size | routed)``: the rarest
    sizes holding ``PRUNE_MASS`` of the routed mass are dropped and the rest renormalised."""
    p = np.asarray(pmf, dtype=float)
    mass = float(p[mask].sum())
    n = np.flatnonzero(mask & (p > 0))
    q = p[n]
    order = np.argsort(q)
    drop = np.cumsum(q[order]) <= PRUNE_MASS * q.sum()
    keep = np.sort(order[~drop])
    n, q_keep = n[keep], q[keep]
    return n, q_keep * (q.sum() / q_keep.sum()) / mass


def split_sizes(n: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """``(k, r)``: number of sub-batches and size of the last one for queries of ``n`` items."""
    n = np.asarray(n, dtype=np.int64)
    k = (n + b - 1) // b
    return k, n - (k - 1) * b


def curve_times(curve: Curve, sizes: np.ndarray, what: str) -> np.ndarray:
    """``curve(sizes)`` in seconds, checked: one finite time >= 0 per size (``what`` names the curve)."""
    t = np.asarray(curve(np.asarray(sizes, dtype=float)), dtype=float)
    if t.shape != np.shape(sizes) or not np.isfinite(t).all() or (t < 0).any():
        raise DseError(f"the {what} service curve gave a negative or non-finite time")
    return t


@dataclass(frozen=True)
class SubBatches:
    """Queries cut into ``count`` sub-batches: ``count - 1`` full ones of ``full_s`` seconds each and
    a last one of ``last_s`` seconds (arrays over query sizes)."""

    count: np.ndarray
    full_s: float
    last_s: np.ndarray

    @property
    def work_s(self) -> np.ndarray:
        """Engine time of each query (s)."""
        return (self.count - 1) * self.full_s + self.last_s

    @property
    def square_sum_s2(self) -> np.ndarray:
        """Sum of the squared sub-batch times of each query (s^2)."""
        return (self.count - 1) * self.full_s**2 + self.last_s**2


def sub_batches(sizes: np.ndarray, batch: int, curve: Curve, slowdown: float = 1.0, overhead_s: float = 0.0,
                split: tuple[np.ndarray, np.ndarray] | None = None) -> SubBatches:
    """Sub-batches of queries of ``sizes`` items at CPU sub-batch size ``batch``: curve time times
    the co-location ``slowdown``, plus ``overhead_s`` per sub-batch (``split``: the sizes'
    :func:`split_sizes`, when the caller has it already)."""
    k, r = split if split is not None else split_sizes(sizes, batch)
    t_full = float(curve_times(curve, np.array([batch]), "CPU")[0]) * slowdown + overhead_s
    t_last = curve_times(curve, r, "CPU") * slowdown + overhead_s
    return SubBatches(k, t_full, t_last)


# -- the service-time law -------------------------------------------------------------------------


class ServiceLaw:
    """Law of a service time ``mean * X``: ``X = 1`` (deterministic), a mean-one lognormal with
    coefficient of variation ``cv`` (jitter), or ``X ~ Exp(1)`` (``kind="exponential"``)."""

    def __init__(self, kind: str, cv: float) -> None:
        self.kind = kind
        self.cv = cv
        self.sigma = np.sqrt(np.log1p(cv * cv)) if cv > 0 else 0.0

    @classmethod
    def for_policy(cls, policy: Policy) -> "ServiceLaw":
        """The law of ``policy``'s service times (one shared, never changed object per law: a
        sweep chunk asks for it once per row)."""
        return _service_law(policy.service, float(policy.costs.jitter))

    @property
    def deterministic(self) -> bool:
        return self.kind != "exponential" and self.sigma == 0

    @property
    def second_moment_factor(self) -> float:
        """``E[X^2]``: a service time's second moment over its squared mean."""
        return 1 + self.cv**2

    def cdf(self, t: np.ndarray, mean: np.ndarray | float) -> np.ndarray:
        m = np.asarray(mean, dtype=float)
        if self.kind == "exponential":
            return np.where(t > 0, -np.expm1(-np.maximum(t, 0) / np.maximum(m, 1e-300)), 0.0)
        if self.sigma == 0:
            return (t >= m).astype(float)
        s = self.sigma
        z = np.log(np.maximum(t, 1e-300)) * (1 / s) - (np.log(np.maximum(m, 1e-300)) * (1 / s) - s / 2)
        return normal_cdf(z)

    def mixture(self, t: np.ndarray, means: np.ndarray, weights: np.ndarray, log_points: int = 256) -> np.ndarray:
        """``sum_i weights_i * cdf(t, means_i)`` on the grid ``t``, without a (classes x grid) array:
        steps by cumulative weights; the smooth lognormal mixture on ``log_points`` log-spaced
        times across its support, then interpolated (error below 1e-4)."""
        means = np.asarray(means, dtype=float)
        weights = np.asarray(weights, dtype=float)
        if self.kind == "exponential":
            return weights @ self.cdf(t[None, :], means[:, None])
        s = self.sigma
        if s == 0:
            order = np.argsort(means)
            cum = np.concatenate([[0.0], np.cumsum(weights[order])])
            return cum[np.searchsorted(means[order], t, side="right")]
        lo = np.log(max(means.min(), 1e-300)) - 7 * s
        hi = np.log(max(means.max(), 1e-300)) + 7 * s
        u = np.linspace(lo, hi, log_points)
        z = (u[None, :] - np.log(np.maximum(means, 1e-300))[:, None]) / s + s / 2
        vals = weights @ normal_cdf(z)
        with np.errstate(divide="ignore"):
            lt = np.log(t)
        return np.interp(lt, u, vals, left=0.0, right=float(weights.sum()))

    def upper(self, mean: float) -> float:
        """A time beyond which the CDF is 1 to ~1e-9."""
        if self.kind == "exponential":
            return mean * 21.0
        return mean * np.exp(6.0 * self.sigma) if self.sigma else mean


@lru_cache(maxsize=64)
def _service_law(service: str, jitter: float) -> ServiceLaw:
    """:meth:`ServiceLaw.for_policy` of a policy with ``service`` and ``costs.jitter``."""
    return ServiceLaw(service, 1.0 if service == "exponential" else jitter)


def exp_convolve(cdf: np.ndarray, h: float, theta: float) -> np.ndarray:
    """CDF of ``X + E`` on a grid of step ``h`` (s), E ~ Exp(theta) independent of X (``cdf``
    piecewise linear): exact, as a first-order recursive filter."""
    x = theta * h
    alpha = np.exp(-x)
    c1 = 1 - alpha
    c2 = c1 - (1 - alpha - alpha * x) / x if x > 1e-12 else x / 2
    f = np.asarray(cdf)
    drive = f[:-1] * (c1 - c2) + f[1:] * c2
    out = np.empty_like(f)
    out[0] = 0.0
    out[1:] = first_order_recursion(drive, alpha)
    return out


#: Block length of :func:`first_order_recursion` (one small matrix product per block).
RECURSION_BLOCK = 64
_AHEAD = np.subtract.outer(np.arange(RECURSION_BLOCK), np.arange(RECURSION_BLOCK)).T  # [k, i] = i - k
_POWER, _BEFORE = np.maximum(_AHEAD, 0), _AHEAD < 0


def first_order_recursion(drive: np.ndarray, alpha: float) -> np.ndarray:
    """``y[n] = drive[n] + alpha y[n-1]`` with ``y[-1] = 0`` (``scipy.signal.lfilter([1], [1,
    -alpha], drive)``, without importing scipy.signal: about 0.4 s).

    In blocks of :data:`RECURSION_BLOCK`: inside a block ``y = sum_k alpha^(i-k) drive[k]`` is a
    product with a triangular matrix of powers; the block's last value carries into the next one
    with the factor ``alpha^(i+1)``. Powers of ``alpha`` in ``[0, 1]`` never overflow (the closed
    form ``alpha^n cumsum(drive alpha^-k)`` would). Equal to the filter to about 1e-13 relative
    to the largest value; for finite drives only: a NaN or infinity spoils its whole block (the
    product multiplies it by 0 for the values before it), where the filter spoils only what follows.
    """
    d = np.asarray(drive, dtype=float)
    n = d.size
    if n == 0:
        return np.empty(0)
    size = RECURSION_BLOCK
    rows = -(-n // size)
    padded = np.zeros(rows * size)
    padded[:n] = d
    ramp = float(alpha) ** np.arange(size + 1)  # alpha^0 .. alpha^size
    powers = ramp[_POWER]  # [k, i] = alpha^(i-k) for i >= k, 0 below
    powers[_BEFORE] = 0.0
    local = padded.reshape(rows, size) @ powers
    carry_in = [0.0] * rows  # y just before each block
    carry, last = 0.0, float(ramp[-1])
    for r, end in enumerate(local[:, -1].tolist()):
        carry_in[r] = carry
        carry = end + last * carry
    return (local + np.array(carry_in)[:, None] * ramp[None, 1:]).ravel()[:n]


# -- per-policy moments ---------------------------------------------------------------------------


def tail_probabilities(kpmf: np.ndarray) -> np.ndarray:
    """``P(K > m)`` for m = 0..kmax-1 from ``kpmf[k] = P(K = k)``, k = 0..kmax."""
    kpmf = np.asarray(kpmf, dtype=float)
    return np.clip(1.0 - np.cumsum(kpmf)[: kpmf.size - 1], 0.0, 1.0)


@dataclass(frozen=True)
class CpuPath:
    """The CPU side of a policy: the sizes routed there, their sub-batches and the moments of the
    M^X/M/c queue whose jobs are sub-batches and whose batches are queries."""

    #: P(size | CPU) per routed size
    weights: np.ndarray
    subbatches: SubBatches
    #: mean engine time per CPU query (s)
    mean_work_s: float
    #: mean sub-batch time, 1 / mu (s)
    mean_sub_s: float
    #: squared coefficient of variation of a sub-batch's time (jitter included)
    scv: float
    #: P(K = k) sub-batches per query, k = 0..kmax
    kpmf: np.ndarray
    #: P(K > m), m = 0..kmax-1
    tail: np.ndarray
    #: E[K^2] / E[K]: the variability of the compound Poisson arrivals of sub-batches
    dispersion: float

    @property
    def kmax(self) -> int:
        return self.kpmf.size - 1


@dataclass(frozen=True)
class CpuSplit:
    """What the CPU path of a policy owes to the query sizes and ``b`` alone, not to the curve
    (computed once and reused for every curve, e.g. across the configurations of a sweep)."""

    sizes: np.ndarray
    #: P(size | CPU) per routed size
    weights: np.ndarray
    batch: int
    #: sub-batches per query and the size of the last one
    count: np.ndarray
    last: np.ndarray
    #: E[K], P(K = k) for k = 0..kmax, P(K > m) for m = 0..kmax-1, E[K^2] / E[K]
    mean_count: float
    kpmf: np.ndarray
    tail: np.ndarray
    dispersion: float


def cpu_split(sizes: np.ndarray, weights: np.ndarray, batch: int) -> CpuSplit:
    """The curve-free part of :func:`cpu_path` for ``sizes`` with ``weights = P(size | CPU)``."""
    k, r = split_sizes(sizes, int(batch))
    ek = float(weights @ k)
    kpmf = np.bincount(k, weights=weights, minlength=int(k.max()) + 1)
    dispersion = float(kpmf @ np.arange(kpmf.size) ** 2) / ek
    return CpuSplit(np.asarray(sizes), weights, int(batch), k, r, ek, kpmf, tail_probabilities(kpmf), dispersion)


def cpu_path(sizes: np.ndarray, weights: np.ndarray, policy: Policy, curve: Curve, law: ServiceLaw, slowdown: float = 1.0,
             split: CpuSplit | None = None) -> CpuPath:
    """Moments of the CPU path for ``sizes`` with ``weights = P(size | CPU)`` (see :class:`CpuPath`);
    ``split``: their :func:`cpu_split` at ``policy.batch``, when the caller has it already."""
    sp = split if split is not None else cpu_split(sizes, weights, int(policy.batch))
    sub = sub_batches(sp.sizes, sp.batch, curve, slowdown, policy.costs.subbatch_overhead_s, (sp.count, sp.last))
    ex, mean_sub, scv = cpu_moments(sub, sp, law.second_moment_factor)
    return CpuPath(sp.weights, sub, float(ex), float(mean_sub), float(scv), sp.kpmf, sp.tail, sp.dispersion)


def cpu_moments(sub: SubBatches, split: CpuSplit, second_moment_factor: float):
    """``(mean work per query (s), mean sub-batch time (s), squared coefficient of variation of a
    sub-batch time)`` of :class:`CpuPath`; elementwise over the leading axes of ``sub.full_s``
    (shape ``(...,)`` then ``last_s`` ``(..., sizes)``: many curves at once) or scalars."""
    w = split.weights
    ex = sub.work_s @ w
    mean_sub = ex / split.mean_count
    m2 = (sub.square_sum_s2 @ w) / split.mean_count * second_moment_factor
    return ex, mean_sub, m2 / mean_sub**2 - 1


@dataclass(frozen=True)
class AccelPath:
    """The accelerator side of a policy: one job per query (M/G/c)."""

    #: P(size | accelerator) per routed size
    weights: np.ndarray
    #: service time per routed size, with the per-query overhead (s)
    service_s: np.ndarray
    mean_s: float
    #: squared coefficient of variation of a service time (jitter included)
    scv: float


def accel_path(sizes: np.ndarray, weights: np.ndarray, policy: Policy, curve: Curve, law: ServiceLaw) -> AccelPath:
    """Moments of the accelerator path for ``sizes`` with ``weights = P(size | accelerator)``."""
    s = curve_times(curve, sizes, "accelerator") + policy.costs.accel_overhead_s
    mean = float(weights @ s)
    scv = float(weights @ (s * s)) * law.second_moment_factor / mean**2 - 1
    return AccelPath(weights, s, mean, scv)


# -- the queue an arrival sees --------------------------------------------------------------------


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


def batch_queue(servers: int, rate: float, mean_service: float, kpmf: np.ndarray, max_states: int = 200_000) -> tuple[np.ndarray, float, float]:
    """State seen by an arriving batch in the M^X/M/c queue (batch-Poisson arrivals of jobs at
    ``rate`` batches/s, ``c`` exponential engines of mean ``mean_service`` s).

    ``kpmf[k]`` = P(a batch has k jobs). Solves the level-crossing balance
    ``mu min(j+1, c) pi_{j+1} = lambda sum_{i<=j} pi_i P(K > j - i)`` and returns
    ``(busy, p_wait, mean_ahead)``: ``busy[j]`` = P(j engines busy, none queued), j < c;
    ``p_wait`` = P(all engines busy); ``mean_ahead`` = E[jobs queued + 1 | wait], so that the mean
    wait of the batch's first job is ``mean_ahead / (c mu)`` with exponential engines. PASTA makes
    these the probabilities an arriving batch sees.
    """
    kpmf = np.asarray(kpmf, dtype=float)
    kmax = kpmf.size - 1
    tail = tail_probabilities(kpmf)
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
    # from c on: pi_{j+1} = (lambda / (c mu)) sum_m P(K > m) pi_{j-m}, a linear recurrence
    weights = (lam / (mu * servers)) * tail
    length = servers + 1 + 64 * kmax
    while True:
        pi = level_recursion(head, weights, length)
        if pi[-1] < 1e-14 * pi.sum() or length >= max_states:
            break
        length = min(4 * length, max_states)
    return _normalised_state(pi, servers)


def level_recursion(head: np.ndarray, weights: np.ndarray, length: int) -> np.ndarray:
    """``length`` state weights: ``head`` first, then ``pi[n] = sum_m weights[m] pi[n-1-m]``
    (the tail recurrence of :func:`batch_queue`; states below 0 weigh 0).

    Linear, so a block of ``B`` new states is a fixed ``B x K`` matrix times the ``K`` states
    before it (``K = weights.size``): row ``i`` holds the weights that reach state ``i`` of the
    block directly from the states before it, plus those that reach it through the block's earlier
    states (``B^2 K`` to build, then each block is one product). Every term is non-negative (no
    cancellation). Without scipy.signal (about 0.4 s to import), which ran it as an IIR filter.
    """
    head = np.asarray(head, dtype=float)
    w = np.asarray(weights, dtype=float)
    k = w.size
    out = np.zeros(k + max(length, head.size))  # k zero states below state 0
    out[k : k + head.size] = head
    # about sqrt(length) states per block (building the matrix then costs about what the products
    # do), and a matrix within about 512 KiB (each product streams it: out of cache it costs more)
    block = max(8, min(int(np.sqrt(length)), 65536 // max(k, 1)))
    step = np.zeros((block, k))
    for i in range(block):
        step[i, i:] = w[i:][::-1]  # directly: weight w[k-1-j+i] on the j-th state before, j >= i
        reach = min(i, k)
        if reach:
            step[i] += w[:reach][::-1] @ step[i - reach : i]
    start = k + head.size
    while start < k + length:
        stop = min(start + block, k + length)
        out[start:stop] = (step @ out[start - k : start])[: stop - start]
        start = stop
    return out[k : k + length]


def _normalised_state(p: np.ndarray, servers: int) -> tuple[np.ndarray, float, float]:
    """``(busy, p_wait, mean_ahead)`` of :func:`batch_queue` from unnormalised state weights
    ``p[j]``, the truncated tail extended geometrically (only for loads very close to 1)."""
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


def queue_state(servers: int, offered: np.ndarray, tails: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`batch_queue` for many rows at once, by closed-form sums instead of the tail recurrence.

    ``offered[i] = lambda_i / mu_i`` (batches per mean job time), ``tails[i, m] = P(K > m)`` (rows
    zero-padded). Returns ``(busy, p_wait, mean_ahead, u)`` as :func:`batch_queue` does, and the
    utilisation ``u``; rows with ``u >= 1`` are NaN. Summing the recurrence
    ``pi_{j+1} = rho' sum_m P(K>m) pi_{j-m}`` (``j >= c``) and its ``(j+1)``-weighted version gives
    the queued mass and first moment::

        T  = sum_{j>=c} pi_j  = (pi_c + rho' sum_m P(K>m) H_m) / (1 - u)
        M1 = sum_{j>=c} j pi_j = (c pi_c + rho' sum_m P(K>m) (G_m + (m+1)(T + H_m))) / (1 - u)

    with ``rho' = lambda / (c mu)``, ``u = rho' E[K]``, ``H_m = sum_{i=c-m}^{c-1} pi_i``,
    ``G_m = sum_{i=c-m}^{c-1} i pi_i``; ``P_w = T / Z`` and ``E[ahead | wait] = (M1 - (c-1) T) / T``.
    The sums run over the states (the first axis of the arrays below, rows along the second: each
    numpy call then covers every row, and a call costs more than its arithmetic here).
    """
    a = np.asarray(offered, dtype=float)
    tails = np.atleast_2d(np.asarray(tails, dtype=float))
    c = int(servers)
    rho = a / c
    u = rho * tails.sum(axis=1)
    trev = np.ascontiguousarray(tails[:, ::-1].T)  # row i: P(K > kmax - 1 - i)
    head = _queue_head(c, a, trev)
    hm, gm = _head_sums(head, c, tails.shape[1])
    pc = head[c]
    tails_t = trev[::-1]
    m1 = np.arange(tails.shape[1], dtype=float)[:, None] + 1.0
    stable = u < 1
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = np.where(stable, 1.0 - u, np.nan)
        t_mass = (pc + rho * np.einsum("mr,mr->r", tails_t, hm)) / denom
        m_first = (c * pc + rho * np.einsum("mr,mr->r", tails_t, gm + m1 * (t_mass[None, :] + hm))) / denom
        z = head[:c].sum(axis=0) + t_mass
        busy = (head[:c] / z[None, :]).T
        p_wait = t_mass / z
        ahead = np.where(t_mass > 0, (m_first - (c - 1) * t_mass) / np.where(t_mass > 0, t_mass, 1.0), 1.0)
    return busy, p_wait, ahead, u


#: Largest unnormalised state weight :func:`_queue_head` lets stand before rescaling.
HEAD_MAX = 1e250


def _may_overflow(offered: np.ndarray, c: int) -> bool:
    """Whether a state weight of :func:`_queue_head` may exceed :data:`HEAD_MAX`: none can exceed
    ``exp(a (1 + ln c))`` (each step adds at most ``a / (j + 1)`` times the sum so far, as
    P(K > m) <= 1)."""
    top = float(offered.max()) if offered.size else 0.0
    return not top * (1.0 + math.log(max(c, 1))) < math.log(HEAD_MAX)


def _queue_head(c: int, offered: np.ndarray, trev: np.ndarray) -> np.ndarray:
    """Unnormalised ``pi_0..pi_c`` (states x rows) from ``trev[i] = P(K > kmax - 1 - i)`` (the
    explicit part of the balance, rescaled when large; checked only when :func:`_may_overflow`)."""
    kmax, rows = trev.shape
    head = np.zeros((c + 1, rows))
    head[0] = 1.0
    check = _may_overflow(offered, c)
    for j in range(c):
        lo = max(0, j - kmax + 1)
        acc = np.einsum("ir,ir->r", head[lo : j + 1], trev[kmax - 1 - (j - lo) :])
        np.multiply(offered, acc, out=head[j + 1])
        head[j + 1] /= j + 1
        if check:
            big = head[j + 1] > HEAD_MAX
            if big.any():  # only the ratios matter
                head[: j + 2, big] /= head[j + 1, big]
    return head


def _head_sums(head: np.ndarray, c: int, kmax: int) -> tuple[np.ndarray, np.ndarray]:
    """``H_m``, ``G_m`` (m = 0..kmax-1, states x rows) of :func:`queue_state`, zero-padded below
    state 0."""
    rows = head.shape[1]
    hm = np.zeros((kmax, rows))
    gm = np.zeros((kmax, rows))
    width = max(kmax - 1, 0)
    if width and c:
        lower = head[c - 1 :: -1]  # pi_{c-1}, pi_{c-2}, ..., pi_0
        idx = np.arange(c - 1, -1, -1, dtype=float)[:, None]
        take = np.minimum(np.arange(width), c - 1)
        hm[1:] = np.cumsum(lower, axis=0)[take]
        gm[1:] = np.cumsum(lower * idx, axis=0)[take]
    return hm, gm


# -- wait and fork-join ---------------------------------------------------------------------------


def wait_rate(mean_ahead: ArrayLike, mean_service_s: ArrayLike, servers: int, dispersion: ArrayLike, scv: ArrayLike) -> np.ndarray | float:
    """Rate theta (1/s) of the exponential wait of a query that waits (scalars or arrays).

    Its mean is the M^X/M/c mean ``E[ahead] E[s] / c`` scaled from exponential to the real
    service variability ``scv`` with the heavy-traffic weight of the arrival variability
    ``I = dispersion`` (E[K^2]/E[K]; 1 for single jobs): ``(I + scv) / (I + 1)``. Exact for M/M/c,
    Pollaczek-Khinchine for M/G/1.
    """
    return 1.0 / (mean_ahead * mean_service_s / servers * (dispersion + scv) / (dispersion + 1.0))


def forkjoin_gap(mean_sub_s: ArrayLike, servers: int, free: ArrayLike) -> np.ndarray | float:
    """Time (s) between the releases of busy engines seen by a query that finds ``free`` of
    ``servers`` engines free: ``E[s] / (N - f + 1)``, the mean order statistics of the residual
    times of the ``N - f`` busy engines (``E[s] / N`` for a query that waited, ``f = 1``)."""
    return mean_sub_s / (servers - free + 1)


def forkjoin_done(
    full_at_start: ArrayLike, full_later: ArrayLike, last_start: ArrayLike, gap: ArrayLike, full_s: ArrayLike,
    last_s: ArrayLike, index: np.ndarray | None = None,
) -> np.ndarray:
    """Completion time (s) of a query under deterministic service: the latest of its full
    sub-batches started at once (``full_s`` each), those started later (the n-th at ``n`` gaps)
    and its last sub-batch (``last_s``, from ``last_start`` gaps); the schedule of
    :func:`forkjoin_schedule`, ``gap`` of :func:`forkjoin_gap` (broadcasting arrays). ``index``:
    the schedule is given per distinct sub-batch count (last axis) and ``index`` maps each size
    of ``last_s`` to its count (the schedule's terms are then computed once per count)."""
    full, start = forkjoin_terms(full_at_start, full_later, last_start, gap, full_s)
    if index is not None:
        full, start = np.take(full, index, axis=-1), np.take(start, index, axis=-1)
    return np.maximum(full, start + last_s)


def forkjoin_terms(
    full_at_start: ArrayLike, full_later: ArrayLike, last_start: ArrayLike, gap: ArrayLike, full_s: ArrayLike,
) -> tuple[np.ndarray, np.ndarray]:
    """The two terms of :func:`forkjoin_done` before the last sub-batch's time is added: when the
    query's full sub-batches are done (s) and when its last one starts (s)."""
    at_start = np.where(full_at_start >= 1, full_s, 0.0)
    later = np.where(full_later >= 1, full_later * gap + full_s, 0.0)
    return np.maximum(at_start, later), last_start * gap


def forkjoin_schedule(k: ArrayLike, free: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start times of a query's ``k`` sub-batches when ``free`` engines are free at its first
    start, in units of :func:`forkjoin_gap`: ``(full_at_start, full_later, last_start)``:
    ``full_at_start`` full sub-batches start at 0, ``full_later`` more at gaps 1, 2, ..., and
    the last (partial) sub-batch at ``last_start`` gaps (scalars or broadcasting arrays)."""
    return np.minimum(free, k - 1), np.maximum(k - 1 - free, 0), np.maximum(k - free, 0)
