"""A GRU on the GPU path PyTorch takes (dse/cost/recurrent.py, docs/cost_model.md "Recurrent
layers on a GPU"): cuDNN's persistent kernel for hidden <= 192, per-step work otherwise.

References: PyTorch's ``get_algo``/``use_rnn_persist_small_h`` (aten/src/ATen/native/cudnn/RNN.cpp:
a GRU forward with hidden_size <= 192 on compute capability >= 6.0 runs
CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H), the graph's own FLOP count of a GRU (hand-derived in
docs/graph.md), and hand counts of the bytes the persistent path moves."""

from __future__ import annotations

import numpy as np
import pytest

from dse.cost.model import op_step, op_times, predict_latency
from dse.cost.overhead import dispatch_time, require_dispatch
from dse.cost.recurrent import persistent, persistent_bytes_per_item, persistent_compute
from dse.cost.share import engine_flops
from dse.graph import ops
from dse.graph.lower import load_graph
from dse.graph.ops import OpKind
from dse.specs.hardware import load_platform

#: DIEN's first GRU (FACTS.md section 1): GRU(32 -> 64) over 40 steps, every hidden state out, fp32.
DIEN_GRU = ops.gru("extractor", 40, 32, 64, True, 4)


def test_the_stack_says_pytorch_takes_the_persistent_path_for_hidden_up_to_192() -> None:
    h200 = require_dispatch(load_platform("h200"))
    assert h200.persistent_max_hidden == 192  # use_rnn_persist_small_h: GRU forward, hidden <= 192
    assert persistent(DIEN_GRU, h200)
    assert persistent(ops.gru("g", 40, 64, 192, False, 4), h200)
    assert not persistent(ops.gru("g", 40, 64, 193, False, 4), h200)
    assert not persistent(ops.fc("fc", 64, 64, 4), h200)


@pytest.mark.parametrize(("platform", "stack"), [("ci_cpu", None), ("skylake", None), ("gtx1080ti", "caffe2_deeprecsys")])
def test_cpus_and_caffe2_step_nets_run_the_recurrence_step_by_step(platform: str, stack: str | None) -> None:
    dispatch = require_dispatch(load_platform(platform, stack=stack))
    assert not persistent(DIEN_GRU, dispatch)


def test_every_dien_gru_is_persistent_on_the_h200_and_the_1080ti() -> None:
    grus = [op for _, op in load_graph("dien").nodes(data="op") if op.kind is OpKind.GRU]
    assert len(grus) == 2
    for name in ("h200", "gtx1080ti", "h100"):
        assert all(persistent(op, require_dispatch(load_platform(name))) for op in grus)


def test_the_persistent_path_issues_one_call_not_one_per_step() -> None:
    h200 = load_platform("h200")
    assert dispatch_time(DIEN_GRU, h200) == pytest.approx(require_dispatch(h200).op_us * 1e-6)
    caffe2 = load_platform("gtx1080ti", stack="caffe2_deeprecsys")
    d = require_dispatch(caffe2)
    assert dispatch_time(DIEN_GRU, caffe2) == pytest.approx(d.op_seconds(OpKind.GRU) + 40 * d.step_us * 1e-6)
    terms = op_times(DIEN_GRU, h200, np.array([64.0])).terms
    assert op_step(DIEN_GRU, terms, require_dispatch(h200)).launches == 3  # time-major copy, projection GEMM, recurrence
    assert op_step(DIEN_GRU, terms, d).launches == 1 + 40


def test_with_no_fixed_costs_the_persistent_path_prices_exactly_the_graphs_flops() -> None:
    """The projection GEMM (6hi per step) and the recurrence (6h^2 + 16h per step) add up to the
    graph's S x (6h(i + h) + 16h) FLOPs per item (docs/graph.md): with the GEMM's size terms and
    the step latency at zero, both run at the peak fraction."""
    plat = load_platform("h200", ["compute.gemm.m_half=0", "compute.gemm.flops_half=0", "dispatch.persistent_step_us=0"])
    b = np.array([1.0, 64.0, 4096.0])
    peak = engine_flops(plat, 1) * plat.compute.gemm.peak_fraction
    got = persistent_compute(DIEN_GRU, plat, require_dispatch(plat), b)
    assert np.allclose(got, DIEN_GRU.flops(b) / peak, rtol=1e-12)
    assert DIEN_GRU.flops_per_item == 40 * (6 * 64 * (32 + 64) + 16 * 64)  # hand count


