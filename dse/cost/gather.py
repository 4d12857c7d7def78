"""Time of the irregular gathers of embedding lookups (EmbeddingBag / SparseLengthsSum).

Gathers are not streams. Per looked-up row (``R = op.rows_touched(b)`` rows per call, each
``L = ceil(row_bytes / line_bytes)`` lines):

    t_row = row_overhead + irr · t_random + (1 - irr) · t_local

- ``irr`` (``op.irregularity``): fraction of fetches that are independent random accesses; the
  rest have reuse or spatial locality and are served from the nearest cache (``t_local``).
- ``t_random`` = TLB term + Σ_levels hit_i · L · line_ns_i + miss · t_dram. The hit fractions
  follow the footprint W of the tables against each level's capacity (uniform indices:
  ``min(1, C / W)``). W is all tables of the model (a request visits every table, so they evict
  each other); shared levels are split between co-located engines.
- A DRAM row costs the latency of each of its lines divided by the memory-level parallelism in
  use, or its share of the socket's random-fetch bandwidth if that is slower:
  ``t_dram = max(L · latency / mlp(R), L · line / B_random_share)``.
  ``mlp(R) = max(1, outstanding_misses · R / (R + ramp_rows))``: a call with few rows cannot fill
  the miss queue; ``B_random_share`` is the engine's share of the socket's random-fetch bandwidth,
  which is where N co-located engines slow each other down.
- Page walks across tables (CPU): a call on a table whose page-table lines the model's other
  tables evicted first-touches ``P (1 - exp(-R / P))`` of its ``P`` page-table lines, each at
  ``walk_line_ns`` where the tables miss the caches (:func:`page_walk_call_time`). Fitted on the
  CI machine (a KVM guest: two-dimensional walks); the bare-metal server specs set it to 0.
- TLB: a table larger than the TLB reach pays ``tlb_miss_ns · (1 - reach / table_bytes)`` per row
  (one call's lookups stay inside its table), and ``tlb_call_us · (1 - reach / table_bytes)`` once
  per call when the model's other tables evicted this table's translations since its last call:
  on a GPU the page walks that fresh random indices start overlap one another, so the call waits
  for them about once whatever its number of rows (the H200's cold-index runs of RMC1 and WnD
  pay a constant ~0.3-0.4 ms per inference over their warm runs; NCF, whose tables are far
  smaller, pays nothing). The walks are in flight together with the call's row fetches, so the
  call costs ``max(R · t_row, t_walks)``, not their sum: the wait shows only while the fetches
  are shorter (RMC2 at b = 4096, 82 µs of fetches per table against a 44 µs wait, runs as fast
  cold as warm).

:func:`gather_time` is the single entry point the operator model calls for every embedding op;
a near-memory platform routes to its own model here.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from dse.cost.share import MIB, engines_per_socket, dram_random_bandwidth, dram_stream_bandwidth, level_fractions
from dse.cost.nmp import host_cache_fractions
from dse.graph.ops import Op
from dse.settings import DEFAULT_LOCALITY
from dse.specs.hardware import Platform


def lines_per_row(op: Op, platform: Platform) -> int:
    """Cache lines (GPU: sectors) touched by one row of ``op.row_bytes`` bytes, aligned rows."""
    return max(1, math.ceil(op.row_bytes / platform.dram.line_bytes))


def memory_parallelism(platform: Platform, rows: ArrayLike) -> np.ndarray:
    """Misses in flight for a call that fetches ``rows`` independent rows (dimensionless, >= 1)."""
    r = np.maximum(np.asarray(rows, dtype=float), 0.0)
    ramp = platform.gather.ramp_rows
    in_use = r / (r + ramp) if ramp > 0 else np.ones_like(r)
    return np.maximum(1.0, platform.dram.outstanding_misses * in_use)


def dram_row_time(op: Op, platform: Platform, rows: ArrayLike, engines: int = 1) -> np.ndarray:
    """Seconds per row fetched from DRAM at random, for a call of ``rows`` rows.

    The bandwidth term is the engine's share of the socket's random-fetch bandwidth, each line a
    random fetch. On a platform that describes its DDR channels (a ``memory:`` section: the
    HPCA 2020 servers, the RecNMP platform and its host-only baseline) the share is instead that
    of the channels' derived random-row rate (:func:`dse.cost.dram.channel_random_read`): the
    lines of one row lie in one DRAM page, so a row costs one activate and k bursts rather than k
    activates — the same derivation as the RecNMP model's host baseline
    (:func:`dse.cost.nmp.host_sls_time`), scaled by ``dram.peak_bandwidth_gbs`` over the
    channels' own peak (1 for a consistent spec; a sweep over the DRAM peak moves it)."""
    d = platform.dram
    lines = lines_per_row(op, platform)
    # every line of a random row is a miss that holds a fill buffer for a whole latency (the
    # adjacent-line prefetcher's help is folded into the fitted parallelism)
    latency_bound = lines * d.latency_ns * 1e-9 / memory_parallelism(platform, rows)
    memory = getattr(platform, "memory", None)
    if memory is not None and op.row_bytes > 0:
        from dse.cost.dram import channel_random_read

        rows_per_s = memory.channels * channel_random_read(memory, op.row_bytes).lookups_per_s
        # the channels give the efficiency for this row size; the socket's DRAM peak gives the scale
        # (equal for a consistent spec), so that a sweep over dram.peak_bandwidth_gbs moves gathers too
        rows_per_s *= d.peak_bandwidth_gbs * 1e9 / (memory.channels * memory.channel_peak_bandwidth)
        bandwidth_bound = engines_per_socket(platform, engines) / rows_per_s
    else:
        bandwidth_bound = lines * d.line_bytes / dram_random_bandwidth(platform, engines)
    return np.maximum(latency_bound, bandwidth_bound)


