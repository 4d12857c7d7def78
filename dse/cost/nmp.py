"""RecNMP: SparseLengthsSum (embedding_bag) in rank-level near-memory processing units, against
the same memory system used conventionally by the host. docs/nmp.md has the derivations.

One embedding_bag operator of a batch of b items (L = b · lookups rows of ``row_bytes``, k bursts
each), on N_ch channels × D DIMMs × R ranks per DIMM, with E co-located engines each keeping
``sls_in_flight`` operators in flight (m = E · sls_in_flight):

Placement (:func:`layout`)
    A table spans ``span`` DIMMs (1 for ``table_placement: dimm`` unless it does not fit; all for
    ``interleaved``), its rows interleaved over their R_g = span·R ranks; tables round-robin over
    the DIMMs, so the busiest DIMM serves ceil(m·span/D) operators ("group load") and each pooling
    returns one partial sum per DIMM of the span it touches.

RankCache hit rate h (:func:`rank_cache_hit_rate`)
    The R_g per-rank caches of C rows act like one cache of R_g·C rows over the table (Che's
    approximation is invariant under that split); divided by the group load without table-aware
    scheduling (the co-running operators' packets interleave). A DIMM serving one table keeps its
    rows across batches (steady state); otherwise each batch starts cold
    (:meth:`~dse.cost.locality.PopularityStream.run_hit_rate`, with the hot-entry admission
    threshold when profiling is on).

Resources, for one operator alone
    t_rank = L·(1-h) / R_g / r_rank / η_miss          r_rank: :func:`dse.cost.dram.rank_random_read`
    t_pool = L / R_g · ceil(row_bytes / (4·lanes)) / f_nmp / η
    t_bus  = (L/ipc + returns · (k·tBL + tRTRS) + returns/psum_tags · t_turn) · tCK / channels spanned
             ipc = interface_pins // instruction_bits NMP-Insts per command clock (84 // 79 = 1);
             t_turn = write -> read -> write round trip (:func:`dse.cost.dram.write_read_round_trip_clocks`)
    t_host = L · host_seconds_per_lookup               (the core writes one instruction per lookup)
    η = μ / E[max of R_g Poisson(μ)]: rank balance over ``psum_tags`` poolings, or the whole
    operator with table-aware scheduling.

Operator time on one engine
    t_nmp = latency + max(t_host, load·t_rank, load·t_pool, load_ch·t_bus) / sls_in_flight
            · (1 + profiling_overhead)
    latency = (tBL + tRCD + CL + k·tBL + CL + k·tBL)·tCK + pipeline_depth / f_nmp

Host baseline on the same memory system (conventional channels; CPU caches hit with rate h_cpu
from the same locality model, steady state because the CPU caches keep every table's hot rows)
    t_host_sls = (tRCD + CL + k·tBL)·tCK + E · L·(1-h_cpu) / (N_ch · r_channel)

with r_channel from :func:`dse.cost.dram.channel_random_read` (the cost model's host gathers on
an NMP platform use the same rate, dse/cost/gather.py). The SLS speedup is t_host_sls / t_nmp
(memory system only: ``host_seconds_per_lookup`` = 0), the paper's "memory latency speedup".
:func:`nmp_gather_times` evaluates the timing for a whole array of batch sizes at once.
Memory energy per operator counts activates, read bursts, I/O (channel or on-DIMM), RankCache
accesses, pooling adds and the ranks' background power over the operator's share of time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from dse.cost import dram
from dse.cost.locality import PopularityStream, Stream, bracket_log_time, cache_rows, occupancy_log_time, parse_locality
from dse.errors import DseError
from dse.special import log_factorials, normal_quantile
from dse.settings import DEFAULT_LOCALITY
from dse.graph.ops import Op, OpKind
from dse.specs.memory import MemorySpec, NmpSpec

FP32_BYTES = 4


@dataclass(frozen=True)
class SlsTime:
    """One embedding_bag operator at one batch size.

    ``seconds``: time on one engine while ``engines`` run (latency included); ``hit_rate``: the
    RankCache (NMP) or CPU-cache (host) hit rate; ``bound``: the binding resource; ``terms``:
    seconds per resource (already multiplied by ``engines``); ``energy_j``: memory energy of this
    operator, with ``energy_terms`` by component (J).
    """

    seconds: float
    hit_rate: float
    bound: str
    lookups: float
    terms: dict[str, float] = field(default_factory=dict)
    energy_j: float = 0.0
    energy_terms: dict[str, float] = field(default_factory=dict)


def _check_op(op: Op) -> None:
    if op.kind is not OpKind.EMBEDDING_BAG:
        raise DseError(f"{op.name}: NMP runs embedding_bag (SparseLengthsSum) operators, not {op.kind.value}")
    if op.row_bytes <= 0 or op.rows_per_item <= 0:
        raise DseError(f"{op.name}: an embedding_bag needs rows and lookups")


def _table_rows(op: Op) -> int:
    rows = op.shape.get("rows")
    if rows is None:
        rows = op.table_bytes / op.row_bytes
    return max(1, int(rows))


def expected_max_poisson(mu: float, n: int) -> float:
    """E[max of n independent Poisson(mu)] (balls-into-bins load of the busiest rank); one value
    of :func:`expected_max_poissons`."""
    return float(expected_max_poissons(np.array([float(mu)]), int(n))[0])


def expected_max_poissons(mu: np.ndarray, n: int) -> np.ndarray:
    """E[max of n independent Poisson(mu)] for each mean of the array ``mu`` (lookups per rank),
    same shape.

    Exact sum Σ_k (1 - F(k)^n) over k < mu + 12·sqrt(mu) + 30 (F the Poisson CDF) up to mu = 2000,
    Blom's approximation of the expected maximum of n normals above. Memoised per (mu, n): a sweep
    asks for the same means for every table of a model and every configuration that shares a
    batch grid and a hit rate; the means not seen yet are computed together."""
    mu = np.asarray(mu, dtype=float)
    if n <= 1:
        return np.maximum(mu, 0.0)
    # each distinct mean once (the rows of a sweep's chunk repeat most of theirs)
    means, where = np.unique(mu.reshape(-1), return_inverse=True)
    values = np.empty(means.shape)
    todo: list[int] = []
    for i, m in enumerate(means.tolist()):
        hit = _MAX_POISSON.get((m, n))
        if hit is None:
            todo.append(i)
        else:
            values[i] = hit
    if todo:
        if len(_MAX_POISSON) >= 65536:
            _MAX_POISSON.clear()
        values[todo] = _max_poissons(means[todo], n)
        for m, value in zip(means[todo].tolist(), values[todo].tolist()):
            _MAX_POISSON[(m, n)] = value
    return values[where].reshape(mu.shape)


_MAX_POISSON: dict[tuple[float, int], float] = {}


def _max_poissons(mu: np.ndarray, n: int) -> np.ndarray:
    """:func:`expected_max_poissons` of the 1-D array ``mu`` for n >= 2, without the memo."""
    out = np.maximum(mu, 0.0)
    gauss = mu > 2000
    if np.any(gauss):  # Gaussian limit; Blom's approximation of the expected maximum of n normals
        z = normal_quantile((n - 0.375) / (n + 0.25))
        out[gauss] = mu[gauss] + np.sqrt(mu[gauss]) * z
    exact = np.flatnonzero((mu > 0) & ~gauss)
    if exact.size == 0:
        return out
    spread = np.sqrt(mu[exact])
    tops = (mu[exact] + 12.0 * spread + 30.0).astype(int)
    # below mu - 10·sqrt(mu) - 10, F(k) <= exp(-50) (the Poisson lower tail is sub-Gaussian with
    # variance mu), so each term 1 - F(k)^n is 1 to the last bit: those are counted, not summed
    lows = np.maximum(np.floor(mu[exact] - 10.0 * spread - 10.0), 0.0).astype(int)
    spans = tops - lows
    # means sorted by the length of their sums, in blocks whose longest sum is at most twice the
    # shortest, so that padding each block to its longest costs at most as much as the sums
    order = np.argsort(spans, kind="stable")
    start = 0
    while start < order.size:
        stop = int(np.searchsorted(spans[order], 2 * spans[order[start]], side="right"))
        block = order[start:stop]
        out[exact[block]] = _poisson_max_sums(mu[exact[block]], lows[block], tops[block], n)
        start = stop
    return out


def _poisson_max_sums(mu: np.ndarray, lows: np.ndarray, tops: np.ndarray, n: int) -> np.ndarray:
    """low + Σ_{low <= k < top} (1 - F(k)^n) for each mean of ``mu`` (0 < mu <= 2000) with its
    ``lows`` and ``tops`` (F(k) = 0 below ``low``, so that each term there is 1): one row per
    mean over k = low, low + 1, ..., the terms at k >= top left out."""
    width = int((tops - lows).max())
    k = lows[:, None] + np.arange(width)[None, :]
    # ln mu by math.log, as the scalar formula had it (numpy's log may differ in the last bit)
    log_mu = np.array([math.log(m) for m in mu.tolist()])
    # the Poisson CDF as the running sum of the pmf, exp(k·ln mu - mu - ln k!) with ln k! from a
    # table: half the time of scipy's pdtr(k, mu), equal to it within 4e-10 relative in the sum
    # (3.3e-10 at mu = 1000, n = 4096)
    grid = np.multiply(k, log_mu[:, None])
    grid -= mu[:, None]
    grid -= _log_factorials(int(k.max()) + 1)[k]
    cdf = np.cumsum(np.exp(grid, out=grid), axis=1)
    np.minimum(cdf, 1.0, out=cdf)
    # repeated squaring puts F^n within about n ulps of pow's; over the `width` terms, whose sum
    # is at least mu, that stays below 1.1e-14 relative when n·width <= 100·mu (else pow: to the
    # ulp, which a tiny mean needs, its 1 - F^n cancelling to about n·mu)
    if n * width <= 100.0 * float(mu.min()):
        power = integer_power(cdf, n, grid)
    else:
        power = np.power(cdf, n, out=cdf)
    np.subtract(1.0, power, out=power)
    power[k >= tops[:, None]] = 0.0  # the terms beyond each mean's own sum
    return lows + np.sum(power, axis=1)


def integer_power(x: np.ndarray, n: int, spare: np.ndarray) -> np.ndarray:
    """x**n for an integer n >= 1 by repeated squaring, in place in ``x`` (``spare``: a buffer of
    x's shape, overwritten): about 2·log2(n) multiplications instead of ``np.power``'s ``pow``
    per element (a fifth of the time); each squaring doubles the relative rounding error, so the
    result is within about n ulps of ``np.power``'s (x**n itself amplifies an error of x n times)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"integer_power: n = {n} must be >= 1")
    started = False  # whether spare holds the product of the squares taken so far
    while True:
        if n & 1:
            if started:
                np.multiply(spare, x, out=spare)
            else:
                np.copyto(spare, x)
                started = True
        n >>= 1
        if n == 0:
            break
        np.multiply(x, x, out=x)
    np.copyto(x, spare)
    return x


_LOG_FACTORIALS = np.zeros(0)


def _log_factorials(n: int) -> np.ndarray:
    """ln k! for k = 0..n-1 (a table grown on demand)."""
    global _LOG_FACTORIALS
    if _LOG_FACTORIALS.size < n:
        _LOG_FACTORIALS = log_factorials(max(n, 2 * _LOG_FACTORIALS.size))
    return _LOG_FACTORIALS[:n]


def balance_efficiency(window_lookups: float, ranks: int) -> float:
    """Mean over expected-maximum rank load for ``window_lookups`` random lookups over ``ranks``
    (one value of :func:`_balance_efficiencies`)."""
    return float(_balance_efficiencies(np.array([float(window_lookups)]), int(ranks))[0])


def _balance_efficiencies(windows: np.ndarray, ranks: int) -> np.ndarray:
    """Mean over expected-maximum rank load (dimensionless, <= 1) for each window of ``windows``
    (lookups, any shape; the result has the same shape) spread over ``ranks``; the expected maxima
    are memoised per (mean, ranks) (:func:`expected_max_poissons`)."""
    w = np.asarray(windows, dtype=float)
    if ranks <= 1:
        return np.ones(w.shape)
    eff = np.ones(w.shape)
    some = w > 0
    mu = w[some] / ranks
    eff[some] = np.minimum(1.0, mu / np.maximum(expected_max_poissons(mu, ranks), 1e-300))
    return eff


@dataclass(frozen=True)
class Layout:
    """Where an SLS operator runs. ``group_ranks``: ranks holding one table (they serve its
    poolings in parallel); ``in_flight``: operators in flight over all engines; ``group_load``:
    operators on the busiest group; ``channel_load``: operators whose traffic the busiest channel
    carries; ``channel_share``: share of one operator's traffic a channel carries;
    ``returns_per_pooling``: partial-sum vectors returned to the host per pooling."""

    group_ranks: int
    in_flight: int
    group_load: float
    channel_load: float
    channel_share: float
    returns_per_pooling: float


def layout(op: Op, memory: MemorySpec, nmp: NmpSpec, engines: int = 1) -> Layout:
    """Placement of ``op``'s table and the operators it shares ranks and channels with.

    A table spans ``span`` DIMMs: 1 with ``dimm`` placement (more if it does not fit in one
    DIMM), all of them with ``interleaved``. Its rows are interleaved over the span's ranks, and
    each DIMM of the span that a pooling touches returns one partial sum. ``engines ·
    sls_in_flight`` operators are in flight, their tables placed round-robin, so the busiest DIMM
    serves ceil(in_flight · span / DIMMs) of them.
    """
    m = max(1, int(engines)) * nmp.sls_in_flight
    dimms = memory.channels * memory.dimms_per_channel
    if nmp.table_placement == "interleaved":
        span = dimms
    else:
        span = min(dimms, max(1, math.ceil(op.table_bytes / (memory.dimm_capacity_gb * 1e9) - 1e-12)))
    touched = 1.0 - (1.0 - 1.0 / span) ** op.rows_per_item if span > 1 else 1.0
    channels_spanned = min(span, memory.channels)
    return Layout(
        group_ranks=span * memory.ranks_per_dimm,
        in_flight=m,
        group_load=float(math.ceil(m * span / dimms)),
        channel_load=float(math.ceil(m * channels_spanned / memory.channels)),
        channel_share=1.0 / channels_spanned,
        returns_per_pooling=span * touched,
    )


def rank_cache_hit_rate(
    op: Op, memory: MemorySpec, nmp: NmpSpec, batch: float, engines: int = 1, locality: str = DEFAULT_LOCALITY
) -> float:
    """RankCache hit rate of one embedding_bag operator at ``batch`` items for the index stream
    ``locality`` (a workload property, :class:`dse.settings.WorkloadSettings`)."""
    return _rank_cache(op, memory, nmp, batch, layout(op, memory, nmp, engines), locality)


def _rank_cache(op: Op, memory: MemorySpec, nmp: NmpSpec, batch: float, lay: Layout, locality: str) -> float:
    return float(_rank_cache_hits(op, nmp, np.array([float(batch)]), lay, locality)[0])


def _rank_cache_hits(op: Op, nmp: NmpSpec, b: np.ndarray, lay: Layout, locality: str) -> np.ndarray:
    """RankCache hit rate of ``op`` at every batch size of ``b`` (:func:`_rank_cache_rows`)."""
    return _rank_cache_rows(op, [(nmp, lay, locality)], np.asarray(b, dtype=float))[0]


def _rank_cache_spec(op: Op, nmp: NmpSpec, lay: Layout) -> tuple[float, int, bool] | None:
    """The RankCache that serves ``op`` laid out as ``lay``: its capacity (rows, all the group's
    ranks together), admission threshold (requests per batch) and whether it keeps its rows from
    batch to batch; None without one."""
    per_rank = cache_rows(nmp.rank_cache_bytes, op.row_bytes)
    if per_rank <= 0:
        return None
    # operators running in the same ranks interleave their packets (and share the caches) unless
    # the scheduler issues them table by table
    sharing = 1.0 if nmp.table_aware_scheduling else lay.group_load
    threshold = nmp.hot_entry_threshold if nmp.hot_entry_profiling else 1
    return lay.group_ranks * per_rank / sharing, threshold, lay.group_load <= 1.0


def _rank_cache_rows(op: Op, settings: list[tuple[NmpSpec, Layout, str]], b: np.ndarray) -> np.ndarray:
    """RankCache hit rate of ``op`` for each (NMP spec, layout, locality) of ``settings`` (rows)
    at every batch size of the 1-D ``b``, memoised per (locality, table rows, capacity, lookups
    per batch, threshold, persistence); those not seen yet are solved together
    (:func:`_solve_rank_caches`)."""
    lookups = b * op.rows_per_item
    out = np.zeros((len(settings), b.size))
    some = np.flatnonzero(lookups > 0)
    if some.size == 0:
        return out
    runs = tuple(lookups[some].tolist())
    rows = _table_rows(op)
    want: dict[tuple, list[int]] = {}
    for i, (nmp, lay, locality) in enumerate(settings):
        cache = _rank_cache_spec(op, nmp, lay)
        if cache is not None:
            want.setdefault((locality, rows, cache[0], runs, cache[1], cache[2]), []).append(i)
    # the rows known now are taken now: another thread may clear the memo before they are read
    found = {key: _RANK_HITS.get(key) for key in want}
    missing = [key for key, hit in found.items() if hit is None]
    if len(_RANK_HITS) + len(missing) > 4096:
        _RANK_HITS.clear()
    found.update(_solve_rank_caches(missing))
    for key, idx in want.items():
        out[np.ix_(idx, some)] = found[key]
    return out


#: Hit rates per run length of :func:`_rank_cache_rows`, by (locality, table rows, capacity,
#: run lengths, threshold, persists). Read-only.
_RANK_HITS: dict[tuple, np.ndarray] = {}


def _solve_rank_caches(keys: list[tuple]) -> dict[tuple, np.ndarray]:
    """Hit rates of RankCaches (keys of :data:`_RANK_HITS`) over batches of each run length, into
    the memo and returned: the capacities of one (locality, table rows, run lengths, threshold) together
    (:meth:`~dse.cost.locality.Stream.run_hit_rates_many`). A cache that persists (the table has
    its ranks' caches to itself) keeps its contents from batch to batch (steady state, where the
    host sets the locality bits only where profiling helps: threshold 1 marks every row);
    otherwise other tables' operators evict them in between and every batch starts cold."""
    groups: dict[tuple, list[tuple]] = {}
    solved: dict[tuple, np.ndarray] = {}
    for key in keys:
        locality, rows, _, runs, threshold, _ = key
        groups.setdefault((locality, rows, runs, threshold), []).append(key)
    for (locality, rows, runs, threshold), members in groups.items():
        stream: Stream = parse_locality(locality).stream(rows)
        capacities = sorted({key[2] for key in members})
        cold = dict(zip(capacities, stream.run_hit_rates_many(np.array(capacities), np.array(runs), threshold)))
        kept = sorted({key[2] for key in members if key[5]})
        steady = dict(zip(kept, stream.hit_rates(np.array(kept)).tolist())) if kept else {}
        for key in members:
            capacity, persists = key[2], key[5]
            solved[key] = np.maximum(cold[capacity], steady[capacity]) if persists else cold[capacity]
            _RANK_HITS[key] = solved[key]
    return solved


#: Names of the resources that can bind an NMP operator, in the order ties are broken.
NMP_RESOURCES = ("host packets", "rank DRAM", "rank pooling", "channel bus")


#: One RecNMP setting an operator is timed under: (memory, nmp, engines, host seconds per lookup,
#: locality), the arguments of :func:`nmp_gather_times` after the batch sizes.
NmpCase = tuple[MemorySpec, NmpSpec, int, float, str]


def _case_columns(op: Op, cases: list[NmpCase]) -> tuple[list[Layout], dict[str, np.ndarray]]:
    """The layouts of ``op`` under each case and the per-case constants of :func:`_nmp_work_many`,
    each a column of shape (cases, 1): ranks per group ``g`` (ranks), balancing window cap
    (lookups; inf with table-aware scheduling), a rank's random-row rate (rows/s), pooling cycles
    per row, NMP clock (Hz), returns per pooling, NMP-Insts per clock, clocks per return, psum
    tags, turnaround clocks, channel share, tCK (s), 1/sls_in_flight, group and channel loads,
    host seconds per lookup, latency (s) and profiling overhead (fraction)."""
    lays, rows = [], []
    seen: dict[tuple, tuple[Layout, tuple]] = {}  # cases that differ in their locality alone share a row
    for memory, nmp, engines, host_seconds_per_lookup, _ in cases:
        alike = (id(memory), id(nmp), engines, host_seconds_per_lookup)
        if alike not in seen:
            seen[alike] = _case_row(op, memory, nmp, engines, host_seconds_per_lookup)
        lays.append(seen[alike][0])
        rows.append(seen[alike][1])
    table = np.array(rows, dtype=float).reshape(len(cases), len(_COLUMNS))
    return lays, {name: table[:, i, None] for i, name in enumerate(_COLUMNS)}


def _case_row(
    op: Op, memory: MemorySpec, nmp: NmpSpec, engines: int, host_seconds_per_lookup: float
) -> tuple[Layout, tuple]:
    """The layout of ``op`` under one case and its row of :func:`_case_columns` (units there)."""
    t = memory.timing
    tck = t.tCK_ns * 1e-9
    k = dram.bursts_per_row(memory, op.row_bytes)
    lay = layout(op, memory, nmp, engines)
    f_nmp = nmp.clock_mhz * 1e6
    return lay, (
        lay.group_ranks, math.inf if nmp.table_aware_scheduling else nmp.psum_tags * op.rows_per_item,
        dram.rank_random_read(memory, op.row_bytes).lookups_per_s,
        math.ceil(op.row_bytes / (FP32_BYTES * nmp.adder_lanes)), f_nmp, lay.returns_per_pooling,
        nmp.instructions_per_clock, k * t.tBL + t.tRTRS, nmp.psum_tags, dram.write_read_round_trip_clocks(memory),
        lay.channel_share, tck, 1.0 / nmp.sls_in_flight, lay.group_load, lay.channel_load, host_seconds_per_lookup,
        (t.tBL + t.tRCD + t.CL + k * t.tBL + t.CL + k * t.tBL) * tck + nmp.pipeline_depth / f_nmp,
        nmp.profiling_overhead if nmp.hot_entry_profiling else 0.0,
    )


_COLUMNS = ("g", "window_cap", "rank_rate", "cycles_per_row", "f_nmp", "returns_per_pooling", "ipc", "return_clocks",
            "psum_tags", "turnaround", "channel_share", "tck", "per_op", "group_load", "channel_load",
            "host_seconds_per_lookup", "latency", "overhead")


def _nmp_work_many(
    op: Op, cases: list[NmpCase], b: np.ndarray
) -> tuple[list[Layout], np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The RecNMP timing of ``op`` under every case of ``cases`` over the batch sizes ``b`` (1-D,
    all > 0): the layouts, the RankCache hit rates, each resource's seconds per operator (already
    in the wave, see :func:`nmp_sls_time`), all of shape (cases, batch sizes), and the fixed
    latency (s) and profiling overhead factor, shape (cases, 1). Each element is computed by the
    same operations as for one case alone."""
    lays, c = _case_columns(op, cases)
    lookups = b * op.rows_per_item

    # hit rates memoised per (locality, table, capacity, batch sizes, ...), the new ones solved together
    hit = _rank_cache_rows(op, [(nmp, lay, locality) for (_, nmp, _, _, locality), lay in zip(cases, lays)], b)
    misses = lookups * (1.0 - hit)

    # ranks of a group drift apart by at most psum_tags poolings, unless packets are scheduled
    # per table (then the whole operator is the balancing window: the cap is inf)
    window = np.minimum(lookups, c["window_cap"])
    eta_dram = _balance_rows(window * (1.0 - hit), c["g"])
    eta_pool = _balance_rows(window, c["g"])

    # one operator alone on its ranks ...
    t_rank = (misses / c["g"]) / c["rank_rate"] / eta_dram
    t_pool = (lookups / c["g"]) * c["cycles_per_row"] / c["f_nmp"] / eta_pool
    # the channel: one NMP-Inst per command clock over C/A + DQ, partial sums read back (k bursts
    # and a rank switch each), and a write -> read -> write turnaround every psum_tags poolings
    # (a DIMM holds that many partial sums, so the host must read them back at least that often)
    returns = b * c["returns_per_pooling"]
    instruction_clocks = lookups / c["ipc"]
    return_clocks = returns * c["return_clocks"]
    turnaround_clocks = returns / c["psum_tags"] * c["turnaround"]
    t_bus = (instruction_clocks + return_clocks + turnaround_clocks) * c["channel_share"] * c["tck"]

    # ... and with the operators in flight: an engine's wave of sls_in_flight operators ends when
    # the busiest group / channel is done; each operator is charged its share of the wave
    work = {
        "host packets": lookups * c["host_seconds_per_lookup"],
        "rank DRAM": c["group_load"] * t_rank * c["per_op"],
        "rank pooling": c["group_load"] * t_pool * c["per_op"],
        "channel bus": c["channel_load"] * t_bus * c["per_op"],
    }
    return lays, hit, work, c["latency"], c["overhead"]


def _balance_rows(windows: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """:func:`_balance_efficiencies` of each row of ``windows`` (cases, batch sizes) over its
    ``ranks`` (column, cases × 1), the rows with the same number of ranks together."""
    out = np.empty(windows.shape)
    flat = ranks[:, 0]
    for g in np.unique(flat).tolist():
        rows = flat == g
        out[rows] = _balance_efficiencies(windows[rows], int(g))
    return out


def _nmp_work(
    op: Op, memory: MemorySpec, nmp: NmpSpec, b: np.ndarray, engines: int, host_seconds_per_lookup: float,
    locality: str,
) -> tuple[Layout, np.ndarray, dict[str, np.ndarray], float, float]:
    """:func:`_nmp_work_many` for one case: the layout, the RankCache hit rate per batch size,
    each resource's seconds per operator, the fixed latency (s) and the profiling overhead factor."""
    lays, hit, work, latency, overhead = _nmp_work_many(op, [(memory, nmp, engines, host_seconds_per_lookup, locality)], b)
    return lays[0], hit[0], {name: value[0] for name, value in work.items()}, float(latency[0, 0]), float(overhead[0, 0])


def nmp_sls_time(
    op: Op, memory: MemorySpec, nmp: NmpSpec, batch: float, engines: int = 1, host_seconds_per_lookup: float = 0.0,
    locality: str = DEFAULT_LOCALITY,
) -> SlsTime:
    """Time, hit rate and memory energy of ``op`` on RecNMP DIMMs at ``batch`` items, for the
    index stream ``locality``.

    ``host_seconds_per_lookup``: the engine's core walks the index list and writes one NMP
    instruction per lookup (the cost model passes the platform's per-row gather overhead); this
    overlaps with the DIMMs' work, so the operator takes the longer of the two."""
    _check_op(op)
    nmp.check_against(memory)
    b = float(batch)
    if not b > 0:
        raise DseError(f"batch: {batch} must be positive")
    engines = max(1, int(engines))
    k = dram.bursts_per_row(memory, op.row_bytes)
    lay, hits, arrays, latency, overhead = _nmp_work(op, memory, nmp, np.array([b]), engines, host_seconds_per_lookup,
                                                     locality)
    hit = float(hits[0])
    work = {name: float(arrays[name][0]) for name in NMP_RESOURCES}
    lookups = b * op.rows_per_item
    misses = lookups * (1.0 - hit)
    returns = b * lay.returns_per_pooling
    bound = max(work, key=work.__getitem__)
    busy = work[bound] * (1.0 + overhead)
    seconds = latency + busy
    terms = dict(work)
    terms["latency"] = latency
    terms["profiling"] = work[bound] * overhead

    e = nmp.energy
    dim = op.shape.get("dim", op.row_bytes / FP32_BYTES)
    pj = {
        "activate": misses * dram.activate_energy_pj(memory),
        "read": misses * k * dram.read_burst_energy_pj(memory),
        "dimm io": misses * k * memory.burst_bytes * 8.0 * e.dimm_io_pj_per_bit,
        # every lookup probes its rank's cache: a hit reads the row, a miss fills it
        "rank cache": (lookups * k * e.cache_read_pj_per_64b) if nmp.rank_cache_kb > 0 else 0.0,
        "pooling": lookups * dim * e.add_pj,
        "channel io": dram.channel_io_energy_pj(memory, lookups * nmp.instruction_bits / 8.0 + returns * op.row_bytes),
        # every rank draws background power; this operator is charged its share of the time
        "background": dram.background_power_w(memory) * memory.ranks * (latency + busy) / engines * 1e12,
    }
    energy = {name: value * 1e-12 for name, value in pj.items()}
    return SlsTime(seconds, hit, bound, lookups, terms, sum(energy.values()), energy)


def host_sls_time(op: Op, memory: MemorySpec, batch: float, engines: int = 1, cpu_hit_rate: float = 0.0) -> SlsTime:
    """Memory-system time and energy of ``op`` on the host with conventional channels; rows hit
    in the CPU caches with ``cpu_hit_rate`` (see :func:`cpu_cache_hit_rates`)."""
    if op.row_bytes <= 0 or op.rows_per_item <= 0:
        raise DseError(f"{op.name}: an embedding op needs rows and lookups")
    b = float(batch)
    if b <= 0:
        raise DseError(f"batch: {batch} must be positive")
    engines = max(1, int(engines))
    h = float(min(max(cpu_hit_rate, 0.0), 1.0))
    t = memory.timing
    tck = t.tCK_ns * 1e-9
    k = dram.bursts_per_row(memory, op.row_bytes)
    lookups = b * op.rows_per_item
    misses = lookups * (1.0 - h)
    chan = dram.channel_random_read(memory, op.row_bytes)
    t_mem = misses / (memory.channels * chan.lookups_per_s)
    latency = (t.tRCD + t.CL + k * t.tBL) * tck
    seconds = latency + engines * t_mem
    terms = {f"channel ({chan.bound})": engines * t_mem, "latency": latency}
    # background: all ranks, this operator's share of the time (engines run at once)
    pj = {
        "activate": misses * dram.activate_energy_pj(memory),
        "read": misses * k * dram.read_burst_energy_pj(memory),
        "channel io": dram.channel_io_energy_pj(memory, misses * k * memory.burst_bytes),
        "background": dram.background_power_w(memory) * memory.ranks * (latency + engines * t_mem) / engines * 1e12,
    }
    energy = {name: value * 1e-12 for name, value in pj.items()}
    return SlsTime(seconds, h, f"channel ({chan.bound})", lookups, terms, sum(energy.values()), energy)


def cpu_cache_hit_rates(ops: Iterable[Op], cache_bytes: float, locality: str) -> dict[str, float]:
    """Steady-state hit rate of each embedding op's rows in CPU caches of ``cache_bytes`` shared by
    all the ops' tables, weighted by how often each is looked up (Che's approximation on the union
    of the tables' streams; a shared table counts once). Stack-distance profiles, which have no
    per-row frequencies, split the capacity in proportion to each table's bytes looked up."""
    ops = [op for op in ops if op.rows_per_item > 0 and op.row_bytes > 0]
    if not ops or cache_bytes <= 0:
        return {op.name: 0.0 for op in ops}
    loc = parse_locality(locality)
    tables: dict[str, tuple[Op, float]] = {}
    for op in ops:
        key = op.table or op.name
        prev = tables.get(key)
        tables[key] = (op, (prev[1] if prev else 0.0) + op.rows_per_item)
    total_rate = sum(rate for _, rate in tables.values())
    streams = {key: loc.stream(_table_rows(op)) for key, (op, _) in tables.items()}
    hits: dict[str, float] = {}
    if all(isinstance(s, PopularityStream) for s in streams.values()):
        # one cache of cache_bytes over the union of the tables' rows (rows differ in size)
        keys = list(tables)
        rows_per_bin = np.concatenate([streams[key].counts for key in keys])
        prob = np.concatenate([streams[key].probs * tables[key][1] / total_rate for key in keys])
        size = np.concatenate([np.full(streams[key].counts.shape, tables[key][0].row_bytes) for key in keys])
        owner = np.concatenate([np.full(streams[key].counts.shape, i) for i, key in enumerate(keys)])
        t_char = _union_time(rows_per_bin, prob, size, cache_bytes)
        held = -np.expm1(-prob * t_char) if math.isfinite(t_char) else np.ones_like(prob)
        for i, key in enumerate(keys):
            mask = owner == i
            share = tables[key][1] / total_rate
            hits[key] = float(np.sum(rows_per_bin[mask] * prob[mask] * held[mask]) / share)
    else:
        bytes_rate = {key: rate * op.row_bytes for key, (op, rate) in tables.items()}
        total_bytes = sum(bytes_rate.values())
        for key, (op, _) in tables.items():
            cap = cache_rows(cache_bytes * bytes_rate[key] / total_bytes, op.row_bytes)
            hits[key] = streams[key].hit_rate(cap)
    return {op.name: min(1.0, hits[op.table or op.name]) for op in ops}


def _union_time(counts: np.ndarray, probs: np.ndarray, row_bytes: np.ndarray, cache_bytes: float) -> float:
    """Characteristic time of a byte-capacity LRU over rows of different sizes."""
    total = float(np.sum(counts * row_bytes))
    if cache_bytes >= total * (1 - 1e-12):
        return math.inf

    def filled(lt: float) -> bool:
        return float(np.sum(counts * row_bytes * -np.expm1(-probs * math.exp(lt)))) >= cache_bytes

    mean_row = float(np.sum(counts * probs * row_bytes))
    lo = math.log(cache_bytes / mean_row) - 1e-9
    hi = bracket_log_time(filled, lo)
    if hi is None:
        return math.inf
    return math.exp(occupancy_log_time(counts * row_bytes, probs, cache_bytes, lo, hi))


def sls_speedup(
    ops: Iterable[Op],
    memory: MemorySpec,
    nmp: NmpSpec,
    batch: float,
    engines: int = 1,
    cpu_cache_bytes: float = 0.0,
    locality: str = DEFAULT_LOCALITY,
) -> dict[str, float]:
    """SparseLengthsSum speedup of RecNMP over the host on the same memory system, summed over
    the embedding_bag operators of one inference at ``batch`` items, with the lookup-weighted
    RankCache and CPU-cache hit rates for the index stream ``locality`` and the memory energy of
    both (J per batch)."""
    bags = [op for op in ops if op.kind is OpKind.EMBEDDING_BAG]
    if not bags:
        raise DseError("the model has no embedding_bag (SparseLengthsSum) operators to offload")
    # co-located engines run separate copies of the model (DeepRecSys engines are processes),
    # so the CPU caches hold the hot rows of ``engines`` copies of the tables
    cpu_hits = cpu_cache_hit_rates(bags, cpu_cache_bytes / max(1, int(engines)), locality)
    host = [host_sls_time(op, memory, batch, engines, cpu_hits[op.name]) for op in bags]
    near = [nmp_sls_time(op, memory, nmp, batch, engines, locality=locality) for op in bags]
    lookups = sum(x.lookups for x in near)
    t_host = sum(x.seconds for x in host)
    t_nmp = sum(x.seconds for x in near)
    e_host = sum(x.energy_j for x in host)
    e_nmp = sum(x.energy_j for x in near)
    return {
        "host_s": t_host,
        "nmp_s": t_nmp,
        "sls_speedup": t_host / t_nmp,
        "hit_rate": sum(x.hit_rate * x.lookups for x in near) / lookups,
        "cpu_hit_rate": sum(x.hit_rate * x.lookups for x in host) / lookups,
        "host_energy_j": e_host,
        "nmp_energy_j": e_nmp,
        "energy_saving": 1.0 - e_nmp / e_host if e_host > 0 else 0.0,
    }


def nmp_gather_time(
    op: Op,
    memory: MemorySpec,
    nmp: NmpSpec,
    batch: np.ndarray | float,
    engines: int = 1,
    host_seconds_per_lookup: float = 0.0,
    locality: str = DEFAULT_LOCALITY,
) -> np.ndarray:
    """:func:`nmp_sls_time` seconds over an array of batch sizes (for the cost model).

    Tables of one model are often identical (RMC2 has 32 alike), so results are memoised on
    what the time depends on: the operator's sizes, the memory and NMP specs, batches, engines
    (:func:`remember_nmp_gather_times` fills the memo for many settings at once)."""
    b = np.atleast_1d(np.asarray(batch, dtype=float))
    key = _times_key(op, memory, nmp, b, engines, host_seconds_per_lookup, locality)
    out = _NMP_TIMES.get(key)
    if out is None:
        out = nmp_gather_times(op, memory, nmp, b.reshape(-1), engines, host_seconds_per_lookup, locality)
        _remember(key, out)
    return out.reshape(b.shape)


def remember_nmp_gather_times(op: Op, cases: list[NmpCase], batch: np.ndarray) -> list[np.ndarray | None]:
    """:func:`nmp_gather_time` of ``op`` at the batch sizes ``batch`` (seconds, same shape) for
    every case of ``cases``: those not remembered yet as one (cases, batch sizes) evaluation
    (:func:`nmp_gather_times_many`), and remembered, so that the calls for those cases that follow
    (a sweep's chunk) find them. A case that fails its checks gives None (its own call reports
    the error)."""
    b = np.atleast_1d(np.asarray(batch, dtype=float))
    keys: list[tuple | None] = []
    todo: dict[tuple, NmpCase] = {}
    # the rows already remembered are taken now: remembering the new ones may clear the memo
    rows: dict[tuple, np.ndarray] = {}
    for memory, nmp, engines, host_seconds_per_lookup, locality in cases:
        try:
            nmp.check_against(memory)
        except DseError:
            keys.append(None)
            continue
        key = _times_key(op, memory, nmp, b, engines, host_seconds_per_lookup, locality)
        keys.append(key)
        known = _NMP_TIMES.get(key)
        if known is not None:
            rows[key] = known
        elif key not in todo:
            todo[key] = (memory, nmp, max(1, int(engines)), float(host_seconds_per_lookup), locality)
    if todo:
        for key, row in zip(todo, nmp_gather_times_many(op, list(todo.values()), b.reshape(-1))):
            rows[key] = row
            _remember(key, row)
    return [None if key is None else rows[key].reshape(b.shape) for key in keys]


def _times_key(
    op: Op, memory: MemorySpec, nmp: NmpSpec, b: np.ndarray, engines: int, host_seconds_per_lookup: float, locality: str
) -> tuple:
    """The memo key of :func:`nmp_gather_time`: everything the time depends on."""
    return (
        op.kind, op.row_bytes, op.rows_per_item, op.table_bytes, _table_rows(op), op.shape.get("dim"),
        _dump(memory), _dump(nmp), b.tobytes(), b.shape, int(engines),
        float(host_seconds_per_lookup), locality,
    )


def _remember(key: tuple, seconds: np.ndarray) -> None:
    if len(_NMP_TIMES) > 4096:
        _NMP_TIMES.clear()
    _NMP_TIMES[key] = seconds


_NMP_TIMES: dict[tuple, np.ndarray] = {}
_DUMPS: dict[int, tuple[object, str]] = {}


def _dump(spec: MemorySpec | NmpSpec) -> str:
    """The spec's JSON dump, remembered per object (spec sections are frozen,
    :class:`dse.specs.ranges.Bounded`; the entry holds the object, so its id stays its own)."""
    hit = _DUMPS.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    if len(_DUMPS) >= 4096:
        _DUMPS.clear()
    text = spec.model_dump_json()
    _DUMPS[id(spec)] = (spec, text)
    return text


def nmp_gather_times(
    op: Op,
    memory: MemorySpec,
    nmp: NmpSpec,
    batches: np.ndarray,
    engines: int = 1,
    host_seconds_per_lookup: float = 0.0,
    locality: str = DEFAULT_LOCALITY,
) -> np.ndarray:
    """Seconds of ``op`` on RecNMP DIMMs at every batch size of the 1-D array ``batches``: the
    same model as :func:`nmp_sls_time`, evaluated for the whole array at once (no energy)."""
    _check_op(op)
    nmp.check_against(memory)
    case = (memory, nmp, max(1, int(engines)), host_seconds_per_lookup, locality)
    return nmp_gather_times_many(op, [case], np.asarray(batches, dtype=float).reshape(-1))[0]


def nmp_gather_times_many(op: Op, cases: list[NmpCase], batches: np.ndarray) -> np.ndarray:
    """:func:`nmp_gather_times` for each case of ``cases`` (checked against its memory already),
    shape (cases, batch sizes), seconds: one array evaluation for all of them, each element by
    the same operations as for its case alone."""
    _check_op(op)
    b = np.asarray(batches, dtype=float).reshape(-1)
    if b.size == 0:
        return np.zeros((len(cases), 0))
    if not np.all(b > 0):
        raise DseError("batch sizes must be positive")
    _, _, work, latency, overhead = _nmp_work_many(op, cases, b)
    busy = np.max(np.stack([work[name] for name in NMP_RESOURCES]), axis=0)
    return latency + busy * (1.0 + overhead)


def offloads(op: Op) -> bool:
    """Whether RecNMP runs ``op``: pooled lookups (SparseLengthsSum / EmbeddingBag) only; an
    unpooled embedding (a sequence) returns every row, which near-memory pooling cannot shrink."""
    return op.kind is OpKind.EMBEDDING_BAG and op.rows_per_item > 0 and op.row_bytes > 0


def runs_in_memory(op: Op, platform) -> bool:
    """Whether ``platform`` (a :class:`~dse.specs.hardware.Platform`) runs ``op`` in its RecNMP
    DIMMs: a platform of kind ``nmp`` with an enabled NMP section, and an operator it offloads.
    The host then neither gathers nor pools that operator's rows."""
    nmp = getattr(platform, "nmp", None)
    return (
        getattr(platform, "kind", None) == "nmp"
        and nmp is not None
        and nmp.enabled
        and getattr(platform, "memory", None) is not None
        and offloads(op)
    )


def host_cache_fractions(op: Op, platform, engines: int, footprint_bytes: float, uniform: list, locality: str) -> list:
    """Share of a host's random row fetches served by each cache level and by DRAM, from the
    workload's index-stream ``locality`` instead of uniform residency; ``uniform`` (the CPU
    model's fractions) is returned unchanged when the stream is uniform.

    The tables competing for the caches (``footprint_bytes``) are taken as copies of this one, so
    this table gets capacity × table / footprint of every level (exact for the DeepRecSys models,
    whose tables are alike); LRU hit rates by Che's approximation, steady state."""
    if op.row_bytes <= 0 or op.table_bytes <= 0:
        return uniform
    loc = parse_locality(locality)
    if loc.kind == "uniform":
        return uniform
    from dse.cost.share import cache_capacities  # local import: dse.cost.share needs hardware specs

    share = op.table_bytes / max(float(footprint_bytes or 0.0), op.table_bytes)
    stream = loc.stream(_table_rows(op))
    held = stream.hit_rates(np.array([cache_rows(cap * share, op.row_bytes) for cap in cache_capacities(platform, engines)]))
    held = held.tolist()
    like = np.asarray(uniform[0], dtype=float)
    out, above = [], 0.0
    for h in held:
        h = max(h, above)
        out.append(np.full_like(like, h - above))
        above = h
    out.append(np.full_like(like, 1.0 - above))
    return out