def test_a_step_pays_the_step_latency_and_no_gemm_calls_fixed_cost() -> None:
    """The step latency is paid once per step; the GEMM's fixed cost per call (``flops_half``)
    once per layer (the projection), not per step: ten steps more cost the same whatever it is."""
    b = np.array([1.0, 64.0])
    short, long_ = (ops.gru("g", s, 32, 64, True, 4) for s in (30, 40))

    def extra(sets: list[str]) -> np.ndarray:
        plat = load_platform("h200", ["compute.gemm.m_half=0", *sets])
        d = require_dispatch(plat)
        return persistent_compute(long_, plat, d, b) - persistent_compute(short, plat, d, b)

    cheap_calls = extra(["compute.gemm.flops_half=1e3", "dispatch.persistent_step_us=0"])
    dear_calls = extra(["compute.gemm.flops_half=1e12", "dispatch.persistent_step_us=0"])
    assert np.allclose(cheap_calls, dear_calls, rtol=1e-12)
    latency = extra(["compute.gemm.flops_half=1e3", "dispatch.persistent_step_us=5"]) - cheap_calls
    assert np.allclose(latency, 10 * 5e-6, rtol=1e-9)


def test_the_bytes_of_the_persistent_path_by_hand() -> None:
    """DIEN's GRU(32 -> 64), 40 steps, fp32: the input read and written time-major (2 x 40 x 32)
    and read by the projection (40 x 32), the projections written and read (2 x 40 x 192), every
    hidden state and the last one (40 x 64 + 64, cuDNN's y and hy): 21,824 values, 87,296 bytes
    per item, whether the model keeps the sequence or the last state."""
    assert persistent_bytes_per_item(DIEN_GRU) == 21_824 * 4 == 87_296
    assert persistent_bytes_per_item(ops.gru("g", 40, 32, 64, False, 4)) == 87_296
    # fp16 GRU(64 -> 64) over 10 steps: 2 x 640 + 640 + 2 x 1,920 + 640 + 64 = 6,464 values
    assert persistent_bytes_per_item(ops.gru("g", 10, 64, 64, True, 2)) == 6_464 * 2


def test_the_gtx1080ti_keeps_the_persistent_path_through_clock_scaling() -> None:
    """The card's PyTorch costs are the H200 host's scaled by the host clock (Dispatch.scaled);
    the step latency is device time and stays as the stack gives it."""
    card = require_dispatch(load_platform("gtx1080ti"))
    stack = require_dispatch(load_platform("h200"))
    assert card.op_us != stack.op_us  # scaled
    assert (card.persistent_max_hidden, card.persistent_step_us) == (192, stack.persistent_step_us)


def test_a_cpu_stack_side_cannot_claim_the_persistent_kernel() -> None:
    from dse.errors import SpecError

    with pytest.raises(SpecError, match="persistent_max_hidden"):
        load_platform("ci_cpu", ["dispatch.persistent_max_hidden=192"])


def test_the_step_latency_reaches_dien_through_an_override() -> None:
    """``--set dispatch.persistent_step_us`` (the assumed number) moves each GRU by S x the change."""
    b = [64]
    base = predict_latency(load_graph("dien"), load_platform("h200"), b[0])
    slow = predict_latency(load_graph("dien"), load_platform("h200", ["dispatch.persistent_step_us=3"]), b[0])
    gru = {op.name: op.time_s for op in base.ops if op.kind == "gru"}
    gru_slow = {op.name: op.time_s for op in slow.ops if op.kind == "gru"}
    step = require_dispatch(load_platform("h200")).persistent_step_us
    for name, t in gru.items():
        assert gru_slow[name] - t == pytest.approx(40 * (3 - step) * 1e-6, rel=1e-6)
