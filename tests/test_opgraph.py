"""The plain-Python OpGraph (what ``dse models``/``dse graph`` use) and the networkx DiGraph (what
the cost model uses) are the same graph, and ``ordered_ops``/``totals`` agree on both."""

from __future__ import annotations

import networkx as nx
import pytest

from dse.graph import OpGraph, lower, lower_ops, ordered_ops, totals
from dse.graph.ops import Op, OpKind
from dse.paths import MODELSPECS_DIR, list_specs
from dse.specs.model import load_model_spec

MODELS = list_specs(MODELSPECS_DIR)


@pytest.mark.parametrize("name", MODELS)
def test_opgraph_and_digraph_are_the_same_graph(name: str) -> None:
    spec = load_model_spec(MODELSPECS_DIR / f"{name}.yaml")
    light, graph = lower_ops(spec), lower(spec)
    assert isinstance(graph, nx.DiGraph)
    assert list(light) == list(graph.nodes)
    assert light.edges == list(graph.edges)
    assert light.graph == graph.graph
    assert all(light.nodes[n]["op"] == graph.nodes[n]["op"] for n in light)
    assert ordered_ops(light) == ordered_ops(graph)
    assert totals(light, 8) == totals(graph, 8)


def _op(name: str) -> Op:
    return Op(name, OpKind.RELU, flops_per_item=1.0)


def test_ordered_ops_sorts_a_graph_whose_insertion_order_is_not_topological() -> None:
    graph = nx.DiGraph()
    for name in ("c", "a", "b"):
        graph.add_node(name, op=_op(name))
    graph.add_edges_from([("a", "c"), ("b", "c")])
    assert [op.name for op in ordered_ops(graph)] == ["a", "b", "c"]


def test_an_opgraph_refuses_an_input_it_does_not_hold_and_a_name_twice() -> None:
    graph = OpGraph()
    graph.add(_op("a"), [])
    with pytest.raises(ValueError, match="not in the graph"):
        graph.add(_op("b"), ["missing"])
    with pytest.raises(ValueError, match="twice"):
        graph.add(_op("a"), [])


def test_an_opgraph_keeps_one_edge_per_source() -> None:
    graph = OpGraph()
    graph.add(_op("x"), [])
    graph.add(_op("sum"), ["x", "x"])
    assert graph.edges == [("x", "sum")]
    assert list(graph.to_networkx().edges) == [("x", "sum")]
