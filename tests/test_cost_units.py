"""Each cost term against a hand calculation on a toy platform with round numbers."""

from __future__ import annotations

import numpy as np
import pytest

from dse.cost import predict_latency, service_curve
from dse.cost.gather import gather_time, memory_parallelism
from dse.cost.model import op_times
from dse.cost.overhead import dispatch_time
from dse.cost.roofline import compute_time, gemm_efficiency, stream_time
from dse.cost.share import cache_capacities, dram_stream_bandwidth, engine_flops, level_fractions
from dse.cost.transfer import input_transfer_time
from dse.errors import DseError
from dse.graph import load_graph, ops
from dse.graph.ops import OpKind
from dse.specs.hardware import GemmEfficiency, Platform

MIB = 2**20


def toy(kind: str = "cpu", **changes) -> Platform:
    """4 cores at 1 GHz x 8 lanes x 1 FMA = 16 GFLOP/s per core; 1 MiB L2 at 100 GB/s; DRAM 40 GB/s."""
    data = {
        "name": "toy",
        "kind": kind,
        "compute": {"cores": 4, "clock_ghz": 1.0, "simd_lanes": 8, "fma_units": 1, "vector_efficiency": 0.5},
        "caches": [{"name": "L2", "size_mib": 1.0, "bandwidth_gbs": 100.0, "line_ns": 1.0}],
        "dram": {
            "peak_bandwidth_gbs": 40.0, "stream_efficiency": 0.5, "random_efficiency": 0.25,
            "engine_bandwidth_gbs": 10.0, "latency_ns": 100.0, "outstanding_misses": 10.0,
        },
        "dispatch": {"op_us": 1.0},
        "tdp_w": 100.0,
        "idle_w": 10.0,
    }
    if kind == "gpu":
        data["host_link"] = {"h2d_gbs": 10.0, "d2h_gbs": 10.0, "latency_us": 5.0}
    for path, value in changes.items():
        section, _, field = path.partition("__")
        if field:
            data[section][field] = value
        else:
            data[section] = value
    return Platform.model_validate(data)


def test_peaks_and_shares():
    p = toy()
    assert p.compute.core_peak_flops == 16e9 and p.compute.peak_flops == 64e9
    assert engine_flops(p, 1) == 16e9 and engine_flops(p, 8) == 8e9  # 8 engines on 4 cores
    assert dram_stream_bandwidth(p, 1) == 10e9  # one core's own limit
    assert dram_stream_bandwidth(p, 4) == 5e9  # 20 GB/s attainable, shared by 4
    assert cache_capacities(p, 1) == [MIB]


def test_level_fractions_split_a_footprint():
    p = toy()
    l2, dram = level_fractions(4 * MIB, p, 1)
    assert l2 == pytest.approx(0.25) and dram == pytest.approx(0.75)
    l2, dram = level_fractions(MIB / 2, p, 1)
    assert l2 == 1.0 and dram == 0.0


def test_gemm_efficiency_curve():
    g = GemmEfficiency(peak_fraction=0.8, m_half=8.0, flops_half=0.0)
    assert gemm_efficiency(g, 8, 1e6) == pytest.approx(0.4)
    assert gemm_efficiency(g, 1e9, 1e6) == pytest.approx(0.8)
    g = GemmEfficiency(peak_fraction=1.0, flops_half=1e6)
    assert gemm_efficiency(g, 1e9, 1e6) == pytest.approx(0.5)


def test_fc_terms_by_hand():
    p = toy()
    fc = ops.fc("fc", 100, 100, 4)
    # 2·100·100·10 FLOPs at 16 GFLOP/s
    assert compute_time(fc, p, [10])[0] == pytest.approx(2e5 / 16e9)
    # weights (100·100 + 100)·4 B + activations 200·4·10 B, all in the 1 MiB L2 at 100 GB/s
    assert stream_time(fc, p, [10])[0] == pytest.approx((40400 + 8000) / 100e9)
    t = op_times(fc, p, [10])
    assert t.time[0] == pytest.approx(1e-6 + 2e5 / 16e9) and t.bound == ["compute"]