def random_row_time(
    op: Op, platform: Platform, rows: ArrayLike, engines: int = 1, footprint_bytes: float | None = None,
    locality: str = DEFAULT_LOCALITY, working_set: ArrayLike | None = None,
) -> np.ndarray:
    """Seconds per independent random row: TLB, cache hits by level, DRAM misses.

    ``footprint_bytes``: the bytes competing for the caches (all tables of the model, which one
    request visits one after another); default: this op's table. The TLB term uses the op's
    own table: a call's lookups stay inside it. ``working_set`` (a harness that cycles a few
    batches, dse/cost/cycled.py): the bytes read again every inference, one per entry of
    ``rows``; the rows' residency follows them instead of the tables (the TLB term does not: the
    cycle's rows lie on as many pages as fresh ones).
    """
    lines = lines_per_row(op, platform)
    table = max(op.table_bytes, 1.0)
    competing = max(footprint_bytes or 0.0, table)
    g = platform.gather
    # within one call the TLB sees this table only; the caches keep what earlier calls to the
    # other tables left, so their hit rate follows all the tables
    tlb = g.tlb_miss_ns * 1e-9 * max(0.0, 1.0 - g.tlb_reach_mib * MIB / table)
    if working_set is not None:
        fractions = level_fractions(np.broadcast_to(np.asarray(working_set, dtype=float), np.shape(rows)), platform, engines)
    else:
        fractions = level_fractions(np.full_like(np.asarray(rows, dtype=float), competing), platform, engines)
        fractions = host_cache_fractions(op, platform, engines, competing, fractions, locality)  # skewed index streams
    dram = dram_row_time(op, platform, rows, engines)
    t = tlb + fractions[-1] * dram
    # a hit is never slower than the level behind it: fitted line times of neighbouring levels
    # can cross where the data barely constrain them, and a crossing would make a larger cache
    # share (fewer co-located engines) slow a lookup down
    behind = dram
    for frac, level in reversed(list(zip(fractions[:-1], platform.caches))):
        behind = np.minimum(lines * level.line_ns * 1e-9, behind)
        t = t + frac * behind
    return t


