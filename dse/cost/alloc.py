"""Allocator page faults: the first touch of freshly mapped memory (CPU).

An eager framework allocates every output and intermediate tensor on every call. Small tensors
come back from the allocator's free lists, pages already mapped; a tensor above the allocator's
threshold (glibc: the mmap threshold, adaptive up to 32 MiB, and the heap trim threshold) is
mapped fresh on every call and unmapped when freed, so every page of it takes a page fault and
is zeroed by the kernel on first touch. Per operator at batch b::

    alloc = page_fault_ns_per_kib × Σ_{tensors t, bytes_t(b) > threshold} bytes_t(b) / KiB

where the tensors are the operator's ``allocations`` (bytes per item × b, see
``dse/graph/ops.py``). Only CPU-side platforms (``cpu``, ``nmp``) pay it, and only when
``allocator.page_fault_ns_per_kib`` > 0 (default 0: off). The term is non-decreasing in b.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from dse.graph.ops import Op
from dse.specs.hardware import Platform

KIB = 1024.0
MIB = 2.0**20


def fresh_bytes(op: Op, platform: Platform, batch: ArrayLike) -> np.ndarray:
    """Bytes of ``op``'s per-call tensors that exceed the allocator threshold, at each batch size."""
    b = np.asarray(batch, dtype=float)
    threshold = platform.allocator.fresh_threshold_mib * MIB
    out = np.zeros_like(b)
    for per_item, count in op.allocations:
        size = per_item * b
        out += np.where(size > threshold, size * count, 0.0)
    return out


def alloc_time(op: Op, platform: Platform, batch: ArrayLike) -> np.ndarray:
    """Seconds of page faults and zeroing for the freshly mapped tensors of one call of ``op``."""
    b = np.asarray(batch, dtype=float)
    rate = platform.allocator.page_fault_ns_per_kib
    if rate <= 0 or platform.kind not in ("cpu", "nmp") or not op.allocations:
        return np.zeros_like(b)
    return fresh_bytes(op, platform, b) / KIB * rate * 1e-9
