"""Lowering a :class:`~dse.specs.model.ModelSpec` to an operator DAG (networkx).

Nodes are keyed by operator name and carry the :class:`~dse.graph.ops.Op` under ``"op"``; edges
follow data dependencies. One embedding node per table, because frameworks dispatch one
EmbeddingBag per table and tables of one model differ in size (MLPerf DLRM). Graph attributes:
``model``, ``precision_bytes``, ``table_bytes`` (shared tables counted once), ``outputs``,
``input_bytes_per_item`` and ``output_bytes_per_item`` (what a host ships to and from an
accelerator per item), ``output_tensors`` (one per spec output).

The DAG is built as an :class:`~dse.graph.opgraph.OpGraph` (plain Python, :func:`lower_ops`) and
handed out as a networkx ``DiGraph`` by :func:`lower`; :func:`totals` and :func:`ordered_ops` take
either, so a command that only lists operators does not import networkx (start-up time).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.graph import ops
from dse.graph.opgraph import OpGraph
from dse.graph.ops import Op, as_batch
from dse.paths import MODELSPECS_DIR, resolve_spec

# numpy and networkx load where an array batch or a graph algorithm needs them, the block kinds
# and the model-spec schemas (pydantic) where a spec is lowered: reading back a cached OpGraph
# (dse/cache.py) imports this package and needs none of them (start-up time)
if TYPE_CHECKING:
    import networkx as nx
    from numpy.typing import ArrayLike

    from dse.graph.blocks import GraphBuilder
    from dse.specs.model import ModelSpec


def lower(spec: ModelSpec) -> nx.DiGraph:
    """Build the operator graph of ``spec`` (already validated, so shapes are consistent)."""
    return lower_ops(spec).to_networkx()


def lower_ops(spec: ModelSpec) -> OpGraph:
    """:func:`lower` without networkx: the same nodes, edges and attributes as an :class:`OpGraph`."""
    from dse.graph.blocks import BLOCK_KINDS, GraphBuilder

    shapes = spec.shapes
    p = spec.precision_bytes
    graph = OpGraph(model=spec.name, precision_bytes=p, table_bytes=spec.table_bytes)
    builder = GraphBuilder(graph, shapes, p)
    input_bytes = _lower_dense(spec, builder)
    indices, index_bytes = _lower_indices(spec, builder)
    first = dense_blocks(spec)
    # the order the frameworks issue a pass in (facebookresearch/dlrm ``sequential_forward``,
    # DeepRecSys' Caffe2 nets): the inputs, the MLPs on the dense features, then the lookups,
    # then the rest; on an asynchronous device the order decides which launches a kernel hides
    for block in [b for b in spec.blocks if b.name in first]:
        builder.producers[block.name] = BLOCK_KINDS[block.kind].lower(block, builder)
    _lower_lookups(spec, builder, indices)
    input_bytes += index_bytes
    for block in [b for b in spec.blocks if b.name not in first]:
        builder.producers[block.name] = BLOCK_KINDS[block.kind].lower(block, builder)
    graph.graph["outputs"] = builder.sources(spec.outputs)
    graph.graph["input_bytes_per_item"] = input_bytes
    graph.graph["output_bytes_per_item"] = float(sum(shapes[o].width for o in spec.outputs) * p)
    graph.graph["output_tensors"] = len(spec.outputs)  # one tensor per output, each its own copy back
    return graph


def dense_blocks(spec: ModelSpec) -> set[str]:
    """Names of the blocks that read the dense features only (directly or through other such
    blocks): the bottom MLP of DLRM. A pass runs them before the lookups."""
    out: set[str] = set()
    for block in spec.blocks:
        if all(name == "dense" or name in out for name in block.input_names()):
            out.add(block.name)
    return out


def _lower_dense(spec: ModelSpec, builder: GraphBuilder) -> float:
    """Add the dense features (if any); returns their bytes per item."""
    if spec.dense_features <= 0:
        return 0.0
    per_item = float(spec.dense_features * spec.precision_bytes)
    # the dense features arrive as one float array: one blob, nothing to convert
    builder.producers["dense"] = [builder.add(ops.input_op("dense", per_item, "dense features"), [])]
    return per_item


def _lower_indices(spec: ModelSpec, builder: GraphBuilder) -> tuple[dict[str, str], float]:
    """Add the index input of every lookup: ({lookup: node}, input bytes per item a host ships to
    an accelerator for them)."""
    input_bytes = 0.0
    tables = {t.name: t for t in spec.tables}
    nodes = {}
    for lookup in spec.lookups:
        table = tables[lookup.table]
        index_per_item = table.n_tables * (lookup.per_sample + 1) * spec.index_bytes
        input_bytes += index_per_item
        # per table an index tensor and a lengths (offsets) tensor, each kept as a Python list by a
        # DeepRecSys-style harness: per_sample indices and one length per item (FACTS.md section 6)
        nodes[lookup.name] = builder.add(
            ops.input_op(
                f"{lookup.name}.indices", index_per_item, "sparse indices and offsets",
                blobs=2 * table.n_tables, elements_per_item=table.n_tables * (lookup.per_sample + 1),
                tensors=table.n_tables,
            ),
            [],
        )
    return nodes, input_bytes


def _lower_lookups(spec: ModelSpec, builder: GraphBuilder, indices: dict[str, str]) -> None:
    """Add every lookup's embedding nodes (one per table), reading its index input."""
    p = spec.precision_bytes
    tables = {t.name: t for t in spec.tables}
    for lookup in spec.lookups:
        table = tables[lookup.table]
        idx = indices[lookup.name]
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


def load_graph(model: str | Path) -> nx.DiGraph:
    """Lower a model given by shipped name (``dlrm_rmc1``) or by path to a YAML spec."""
    return load_ops(model).to_networkx()


def load_ops(model: str | Path) -> OpGraph:
    """:func:`load_graph` without networkx (an :class:`OpGraph`)."""
    from dse.specs.model import load_model_spec

    return lower_ops(load_model_spec(resolve_spec(str(model), MODELSPECS_DIR, "model")))


def ordered_ops(graph: nx.DiGraph | OpGraph) -> list[Op]:
    """Operators in a deterministic topological order (ties broken by insertion order)."""
    names = list(graph.nodes)
    position = {name: i for i, name in enumerate(names)}
    # insertion order is already topological for every lowered graph (a node is added after the
    # nodes it reads), and then it is the lexicographic order itself: no graph algorithm needed
    if any(position[u] >= position[v] for u, v in graph.edges):
        import networkx as nx

        names = list(nx.lexicographical_topological_sort(graph, key=lambda n: position[n]))
    return [graph.nodes[n]["op"] for n in names]


def totals(graph: nx.DiGraph | OpGraph, batch: ArrayLike) -> dict[str, Any]:
    """Whole-graph FLOPs, streamed and gathered bytes at ``batch``, plus table and weight bytes.

    ``batch`` is one batch size (values are floats) or an array of them (values are arrays of
    the same shape; ``table_bytes``, ``weight_bytes`` and ``launches`` do not depend on it).
    """
    all_ops = [graph.nodes[n]["op"] for n in graph.nodes]
    b = as_batch(batch)

    def total(values: list[Any]) -> Any:
        if isinstance(b, float):
            return float(sum(values))
        import numpy as np  # b is an array: numpy is loaded already

        summed = np.zeros_like(b) + sum(values)  # the shape of ``batch`` even where no operator depends on it
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