def local_row_time(op: Op, platform: Platform, engines: int = 1) -> float:
    """Seconds per row with locality: streamed from the nearest cache (or DRAM if there is none)."""
    if platform.caches:
        return op.row_bytes / (platform.caches[0].bandwidth_gbs * 1e9)
    return op.row_bytes / dram_stream_bandwidth(platform, engines)


def _other_tables_compete(op: Op, footprint_bytes: float | None) -> bool:
    """Whether other tables of the model evict ``op``'s translations between its calls: it looks
    rows up and the tables' footprint is larger than its own table."""
    table = max(op.table_bytes, 1.0)
    return op.rows_per_item > 0 and bool(footprint_bytes) and footprint_bytes > table * (1 + 1e-9)


def translation_call_time(op: Op, platform: Platform, footprint_bytes: float | None = None) -> float:
    """Seconds per call spent waiting for the page walks of a table beyond the TLB reach (the
    call's row fetches overlap it: :func:`host_gather_time` takes the larger of the two).

    Paid only when other tables compete (``footprint_bytes`` > the op's table): between two calls
    on this table the model's other tables evict its translations. A microbenchmark that calls
    one table over and over keeps them (the H200's single-table ``gather_cold`` rows show no such
    cost while the cold model runs of RMC1 and WnD do).
    """
    g = platform.gather
    table = max(op.table_bytes, 1.0)
    if g.tlb_call_us <= 0 or not _other_tables_compete(op, footprint_bytes):
        return 0.0
    return g.tlb_call_us * 1e-6 * op.irregularity * max(0.0, 1.0 - g.tlb_reach_mib * MIB / table)


def page_walk_call_time(
    op: Op, platform: Platform, rows: ArrayLike, engines: int = 1, footprint_bytes: float | None = None
) -> np.ndarray:
    """Seconds per call spent fetching page-table lines that the model's other tables evicted (CPU).

    Between two calls on a table, the calls on the model's other tables evict the cache lines of
    its page table along with its data. A call of ``R`` random rows on a table of ``P`` page-table
    lines (``table_bytes / page`` entries of 8 B, 8 to a 64 B line) first-touches
    ``P (1 - exp(-R / P))`` of them; each costs ``walk_line_ns`` where the tables' footprint
    misses the caches (the DRAM fraction of a random access to ``footprint_bytes``). Later rows on
    the same page-table line find it cached, so the cost per row falls as the call grows: this is
    why a model with many large tables gains more from batching than a single-table
    microbenchmark shows (one table called over and over keeps its page table cached; no cost).
    """
    g = platform.gather
    r = np.asarray(rows, dtype=float)
    table = max(op.table_bytes, 1.0)
    if g.walk_line_ns <= 0 or not _other_tables_compete(op, footprint_bytes):
        return np.zeros_like(r)
    pt_lines = max(1.0, table / (g.page_kib * 1024.0) / (platform.dram.line_bytes / 8.0))
    touched = pt_lines * -np.expm1(-op.irregularity * r / pt_lines)
    missing = level_fractions(np.full_like(r, float(footprint_bytes)), platform, engines)[-1]
    return g.walk_line_ns * 1e-9 * touched * missing


