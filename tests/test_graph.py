"""Lowering of the shipped models to operator DAGs, per-model hand counts, and the graph CLI."""

import json

import networkx as nx
import numpy as np
import pytest
from typer.testing import CliRunner

from dse.cli import app
from dse.graph import load_graph, ordered_ops, totals
from dse.graph.ops import OpKind
from dse.paths import MODELSPECS_DIR, list_specs

MODELS = ["dlrm_rmc1", "dlrm_rmc2", "dlrm_rmc3", "ncf", "wnd", "mtwnd", "din", "dien", "mlperf_dlrm"]

MLPERF_ROWS = [
    39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346, 10,
    2208, 11938, 155, 4, 976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108, 36,
]  # fmt: skip


def runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)  # click < 8.2 mixes stderr into output by default
    except TypeError:
        return CliRunner()


def op(graph, name):
    return graph.nodes[name]["op"]


def ops_of(graph, kind):
    return [op(graph, n) for n in graph if op(graph, n).kind is kind]


def fc_macs(graph) -> float:
    return sum(o.flops(1) for o in ops_of(graph, OpKind.FC)) / 2


@pytest.fixture(scope="module", params=MODELS)
def graph(request):
    return load_graph(request.param)


# --- structure ---------------------------------------------------------------------------------


def test_shipped_models_are_the_nine():
    assert sorted(list_specs(MODELSPECS_DIR)) == sorted(MODELS)


def test_is_a_dag(graph):
    assert nx.is_directed_acyclic_graph(graph)
    assert graph.number_of_nodes() > 0


def test_every_op_reachable_from_an_input(graph):
    inputs = {n for n in graph if op(graph, n).kind is OpKind.INPUT}
    assert inputs
    for n in graph:
        assert graph.in_degree(n) == 0 or n not in inputs
        if n not in inputs:
            assert nx.ancestors(graph, n) & inputs, f"{n} is not fed by any input"
    # inputs have no predecessors, every other node has at least one
    assert {n for n in graph if graph.in_degree(n) == 0} == inputs


def test_outputs_are_the_sinks(graph):
    outputs = graph.graph["outputs"]
    assert outputs
    sinks = {n for n in graph if graph.out_degree(n) == 0}
    assert set(outputs) == sinks
    # every op feeds some output
    for n in graph:
        assert n in outputs or nx.descendants(graph, n) & set(outputs)


def test_ordered_ops_is_topological(graph):
    order = [o.name for o in ordered_ops(graph)]
    assert sorted(order) == sorted(graph.nodes)
    position = {n: i for i, n in enumerate(order)}
    assert all(position[u] < position[v] for u, v in graph.edges)


def test_dlrm_rmc1_edges_follow_data():
    g = load_graph("dlrm_rmc1")
    sparse = {f"sparse[{j}]" for j in range(8)}
    assert set(g.predecessors("interact")) == sparse | {"bottom.relu1"}
    assert list(g.predecessors("top.fc0")) == ["interact"]
    assert list(g.predecessors("bottom.fc0")) == ["dense"]
    for s in sparse:
        assert list(g.predecessors(s)) == ["sparse.indices"]
    chain = ["top.fc0", "top.relu0", "top.fc1", "top.relu1", "top.fc2", "top.sigmoid"]
    assert all(g.has_edge(a, b) for a, b in zip(chain, chain[1:]))
    assert nx.has_path(g, "dense", "top.sigmoid")
    assert g.graph["outputs"] == ["top.sigmoid"]
    # bottom 128-64-32: the first number is the input width
    assert (op(g, "bottom.fc0").shape["k"], op(g, "bottom.fc0").shape["n"]) == (128, 64)
    assert op(g, "top.fc0").shape["k"] == 9 * 32


def test_dien_edges_follow_data():
    g = load_graph("dien")
    assert set(g.predecessors("attn")) == {"candidate", "extractor"}
    assert list(g.predecessors("extractor")) == ["behaviour"]
    assert list(g.predecessors("evolution")) == ["attn"]
    assert set(g.predecessors("features")) == {"evolution", "candidate", "user", "context"}


def test_wnd_wide_and_deep_join():
    g = load_graph("wnd")
    assert set(g.predecessors("logit")) == {"deep.fc3", "wide.fc0"}
    assert set(g.successors("dense")) == {"deep_in", "wide.fc0"}
    assert g.graph["outputs"] == ["prob"]


def test_mtwnd_has_four_outputs():
    g = load_graph("mtwnd")
    assert g.graph["outputs"] == [f"task{i}.sigmoid" for i in range(4)]
    assert set(g.successors("trunk.relu1")) == {f"task{i}.fc0" for i in range(4)}


