"""Host<->device transfers of an accelerator: inputs in, outputs back.

Each graph input (dense features, one index tensor per lookup group) is one host-to-device copy
of ``bytes_per_item × b`` bytes; the outputs come back in one device-to-host copy. A copy costs
``latency_us + bytes / bandwidth``. CPUs (and a CPU host with near-memory units) pay nothing.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from dse.graph.ops import Op, OpKind
from dse.specs.hardware import Platform


def copy_time(nbytes: ArrayLike, bandwidth_gbs: float, latency_us: float) -> np.ndarray:
    """Seconds for one copy of ``nbytes`` over a link of ``bandwidth_gbs`` GB/s."""
    return latency_us * 1e-6 + np.asarray(nbytes, dtype=float) / (bandwidth_gbs * 1e9)


def input_transfer_time(op: Op, platform: Platform, batch: ArrayLike) -> np.ndarray:
    """Seconds to copy graph input ``op`` to the device for a batch (0 on a CPU)."""
    b = np.asarray(batch, dtype=float)
    link = platform.host_link
    if op.kind is not OpKind.INPUT or not platform.is_accelerator or link is None:
        return np.zeros_like(b)
    per_item = float(op.shape.get("bytes_per_item", 0.0))
    return copy_time(per_item * b, link.h2d_gbs, link.latency_us)


def output_transfer_time(output_bytes_per_item: float, platform: Platform, batch: ArrayLike) -> np.ndarray:
    """Seconds to copy the outputs back to the host (0 on a CPU)."""
    b = np.asarray(batch, dtype=float)
    link = platform.host_link
    if not platform.is_accelerator or link is None:
        return np.zeros_like(b)
    return copy_time(output_bytes_per_item * b, link.d2h_gbs, link.latency_us)