def host_gather_time(
    op: Op, platform: Platform, batch: ArrayLike, engines: int = 1, footprint_bytes: float | None = None,
    locality: str = DEFAULT_LOCALITY, working_set: ArrayLike | None = None,
) -> np.ndarray:
    """Seconds to gather ``op``'s rows through the platform's own cache hierarchy and DRAM:
    ``max(R · t_row, translation wait) + page walks (CPU)``.

    ``working_set``: see :func:`random_row_time`; with it the per-call translation wait
    (``tlb_call_us``) is not paid: it is the cost of fresh indices (fitted as the H200's cold
    minus warm runs), while the page walks of the CPU terms stay (ci_cpu's warm runs keep them)."""
    b = np.asarray(batch, dtype=float)
    rows = np.asarray(op.rows_touched(b), dtype=float)
    if op.rows_per_item <= 0:
        return np.zeros_like(b)
    irr = op.irregularity
    per_row = platform.gather.row_overhead_ns * 1e-9 + irr * random_row_time(
        op, platform, rows, engines, footprint_bytes, locality, working_set)
    per_row = per_row + (1.0 - irr) * local_row_time(op, platform, engines)
    fetch = rows * per_row
    if working_set is None:
        # the page walks that fresh indices start are in flight together with the call's row
        # fetches: the call waits for them only while its fetches are shorter (overlap, not a sum)
        fetch = np.maximum(fetch, translation_call_time(op, platform, footprint_bytes))
    return fetch + page_walk_call_time(op, platform, rows, engines, footprint_bytes)


def gather_time(
    op: Op, platform: Platform, batch: ArrayLike, engines: int = 1, footprint_bytes: float | None = None,
    locality: str = DEFAULT_LOCALITY, working_set: ArrayLike | None = None,
) -> np.ndarray:
    """Seconds of irregular gathering for an embedding op at each batch size on one engine.

    ``footprint_bytes`` (optional): bytes of all the tables that compete for the caches (the
    operator model passes the model's total table memory); default: this op's table.
    ``locality``: the workload's index stream (``uniform``, ``zipf:ALPHA``, ``file:PATH``).
    ``working_set`` (optional, one per batch size): a harness cycles a few pre-generated
    batches, whose rows and the net's weights are all an inference reads again
    (:mod:`dse.cost.cycled`); it replaces the tables' footprint and ``locality`` for residency.

    The hook for near-memory processing: a platform of kind ``nmp`` with an NMP unit runs the
    pooled lookups in the DIMMs (dse/cost/nmp.py); other ops gather like on its host.
    """
    from dse.cost.nmp import nmp_gather_time, runs_in_memory

    if runs_in_memory(op, platform):
        memory, nmp, nmp_engines, per_lookup, _ = _nmp_case(platform, engines, locality)
        return nmp_gather_time(op, memory, nmp, batch, nmp_engines, per_lookup, locality)
    return host_gather_time(op, platform, batch, engines, footprint_bytes, locality, working_set)


def remember_gather_times(
    op: Op, cases: list[tuple[Platform, str]], batch: ArrayLike, engines: int = 1
) -> list[np.ndarray | None]:
    """The gather times of ``op`` at ``batch`` (seconds, same shape) on every (platform, locality)
    of ``cases`` whose platform runs it in RecNMP DIMMs, computed together and remembered
    (:func:`dse.cost.nmp.remember_nmp_gather_times`): a sweep's chunk announces its
    configurations, and each :func:`gather_time` that follows finds its row. None for the other
    cases (their gathers are left to :func:`gather_time`) and for a case that fails its checks."""
    from dse.cost.nmp import remember_nmp_gather_times, runs_in_memory

    near = [i for i, (platform, _) in enumerate(cases) if runs_in_memory(op, platform)]
    out: list[np.ndarray | None] = [None] * len(cases)
    if near:
        settings = [_nmp_case(cases[i][0], engines, cases[i][1]) for i in near]
        for i, row in zip(near, remember_nmp_gather_times(op, settings, np.asarray(batch, dtype=float))):
            out[i] = row
    return out


def _nmp_case(platform: Platform, engines: int, locality: str) -> tuple:
    """The RecNMP setting of an NMP platform's gathers (a :data:`dse.cost.nmp.NmpCase`): its
    memory and NMP sections, the engines on one socket, and the seconds the core spends writing
    one instruction per lookup (its per-row gather overhead)."""
    per_lookup = platform.gather.row_overhead_ns * 1e-9
    return platform.memory, platform.nmp, engines_per_socket(platform, engines), per_lookup, locality
