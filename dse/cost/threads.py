"""Several threads inside one operator call (a multi-threaded BLAS GEMM, a parallel embedding op).

The software stack says how many threads an FC/GEMM call (``gemm.threads``) and an embedding
call (``embedding_threads``) may use; they get at most the cores the other engines leave free.
With ``T`` threads the call's device time becomes::

    t(T) = t(1) / (1 + (T - 1) × parallel_efficiency)     plus fork_join_us per call when T > 1

(``parallel_efficiency`` and ``fork_join_us`` measured at 1 and 2 threads, ``dse measure --micro
--kinds stack``; docs/stacks.md). CPUs only: a GPU engine already uses the whole device.
"""

from __future__ import annotations

from dse.graph.ops import Op, OpKind
from dse.specs.hardware import Platform

#: Operator kinds whose calls run on the stack's GEMM threads, and on its embedding threads.
GEMM_THREAD_KINDS = {OpKind.FC}
EMBEDDING_THREAD_KINDS = {OpKind.EMBEDDING_BAG, OpKind.EMBEDDING}


def call_threads(op: Op, platform: Platform, engines: int) -> int:
    """Threads one call of ``op`` uses on ``platform`` while ``engines`` engines run (>= 1)."""
    software = platform.software
    if software is None or platform.kind == "gpu":
        return 1
    if op.kind in GEMM_THREAD_KINDS:
        wanted = software.gemm.threads
    elif op.kind in EMBEDDING_THREAD_KINDS:
        wanted = software.embedding_threads
    else:
        return 1
    cores = platform.compute.cores * platform.compute.sockets
    free = max(1, cores // max(1, int(engines)))
    return free if wanted == "all" else max(1, min(int(wanted), free))


def thread_speedup(platform: Platform, threads: int) -> float:
    """How much faster a call's device time runs on ``threads`` threads (1 for one thread)."""
    if threads <= 1 or platform.software is None:
        return 1.0
    return 1.0 + (threads - 1) * platform.software.gemm.parallel_efficiency


def fork_join_seconds(platform: Platform, threads: int) -> float:
    """Per-call cost of waking and joining ``threads`` threads (0 for one thread), seconds."""
    if threads <= 1 or platform.software is None:
        return 0.0
    return platform.software.gemm.fork_join_us * 1e-6
