"""A PyTorch module built from a :class:`~dse.specs.model.ModelSpec` (for ``dse measure``).

It runs exactly what the spec (and FACTS.md section 1) describes, with the op sequence the graph
formulas of ``dse/graph/ops.py`` count:

- a pooled lookup is one ``embedding_bag`` (``sum`` or ``mean``) per table over a fixed number of
  indices per sample; an unpooled lookup one ``embedding`` (a sequence); a table shared by
  several lookups (DIN's ``items``) is one weight tensor;
- ``mlp``: ``Linear`` layers with ReLU between them and ``final`` after the last one;
- ``interaction concat``: one ``cat`` of the flattened inputs; ``dot``: stack the vectors,
  ``bmm(X, Xᵀ)``, take the strictly lower triangle, ``cat`` it after the first input;
- ``elementwise``: chained binary ``add``/``mul``; ``activation``: relu / sigmoid / softmax over
  the flattened tensor;
- ``attention, score: mlp`` (DIN): ``keys ⊙ query``, ``cat(keys, query, product)``, the scoring
  MLP (ReLU after each hidden layer, one output), then ``Σ w·key`` or ``w·key``; no softmax;
- ``attention, score: bilinear`` (DIEN): ``W·query`` (no bias), ``⟨h_t, W·query⟩`` by ``bmm``,
  softmax over t, ``w·h_t`` (and the sum when pooled);
- ``gru``: ``nn.GRU`` (batch first), every hidden state or the last one.

Tensors are kept per sample as a list of ``(b, width)`` pieces (one per table of a group, so a
concatenation reads the embedding outputs directly) or a ``(b, steps, dim)`` sequence.
"""

from __future__ import annotations

from typing import Any

from dse.specs.model import (
    ActivationBlock,
    AttentionBlock,
    ElementwiseBlock,
    GruBlock,
    InteractionBlock,
    MlpBlock,
    ModelSpec,
)


def build_module(spec: ModelSpec, seed: int = 0) -> Any:
    """A ``torch.nn.Module`` computing ``spec``; ``forward(dense, indices)`` returns the outputs."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    torch.manual_seed(seed)
    dtype = {4: torch.float32, 2: torch.float16, 8: torch.float64, 1: torch.float32}[spec.precision_bytes]

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
            shapes = spec.shapes
            for block in spec.blocks:
                if isinstance(block, MlpBlock):
                    width = shapes[block.input].width
                    mods = []
                    for n in block.layers:
                        mods.append(nn.Linear(width, n).to(dtype))
                        width = n
                    self.layers[block.name] = nn.ModuleList(mods)
                elif isinstance(block, AttentionBlock):
                    keys, query = shapes[block.keys], shapes[block.query]
                    if block.score == "mlp":
                        widths = [3 * keys.dim, *block.mlp, 1]
                        self.layers[block.name] = nn.ModuleList(
                            nn.Linear(k, n).to(dtype) for k, n in zip(widths[:-1], widths[1:])
                        )
                    else:
                        self.layers[block.name] = nn.Linear(query.dim, keys.dim, bias=False).to(dtype)
                elif isinstance(block, GruBlock):
                    seq = shapes[block.input]
                    self.layers[block.name] = nn.GRU(seq.dim, block.hidden, batch_first=True).to(dtype)
            self.eval()

        @staticmethod
        def flat(value: Any) -> Any:
            if isinstance(value, list):
                return value[0] if len(value) == 1 else torch.cat(value, dim=1)
            return value.reshape(value.shape[0], -1)

        def forward(self, dense: Any, indices: dict[str, list[Any]]) -> tuple[Any, ...]:
            env: dict[str, Any] = {}
            if dense is not None:
                env["dense"] = [dense]
            tables = {t.name: t for t in spec.tables}
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
            for block in spec.blocks:
                if isinstance(block, MlpBlock):
                    x = self.flat(env[block.input])
                    mods = self.layers[block.name]
                    for i, lin in enumerate(mods):
                        x = lin(x)
                        act = "relu" if i < len(mods) - 1 else block.final
                        if act == "relu":
                            x = torch.relu(x)
                        elif act == "sigmoid":
                            x = torch.sigmoid(x)
                        elif act == "softmax":
                            x = torch.softmax(x, dim=-1)
                    env[block.name] = [x]
                elif isinstance(block, InteractionBlock):
                    if block.op == "concat":
                        pieces = []
                        for name in block.inputs:
                            v = env[name]
                            pieces.extend(v if isinstance(v, list) else [self.flat(v)])
                        env[block.name] = [torch.cat(pieces, dim=1)]
                    else:
                        vectors = []
                        for name in block.inputs:
                            v = env[name]
                            for piece in v if isinstance(v, list) else [self.flat(v)]:
                                b = piece.shape[0]
                                vectors.append(piece.reshape(b, -1, spec.shapes[name].dim))
                        x = torch.cat(vectors, dim=1)  # (b, n, d): the stacked X
                        z = torch.bmm(x, x.transpose(1, 2))
                        n = x.shape[1]
                        li, lj = torch.tril_indices(n, n, offset=-1)
                        pairs = z[:, li, lj]
                        env[block.name] = [torch.cat([self.flat(env[block.inputs[0]]), pairs], dim=1)]
                elif isinstance(block, ElementwiseBlock):
                    vals = env[block.inputs[0]]
                    x = self.flat(vals) if isinstance(vals, list) else vals
                    for name in block.inputs[1:]:
                        y = env[name]
                        y = self.flat(y) if isinstance(y, list) else y
                        x = x + y if block.op == "add" else x * y
                    env[block.name] = [x] if x.dim() == 2 else x
                elif isinstance(block, ActivationBlock):
                    x = self.flat(env[block.input])
                    if block.op == "relu":
                        x = torch.relu(x)
                    elif block.op == "sigmoid":
                        x = torch.sigmoid(x)
                    else:
                        x = torch.softmax(x, dim=-1)
                    env[block.name] = [x]
                elif isinstance(block, AttentionBlock):
                    keys = env[block.keys]  # (b, S, d) sequence
                    query = self.flat(env[block.query])  # (b, dq)
                    pooled = block.output == "pooled"
                    if block.score == "mlp":
                        q = query.unsqueeze(1).expand(-1, keys.shape[1], -1)
                        prod = keys * q
                        x = torch.cat([keys, q, prod], dim=-1)
                        mods = self.layers[block.name]
                        for lin in mods[:-1]:
                            x = torch.relu(lin(x))
                        w = mods[-1](x)  # (b, S, 1)
                    else:
                        wq = self.layers[block.name](query)  # (b, dk)
                        scores = torch.bmm(keys, wq.unsqueeze(2))  # (b, S, 1)
                        w = torch.softmax(scores, dim=1)
                    scaled = w * keys
                    env[block.name] = [scaled.sum(dim=1)] if pooled else scaled
                elif isinstance(block, GruBlock):
                    seq = env[block.input]
                    out, h_n = self.layers[block.name](seq)
                    env[block.name] = out if block.return_sequence else [h_n[-1]]
            return tuple(self.flat(env[o]) for o in spec.outputs)

    return SpecModule()


def make_inputs(spec: ModelSpec, batch: int, device: str = "cpu", generator: Any = None) -> tuple[Any, dict[str, list[Any]]]:
    """Random inputs for one batch: dense features and, per lookup, one index tensor per table
    (``(batch, per_sample)``, uniform over the table's rows)."""
    import torch

    dtype = {4: torch.float32, 2: torch.float16, 8: torch.float64, 1: torch.float32}[spec.precision_bytes]
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
