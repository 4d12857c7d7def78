"""What RecNMP DIMMs buy a model over a grid of ranks and RankCache sizes (the ``dse nmp`` table).

For every (ranks, cache) point an NMP platform is compared with the same host without NMP, on the
same memory system and locality:

- the SparseLengthsSum memory-latency speedup (:func:`dse.cost.nmp.sls_speedup`: host channels
  and CPU caches against the NMP DIMMs);
- the end-to-end latency speedup of one inference of ``batch`` items (the cost model's normal
  path, :func:`dse.cost.model.predict_latency`, ``engines`` engines busy);
- the RankCache hit rate and the memory-energy saving.

Used by ``dse nmp`` (dse/commands/nmp.py) and the ``nmp`` group of ``dse validate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dse.cost.model import predict_latency
from dse.cost.nmp import sls_speedup
from dse.cost.share import MIB, engines_per_socket
from dse.errors import DseError
from dse.settings import RECNMP_LOCALITY
from dse.graph import load_graph, ordered_ops
from dse.graph.ops import Op, OpKind
from dse.specs.hardware import Platform, load_platform

if TYPE_CHECKING:  # annotations only: networkx costs ~0.3 s to import and no cost formula needs it
    import networkx as nx

#: Ranks working in parallel per channel, and RankCache KB per rank, when none are given.
DEFAULT_RANKS = (1, 2, 4, 8)
DEFAULT_CACHE_KB = (0.0, 8.0, 32.0, 128.0)


def rank_split(ranks: int, per_dimm: int) -> tuple[int, int]:
    """Ranks working in parallel per channel -> (DIMMs per channel, ranks per DIMM), keeping the
    platform's ranks per DIMM where it divides (8 = 4 DIMMs x 2 ranks, the paper's setting)."""
    if ranks <= per_dimm:
        return 1, ranks
    if ranks % per_dimm:
        raise DseError(f"--ranks: {ranks} is not a multiple of the platform's {per_dimm} ranks per DIMM")
    return ranks // per_dimm, per_dimm


def _nmp_base(platform: str, overrides: list[str] | None, engines: int | None) -> tuple[Platform, int]:
    """The NMP platform as given and the number of co-located engines (default: every slot)."""
    base = load_platform(platform, overrides)
    if base.nmp is None or base.memory is None:
        raise DseError(f"{platform}: not an NMP platform (it needs nmp: and memory: sections; try skylake_recnmp)")
    n_engines = base.compute.engine_slots if engines is None else int(engines)
    if n_engines < 1:
        raise DseError(f"--engines: {n_engines} must be at least 1")
    return base, n_engines


def nmp_point(
    graph: nx.DiGraph,
    ops: list[Op],
    platform: str,
    overrides: list[str] | None,
    point: tuple[int, int, int, float],
    locality: str,
    batch: int,
    n_engines: int,
) -> dict[str, Any]:
    """One row of the table; ``point``: (ranks, DIMMs per channel, ranks per DIMM, cache KB).
    Latencies in ms, memory energy in microjoules per item."""
    ranks, dimms, per_dimm, kb = point
    n_bags = sum(1 for op in ops if op.kind is OpKind.EMBEDDING_BAG)
    sets = list(overrides or []) + [
        f"memory.dimms_per_channel={dimms}",
        f"memory.ranks_per_dimm={per_dimm}",
        f"nmp.rank_cache_kb={kb}",
        f"nmp.sls_in_flight={n_bags}",
        "nmp.enabled=true",
        "kind=nmp",
    ]
    near = load_platform(platform, sets)
    host = load_platform(platform, sets[:-2] + ["nmp.enabled=false", "kind=cpu"])
    e = engines_per_socket(near, n_engines)
    cpu_cache = sum(c.size_mib * MIB * (1 if c.shared else e * near.compute.engine_cores) for c in near.caches)
    sls = sls_speedup(ops, near.memory, near.nmp, batch, e, cpu_cache, locality)
    t_host = predict_latency(graph, host, batch, n_engines, locality=locality).latency_s
    t_near = predict_latency(graph, near, batch, n_engines, locality=locality).latency_s
    return {
        "ranks": ranks,
        "cache_kb": kb,
        "locality": locality,
        "sls_speedup": sls["sls_speedup"],
        "latency_speedup": t_host / t_near,
        "hit_rate": sls["hit_rate"],
        "dimms_per_channel": dimms,
        "ranks_per_dimm": per_dimm,
        "cpu_hit_rate": sls["cpu_hit_rate"],
        "host_latency_ms": t_host * 1e3,
        "nmp_latency_ms": t_near * 1e3,
        "memory_energy_saving": sls["energy_saving"],
        "host_memory_energy_uj_per_item": sls["host_energy_j"] / batch * 1e6,
        "nmp_memory_energy_uj_per_item": sls["nmp_energy_j"] / batch * 1e6,
    }


def nmp_points(
    model: str,
    platform: str = "skylake_recnmp",
    ranks: list[int] | None = None,
    cache_kb: list[float] | None = None,
    locality: str = RECNMP_LOCALITY,
    batch: int = 256,
    engines: int | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """The ``dse nmp`` table as a dict: ``model``, ``platform``, ``batch``, ``engines``,
    ``channels`` and one :func:`nmp_point` per (ranks, cache KB) in ``points``, ranks outermost.

    ``ranks``: ranks working in parallel per channel (default :data:`DEFAULT_RANKS`); ``cache_kb``:
    RankCache per rank, KB (default :data:`DEFAULT_CACHE_KB`); ``locality``: the workload's index
    stream, by default RecNMP's production-like ``zipf:1.05``; ``engines``: co-located engines,
    default one per engine slot."""
    if batch < 1:
        raise DseError(f"--batch: {batch} must be positive")
    graph = load_graph(model)
    ops = ordered_ops(graph)
    if not any(op.kind is OpKind.EMBEDDING_BAG for op in ops):
        raise DseError(f"{graph.graph['model']}: no embedding_bag (SparseLengthsSum) operators to run near memory")
    base, n_engines = _nmp_base(platform, overrides, engines)
    points = []
    for r in ranks or DEFAULT_RANKS:
        dimms, per_dimm = rank_split(r, base.memory.ranks_per_dimm)
        for kb in cache_kb if cache_kb is not None else DEFAULT_CACHE_KB:
            points.append(nmp_point(graph, ops, platform, overrides, (r, dimms, per_dimm, kb), locality, batch, n_engines))
    return {
        "model": graph.graph["model"],
        "platform": base.name,
        "batch": batch,
        "engines": n_engines,
        "channels": base.memory.channels,
        "points": points,
    }