# --- per-model hand counts (per sample, fp32) ----------------------------------------------------


def test_ncf_counts():
    g = load_graph("ncf")
    t = totals(g, 1)
    # tower 128-256-256-128-64-64, then Linear(64 GMF + 64 tower = 128 -> 1)
    assert fc_macs(g) == 128 * 256 + 256 * 256 + 256 * 128 + 128 * 64 + 64 * 64 + 128 * 1 == 143_488
    assert t["gathered_bytes"] == 4 * 64 * 4  # four one-hot lookups of 64 floats
    assert t["table_bytes"] == (2 * 140_000 + 2 * 28_000) * 64 * 4 == 86_016_000
    gmf = op(g, "gmf")
    assert gmf.kind is OpKind.ELEMENTWISE and gmf.flops(1) == 64
    assert op(g, "out.fc0").shape == {"k": 128, "n": 1}


def test_wnd_counts():
    g = load_graph("wnd")
    t = totals(g, 1)
    # deep: concat(512 dense, 27 x 32) = 1376 -> 1024-512-256-1; wide: 512 -> 1
    assert op(g, "deep_in").shape["out"] == 1376
    assert fc_macs(g) == 1376 * 1024 + 1024 * 512 + 512 * 256 + 256 + 512
    assert t["gathered_bytes"] == 27 * 32 * 4 == 3456
    assert t["table_bytes"] == 27 * 1_000_000 * 32 * 4 == 3.456e9


def test_mtwnd_counts():
    g = load_graph("mtwnd")
    t = totals(g, 1)
    # trunk: concat(512, 41 x 32, 2 x 32) = 1888 -> 1024-512; four heads 512 -> 256-128-1
    assert op(g, "trunk_in").shape["out"] == 1888
    assert fc_macs(g) == 1888 * 1024 + 1024 * 512 + 4 * (512 * 256 + 256 * 128 + 128)
    assert t["gathered_bytes"] == 43 * 32 * 4 == 5504
    assert t["table_bytes"] == (41 * 500_000 + 2 * 5_000_000) * 32 * 4 == 3.904e9
    assert len(ops_of(g, OpKind.SIGMOID)) == 4


def test_din_counts():
    g = load_graph("din")
    t = totals(g, 1)
    # top: concat(user 32, context 32, candidate 32, interest 32) = 128 -> 200-80-2, softmax
    assert fc_macs(g) == 128 * 200 + 200 * 80 + 80 * 2
    # attention MLP on concat(b, c, b*c) = 96 -> 36 -> 1, for each of 250 behaviours
    attn = op(g, "interest")
    assert attn.shape["steps"] == 250 and attn.shape["dim"] == 32
    assert attn.weight_bytes == (96 * 36 + 36 + 36 + 1) * 4
    assert attn.flops(1) >= 250 * 2 * (96 * 36 + 36)
    # rows: user 3, context 3, candidate 1, behaviour 250 (not pooled), 128 B each
    assert t["gathered_bytes"] == (3 + 3 + 1 + 250) * 128 == 32_896
    assert t["rows_touched"] == 257
    assert op(g, "behaviour").kind is OpKind.EMBEDDING
    # the items table is shared by candidate and behaviour and counted once
    assert t["table_bytes"] == (1_000_000 + 100_000 + 10_000_000) * 128
    assert op(g, "candidate").table == op(g, "behaviour").table == "items"


def test_dien_counts():
    g = load_graph("dien")
    t = totals(g, 1)
    # top: concat(h_final 64, candidate 32, user 32, context 32) = 160 -> 200-80-2
    assert fc_macs(g) == 160 * 200 + 200 * 80 + 80 * 2
    grus = {o.name: o for o in ops_of(g, OpKind.GRU)}
    assert set(grus) == {"extractor", "evolution"}
    # GRU(32 -> 64) and GRU(64 -> 64) over 40 steps: 3 gates x (i*h + h*h) MACs per step
    assert grus["extractor"].flops(1) >= 40 * 2 * 3 * (32 * 64 + 64 * 64)
    assert grus["evolution"].flops(1) >= 40 * 2 * 3 * (64 * 64 + 64 * 64)
    assert grus["extractor"].sequential_steps == 40
    attn = op(g, "attn")
    assert attn.shape["score"] == "bilinear" and attn.weight_bytes == 32 * 64 * 4
    assert t["gathered_bytes"] == (1 + 1 + 1 + 40) * 128 == 5504
    assert t["table_bytes"] == (500_000 + 500_000 + 5_000_000) * 128 == 768e6


