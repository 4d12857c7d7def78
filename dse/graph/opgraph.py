"""The lowered operator graph as plain Python: operators in a topological order, their edges and
the graph attributes, without networkx.

Lowering builds an :class:`OpGraph`; :func:`dse.graph.lower` hands out its networkx ``DiGraph``
(:meth:`OpGraph.to_networkx`), which the cost model and the tests use. Commands that only list
operators and sum their formulas (``dse models``, ``dse graph``) keep the :class:`OpGraph`:
importing networkx costs about 0.2 s of their start-up.

An :class:`OpGraph` offers the part of ``networkx.DiGraph``'s interface that :func:`totals
<dse.graph.lower.totals>`, :func:`ordered_ops <dse.graph.lower.ordered_ops>` and the DOT writer
read, so those take either: ``graph`` (the attribute dict), ``nodes[name]["op"]``, iteration over
the node names in insertion order, ``edges`` as ``(source, target)`` pairs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from dse.graph.ops import Op

if TYPE_CHECKING:
    import networkx as nx


class OpGraph:
    """Operator nodes keyed by name, each as ``{"op": Op}``; a node is added after every node it
    reads, so insertion order is a topological order."""

    def __init__(self, **attributes: Any) -> None:
        self.graph: dict[str, Any] = dict(attributes)
        self.nodes: dict[str, dict[str, Op]] = {}
        self._successors: dict[str, dict[str, None]] = {}

    def add(self, op: Op, inputs: list[str]) -> str:
        """Add ``op`` with edges from the nodes ``inputs`` (already in the graph); returns its name."""
        if op.name in self.nodes:
            raise ValueError(f"operator {op.name!r} is added twice")
        missing = [src for src in inputs if src not in self.nodes]
        if missing:
            raise ValueError(f"operator {op.name!r} reads {missing}, which are not in the graph yet")
        self.nodes[op.name] = {"op": op}
        self._successors[op.name] = {}
        for src in inputs:  # a dict: one edge per source, as networkx keeps it
            self._successors[src][op.name] = None
        return op.name

    @property
    def edges(self) -> list[tuple[str, str]]:
        """``(source, target)`` pairs in networkx's order: by source, then by when the edge was added."""
        return [(src, dst) for src, targets in self._successors.items() for dst in targets]

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def to_networkx(self) -> nx.DiGraph:
        """The same graph as a ``networkx.DiGraph`` (same node order, attributes and edges)."""
        import networkx as nx

        graph = nx.DiGraph(**self.graph)
        graph.add_nodes_from((name, dict(data)) for name, data in self.nodes.items())
        graph.add_edges_from(self.edges)
        return graph
