"""The graph's framework operators against the op trace of the PyTorch model built from the same spec.

:func:`traced_ops` runs the :func:`~dse.calibrate.torch_model.build_module` model of a spec once
under ``torch.profiler`` (CPU activity) and returns the top-level ATen operators of the forward
pass, in order, normalised as the graph counts them (:data:`VIEW_OPS` dropped, the helper ops of
:data:`CALL_HELPERS` folded into the call they prepare). :func:`compare_ops` walks that sequence
along the graph's nodes (in the order they were lowered, which is the order the module calls
them) and names the first node whose ``framework_ops`` disagree with the trace. Tables are
capped at a few rows first: launches and op kinds do not depend on table sizes, and a small
model builds in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx

from dse.graph.lower import lower
from dse.graph.ops import OpKind
from dse.specs.model import ModelSpec

#: ATen ops that only make a new view of a tensor's storage: no kernel, no data moved.
VIEW_OPS = frozenset(
    {
        "alias", "as_strided", "detach", "expand", "flatten", "permute", "reshape", "select", "slice",
        "squeeze", "t", "transpose", "unbind", "unsqueeze", "view",
    }
)
#: ATen ops a framework call runs inside itself before the op it is named for, and that op:
#: ``F.embedding_bag`` of a (b, L) index tensor builds its offsets with ``arange``
#: (torch/nn/functional.py); ``nn.GRU`` allocates its zero initial state (torch/nn/modules/rnn.py).
#: They belong to that call: the microbenchmarks time the same calls, so the per-kind dispatch
#: costs fitted to them include these helpers.
CALL_HELPERS = {"arange": "embedding_bag", "zeros": "gru"}


def small_tables(spec: ModelSpec, max_rows: int = 64) -> ModelSpec:
    """``spec`` with every table capped at ``max_rows`` rows (the same graph but for sizes)."""
    data = spec.model_dump(exclude_unset=True)
    for table in data.get("tables", []):
        rows = table["rows"]
        table["rows"] = [min(r, max_rows) for r in rows] if isinstance(rows, list) else min(rows, max_rows)
    return ModelSpec.model_validate(data)


def normalise(names: list[str]) -> list[str]:
    """Top-level ATen op names (``aten::`` prefix optional) as the graph counts them."""
    ops = [n.split("::", 1)[-1] for n in names]
    ops = [n for n in ops if n not in VIEW_OPS]
    out: list[str] = []
    for i, name in enumerate(ops):
        if name in CALL_HELPERS and i + 1 < len(ops) and ops[i + 1] == CALL_HELPERS[name]:
            continue
        out.append(name)
    return out


def traced_ops(spec: ModelSpec, batch: int = 4, max_rows: int = 64) -> list[str]:
    """The forward pass's top-level ATen ops of ``spec``'s PyTorch model (one CPU inference of
    ``batch`` items, tables capped at ``max_rows``), normalised by :func:`normalise`."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from dse.calibrate.torch_model import build_module, make_inputs

    small = small_tables(spec, max_rows)
    module = build_module(small)
    inputs = make_inputs(small, batch)
    with torch.inference_mode():
        module(*inputs)  # first call: lazy initialisation stays out of the trace
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            with record_function("dse.forward"):
                module(*inputs)
    root = next(e for e in prof.events() if e.name == "dse.forward")
    children = sorted(root.cpu_children, key=lambda e: e.time_range.start)
    return normalise([e.name for e in children])


@dataclass(frozen=True)
class OpsComparison:
    """The graph's framework operators against the trace; ``mismatch`` names the first disagreement."""

    model: str
    graph_ops: list[tuple[str, str, tuple[str, ...]]]  # node, kind, framework ops
    traced: list[str]
    mismatch: str | None

    @property
    def graph_launches(self) -> int:
        return sum(len(ops) for _, _, ops in self.graph_ops)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "graph_launches": self.graph_launches,
            "traced_launches": len(self.traced),
            "mismatch": self.mismatch,
        }


def graph_ops(graph: nx.DiGraph) -> list[tuple[str, str, tuple[str, ...]]]:
    """(node, kind, framework ops) of every non-input node, in the order they were lowered."""
    out = []
    for name in graph.nodes:
        op = graph.nodes[name]["op"]
        if op.kind is not OpKind.INPUT:
            out.append((name, op.kind.value, tuple(op.framework_ops)))
    return out


def compare_ops(spec: ModelSpec, batch: int = 4) -> OpsComparison:
    """Trace ``spec``'s PyTorch model and compare node by node with its graph (:func:`lower`)."""
    nodes = graph_ops(lower(spec))
    traced = traced_ops(spec, batch)
    return OpsComparison(spec.name, nodes, traced, first_mismatch(nodes, traced))


def first_mismatch(nodes: list[tuple[str, str, tuple[str, ...]]], traced: list[str]) -> str | None:
    """A one-line description of the first node whose framework ops are not the next ones of the
    trace (or of what is left over), None when the two agree exactly."""
    pos = 0
    for name, kind, ops in nodes:
        if not ops:
            return f"{name} ({kind}): no framework ops recorded in the graph"
        got = traced[pos : pos + len(ops)]
        if list(ops) != got:
            return f"{name} ({kind}): graph {list(ops)}, trace {got} at op {pos}"
        pos += len(ops)
    if pos != len(traced):
        return f"trace has {len(traced) - pos} op(s) more than the graph: {traced[pos:pos + 8]}"
    return None