def test_gather_by_hand():
    p = toy()
    # 2**24 rows of 16 floats = 1 GiB table, rows of one 64 B line, 10 lookups per item
    eb = ops.embedding_bag("eb", table="t", rows=2**24, dim=16, lookups=10, precision=4, index_bytes=8)
    hit = 1 / 1024
    per_row = (1 - hit) * max(100e-9 / 10, 64 / 10e9) + hit * 1e-9
    assert gather_time(eb, p, [100])[0] == pytest.approx(1000 * per_row)
    # four engines on one socket share 10 GB/s of random-fetch bandwidth: 64 B / 2.5 GB/s per row
    per_row_4 = (1 - hit) * 64 / 2.5e9 + hit * 1e-9
    assert gather_time(eb, p, [100], engines=4)[0] == pytest.approx(1000 * per_row_4)
    # a small call cannot fill the miss queue
    ramped = toy(gather={"ramp_rows": 90.0})
    assert memory_parallelism(ramped, [10])[0] == pytest.approx(1.0)
    assert memory_parallelism(ramped, [910])[0] == pytest.approx(9.1)


def test_dispatch_and_transfer_by_hand():
    p = toy("gpu", dispatch={"op_us": 2.0, "per_kind_us": {"embedding_bag": 7.0}, "step_us": 0.5, "overlap": True})
    eb = ops.embedding_bag("eb", table="t", rows=10, dim=4, lookups=1, precision=4, index_bytes=8)
    assert dispatch_time(eb, p) == pytest.approx(7e-6)
    gru = ops.gru("g", steps=10, input_dim=4, hidden=4, return_sequence=False, precision=4)
    assert dispatch_time(gru, p) == pytest.approx(2e-6 * gru.launches + 10 * 0.5e-6)
    inp = ops.input_op("dense", 1000.0, "dense")
    assert input_transfer_time(inp, p, [100])[0] == pytest.approx(5e-6 + 1e5 / 10e9)
    assert input_transfer_time(inp, toy(), [100])[0] == 0.0  # a CPU copies nothing


def test_overlap_takes_the_max_on_accelerators():
    fc = ops.fc("fc", 100, 100, 4)
    cpu = op_times(fc, toy(), [10]).time[0]
    gpu = op_times(fc, toy("gpu", dispatch={"op_us": 1.0, "overlap": True}), [10]).time[0]
    assert cpu == pytest.approx(1e-6 + 2e5 / 16e9)
    assert gpu == pytest.approx(max(1e-6, 2e5 / 16e9))


def test_service_curve_matches_predictions_and_breakdown():
    p, g = toy("gpu"), load_graph("dlrm_rmc1")
    curve = service_curve(g, p, [1, 8, 64])
    for b in (1, 8, 64):
        pred = predict_latency(g, p, b)
        assert curve(b) == pytest.approx(pred.latency_s)
    total = sum(curve.breakdown.values())
    assert np.allclose(total, curve.seconds)
    assert "output.d2h" in curve.breakdown and "(forward)" in curve.breakdown
    assert set(curve.bounds["sparse[0]"]) <= {"overhead", "compute", "stream", "gather", "transfer"}
    assert curve.bounds["dense"] == ["transfer"] * 3
    no_copy = service_curve(g, p, [64], transfer=False)
    assert "output.d2h" not in no_copy.breakdown and no_copy.seconds[0] < curve(64)


def test_default_grid_and_bad_arguments():
    g, p = load_graph("ncf"), toy()
    curve = service_curve(g, p)
    assert curve.batches[0] == 1 and curve.batches[-1] == 4096 and curve.engines == 1
    with pytest.raises(DseError):
        service_curve(g, p, [0, 4])
    with pytest.raises(DseError):
        predict_latency(g, p, 4, engines=0)


def test_every_gather_kind_goes_through_gather_time():
    p = toy()
    g = load_graph("din")
    pred = predict_latency(g, p, 16)
    kinds = {op.kind for op in pred.ops if op.terms.get("gather", 0) > 0}
    assert kinds == {OpKind.EMBEDDING_BAG.value, OpKind.EMBEDDING.value}