def test_mlperf_dlrm_counts():
    g = load_graph("mlperf_dlrm")
    t = totals(g, 1)
    assert op(g, "interact").shape["out"] == 479  # 128 + 27*26/2
    assert op(g, "top.fc0").shape == {"k": 479, "n": 1024}
    bottom = 13 * 512 + 512 * 256 + 256 * 128
    top = 479 * 1024 + 1024 * 1024 + 1024 * 512 + 512 * 256 + 256 * 1
    assert fc_macs(g) == bottom + top
    assert t["gathered_bytes"] == 26 * 128 * 4 == 13_312
    assert t["table_bytes"] == sum(MLPERF_ROWS) * 128 * 4
    bags = ops_of(g, OpKind.EMBEDDING_BAG)
    assert sorted(b.table_bytes for b in bags) == sorted(r * 512 for r in MLPERF_ROWS)


def test_dlrm_rmc1_worked_example():
    # docs/graph.md: FC 2 * 100,416 + pooling 8 * 79 * 32 + ReLU (64 + 32 + 256 + 64) + sigmoid 4
    t = totals(load_graph("dlrm_rmc1"), 1)
    assert t["flops"] == 2 * 100_416 + 8 * 79 * 32 + (64 + 32 + 256 + 64) + 4 == 221_476


def test_weight_bytes_are_fc_params():
    # RMC1: bottom 128-64-32 and top 288-256-64-1, weights plus biases, fp32
    g = load_graph("dlrm_rmc1")
    params = (128 * 64 + 64) + (64 * 32 + 32) + (288 * 256 + 256) + (256 * 64 + 64) + (64 * 1 + 1)
    assert totals(g, 1)["weight_bytes"] == params * 4


def test_totals_vectorised_over_batch(graph):
    batches = np.array([1, 3, 64, 1024])
    vec = totals(graph, batches)
    for i, b in enumerate(batches):
        one = totals(graph, int(b))
        for key in ("flops", "streamed_bytes", "gathered_bytes", "rows_touched"):
            assert vec[key][i] == pytest.approx(one[key])
        assert vec["table_bytes"] == one["table_bytes"]


def test_input_bytes_per_item():
    g = load_graph("dlrm_rmc1")
    # 128 dense floats + 8 tables x (80 indices + 1 offset) x 8 B
    assert g.graph["input_bytes_per_item"] == 128 * 4 + 8 * 81 * 8
    assert g.graph["output_bytes_per_item"] == 4


# --- CLI -----------------------------------------------------------------------------------------


def test_models_lists_all_nine():
    result = runner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for name in MODELS:
        assert name in result.stdout


def test_graph_json_format():
    result = runner().invoke(app, ["graph", "mlperf_dlrm", "--batch", "8", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == "mlperf_dlrm"
    assert data["batch"] == 8
    assert {"flops", "streamed_bytes", "gathered_bytes", "table_bytes", "weight_bytes"} <= set(data["totals"])
    assert data["ops"]
    for entry in data["ops"]:
        assert {"name", "kind", "flops", "streamed_bytes", "gathered_bytes"} <= set(entry)
    names = [entry["name"] for entry in data["ops"]]
    assert len(names) == len(set(names)) == load_graph("mlperf_dlrm").number_of_nodes()
    # ops come in dependency order, and per-op values add up to the totals at the given batch
    assert names.index("interact") < names.index("top.fc0")
    assert sum(e["flops"] for e in data["ops"]) == pytest.approx(data["totals"]["flops"])
    assert sum(e["gathered_bytes"] for e in data["ops"]) == data["totals"]["gathered_bytes"] == 8 * 13_312
    interact = next(e for e in data["ops"] if e["name"] == "interact")
    assert interact["kind"] == "interaction" and interact["flops"] == 8 * 2 * 27 * 27 * 128


def test_graph_json_from_path(tmp_path):
    path = tmp_path / "copy.yaml"
    path.write_text((MODELSPECS_DIR / "ncf.yaml").read_text())
    result = runner().invoke(app, ["graph", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "ncf"


def test_graph_table_output():
    result = runner().invoke(app, ["graph", "dlrm_rmc1", "--batch", "4"])
    assert result.exit_code == 0, result.output
    assert "interact" in result.stdout and "total" in result.stdout


def test_graph_dot_writes_a_file(tmp_path):
    path = tmp_path / "g.dot"
    result = runner().invoke(app, ["graph", "dlrm_rmc1", "--dot", str(path)])
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert text.startswith('digraph "dlrm_rmc1"')
    assert '"interact" -> "top.fc0";' in text
    assert text.count("->") == load_graph("dlrm_rmc1").number_of_edges()


def test_graph_bad_batch_is_an_error():
    result = runner().invoke(app, ["graph", "dlrm_rmc1", "--batch", "0"])
    assert result.exit_code == 2
    assert "--batch" in result.stderr
