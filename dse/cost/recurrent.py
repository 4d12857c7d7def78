"""A recurrent layer run as one persistent kernel on a GPU (cuDNN's ``PERSIST_STATIC_SMALL_H``).

PyTorch's cuDNN path (``aten/src/ATen/native/cudnn/RNN.cpp``: ``_cudnn_rnn`` calls ``get_algo``
with ``forward = true``; ``use_rnn_persist_small_h``, PyTorch PR 73211, the reland of PR 62143;
cuDNN >= 8.2.1) picks ``CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H`` for a GRU or LSTM forward pass
with ``hidden_size <= 192`` and no projection on a device of compute capability 6.0 or later, for
any data type but double, when the input is not packed: DIEN's GRUs (hidden 64) on
an H200 (9.0) or a GTX 1080 Ti (6.1). The recurrence then runs inside one kernel that keeps the
recurrent weights on chip, so a time step is neither a kernel launch nor a GEMM call: what the
per-step model (a host launch per step, each step a GEMM call with the GEMM's fixed cost) charges
does not exist on this path. A stack says which path its framework takes:
``dispatch.persistent_max_hidden`` (0: always per step, the CPU and Caffe2's step nets).

The layer on this path, ``S`` steps of a ``GRU(i → h)`` at batch ``b`` (seconds)::

    device = GEMM(S·b rows, 6·h·i·S·b FLOPs)              the input projection of every step at once
           + S · (step_us + b·(6h² + 16h) / (peak · peak_fraction))     the recurrence
           + streamed bytes / bandwidth                    (batch-first input made time-major,
                                                             projections written and read, outputs)

The three kernels (the copy, the GEMM, the recurrence) share the layer's device time equally in a
pass (:class:`dse.cost.stream.Step`): the recurrence, most of it, is really the last; where the
host is behind that understates by a few µs at DIEN's sizes.

``step_us`` (``dispatch.persistent_step_us``) is the on-chip latency of one dependent step (read
the step's projection, the recurrent matrix-vector products from registers, the gates, a
barrier); the step's FLOPs run at the GEMM's peak fraction (the weights are already on chip:
no fixed per-call cost). The host issues the layer as one framework call (no per-step dispatch).
Limits: ``step_us`` is assumed, not measured (no GPU trace here); cuDNN's own host-side set-up
per call (descriptors, workspace query) is taken as one ordinary dispatch.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dse.cost.roofline import gemm_seconds, stream_time
from dse.cost.share import engine_flops
from dse.graph.ops import GRU_ELEMENTWISE_FLOPS_PER_UNIT, Op, OpKind
from dse.specs.hardware import Platform
from dse.specs.stack import Dispatch

#: Kernels of one layer on the persistent path: the time-major copy of the batch-first input,
#: the input-projection GEMM, the recurrence.
PERSISTENT_KERNELS = 3


def persistent(op: Op, dispatch: Dispatch | None) -> bool:
    """True when ``op`` runs its recurrence as one persistent kernel under ``dispatch`` (an
    asynchronous device's: the stack refuses the field elsewhere)."""
    if dispatch is None or not dispatch.overlap or op.kind is not OpKind.GRU or op.sequential_steps <= 1:
        return False
    return 0 < int(op.shape.get("hidden", 0)) <= dispatch.persistent_max_hidden


def _sizes(op: Op) -> tuple[int, int, int, float]:
    """Steps, input width, hidden width and bytes per value of a GRU node."""
    steps, i, h = int(op.shape["steps"]), int(op.shape["input"]), int(op.shape["hidden"])
    return steps, i, h, float(op.shape["precision"])


def persistent_compute(op: Op, platform: Platform, dispatch: Dispatch, b: np.ndarray, engines: int = 1) -> np.ndarray:
    """Seconds of arithmetic of ``op`` on the persistent path at each batch size ``b``."""
    steps, i, h, _ = _sizes(op)
    gemm = platform.compute.gemm
    peak = engine_flops(platform, engines)
    t_projection = gemm_seconds(gemm, peak, steps * b, 6.0 * h * i * steps * b)
    per_step = b * (6.0 * h * h + GRU_ELEMENTWISE_FLOPS_PER_UNIT * h) / (peak * gemm.peak_fraction)
    return t_projection + steps * (dispatch.persistent_step_us * 1e-6 + per_step)


def persistent_bytes_per_item(op: Op) -> float:
    """Bytes per item the persistent path moves besides the weights: the input read and written
    time-major (2·S·i), read again by the projection GEMM (S·i), the projections written and read
    by the recurrence (2·S·3h), the outputs: cuDNN writes every hidden state and the last one
    (S·h + h) whatever the model keeps (``_cudnn_rnn`` returns both)."""
    steps, i, h, p = _sizes(op)
    return float((3 * steps * i + 6 * steps * h + steps * h + h) * p)


def persistent_stream(
    op: Op, platform: Platform, b: np.ndarray, engines: int = 1, capacities: list | None = None
) -> np.ndarray:
    """Seconds to stream what the persistent path moves (:func:`persistent_bytes_per_item`)."""
    moved = dataclasses.replace(op, activation_bytes_per_item=persistent_bytes_per_item(op))
    return stream_time(moved, platform, b, engines, capacities)
