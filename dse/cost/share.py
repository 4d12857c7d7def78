"""What one engine gets of a machine's shared resources when ``engines`` run at once.

DeepRecSys runs N single-threaded engines side by side (CPU), or one query at a time per
accelerator. Co-located engines compete for what a socket shares: DRAM bandwidth (streaming and
random) and the shared cache levels. They are spread evenly over sockets, so a socket hosts
ceil(N / sockets) of them. Cores are not shared until there are more engines than cores; past
that point engines time-share them (on a GPU, whose engine is the whole device, any N > 1 does).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from dse.specs.hardware import Platform

MIB = float(2**20)


def engines_per_socket(platform: Platform, engines: int) -> int:
    """Engines sharing one socket's memory system and shared caches."""
    return max(1, math.ceil(engines / platform.compute.sockets))


def compute_share(platform: Platform, engines: int) -> float:
    """Fraction of its cores an engine really gets (1 unless cores are oversubscribed)."""
    return min(1.0, platform.compute.engine_slots / max(1, engines))


def engine_flops(platform: Platform, engines: int) -> float:
    """Peak FP32 FLOP/s available to one engine, FLOP/s."""
    c = platform.compute
    return c.core_peak_flops * c.engine_cores * compute_share(platform, engines)


def dram_stream_bandwidth(platform: Platform, engines: int) -> float:
    """Streaming DRAM bandwidth of one engine, bytes/s: its own limit or its share of the socket's."""
    d = platform.dram
    return min(d.engine_bandwidth_gbs * 1e9, d.stream_bandwidth / engines_per_socket(platform, engines))


def dram_random_bandwidth(platform: Platform, engines: int) -> float:
    """One engine's share of the socket's bandwidth for random line fetches, bytes/s."""
    return platform.dram.random_bandwidth / engines_per_socket(platform, engines)


def cache_capacities(platform: Platform, engines: int, sizes_mib: list[np.ndarray] | None = None) -> list:
    """Bytes of each cache level available to one engine (shared levels split between engines).

    Returned cumulatively non-decreasing, nearest level first, so that the fraction of a
    footprint held "at or above" a level is ``min(1, capacity / footprint)``. ``sizes_mib``
    (one array per level): the levels' sizes of several platforms alike but for them, MiB; the
    capacities are then arrays of that shape (:func:`dse.cost.model.dense_totals`).
    """
    per_socket = engines_per_socket(platform, engines)
    out: list = []
    for i, level in enumerate(platform.caches):
        size = (level.size_mib if sizes_mib is None else sizes_mib[i]) * MIB
        cap = size / per_socket if level.shared else size * platform.compute.engine_cores
        prev = out[-1] if out else 0.0
        out.append(max(cap, prev) if sizes_mib is None else np.maximum(cap, prev))
    return out


def level_fractions(footprint: ArrayLike, platform: Platform, engines: int, capacities: list | None = None) -> list[np.ndarray]:
    """Fraction of accesses to a ``footprint``-byte working set served by each cache level and DRAM.

    Uniform access over the footprint with capacity-proportional residency: level i holds
    ``min(1, C_i / F)`` of it and serves what nearer levels do not. The last entry is DRAM.
    ``capacities``: :func:`cache_capacities`' answer when already known (arrays broadcast).
    """
    f = np.maximum(np.asarray(footprint, dtype=float), 1.0)
    held_above = np.zeros_like(f)
    fractions: list[np.ndarray] = []
    for cap in cache_capacities(platform, engines) if capacities is None else capacities:
        held = np.minimum(1.0, cap / f)
        fractions.append(held - held_above)
        held_above = held
    fractions.append(1.0 - held_above)
    return fractions
