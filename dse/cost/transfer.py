"""Graph inputs: feeding them (host side, the software stack) and host<->device copies.

Each graph input (dense features, one index tensor per lookup group) is an ``input`` operator.
Its time is what the software stack pays to feed it (:class:`dse.specs.stack.Feed`)::

    feed = blobs × blob_us + elements_per_item × b × element_ns + bytes_per_item × b / copy_gbs

plus, on an accelerator, its host-to-device copies: ``copies × latency_us + bytes / h2d_gbs``, where
``copies`` is what the stack's harness does (``feed.h2d_copies``): one per input, one per tensor
(PyTorch's ``.to(device)`` of every index tensor, one per table), or one per blob (Caffe2's
FeedBlob of indices and lengths per table).
The outputs come back in one device-to-host copy, or one per output tensor where the stack copies
per tensor or blob; a pass pays the link's set-up (``host_link.setup_us``) once, with them. A
stack with no feeding costs (PyTorch eager as ``dse measure`` times it) and a CPU pay nothing
for feeding.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from dse.graph.ops import Op, OpKind
from dse.specs.hardware import Platform


#: ``feed.h2d_copies`` -> the input operator's shape entry that counts its copies
COPIES_FROM = {"tensor": "tensors", "blob": "blobs"}


def _copies_mode(platform: Platform) -> str:
    """How the platform's stack copies a graph input to the device (``feed.h2d_copies``)."""
    return platform.software.feed.h2d_copies if platform.software is not None else "input"


def copy_time(nbytes: ArrayLike, bandwidth_gbs: float, latency_us: float) -> np.ndarray:
    """Seconds for one copy of ``nbytes`` over a link of ``bandwidth_gbs`` GB/s."""
    return latency_us * 1e-6 + np.asarray(nbytes, dtype=float) / (bandwidth_gbs * 1e9)


def feed_time(op: Op, platform: Platform, batch: ArrayLike) -> np.ndarray:
    """Seconds the host spends feeding graph input ``op`` for a batch (0 without a stack's feed)."""
    b = np.asarray(batch, dtype=float)
    software = platform.software
    if op.kind is not OpKind.INPUT or software is None:
        return np.zeros_like(b)
    feed = software.feed
    blobs = float(op.shape.get("blobs", 1))
    elements = float(op.shape.get("elements_per_item", 0.0)) * b
    moved = float(op.shape.get("bytes_per_item", 0.0)) * b / (feed.copy_gbs * 1e9) if feed.copy_gbs else 0.0 * b
    return blobs * feed.blob_us * 1e-6 + elements * feed.element_ns * 1e-9 + moved


def input_transfer_time(op: Op, platform: Platform, batch: ArrayLike) -> np.ndarray:
    """Seconds to copy graph input ``op`` to the device for a batch (0 on a CPU)."""
    b = np.asarray(batch, dtype=float)
    link = platform.host_link
    if op.kind is not OpKind.INPUT or not platform.is_accelerator or link is None:
        return np.zeros_like(b)
    per_item = float(op.shape.get("bytes_per_item", 0.0))
    per = _copies_mode(platform)
    copies = float(op.shape.get(COPIES_FROM[per], 1)) if per in COPIES_FROM else 1.0
    return copy_time(per_item * b, link.h2d_gbs, link.latency_us * copies)


def host_index_copy_time(op: Op, platform: Platform, batch: ArrayLike) -> np.ndarray:
    """Seconds of the synchronous copies of index tensors an operator builds on the host every pass
    (0 on a CPU, or where the stack's model code does not: ``feed.host_built_indices``): the dot
    interaction's ``tril_indices`` pairs, which PyTorch's ``index`` moves to the indexed tensor's
    device (``make_info``, aten/src/ATen/native/TensorAdvancedIndexingUtils.h:
    ``indice.to(self.device())``, a blocking copy from pageable memory). Each tensor pays the
    link's latency; the bytes do not grow with the batch."""
    b = np.asarray(batch, dtype=float)
    link = platform.host_link
    tensors = float(op.shape.get("host_index_tensors", 0))
    software = platform.software
    if not tensors or not platform.is_accelerator or link is None:
        return np.zeros_like(b)
    if software is None or not software.feed.host_built_indices:
        return np.zeros_like(b)
    nbytes = float(op.shape.get("host_index_bytes", 0.0))
    return np.zeros_like(b) + copy_time(nbytes, link.h2d_gbs, link.latency_us * tensors)


def output_transfer_time(output_bytes_per_item: float, platform: Platform, batch: ArrayLike, tensors: int = 1) -> np.ndarray:
    """Seconds to copy the ``tensors`` outputs back to the host (0 on a CPU): one copy each where
    the stack copies per tensor or blob (else one in all), and the pass's one link set-up
    (``host_link.setup_us``: a pass's copies cost it once, whatever their number)."""
    b = np.asarray(batch, dtype=float)
    link = platform.host_link
    if not platform.is_accelerator or link is None:
        return np.zeros_like(b)
    copies = float(tensors) if _copies_mode(platform) in COPIES_FROM else 1.0
    return copy_time(output_bytes_per_item * b, link.d2h_gbs, copies * link.latency_us + link.setup_us)
