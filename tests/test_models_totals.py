"""Hand-counted per-sample totals of the shipped models (FACTS.md section 1)."""

import pytest

from dse.graph import load_graph, totals
from dse.graph.ops import OpKind


def fc_macs(graph) -> float:
    return sum(graph.nodes[n]["op"].flops_per_item for n in graph if graph.nodes[n]["op"].kind is OpKind.FC) / 2


@pytest.mark.parametrize(
    "model, gathered, macs",
    [
        # 8 tables x 80 lookups x 32 dims x 4 B; bottom 128-64-32, top 288-256-64-1
        ("dlrm_rmc1", 8 * 80 * 32 * 4, 128 * 64 + 64 * 32 + 288 * 256 + 256 * 64 + 64),
        ("dlrm_rmc2", 32 * 120 * 64 * 4, 256 * 128 + 128 * 64 + 2112 * 128 + 128 * 64 + 64),
        ("dlrm_rmc3", 10 * 20 * 32 * 4, 2560 * 1024 + 1024 * 256 + 256 * 32 + 352 * 512 + 512 * 256 + 256),
    ],
)
def test_dlrm_hand_counts(model, gathered, macs):
    graph = load_graph(model)
    t = totals(graph, 1)
    assert t["gathered_bytes"] == gathered
    assert fc_macs(graph) == macs


def test_published_rounded_figures():
    # FACTS.md: RMC1 81,920 B and ~100.4 K MACs; RMC2 983,040 B and ~319.6 K; RMC3 25,600 B and ~3.20 M
    for model, gathered, kmacs in [("dlrm_rmc1", 81_920, 100.4), ("dlrm_rmc2", 983_040, 319.6), ("dlrm_rmc3", 25_600, 3203.3)]:
        graph = load_graph(model)
        assert totals(graph, 1)["gathered_bytes"] == gathered
        assert fc_macs(graph) / 1e3 == pytest.approx(kmacs, abs=0.05)


@pytest.mark.parametrize(
    "model, table_bytes",
    [("dlrm_rmc1", 4.096e9), ("dlrm_rmc2", 4.096e9), ("dlrm_rmc3", 2.56e9), ("wnd", 3.456e9), ("mtwnd", 3.904e9)],
)
def test_table_memory(model, table_bytes):
    assert load_graph(model).graph["table_bytes"] == pytest.approx(table_bytes)


def test_totals_scale_with_batch():
    graph = load_graph("dlrm_rmc1")
    one, many = totals(graph, 1), totals(graph, 64)
    assert many["flops"] == pytest.approx(64 * one["flops"])
    assert many["gathered_bytes"] == pytest.approx(64 * one["gathered_bytes"])
    # weights are read once per batch, so streamed bytes grow slower than the batch
    assert many["streamed_bytes"] < 64 * one["streamed_bytes"]
    assert many["weight_bytes"] == one["weight_bytes"]
