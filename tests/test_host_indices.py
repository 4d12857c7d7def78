"""The dot interaction's index tensors, built on the host every pass (dse/cost/transfer.py
``host_index_copy_time``, docs/cost_model.md "Host-device copies").

References: the harness's interaction (dse/graph/blocks.py, as the DLRM reference's
``interact_features``) calls ``torch.tril_indices(n, n, offset=-1)`` without a device; PyTorch's
``index`` moves host index tensors to the indexed tensor's device (ATen IndexingUtils.h
``make_info``: ``indice.to(self.device())``), a blocking copy; hand counts of the bytes and of
the copies' time from the h200 spec's link numbers."""

from __future__ import annotations

import numpy as np
import pytest

from dse.cost.model import op_steps, op_times, predict_latency
from dse.cost.overhead import require_dispatch
from dse.cost.stream import Step, critical_path
from dse.graph import ops
from dse.graph.lower import load_graph
from dse.specs.hardware import load_platform

#: MLPerf DLRM's interaction: the bottom MLP's output and 26 embeddings of dim 128.
MLPERF_DOT = ops.dot_interaction("interact", 27, 128, 128, 4)


def test_the_dot_interaction_builds_two_pair_index_tensors_before_its_index() -> None:
    pairs = 27 * 26 // 2  # 351 pairs below the diagonal
    assert MLPERF_DOT.shape["host_index_tensors"] == 2
    assert MLPERF_DOT.shape["host_index_bytes"] == 2 * pairs * 8 == 5_616  # int64
    # the copy happens inside ``index``: after cat, bmm and tril_indices in the traced order
    assert MLPERF_DOT.framework_ops.index("index") == MLPERF_DOT.shape["launches_before_index"] == 3


def test_torch_builds_the_pairs_on_the_host_as_two_int64_tensors() -> None:
    torch = pytest.importorskip("torch")
    li, lj = torch.tril_indices(27, 27, offset=-1)  # as dse/graph/blocks.py calls it
    assert li.device.type == "cpu" and li.dtype == torch.int64
    assert li.numel() + lj.numel() == 2 * 351
    assert (li.numel() + lj.numel()) * li.element_size() == MLPERF_DOT.shape["host_index_bytes"]


def test_the_copies_by_hand_on_the_h200() -> None:
    """Two copies, each at the link's latency, and 5,616 bytes at its host-to-device rate."""
    plat = load_platform("h200")
    link = plat.host_link
    t = op_times(MLPERF_DOT, plat, np.array([1.0, 4096.0])).terms["transfer"]
    expected = 2 * link.latency_us * 1e-6 + 5_616 / (link.h2d_gbs * 1e9)
    assert np.allclose(t, expected, rtol=1e-12)  # the same at every batch
    assert expected == pytest.approx(16.0e-6, rel=0.01)  # 2 x 7.95 us + 0.1 us


@pytest.mark.parametrize(("platform", "stack"), [("ci_cpu", None), ("h200_host", None), ("gtx1080ti", "caffe2_deeprecsys")])
def test_no_copy_on_a_cpu_or_where_the_model_code_keeps_its_indices(platform: str, stack: str | None) -> None:
    t = op_times(MLPERF_DOT, load_platform(platform, stack=stack), np.array([1.0])).terms["transfer"]
    assert np.all(t == 0)


def test_a_concat_interaction_copies_nothing() -> None:
    concat = next(op for _, op in load_graph("dlrm_rmc1").nodes(data="op") if op.kind.value == "interaction")
    assert np.all(op_times(concat, load_platform("h200"), np.array([1.0])).terms["transfer"] == 0)


def test_the_copy_waits_for_the_device_to_drain() -> None:
    """With 1 ms of kernels queued before it, the interaction's launches hide behind them unless
    it blocks; blocking, the pass pays the drain, then the copies, then the launches after them."""
    plat = load_platform("h200")
    d = require_dispatch(plat)
    b = np.array([1.0])
    terms = op_times(MLPERF_DOT, plat, b).terms
    busy = Step(np.zeros(1), np.full(1, 1e-3))
    with_sync = np.sum(critical_path([busy, *op_steps(MLPERF_DOT, terms, d)]))
    free = {**terms, "transfer": np.zeros(1)}
    without = np.sum(critical_path([busy, *op_steps(MLPERF_DOT, free, d)]))
    kernels = terms["compute"][0] + terms["stream"][0]  # a composite node: its kernels in turn
    assert without == pytest.approx(1e-3 + kernels, rel=1e-9)  # every launch hidden behind the 1 ms
    # blocking: the queue drains (the 1 ms and the kernels of cat and bmm, 3 of 5 launches), the
    # two copies, then index and cat: 2 launches of the remaining issue i and kernels k
    i, k = terms["overhead"][0] * 2 / 5, kernels * 2 / 5
    after = max(i / 2 + k, i + k / 2)
    assert with_sync == pytest.approx(1e-3 + kernels * 3 / 5 + terms["transfer"][0] + after, rel=1e-9)
    assert with_sync - without > terms["transfer"][0]


def test_mlperf_dlrm_pays_at_least_the_copies_per_pass() -> None:
    graph = load_graph("mlperf_dlrm")
    on = predict_latency(graph, load_platform("h200"), 1).latency_s
    off = predict_latency(graph, load_platform("h200", ["stack.feed.host_built_indices=false"]), 1).latency_s
    copies = op_times(MLPERF_DOT, load_platform("h200"), np.array([1.0])).terms["transfer"][0]
    assert on - off >= copies
