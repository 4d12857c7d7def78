"""The dot interaction's index tensors, built on the host every pass (dse/cost/transfer.py
``host_index_copy_time``, docs/cost_model.md "Host-device copies").

References: the harness's interaction (dse/graph/blocks.py) calls
``torch.tril_indices(n, n, offset=-1)`` without a device (the DLRM reference's
``interact_features`` also builds its pair indices on the host); PyTorch's ``index`` moves host
index tensors to the indexed tensor's device (ATen ``make_info``, TensorAdvancedIndexingUtils.h:
``indice.to(self.device())``), a blocking copy; hand counts of the bytes and of
the copies' time from the h200 spec's link numbers."""

from __future__ import annotations

import numpy as np
import pytest

from dse.cost.model import _pass_steps, op_steps, op_times, predict_latency, service_curve, total_curve
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
    it blocks; blocking, the pass pays the drain (with the bmm and the bytes before ``index``),
    then the copies, then the two launches after them and their kernels."""
    plat = load_platform("h200")
    d = require_dispatch(plat)
    terms = op_times(MLPERF_DOT, plat, np.array([1.0])).terms
    busy = Step(np.zeros(1), np.full(1, 1e-3))
    with_sync = np.sum(critical_path([busy, *op_steps(MLPERF_DOT, terms, d)]))
    free = {**terms, "transfer": np.zeros(1)}
    without = np.sum(critical_path([busy, *op_steps(MLPERF_DOT, free, d)]))
    kernels = terms["compute"][0] + terms["stream"][0]  # a composite node: its kernels in turn
    assert without == pytest.approx(1e-3 + kernels, rel=1e-9)  # every launch hidden behind the 1 ms
    # bytes before index, by hand: read the 27 x 128 inputs, write and read X, write Z (27 x 27),
    # of the node's inputs + 2 x (X + Z + 351 pairs) + the 479-wide output
    share = (3 * 27 * 128 + 27 * 27) / (27 * 128 + 2 * (27 * 128 + 27 * 27 + 351) + 479)
    ahead = terms["compute"][0] + terms["stream"][0] * share
    i, k = terms["overhead"][0] * 2 / 5, kernels - ahead  # index and cat: 2 of the 5 launches
    after = max(i / 2 + k, i + k / 2)
    assert with_sync == pytest.approx(1e-3 + ahead + terms["transfer"][0] + after, rel=1e-9)
    assert with_sync - without > terms["transfer"][0]


def test_a_run_of_identical_blocking_operators_blocks_each_time() -> None:
    plat = load_platform("h200")
    d = require_dispatch(plat)
    part = op_times(MLPERF_DOT, plat, np.array([1.0, 64.0]))
    run, one = _pass_steps(part, MLPERF_DOT, d, count=3), op_steps(MLPERF_DOT, part.terms, d)
    assert [s.blocking for s in run] == [False, True, False] * 3
    assert np.allclose(np.sum(critical_path(run), axis=0), np.sum(critical_path(one * 3), axis=0), rtol=1e-12)


def test_the_interactions_own_time_carries_its_copies() -> None:
    graph = load_graph("mlperf_dlrm")
    times = [{op.name: op.time_s for op in predict_latency(graph, load_platform("h200", sets), 1).ops}
             for sets in ([], ["stack.feed.host_built_indices=false"])]
    copies = op_times(MLPERF_DOT, load_platform("h200"), np.array([1.0])).terms["transfer"][0]
    assert times[0]["interact"] - times[1]["interact"] == pytest.approx(copies, rel=1e-9)


@pytest.mark.parametrize("transfer", [True, False])
def test_the_parts_add_up_and_the_optimisers_curve_agrees(transfer: bool) -> None:
    graph, plat = load_graph("mlperf_dlrm"), load_platform("h200")
    b = np.array([1.0, 64.0, 1024.0])
    curve = service_curve(graph, plat, b, transfer=transfer)
    assert np.allclose(total_curve(graph, plat, b, transfer=transfer).seconds, curve.seconds, rtol=1e-12)
    for i, batch in enumerate(b):
        pred = predict_latency(graph, plat, int(batch), transfer=transfer)
        assert sum(op.time_s for op in pred.ops) == pytest.approx(pred.latency_s, rel=1e-12)
        assert pred.latency_s == pytest.approx(curve.seconds[i], rel=1e-12)


def test_the_harness_interaction_asks_torch_for_host_indices(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model code ``dse measure`` runs calls ``tril_indices`` with no device: on a GPU the
    pairs start on the host."""
    torch = pytest.importorskip("torch")
    from dse.graph.blocks import BLOCK_KINDS
    from dse.specs.model import InteractionBlock, TensorShape

    calls: list[dict] = []
    real = torch.tril_indices

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "tril_indices", spy)
    block = InteractionBlock(kind="interaction", name="i", op="dot", inputs=["a", "b"])
    shapes = {"a": TensorShape(count=1, dim=4), "b": TensorShape(count=3, dim=4)}
    out = BLOCK_KINDS["interaction"].torch_forward(block, None, [torch.ones(2, 4), torch.ones(2, 12)], shapes)
    assert len(calls) == 1 and "device" not in calls[0]
    assert out[0].shape == (2, 4 + 4 * 3 // 2)


def test_mlperf_dlrm_pays_at_least_the_copies_per_pass() -> None:
    graph = load_graph("mlperf_dlrm")
    on = predict_latency(graph, load_platform("h200"), 1).latency_s
    off = predict_latency(graph, load_platform("h200", ["stack.feed.host_built_indices=false"]), 1).latency_s
    copies = op_times(MLPERF_DOT, load_platform("h200"), np.array([1.0])).terms["transfer"][0]
    assert on - off >= copies
