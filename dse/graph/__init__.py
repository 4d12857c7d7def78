"""Operator kinds with FLOP/byte formulas, and lowering a model spec to an operator DAG."""

from dse.graph.lower import load_graph, lower, ordered_ops, totals
from dse.graph.ops import Op, OpKind

__all__ = ["Op", "OpKind", "load_graph", "lower", "ordered_ops", "totals"]
