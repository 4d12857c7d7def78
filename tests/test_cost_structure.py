"""The cost model reproduces the known structure of recommendation inference (FACTS.md 3)."""

from __future__ import annotations

from functools import lru_cache

import pytest

from dse.cost import predict_latency
from dse.graph import load_graph
from dse.specs.hardware import load_platform

CPU_SERVERS = ["haswell", "broadwell", "skylake"]
GPUS = ["gtx1080ti", "h100", "h200"]
BATCHES = [1, 16, 64, 256, 1024]


@lru_cache(maxsize=None)
def graph(name):
    return load_graph(name)


@lru_cache(maxsize=None)
def platform(name):
    return load_platform(name)


def share(model: str, hw: str, batch: int, kind: str, engines: int = 1) -> float:
    pred = predict_latency(graph(model), platform(hw), batch, engines=engines)
    return pred.time_by_kind().get(kind, 0.0) / pred.latency_s


@pytest.mark.parametrize("hw", CPU_SERVERS)
@pytest.mark.parametrize("batch", BATCHES)
def test_rmc1_rmc2_are_embedding_dominated_and_rmc3_fc_dominated_on_cpu_servers(hw, batch):
    assert share("dlrm_rmc1", hw, batch, "embedding_bag") > 0.5
    assert share("dlrm_rmc2", hw, batch, "embedding_bag") > 0.5
    assert share("dlrm_rmc3", hw, batch, "fc") > 0.5
    # and they stay so with every core running an engine
    cores = platform(hw).compute.cores * platform(hw).compute.sockets
    assert share("dlrm_rmc2", hw, batch, "embedding_bag", engines=cores) > 0.5


@pytest.mark.parametrize("hw", GPUS)
@pytest.mark.parametrize("model", ["dlrm_rmc1", "dlrm_rmc2", "dlrm_rmc3", "ncf", "wnd", "mtwnd", "din", "dien"])
def test_gpus_are_launch_bound_at_small_batch(hw, model):
    g, plat = graph(model), platform(hw)
    pred = predict_latency(g, plat, 1)
    # fixed per-call costs dominate: launches, kernel floors and the page-walk wait of a cold
    # gather (gather.tlb_call_us) do not grow with the batch (extrapolate each op to b = 0)
    two = predict_latency(g, plat, 2)
    fixed = sum(max(0.0, 2 * a.time_s - b.time_s) for a, b in zip(pred.ops, two.ops))
    assert fixed > 0.5 * pred.latency_s
    # so a few more items cost almost nothing
    assert predict_latency(graph(model), platform(hw), 8).latency_s < 1.2 * pred.latency_s


def test_cold_translation_wait_overlaps_the_row_fetches():
    # a call's page walks (gather.tlb_call_us) and its row fetches are in flight together: the
    # call waits for the walks only while its fetches are shorter
    from dse.cost.gather import gather_time, translation_call_time
    from dse.graph.lower import ordered_ops

    g, plat = graph("dlrm_rmc2"), platform("h200")
    op = next(op for op in ordered_ops(g) if op.kind.value == "embedding_bag")
    footprint = float(g.graph["table_bytes"])
    no_wait = plat.model_copy(update={"gather": plat.gather.model_copy(update={"tlb_call_us": 0.0})})
    wait = translation_call_time(op, plat, footprint)
    fetch = gather_time(op, no_wait, [1, 4096], footprint_bytes=footprint)
    assert wait > 4 * fetch[0] and fetch[1] > 1.5 * wait  # the two regimes
    cold = gather_time(op, plat, [1, 4096], footprint_bytes=footprint)
    assert cold[0] == pytest.approx(wait) and cold[1] == pytest.approx(fetch[1])


