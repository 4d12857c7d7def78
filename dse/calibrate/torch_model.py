"""A PyTorch module built from a :class:`~dse.specs.model.ModelSpec` (for ``dse measure``).

It runs exactly what the spec (and FACTS.md section 1) describes, with the op sequence the graph
formulas of ``dse/graph/ops.py`` count, in the graph's order (``dse/graph/lower.py``: the MLPs on
the dense features before the lookups, as facebookresearch/dlrm's ``sequential_forward``). A
pooled lookup is one ``embedding_bag`` (``sum`` or ``mean``) per table over a fixed number of
indices per sample; an unpooled lookup one
``embedding`` (a sequence); a table shared by several lookups (DIN's ``items``) is one weight
tensor. Each block runs as its kind in ``dse/graph/blocks.py`` says (``torch_layer``,
``torch_forward``), which also holds the convention for values (pieces or a sequence).
"""

from __future__ import annotations

from typing import Any

from dse.graph.blocks import BLOCK_KINDS, flat
from dse.graph.lower import dense_blocks
from dse.specs.model import ModelSpec


def _dtype(torch: Any, precision_bytes: int) -> Any:
    """The torch dtype of ``precision_bytes``-byte values (int8 specs run in fp32)."""
    return {4: torch.float32, 2: torch.float16, 8: torch.float64, 1: torch.float32}[precision_bytes]


def build_module(spec: ModelSpec, seed: int = 0) -> Any:
    """A ``torch.nn.Module`` computing ``spec``; ``forward(dense, indices)`` returns the outputs."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(seed)
    dtype = _dtype(torch, spec.precision_bytes)
    shapes = spec.shapes
    tables = {t.name: t for t in spec.tables}
    steps = [(block, BLOCK_KINDS[block.kind], block.input_names()) for block in spec.blocks]
    dense_only = dense_blocks(spec)
    first = [s for s in steps if s[0].name in dense_only]

    class SpecModule(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.spec = spec
            self.tables = nn.ParameterDict()
            for table in spec.tables:
                for j, rows in enumerate(table.rows_per_table):
                    w = torch.empty(rows, table.dim, dtype=dtype)
                    w.uniform_(-0.05, 0.05)  # touches every page: no first-touch faults while timing
                    self.tables[f"{table.name}__{j}"] = nn.Parameter(w, requires_grad=False)
            self.layers = nn.ModuleDict()
            for block, kind, _ in steps:
                layer = kind.torch_layer(block, shapes, dtype)
                if layer is not None:
                    self.layers[block.name] = layer
            self.eval()

        def forward(self, dense: Any, indices: dict[str, list[Any]]) -> tuple[Any, ...]:
            env: dict[str, Any] = {}
            if dense is not None:
                env["dense"] = [dense]
            self._run(env, first)  # the MLPs on the dense features, as dse/graph/lower.py orders a pass
            for lookup in spec.lookups:
                table = tables[lookup.table]
                idx = indices[lookup.name]
                if lookup.pooling == "none":
                    env[lookup.name] = F.embedding(idx[0], self.tables[f"{table.name}__0"])
                else:
                    env[lookup.name] = [
                        F.embedding_bag(idx[j], self.tables[f"{table.name}__{j}"], mode=lookup.pooling)
                        for j in range(table.n_tables)
                    ]
            self._run(env, [s for s in steps if s not in first])
            return tuple(flat(env[o]) for o in spec.outputs)

        def _run(self, env: dict[str, Any], blocks: list) -> None:
            for block, kind, names in blocks:
                layer = self.layers[block.name] if block.name in self.layers else None
                env[block.name] = kind.torch_forward(block, layer, [env[n] for n in names], shapes)

    return SpecModule()


def make_inputs(spec: ModelSpec, batch: int, device: str = "cpu", generator: Any = None) -> tuple[Any, dict[str, list[Any]]]:
    """Random inputs for one batch: dense features and, per lookup, one index tensor per table
    (``(batch, per_sample)``, uniform over the table's rows)."""
    import torch

    dtype = _dtype(torch, spec.precision_bytes)
    dense = torch.randn(batch, spec.dense_features, dtype=dtype, device=device, generator=generator) if spec.dense_features else None
    tables = {t.name: t for t in spec.tables}
    idx_dtype = torch.int64 if spec.index_bytes == 8 else torch.int32
    indices = {}
    for lookup in spec.lookups:
        table = tables[lookup.table]
        indices[lookup.name] = [
            torch.randint(0, rows, (batch, lookup.per_sample), dtype=idx_dtype, device=device, generator=generator)
            for rows in table.rows_per_table
        ]
    return dense, indices
