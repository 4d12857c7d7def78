"""Operator kinds with FLOP/byte formulas, and lowering a model spec to an operator DAG."""

from dse.graph.lower import load_graph, load_ops, lower, lower_ops, ordered_ops, totals
from dse.graph.opgraph import OpGraph
from dse.graph.ops import Op, OpKind

__all__ = ["Op", "OpGraph", "OpKind", "load_graph", "load_ops", "lower", "lower_ops", "ordered_ops", "totals"]