@pytest.mark.parametrize("gpu", GPUS)
@pytest.mark.parametrize("model", ["dlrm_rmc3", "wnd", "mtwnd"])
def test_gpus_win_at_large_batch_on_fc_heavy_models(gpu, model):
    on_gpu = predict_latency(graph(model), platform(gpu), 1024).latency_s  # inputs copied over the host link
    for cpu in CPU_SERVERS:
        assert on_gpu < predict_latency(graph(model), platform(cpu), 1024).latency_s / 5


@pytest.mark.parametrize("model", ["dlrm_rmc3", "wnd", "mtwnd"])
@pytest.mark.parametrize("batch", [256, 1024])
def test_skylake_beats_broadwell_on_fc_heavy_models_at_large_batch(model, batch):
    sky = predict_latency(graph(model), platform("skylake"), batch)
    bdw = predict_latency(graph(model), platform("broadwell"), batch)
    assert sky.latency_s < bdw.latency_s
    assert sky.time_by_kind()["fc"] < 0.8 * bdw.time_by_kind()["fc"]  # AVX-512 vs AVX2


def test_latency_varies_across_intel_generations():
    # HPCA 2020: inference latency differs by tens of percent across the three servers
    for model in ["dlrm_rmc3", "wnd"]:
        lat = [predict_latency(graph(model), platform(hw), 256).latency_s for hw in CPU_SERVERS]
        assert max(lat) / min(lat) > 1.2


def test_co_located_engines_slow_the_embedding_dominated_model_most():
    sky = platform("skylake")
    slowdown = {}
    for model in ["dlrm_rmc2", "dlrm_rmc3"]:
        alone = predict_latency(graph(model), sky, 256).latency_s
        packed = predict_latency(graph(model), sky, 256, engines=40).latency_s
        slowdown[model] = packed / alone
    assert slowdown["dlrm_rmc2"] > 1.3
    assert slowdown["dlrm_rmc2"] > slowdown["dlrm_rmc3"] >= 1.0


def test_h200_bandwidth_beats_h100_only_where_memory_matters():
    g = graph("dlrm_rmc2")
    h100 = predict_latency(g, platform("h100"), 4096).latency_s
    h200 = predict_latency(g, platform("h200"), 4096).latency_s
    assert h200 < h100
    small100 = predict_latency(g, platform("h100"), 1).latency_s
    small200 = predict_latency(g, platform("h200"), 1).latency_s
    assert small200 == pytest.approx(small100, rel=0.02)  # launch-bound: same software, same SMs


def test_packing_passes_ramp_in_between_one_row_and_pack_rows():
    """An FC's extra weight passes: none as a GEMV (b = 1), all of them from ``pack_rows`` rows
    on, linear in between; ``pack_rows`` = 1 is the old step at b > 1."""
    import numpy as np

    from dse.cost.roofline import pack_share, weight_passes
    from dse.graph.lower import ordered_ops

    fc = next(op for op in ordered_ops(load_graph("dlrm_rmc3")) if op.kind.value == "fc")
    host = load_platform("h200_host")
    b = np.array([1.0, 2.0, 4.0, 8.0, 64.0])
    gemm = host.compute.gemm
    assert 1.0 < gemm.pack_rows < 8.0
    share = pack_share(gemm, b)
    assert share[0] == 0.0 and share[-1] == 1.0 and np.all(np.diff(share) >= 0) and 0.0 < share[2] < 1.0
    assert np.allclose(weight_passes(fc, host, b), 1.0 + gemm.pack_passes * share)
    step = host.model_copy(update={"compute": host.compute.model_copy(update={"gemm": gemm.model_copy(update={"pack_rows": 1.0})})})
    assert np.allclose(weight_passes(fc, step, b), np.where(b > 1, 1.0 + gemm.pack_passes, 1.0))
    # the ramp only ever lowers the stream: b = 4 of RMC3 on the host is cheaper than with the step
    assert predict_latency(load_graph("dlrm_rmc3"), host, 4).latency_s < predict_latency(load_graph("dlrm_rmc3"), step, 4).latency_s
