"""Locality of embedding index streams and LRU hit rates (Che's approximation).

A *locality* describes how the indices of one table's lookups are distributed; it is written as a
spec string:

- ``uniform``: every row equally likely (the synthetic traces of DeepRecSys and of most papers);
- ``zipf:ALPHA``: the row of popularity rank r is drawn with probability ∝ r^-ALPHA (ALPHA ≥ 0);
- ``file:PATH``: a measured profile, either a *frequency* profile (CSV column ``count``: accesses of
  each row, any order) or a *stack-distance* profile (CSV columns ``stack_distance,fraction``:
  the share of accesses whose LRU stack distance, i.e. the number of distinct other rows touched
  since the previous access to the same row, equals that value; ``inf`` marks first accesses).

For a table of R rows a locality yields a :class:`Stream`, which answers the questions the cost
model asks of a cache of C rows:

- ``hit_rate(C)``: steady-state LRU hit rate. For popularity-based streams (uniform, Zipf,
  frequency profiles) this is Che's approximation under the independent reference model: the
  characteristic time T solves Σ_i (1 - exp(-p_i T)) = C and the hit rate is
  Σ_i p_i (1 - exp(-p_i T)) (Che, Tung, Wang, IEEE JSAC 2002; Fricker, Robert, Roberts, ITC 2012
  explain its accuracy). For a stack-distance profile it is read off the profile directly.
- ``distinct(n)``: expected distinct rows in n requests, Σ_i (1 - exp(-p_i n)). Because
  d distinct(T)/dT = 1 - hit_rate, a stack-distance profile gives T(C) = ∫_0^C dc / (1 - h(c)) and
  ``distinct`` is its inverse, so both kinds of streams answer the same questions.
- ``run_hit_rate(C, L, t)``: hit rate over one batch of L requests that starts with none of the
  stream's rows cached (other tables filled the cache in between), for a cache that admits only
  rows requested at least t times in the batch (RecNMP's hot-entry profiling; t = 1 admits all).
  Row i appears K_i ~ Poisson(L·p_i) times; its requests after the first hit if it stayed cached
  since the previous one (probability 1 - exp(-p_i·T), T from the batch's occupancy equation).
  As L grows this tends to Che's steady state. Stack-distance streams use a generic form (every
  distinct row misses once while the cache fills, then steady state) and ignore t.
- ``admitted(L, t)``: the steady-state view of the same filter: the share of row i's requests
  that fall in batches where it is hot is P(Poisson(L·p_i) ≥ t - 1) (size-biased count).

Numerics: rows are grouped by popularity rank: the first ``HEAD_RANKS`` ranks exactly, the rest in
geometric bins of ratio ``BIN_RATIO`` with the bin's exact (Euler–Maclaurin) mass averaged over its
rows, so a table of 10^8 rows costs ~2,000 bins; Che's equation and the batch's occupancy equation
are solved for log T by one bracketed Halley search (:func:`_occupancy_roots`: to 1e-10 in log T or
better, in about two passes over the bins; the batch's hits carried to the root from the last pass;
the capacity-independent per-bin terms of a (stream, batch sizes, threshold) are memoised, so a
sweep over cache sizes pays only the roots); 1 - exp(-x) is evaluated with ``expm1``.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dse.errors import DseError
from dse.special import poisson_at_least

#: Popularity ranks kept exactly before geometric binning starts.
HEAD_RANKS = 1024
#: Ratio of consecutive bin edges beyond the head (1% wide bins).
BIN_RATIO = 1.01

LOCALITY_HELP = "expected uniform, zipf:ALPHA (ALPHA >= 0) or file:PATH"


# --------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------


class Stream:
    """The index stream of one table as a cache sees it. Capacities and run lengths in rows /
    requests (floats are fine)."""

    #: Whether per-row frequencies are known (needed by the hot-entry admission filter).
    has_frequencies: bool = True

    def admitted_share(self) -> float:
        """Share of requests the cache may hold (1 without an admission filter)."""
        raise NotImplementedError

    def distinct(self, n: float) -> float:
        raise NotImplementedError

    def max_distinct(self) -> float:
        """Rows that can ever be cached (distinct(∞))."""
        raise NotImplementedError

    def characteristic_time(self, capacity: float) -> float:
        """T with distinct(T) = capacity; ``inf`` when everything admitted fits."""
        raise NotImplementedError

    def hit_rate(self, capacity: float) -> float:
        raise NotImplementedError

    def hit_rates(self, capacities: np.ndarray) -> np.ndarray:
        """:meth:`hit_rate` for each capacity (rows) of the 1-D array ``capacities``."""
        return np.array([self.hit_rate(c) for c in np.asarray(capacities, dtype=float).reshape(-1).tolist()])

    def run_hit_rate(self, capacity: float, run_length: float, threshold: int = 1) -> float:
        """Hit rate over ``run_length`` requests starting with none of this stream's rows cached
        (generic form: every distinct row misses once while the cache fills, then steady state;
        ``threshold`` needs per-row frequencies and is ignored here)."""
        if capacity <= 0 or run_length <= 0:
            return 0.0
        share = self.admitted_share()
        t_c = self.characteristic_time(capacity)
        if run_length <= t_c:
            misses = self.distinct(run_length)
        else:
            steady_miss = share - self.hit_rate(capacity)  # admitted requests that miss
            misses = capacity + (run_length - t_c) * steady_miss
        hits = run_length * share - misses
        return float(min(max(hits / run_length, 0.0), 1.0))

    def run_hit_rates(self, capacity: float, runs: np.ndarray, threshold: int = 1) -> np.ndarray:
        """:meth:`run_hit_rate` for each run length of the 1-D array ``runs``."""
        return np.array([self.run_hit_rate(capacity, float(r), threshold) for r in runs], dtype=float)

    def run_hit_rates_many(self, capacities: np.ndarray, runs: np.ndarray, threshold: int = 1) -> np.ndarray:
        """:meth:`run_hit_rates` for each capacity of the 1-D array ``capacities``: shape
        (capacities, runs)."""
        runs = np.asarray(runs, dtype=float).reshape(-1)
        caps = np.asarray(capacities, dtype=float).reshape(-1)
        return np.array([self.run_hit_rates(c, runs, threshold) for c in caps.tolist()]).reshape(caps.size, runs.size)

    def admitted(self, batch_requests: float, threshold: int) -> "Stream":
        return self


@dataclass(frozen=True, eq=False)
class PopularityStream(Stream):
    """Independent reference model: ``counts[k]`` rows each requested with probability
    ``probs[k]``; ``admit[k]`` is the share of those requests the cache may hold."""

    counts: np.ndarray
    probs: np.ndarray
    admit: np.ndarray | None = None

    @property
    def _rates(self) -> np.ndarray:
        return self.probs if self.admit is None else self.probs * self.admit

    @property
    def rows(self) -> float:
        return float(self.counts.sum())

    def admitted_share(self) -> float:
        return float(np.sum(self.counts * self._rates))

    def distinct(self, n: float) -> float:
        if n <= 0:
            return 0.0
        return float(np.sum(self.counts * -np.expm1(-self._rates * n)))

    def max_distinct(self) -> float:
        return float(np.sum(self.counts[self._rates > 0]))

    def characteristic_time(self, capacity: float) -> float:
        return float(self.characteristic_times(np.array([float(capacity)]))[0])

    def characteristic_times(self, capacities: np.ndarray) -> np.ndarray:
        """:meth:`characteristic_time` (requests) for each capacity (rows) of the 1-D array
        ``capacities``, the roots solved together (each by the operations it takes alone)."""
        caps = np.asarray(capacities, dtype=float).reshape(-1)
        out = np.zeros(caps.shape)
        share = self.admitted_share()
        full = self.max_distinct() * (1.0 - 1e-12)
        solve, lows, highs = [], [], []
        for i, capacity in enumerate(caps.tolist()):
            if capacity <= 0:
                continue
            if capacity >= full:
                out[i] = math.inf
                continue
            # distinct(T) <= T·share, so T >= capacity/share
            lo = math.log(capacity / share) - 1e-9
            hi = bracket_log_time(lambda lt, c=capacity: self.distinct(math.exp(lt)) >= c, lo)
            if hi is None:
                out[i] = math.inf
                continue
            solve.append(i)
            lows.append(lo)
            highs.append(hi)
        if solve:
            weights = np.broadcast_to(self.counts, (len(solve), self.counts.size))
            roots, _ = _occupancy_roots(self._rates, weights, caps[solve], np.array(lows), np.array(highs))
            out[solve] = [math.exp(root) for root in roots.tolist()]
        return out

    def hit_rate(self, capacity: float) -> float:
        return float(self.hit_rates(np.array([float(capacity)]))[0])

    def hit_rates(self, capacities: np.ndarray) -> np.ndarray:
        """:meth:`hit_rate` for each capacity (rows) of the 1-D array ``capacities``."""
        caps = np.asarray(capacities, dtype=float).reshape(-1)
        rates = self._rates
        out = np.zeros(caps.shape)
        for i, t in enumerate(self.characteristic_times(caps).tolist()):
            if caps[i] <= 0:
                continue
            if math.isinf(t):
                out[i] = float(np.sum(self.counts * rates))
            else:
                out[i] = float(np.sum(self.counts * rates * -np.expm1(-rates * t)))
        return out

    def run_hit_rate(self, capacity: float, run_length: float, threshold: int = 1) -> float:
        """Hit rate over one batch of ``run_length`` requests that starts with none of the
        stream's rows cached, for an LRU cache of ``capacity`` rows that admits only rows requested
        at least ``threshold`` times in the batch (1: every row).

        Row i is requested K_i ~ Poisson(λ_i = run·p_i) times; its requests after the first can
        hit, E[(K-1)·1{K >= t}] of them, if it stayed cached since its previous request, i.e. if
        that came less than T requests earlier: probability 1 - exp(-p_i·T). T solves the
        occupancy Σ_i P(admitted) (1 - exp(-p_i·T)) = capacity; when everything the batch admits
        fits, nothing is evicted during the batch. An admission filter never lowers this hit
        rate: rows seen once cannot hit in the batch anyway, they only evict others.
        """
        return float(self.run_hit_rates(capacity, np.array([float(run_length)]), threshold)[0])

    def run_hit_rates(self, capacity: float, runs: np.ndarray, threshold: int = 1) -> np.ndarray:
        """:meth:`run_hit_rate` for each run length of the 1-D array ``runs`` (one cache
        capacity): :meth:`run_hit_rates_many` for one capacity."""
        return self.run_hit_rates_many(np.array([float(capacity)]), runs, threshold)[0]

    def run_hit_rates_many(self, capacities: np.ndarray, runs: np.ndarray, threshold: int = 1) -> np.ndarray:
        """:meth:`run_hit_rate` for each cache capacity (rows) of ``capacities`` and run length
        (requests) of ``runs``, both 1-D: shape (capacities, runs). The occupancy roots of all the
        (capacity, run) pairs that evict are solved together, each by the operations it would
        take alone."""
        runs = np.asarray(runs, dtype=float).reshape(-1)
        caps = np.asarray(capacities, dtype=float).reshape(-1)
        out = np.zeros((caps.size, runs.size))
        if self.admit is not None:
            raise DseError("run_hit_rate: apply the admission threshold here, not through admitted()")
        some = np.flatnonzero(runs > 0)
        if some.size == 0 or not np.any(caps > 0):
            return out
        table = _run_terms(self, tuple(runs[some].tolist()), max(1, int(threshold)))
        # everything the batch admits fits, or fits within the batch: nothing is evicted
        out[np.ix_(caps > 0, some)] = table.all_held
        evict = (caps[:, None] > 0) & (table.admitted_rows > caps[:, None]) & ~(table.occupied_hi < caps[:, None])
        cap_of, run_of = np.nonzero(evict)
        if run_of.size:
            rows: slice | np.ndarray = run_of
            if caps.size == 1 and run_of[-1] - run_of[0] + 1 == run_of.size:  # longer runs evict: views, no copies
                rows = slice(int(run_of[0]), int(run_of[-1]) + 1)
            capacity = caps[cap_of]
            starts = np.array([math.log(c / start) for c, start in zip(capacity.tolist(), table.start[rows].tolist())])
            _, hits = _occupancy_roots(self.probs, table.occupancy_weights[rows], capacity, starts, table.hi[rows],
                                       table.hit_weights[rows])
            idx = some[run_of]
            out[cap_of, idx] = np.minimum(np.maximum(hits / runs[idx], 0.0), 1.0)
        return out

    def admitted(self, batch_requests: float, threshold: int) -> "PopularityStream":
        if threshold <= 1:
            return self
        lam = self.probs * float(batch_requests)
        share = poisson_at_least(threshold - 1, lam)  # P(Poisson(lam) >= threshold - 1)
        return PopularityStream(self.counts, self.probs, share)


@dataclass(frozen=True, eq=False)
class StackDistanceStream(Stream):
    """A measured LRU stack-distance profile: ``cdf[k]`` = share of requests with stack distance
    < ``capacities[k]`` (linear in between, constant beyond the last point). It carries no
    per-row frequencies, so an admission filter cannot be evaluated on it (``admitted`` returns
    the stream unchanged; docs/nmp.md lists this limit)."""

    capacities: np.ndarray  # ascending, starting at 0
    cdf: np.ndarray  # non-decreasing, cdf[0] = 0, <= 1
    rows: float = math.inf

    has_frequencies = False

    def admitted_share(self) -> float:
        return 1.0

    def hit_rate(self, capacity: float) -> float:
        if capacity <= 0:
            return 0.0
        if capacity >= self.rows:
            return 1.0
        return float(np.interp(capacity, self.capacities, self.cdf))

    @functools.cached_property
    def _time_table(self) -> tuple[np.ndarray, np.ndarray]:
        """T(C) = ∫ dc / (1 - h(c)) at the profile points (trapezoid on 1/(1-h), exact enough
        on the dense grid built by the parser)."""
        miss = np.maximum(1.0 - self.cdf, 1e-12)
        inv = 1.0 / miss
        steps = np.diff(self.capacities) * 0.5 * (inv[1:] + inv[:-1])
        return self.capacities, np.concatenate([[0.0], np.cumsum(steps)])

    def characteristic_time(self, capacity: float) -> float:
        if capacity <= 0:
            return 0.0
        if capacity >= self.rows:
            return math.inf
        caps, times = self._time_table
        if capacity <= caps[-1]:
            return float(np.interp(capacity, caps, times))
        tail_miss = max(1.0 - self.cdf[-1], 1e-12)
        if 1.0 - self.cdf[-1] <= 1e-12:
            return math.inf
        return float(times[-1] + (capacity - caps[-1]) / tail_miss)

    def distinct(self, n: float) -> float:
        if n <= 0:
            return 0.0
        caps, times = self._time_table
        if n <= times[-1]:
            return float(np.interp(n, times, caps))
        tail_miss = 1.0 - self.cdf[-1]
        return float(min(caps[-1] + (n - times[-1]) * tail_miss, self.rows))

    def max_distinct(self) -> float:
        return self.rows


#: log T (requests) beyond which the rates are so small that T overflows: Che's root is not
#: sought further and the cache counts as holding everything.
MAX_LOG_TIME = 700.0


def bracket_log_time(filled: Callable[[float], bool], lo: float) -> float | None:
    """An upper end for Che's root above ``lo`` (a lower bound of log T, T in requests): the
    first ``lo + 1 + 4k`` at which ``filled(lt)`` says the LRU's occupancy at T = e^lt reaches
    its capacity; None past :data:`MAX_LOG_TIME` (everything fits)."""
    hi = lo + 1.0
    while hi <= MAX_LOG_TIME and not filled(hi):
        hi += 4.0
    return hi if hi <= MAX_LOG_TIME else None


def occupancy_log_time(weights: np.ndarray, rates: np.ndarray, capacity: float, lo: float, hi: float) -> float:
    """The ``lt`` in ``[lo, hi]`` where an LRU of ``capacity`` fills: ``sum(weights (1 -
    exp(-rates e^lt))) = capacity`` (Che's characteristic time T = e^lt; ``weights``: rows, or
    bytes, per bin; ``rates``: requests per row per request; ``lo`` a lower bound of the root,
    ``hi`` an upper one): :func:`_occupancy_roots` for one row, so that no sweep worker imports
    scipy.optimize for it (0.3-0.7 s with the modules it pulls in)."""
    roots, _ = _occupancy_roots(np.asarray(rates, dtype=float), np.asarray(weights, dtype=float)[None, :], capacity,
                                np.array([float(lo)]), np.array([float(hi)]))
    return float(roots[0])


def _reuse(lam: np.ndarray) -> np.ndarray:
    """E[(K-1)^+] for K ~ Poisson(lam): lam - 1 + exp(-lam), by its series for small lam."""
    small = lam < 1e-3
    out = np.empty_like(lam)
    x = lam[small]
    out[small] = x * x / 2.0 - x**3 / 6.0 + x**4 / 24.0
    y = lam[~small]
    out[~small] = y + np.expm1(-y)
    return out


@dataclass(frozen=True)
class _RunTerms:
    """What :meth:`PopularityStream.run_hit_rates` needs of one (stream, run lengths, threshold),
    whatever the cache's capacity; one row per run length. Per popularity bin, the rows the cache
    may hold (``occupancy_weights``: counts · P(admitted | requested in the last T requests)) and
    their requests that can hit (``hit_weights``: counts · E[(K-1)·1{K>=t}]); per run: the rows
    the batch admits (``admitted_rows``); ``hi``, log of the longest characteristic time searched
    (e · run), with ``occupied_hi`` the rows held at it; ``all_held``: the hit rate when nothing
    is evicted; ``start``: Σ weights·p, the share of requests that may be held (occupancy grows at
    most that fast with T, so capacity / start is a lower bound on T and the root search starts
    there)."""

    occupancy_weights: np.ndarray
    hit_weights: np.ndarray
    admitted_rows: np.ndarray
    hi: np.ndarray
    occupied_hi: np.ndarray
    all_held: np.ndarray
    start: np.ndarray


@functools.lru_cache(maxsize=64)
def _run_terms(stream: "PopularityStream", runs: tuple[float, ...], t: int) -> _RunTerms:
    """The capacity-independent part of the run hit rates, memoised: a sweep over cache sizes asks
    for the same (stream, runs, threshold) for every configuration that shares a model, a
    locality and a batch grid (about 30 KB per run length for a 10^6-row Zipf table). All the run
    lengths are computed as one (runs, bins) array, element by element as for one run at a time."""
    p, n = stream.probs, stream.counts
    r = np.array(runs, dtype=float)
    lam = p[None, :] * r[:, None]
    # the (runs, bins) temporaries are reused in place (fresh ones cost more in page faults than
    # the arithmetic); the operations are those of the plain formulas, to the bit
    if t <= 1:
        reuse = _reuse(lam)
        in_batch = np.negative(np.expm1(np.negative(lam), out=lam), out=lam)  # P(K >= 1): distinct rows
        admit = np.ones_like(lam)  # a row requested in the last T requests is cached
    else:
        admit = poisson_at_least(t - 1, lam)  # P(K >= t | requested in the last T requests)
        in_batch = poisson_at_least(t, lam)  # P(K >= t): rows the batch admits
        reuse = np.multiply(lam, admit, out=lam)
        reuse -= in_batch  # E[(K-1)·1{K>=t}]
    weights = np.multiply(n, admit, out=admit)
    hit_weights = np.multiply(n, np.maximum(reuse, 0.0, out=reuse), out=reuse)
    admitted_rows = np.sum(np.multiply(n, in_batch, out=in_batch), axis=1)
    # per run by math.log / math.exp, as one run at a time had them (numpy's may differ in the last bit)
    hi = np.array([math.log(run) + 1.0 for run in runs])
    longest = np.array([math.exp(h) for h in hi.tolist()])
    held = np.multiply(-p[None, :], longest[:, None], out=in_batch)
    np.negative(np.expm1(held, out=held), out=held)
    occupied_hi = np.sum(np.multiply(weights, held, out=held), axis=1)
    all_held = np.minimum(np.maximum(np.sum(hit_weights, axis=1) / r, 0.0), 1.0)
    start = np.sum(np.multiply(weights, p, out=held), axis=1)
    return _RunTerms(weights, hit_weights, admitted_rows, hi, occupied_hi, all_held, start)


#: Bins merged into one, on average, for the starting point of :func:`_occupancy_roots`.
_COARSE = 16


def _coarse_cuts(p: np.ndarray) -> np.ndarray:
    """The first bin of each group merged for the starting point of :func:`_occupancy_roots`:
    runs of neighbouring bins whose rates (requests per row per request) fall in one of
    ``bins / _COARSE`` cells of equal width in log rate, so that every group spans at most a
    fixed ratio of rates wherever the roots lie (the merged occupancy errs by the spread of
    p·T within a group, largest where p·T is about 1; a fixed number of bins per group puts
    the head's first ranks, whose rates differ most, together). Rates per row and bin, rates
    out of order (fewer than half the bins per group) or not positive: every ``_COARSE``
    bins."""
    n = p.shape[-1]
    stride = np.arange(0, n, _COARSE)
    if p.ndim != 1 or not np.all(p > 0):
        return stride
    log_p = np.log(p)
    width = (float(log_p.max()) - float(log_p.min())) / stride.size
    if width <= 0:
        return stride
    cell = np.floor((float(log_p.max()) - log_p) / width)
    cuts = np.concatenate([[0], np.flatnonzero(cell[1:] != cell[:-1]) + 1])
    return cuts if cuts.size <= 2 * stride.size else stride


def _occupancy_roots(
    p: np.ndarray, weights: np.ndarray, capacity: float | np.ndarray, start: np.ndarray, hi: np.ndarray,
    hit_weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """log T_j with Σ weights[j]·(1 - exp(-p·T_j)) = capacity for each row j of ``weights``
    (``capacity``: rows, one for all or one per row), given that it holds at or below ``hi[j]``, searched from ``start[j]``; and, with
    ``hit_weights``, Σ hit_weights[j]·(1 - exp(-p·T_j)) at each root (else None).

    Halley's method on log T (the two derivatives come with the same exponentials), kept inside
    the bracket known so far (bisection when a step leaves it); a row stops when its step is below
    1e-8 of log T (the error left after a step is of the order of the step cubed) or the bracket
    is narrower than 1e-11. The rows iterate together (one pass over a (rows, bins) array per
    step), each stopping on its own test; the sums at a root are those at the last point of the
    search carried over the last step by their first two derivatives (the step being at most 1e-8
    of log T, what is left is of the order of its cube), so the root costs no pass of its own.
    ``p``: per bin, or per row and bin. Over many bins the search starts from the root of the
    bins merged about ``_COARSE`` to one (:func:`_coarse_cuts`; weights summed, rates weight-averaged: by the concavity of
    1 - exp(-pT) in p that occupancy is not lower, so its root is still a lower bound, and
    within ~1e-3 of the answer, which the search then reaches in two passes)."""
    hi = np.array(hi, dtype=float)
    lo = np.full(hi.shape, -math.inf)  # occupancy below capacity here (growing as steps land below the root)
    lt = np.minimum(np.asarray(start, dtype=float), hi)
    if p.shape[-1] > 8 * _COARSE:
        cuts = _coarse_cuts(p)
        merged = np.add.reduceat(weights, cuts, axis=1)
        rates = np.add.reduceat(weights * p, cuts, axis=1) / np.where(merged > 0, merged, 1.0)
        lt = np.minimum(np.maximum(_occupancy_roots(rates, merged, capacity, lt, hi)[0], lt), hi)
    out = lt.copy()
    held = None if hit_weights is None else np.zeros(lt.shape)
    live = np.arange(lt.size)
    passes = _OccupancyPasses(p, weights, capacity)
    for _ in range(200):
        if live.size == 0:
            break
        now = lt[live]
        f, slope, bend = passes.run(live, now)
        above = f > 0
        hi[live] = np.where(above, now, hi[live])
        lo[live] = np.where(above, lo[live], now)
        step = _halley_step(f, slope, bend)
        scale = np.maximum(1.0, np.abs(now))
        converged = np.abs(step) <= 1e-8 * scale
        a, b = lo[live], hi[live]
        nxt = now - np.where(np.isfinite(step), step, 0.0)
        outside = ~((a < nxt) & (nxt < b)) | ~np.isfinite(step)
        nxt = np.where(outside, np.where(np.isinf(a), b - 4.0, 0.5 * (a + b)), nxt)
        narrow = outside & (b - a <= 1e-11 * np.maximum(1.0, np.abs(nxt)))
        exact = f == 0.0
        root = np.where(exact, now, np.where(converged, now - step, nxt))
        out[live] = root
        done = exact | converged | narrow
        if held is not None and np.any(done):
            held[live[done]] = passes.held(hit_weights, live, done, root - now)
        lt[live] = nxt
        live = live[~done]
    return out, held


def _halley_step(f: np.ndarray, slope: np.ndarray, bend: np.ndarray) -> np.ndarray:
    """Halley's step -Δ for the roots of f (first and second derivatives ``slope``, ``bend``);
    ``inf`` where the slope is not positive (the caller bisects). The correction factor is
    kept within [0.5, 2] so that far from the root the step stays within a factor 2 of Newton's."""
    with np.errstate(divide="ignore", invalid="ignore"):
        newton = np.where(slope > 0, f / np.where(slope > 0, slope, 1.0), math.inf)
        factor = np.clip(1.0 - 0.5 * newton * bend / np.where(slope > 0, slope, 1.0), 0.5, 2.0)
    return np.where(np.isfinite(newton), newton / factor, newton)


#: Memory the passes of :func:`_occupancy_roots` work in, kept from one search to the next (its
#: pages are mapped already). One buffer per thread, used by one search at a time (the coarse one
#: ends before the fine one starts): numpy releases the GIL inside its loops, so threads that
#: shared one, e.g. a Dask worker's, would overwrite each other's search.
_SCRATCH = threading.local()


def _scratch(count: int, shape: tuple[int, ...]) -> list[np.ndarray]:
    """``count`` arrays of ``shape`` (float64, contents undefined) in this thread's scratch
    buffer, which grows to the largest request."""
    size = math.prod(shape)
    buffer = getattr(_SCRATCH, "buffer", None)
    if buffer is None or buffer.size < count * size:
        buffer = _SCRATCH.buffer = np.empty(count * size)
    return [buffer[i * size:(i + 1) * size].reshape(shape) for i in range(count)]


class _OccupancyPasses:
    """The passes of :func:`_occupancy_roots` over the bins, in buffers of their own: a fresh
    (rows, bins) array per operation costs more in page faults than the arithmetic. They work on
    -x = -p·T (negations are exact, so the sums are those of the plain formulas to the bit) and
    keep the last pass's -x, exp(-x) - 1 and exp(-x) for :meth:`held`."""

    def __init__(self, p: np.ndarray, weights: np.ndarray, capacity: float | np.ndarray):
        self.minus_p = -p
        self.weights = weights
        self.capacity = np.asarray(capacity, dtype=float)
        self.neg_x, self.gone, self.kept, self.prod, self.rows = _scratch(5, weights.shape)

    def _rows(self, table: np.ndarray, live: np.ndarray) -> np.ndarray:
        """``table[live]``, in the buffer ``rows`` unless every row is live."""
        if live.size == table.shape[0]:
            return table
        return np.take(table, live, axis=0, out=self.rows[: live.size])

    def run(self, live: np.ndarray, now: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Occupancy minus capacity at log T = ``now`` for the rows ``live``, and its first and
        second derivatives in log T."""
        n = live.size
        x, g, e, wx = self.neg_x[:n], self.gone[:n], self.kept[:n], self.prod[:n]
        mp = self.minus_p
        np.multiply(mp[None, :] if mp.ndim == 1 else self._rows(mp, live), np.exp(now)[:, None], out=x)
        w = self._rows(self.weights, live)
        np.expm1(x, out=g)  # exp(-x) - 1
        np.multiply(w, g, out=wx)
        capacity = self.capacity if self.capacity.ndim == 0 else self.capacity[live]
        f = -np.sum(wx, axis=1) - capacity  # Σ w·(1 - exp(-x)) - capacity
        np.add(g, 1.0, out=e)
        np.multiply(w, x, out=wx)
        np.multiply(wx, e, out=wx)
        slope = -np.sum(wx, axis=1)  # d occupancy / d log T = Σ w·x·exp(-x)
        np.multiply(wx, x, out=wx)
        bend = slope - np.sum(wx, axis=1)  # its derivative: Σ w·x·(1 - x)·exp(-x)
        return f, slope, bend

    def held(self, hit_weights: np.ndarray, live: np.ndarray, done: np.ndarray, shift: np.ndarray) -> np.ndarray:
        """Σ hit_weights·(1 - exp(-x)) for the rows ``live[done]`` of the last pass, moved by
        ``shift`` in log T to second order (derivatives as in :meth:`run`)."""
        n = live.size
        x, g, e, hx = self.neg_x[:n], self.gone[:n], self.kept[:n], self.prod[:n]
        h = self._rows(hit_weights, live)
        np.multiply(h, g, out=hx)
        at = -np.sum(hx, axis=1)
        np.multiply(h, x, out=hx)
        np.multiply(hx, e, out=hx)
        rate = -np.sum(hx, axis=1)
        np.multiply(hx, x, out=hx)
        bend = rate - np.sum(hx, axis=1)
        return (at + shift * (rate + 0.5 * shift * bend))[done]


# --------------------------------------------------------------------------------------------
# Popularity laws, binned
# --------------------------------------------------------------------------------------------


def _power_mass(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """Σ_{r=a}^{b-1} r^-alpha for integer a >= 1 (Euler–Maclaurin: midpoint integral plus the
    first correction; relative error < 1e-7 for a >= HEAD_RANKS)."""
    lo = a - 0.5
    hi = b - 0.5
    if abs(alpha - 1.0) < 1e-12:
        integral = np.log(hi / lo)
    else:
        integral = (hi ** (1.0 - alpha) - lo ** (1.0 - alpha)) / (1.0 - alpha)
    # midpoint rule error term: -(f'(hi) - f'(lo))/24 with f' = -alpha x^(-alpha-1)
    correction = alpha * (hi ** (-alpha - 1.0) - lo ** (-alpha - 1.0)) / 24.0
    return integral + correction


def binned_power_law(rows: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(counts, per-row probabilities) of Zipf(alpha) over ``rows`` rows, binned by rank."""
    rows = int(rows)
    if rows < 1:
        raise DseError(f"locality: a table needs at least one row (got {rows})")
    if alpha == 0.0:
        return np.array([float(rows)]), np.array([1.0 / rows])
    head = min(rows, HEAD_RANKS)
    ranks = np.arange(1, head + 1, dtype=float)
    counts = [np.ones(head)]
    masses = [ranks**-alpha]
    if rows > head:
        n_edges = int(math.ceil(math.log((rows + 1) / (head + 1)) / math.log(BIN_RATIO))) + 1
        edges = np.unique(np.round(np.geomspace(head + 1, rows + 1, max(n_edges, 2))))
        a, b = edges[:-1], edges[1:]
        counts.append(b - a)
        masses.append(_power_mass(a, b, alpha))
    n = np.concatenate(counts)
    m = np.concatenate(masses)
    m = m / m.sum()
    return n, m / n


def _bin_sorted_shares(shares: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """A measured frequency profile (shares sorted descending, one per profiled row) stretched to
    a table of ``rows`` rows by rank quantile, binned like :func:`binned_power_law`."""
    n_prof = shares.size
    head = min(n_prof, HEAD_RANKS)
    edges = [np.arange(0, head + 1)]
    if n_prof > head:
        n_edges = int(math.ceil(math.log(n_prof / head) / math.log(BIN_RATIO))) + 1
        edges.append(np.unique(np.round(np.geomspace(head, n_prof, max(n_edges, 2))))[1:])
    e = np.unique(np.concatenate(edges)).astype(int)
    cums = np.concatenate([[0.0], np.cumsum(shares)])
    mass = cums[e[1:]] - cums[e[:-1]]
    prof_rows = (e[1:] - e[:-1]).astype(float)
    scale = rows / n_prof
    counts = prof_rows * scale
    keep = mass > 0
    counts, mass = counts[keep], mass[keep]
    mass = mass / mass.sum()
    return counts, mass / counts


# --------------------------------------------------------------------------------------------
# Locality specs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Locality:
    """A parsed locality spec; ``stream(rows)`` builds the stream for a table of ``rows`` rows."""

    spec: str
    kind: str  # "uniform" | "zipf" | "frequency" | "stack_distance"
    alpha: float = 0.0
    path: str | None = None

    def stream(self, rows: int) -> Stream:
        return _stream(self, int(rows))

    @property
    def label(self) -> str:
        return self.spec


@functools.lru_cache(maxsize=256)
def _stream(loc: Locality, rows: int) -> Stream:
    if rows < 1:
        raise DseError(f"locality: a table needs at least one row (got {rows})")
    if loc.kind == "uniform":
        return PopularityStream(np.array([float(rows)]), np.array([1.0 / rows]))
    if loc.kind == "zipf":
        return PopularityStream(*binned_power_law(rows, loc.alpha))
    profile = _read_profile(loc.path or "")
    if profile[0] == "frequency":
        return PopularityStream(*_bin_sorted_shares(profile[1], rows))
    caps, cdf = profile[1], profile[2]
    return StackDistanceStream(caps, cdf, float(rows))


@functools.lru_cache(maxsize=64)
def parse_locality(spec: str) -> Locality:
    """``uniform`` | ``zipf:ALPHA`` | ``file:PATH`` -> :class:`Locality`; a one-line
    :class:`DseError` otherwise (a profile file is read and checked here)."""
    if not isinstance(spec, str) or not spec.strip():
        raise DseError(f"locality '{spec}': {LOCALITY_HELP}")
    text = spec.strip()
    head, sep, arg = text.partition(":")
    head = head.strip().lower()
    if head == "uniform" and not sep:
        return Locality(text, "uniform")
    if head == "zipf" and sep:
        try:
            alpha = float(arg)
        except ValueError:
            raise DseError(f"locality '{spec}': ALPHA '{arg}' is not a number ({LOCALITY_HELP})") from None
        if not math.isfinite(alpha) or alpha < 0:
            raise DseError(f"locality '{spec}': ALPHA must be a finite number >= 0")
        return Locality(text, "zipf", alpha=alpha) if alpha > 0 else Locality(text, "uniform")
    if head == "file" and sep and arg.strip():
        path = arg.strip()
        kind = _read_profile(path)[0]
        return Locality(text, kind, path=path)
    raise DseError(f"locality '{spec}': {LOCALITY_HELP}")


@functools.lru_cache(maxsize=16)
def _read_profile(path: str) -> tuple:
    """Read a profile CSV: ('frequency', shares sorted desc) or ('stack_distance', caps, cdf)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DseError(f"locality file {path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise DseError(f"locality file {path}: not a text file (invalid UTF-8)") from None
    rows = [(i + 1, ln.strip()) for i, ln in enumerate(lines) if ln.strip() and not ln.strip().startswith("#")]
    if not rows:
        raise DseError(f"locality file {path}: empty (expected a header 'count' or 'stack_distance,fraction')")
    header_line, header = rows[0]
    names = [h.strip().lower() for h in header.split(",")]
    data = rows[1:]
    if not data:
        raise DseError(f"locality file {path}: no data rows after the header")

    def number(lineno: int, text: str, allow_inf: bool = False) -> float:
        t = text.strip().lower()
        if allow_inf and t in ("inf", "infinity", "cold"):
            return math.inf
        try:
            value = float(t)
        except ValueError:
            raise DseError(f"locality file {path}: line {lineno}: '{text.strip()}' is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise DseError(f"locality file {path}: line {lineno}: '{text.strip()}' must be a finite number >= 0")
        return value

    def column(name: str) -> int:
        if name not in names:
            raise DseError(f"locality file {path}: line {header_line}: no column '{name}' in header '{header}'")
        return names.index(name)

    if "stack_distance" in names:
        i_d = column("stack_distance")
        i_f = column("fraction") if "fraction" in names else column("count")
        dist, frac = [], []
        for lineno, text in data:
            cells = text.split(",")
            if len(cells) <= max(i_d, i_f):
                raise DseError(f"locality file {path}: line {lineno}: expected {len(names)} columns")
            dist.append(number(lineno, cells[i_d], allow_inf=True))
            frac.append(number(lineno, cells[i_f]))
        d = np.array(dist)
        f = np.array(frac)
        if f.sum() <= 0:
            raise DseError(f"locality file {path}: all fractions are zero")
        f = f / f.sum()
        finite = np.isfinite(d)
        # a request at stack distance d hits in every LRU cache of more than d rows
        caps = d[finite] + 1.0
        order = np.argsort(caps, kind="stable")
        caps, cum = caps[order], np.cumsum(f[finite][order])
        caps, last = np.unique(caps[::-1], return_index=True)  # duplicates: keep the largest cumsum
        cum = cum[::-1][last]
        caps = np.concatenate([[0.0], caps])
        cum = np.minimum(np.concatenate([[0.0], cum]), 1.0)
        # resample densely (geometric) so that T(C) = ∫ dc/(1-h) integrates accurately
        grid = np.unique(np.concatenate([caps, np.geomspace(1.0, max(caps[-1], 2.0), 2048)]))
        grid = grid[grid <= caps[-1]] if caps[-1] > 0 else grid
        grid = np.unique(np.concatenate([[0.0], grid]))
        return ("stack_distance", grid, np.interp(grid, caps, cum))

    i_c = column("count")
    counts = []
    for lineno, text in data:
        cells = text.split(",")
        if len(cells) <= i_c:
            raise DseError(f"locality file {path}: line {lineno}: expected {len(names)} columns")
        counts.append(number(lineno, cells[i_c]))
    c = np.sort(np.array(counts))[::-1]
    if c.sum() <= 0:
        raise DseError(f"locality file {path}: all counts are zero")
    return ("frequency", c / c.sum())


# --------------------------------------------------------------------------------------------
# Convenience
# --------------------------------------------------------------------------------------------


def lru_hit_rate(locality: str | Locality, rows: int, capacity_rows: float) -> float:
    """Steady-state LRU hit rate of a cache of ``capacity_rows`` rows on one table."""
    loc = parse_locality(locality) if isinstance(locality, str) else locality
    return loc.stream(rows).hit_rate(float(capacity_rows))


def cache_rows(cache_bytes: float, row_bytes: float) -> float:
    """Rows of ``row_bytes`` that fit in ``cache_bytes`` (whole rows)."""
    if row_bytes <= 0:
        raise DseError(f"row size must be positive (got {row_bytes})")
    return float(math.floor(max(cache_bytes, 0.0) / row_bytes))


def knee(sizes: np.ndarray, hits: np.ndarray) -> tuple[float, float]:
    """Knee of a rising hit-rate curve sampled at doubling sizes: the Kneedle point (Satopää et al.,
    ICDCS-W 2011) on (log2 size, hit rate), both scaled to [0, 1]. Returns (size, prominence), where
    prominence is the largest gap between the scaled curve and its chord (0 for a straight line)."""
    x = np.log2(np.asarray(sizes, dtype=float))
    y = np.asarray(hits, dtype=float)
    if x.size < 3 or np.ptp(y) <= 0:
        return float(np.asarray(sizes)[0]), 0.0
    xs = (x - x[0]) / (x[-1] - x[0])
    ys = (y - y[0]) / (y[-1] - y[0])
    gap = ys - xs
    k = int(np.argmax(gap))
    return float(np.asarray(sizes)[k]), float(gap[k])
