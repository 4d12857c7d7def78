"""Compute and streamed-bytes time of one operator (the two roofline terms).

compute time = FLOPs / (engine peak FLOP/s × efficiency), where GEMM-like operators use the
platform's size-dependent GEMM efficiency and the others its vector efficiency;
stream time   = Σ over memory levels of bytes served there / that level's bandwidth, where the
share of each level follows the operator's footprint (weights + activations) against the caches.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from dse.cost.share import dram_stream_bandwidth, engine_flops, level_fractions
from dse.graph.ops import Op, OpKind
from dse.specs.hardware import GemmEfficiency, Platform

#: Operator kinds whose arithmetic is a (batched) GEMM and follows the GEMM efficiency curve.
GEMM_KINDS = {OpKind.FC, OpKind.ATTENTION, OpKind.GRU, OpKind.INTERACTION}


def gemm_efficiency(gemm: GemmEfficiency, m: ArrayLike, flops: ArrayLike) -> np.ndarray:
    """Fraction of peak reached by a GEMM with ``m`` activation rows and ``flops`` FLOPs per call.

    ``peak_fraction / (1 + m_half/m + flops_half/F)`` (dimensionless): rises with size towards
    ``peak_fraction`` and never exceeds it. Equivalently the GEMM costs the time of
    ``F·(1 + m_half/m) + flops_half`` FLOPs at ``peak_fraction`` of peak: ``m_half`` rows' worth of
    partly filled register tiles, ``flops_half`` FLOPs' worth of filling the machine. That form
    keeps the time non-decreasing in the batch (a product of two saturating terms would not).
    """
    m = np.maximum(np.asarray(m, dtype=float), 1e-12)
    f = np.maximum(np.asarray(flops, dtype=float), 1e-12)
    return gemm.peak_fraction / (1.0 + gemm.m_half / m + gemm.flops_half / f)


def gemm_seconds(gemm: GemmEfficiency, peak: float, m: ArrayLike, flops: ArrayLike, calls: int = 1) -> np.ndarray:
    """Seconds of ``flops`` FLOPs run as ``calls`` equal GEMM calls of ``m`` activation rows on an
    engine of ``peak`` FLOP/s (:func:`gemm_efficiency` of one call's size)."""
    flops = np.asarray(flops, dtype=float)
    return flops / (peak * gemm_efficiency(gemm, m, flops / calls))


def gemm_rows(op: Op, batch: np.ndarray) -> np.ndarray:
    """Rows of the activation operand of one GEMM call (batch, or batch × sequence steps)."""
    if op.kind is OpKind.ATTENTION:
        return batch * float(op.shape.get("steps", 1))
    if op.kind is OpKind.INTERACTION:
        return batch * float(op.shape.get("vectors", 1))
    return batch  # FC; a GRU step multiplies a batch of hidden states


def compute_time(op: Op, platform: Platform, batch: ArrayLike, engines: int = 1) -> np.ndarray:
    """Seconds of arithmetic for ``op`` at each batch size on one engine."""
    b = np.asarray(batch, dtype=float)
    flops = np.asarray(op.flops(b), dtype=float)
    peak = engine_flops(platform, engines)
    if op.kind in GEMM_KINDS and op.flops_per_item > 0:
        # a recurrent op runs one GEMM per step: the per-call size is the work of one step
        return gemm_seconds(platform.compute.gemm, peak, gemm_rows(op, b), flops, max(1, op.sequential_steps))
    return flops / (peak * platform.compute.vector_efficiency)


def pack_share(gemm: GemmEfficiency, m: ArrayLike) -> np.ndarray:
    """Share (0..1) of the packing passes a GEMM with ``m`` activation rows pays: none as a GEMV
    (m = 1), rising linearly to all of them at ``pack_rows`` rows. Why a ramp and not a step: on
    both measured CPUs an FC-heavy model at b = 2 costs barely more than at b = 1, at b = 4 about
    half and at b = 8 all of the step the b = 8 GEMM microbenchmarks show (docs/cost_model.md)."""
    m = np.asarray(m, dtype=float)
    return np.clip((m - 1.0) / max(gemm.pack_rows - 1.0, 1e-9), 0.0, 1.0)


def weight_passes(op: Op, platform: Platform, batch: np.ndarray) -> np.ndarray:
    """How many times a GEMM reads its weights: once as a GEMV (b = 1), more when BLAS packs them."""
    if op.kind is OpKind.FC:
        gemm = platform.compute.gemm
        return 1.0 + gemm.pack_passes * pack_share(gemm, batch)
    return np.ones_like(batch)


def stream_time(op: Op, platform: Platform, batch: ArrayLike, engines: int = 1, capacities: list | None = None) -> np.ndarray:
    """Seconds to move ``op``'s streamed bytes (weights and activations) through the hierarchy.
    ``capacities``: the cache capacities (:func:`dse.cost.share.cache_capacities`), arrays over
    platforms that differ only in their cache sizes (the answer broadcasts against them)."""
    b = np.asarray(batch, dtype=float)
    weights = op.weight_bytes * weight_passes(op, platform, b)
    activations = np.asarray(op.streamed_bytes(b), dtype=float) - op.weight_bytes
    moved = weights + activations
    footprint = op.weight_bytes + activations
    fractions = level_fractions(footprint, platform, engines, capacities)
    bandwidths = [c.bandwidth_gbs * 1e9 for c in platform.caches] + [dram_stream_bandwidth(platform, engines)]
    return sum(moved * frac / bw for frac, bw in zip(fractions, bandwidths))
