"""Lowering a :class:`~dse.specs.model.ModelSpec` to an operator DAG (networkx).

Nodes are keyed by operator name and carry the :class:`~dse.graph.ops.Op` under ``"op"``; edges
follow data dependencies. One embedding node per table, because frameworks dispatch one
EmbeddingBag per table and tables of one model differ in size (MLPerf DLRM). Graph attributes:
``model``, ``precision_bytes``, ``table_bytes`` (shared tables counted once), ``outputs``,
``input_bytes_per_item`` and ``output_bytes_per_item`` (what a host ships to and from an
accelerator per item).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from numpy.typing import ArrayLike

from dse.graph import ops
from dse.graph.blocks import BLOCK_KINDS, GraphBuilder
from dse.graph.ops import Op
from dse.paths import MODELSPECS_DIR, resolve_spec
from dse.specs.model import ModelSpec, load_model_spec


def lower(spec: ModelSpec) -> nx.DiGraph:
    """Build the operator graph of ``spec`` (already validated, so shapes are consistent)."""
    shapes = spec.shapes
    p = spec.precision_bytes
    graph = nx.DiGraph(model=spec.name, precision_bytes=p, table_bytes=spec.table_bytes)
    builder = GraphBuilder(graph, shapes, p)
    input_bytes = _lower_inputs(spec, builder)
    for block in spec.blocks:
        builder.producers[block.name] = BLOCK_KINDS[block.kind].lower(block, builder)
    graph.graph["outputs"] = builder.sources(spec.outputs)
    graph.graph["input_bytes_per_item"] = input_bytes
    graph.graph["output_bytes_per_item"] = float(sum(shapes[o].width for o in spec.outputs) * p)
    return graph


def _lower_inputs(spec: ModelSpec, builder: GraphBuilder) -> float:
    """Add the dense features and every lookup (its indices, one embedding node per table);
    returns the input bytes per item a host ships to an accelerator."""
    p = spec.precision_bytes
    input_bytes = 0.0
    if spec.dense_features > 0:
        per_item = spec.dense_features * p
        input_bytes += per_item
        # the dense features arrive as one float array: one blob, nothing to convert
        builder.producers["dense"] = [builder.add(ops.input_op("dense", per_item, "dense features"), [])]
    tables = {t.name: t for t in spec.tables}
    for lookup in spec.lookups:
        table = tables[lookup.table]
        index_per_item = table.n_tables * (lookup.per_sample + 1) * spec.index_bytes
        input_bytes += index_per_item
        # per table an index tensor and a lengths (offsets) tensor, each kept as a Python list by a
        # DeepRecSys-style harness: per_sample indices and one length per item (FACTS.md section 6)
        idx = builder.add(
            ops.input_op(
                f"{lookup.name}.indices", index_per_item, "sparse indices and offsets",
                blobs=2 * table.n_tables, elements_per_item=table.n_tables * (lookup.per_sample + 1),
            ),
            [],
        )
        names = []
        for j, rows in enumerate(table.rows_per_table):
            node = lookup.name if table.n_tables == 1 else f"{lookup.name}[{j}]"
            table_id = table.name if table.n_tables == 1 else f"{table.name}[{j}]"
            common = dict(
                table=table_id,
                rows=rows,
                dim=table.dim,
                lookups=lookup.per_sample,
                precision=p,
                index_bytes=spec.index_bytes,
                irregularity=lookup.irregularity,
            )
            if lookup.pooling == "none":
                op = ops.embedding(node, **common)
            else:
                op = ops.embedding_bag(node, mode=lookup.pooling, **common)
            names.append(builder.add(op, [idx]))
        builder.producers[lookup.name] = names
    return input_bytes


def load_graph(model: str | Path) -> nx.DiGraph:
    """Lower a model given by shipped name (``dlrm_rmc1``) or by path to a YAML spec."""
    return lower(load_model_spec(resolve_spec(str(model), MODELSPECS_DIR, "model")))


def ordered_ops(graph: nx.DiGraph) -> list[Op]:
    """Operators in a deterministic topological order (ties broken by insertion order)."""
    position = {name: i for i, name in enumerate(graph.nodes)}
    order = nx.lexicographical_topological_sort(graph, key=lambda n: position[n])
    return [graph.nodes[n]["op"] for n in order]


def totals(graph: nx.DiGraph, batch: ArrayLike) -> dict[str, Any]:
    """Whole-graph FLOPs, streamed and gathered bytes at ``batch``, plus table and weight bytes.

    ``batch`` is one batch size (values are floats) or an array of them (values are arrays of
    the same shape; ``table_bytes``, ``weight_bytes`` and ``launches`` do not depend on it).
    """
    all_ops = [graph.nodes[n]["op"] for n in graph.nodes]
    b = np.asarray(batch, dtype=float)

    def total(values: list[Any]) -> Any:
        summed = np.zeros_like(b) + sum(values)
        return float(summed) if summed.ndim == 0 else summed

    return {
        "flops": total([op.flops(b) for op in all_ops]),
        "streamed_bytes": total([op.streamed_bytes(b) for op in all_ops]),
        "gathered_bytes": total([op.gathered_bytes(b) for op in all_ops]),
        "rows_touched": total([op.rows_touched(b) for op in all_ops]),
        "table_bytes": float(graph.graph["table_bytes"]),
        "weight_bytes": float(sum(op.weight_bytes for op in all_ops)),
        "launches": float(sum(op.launches for op in all_ops)),
    }
