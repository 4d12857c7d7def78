"""Block kinds: how each kind of model-spec block lowers to operators and runs in PyTorch.

A block kind is two classes. Its schema in ``dse/specs/model.py`` (a :class:`BlockSchema`
subclass listed in ``BLOCK_SCHEMAS``) holds its fields and checks its shapes when a spec is
loaded (the specs layer cannot see operators). Its :class:`BlockKind` here, registered in
:data:`BLOCK_KINDS`, turns a validated block into operator nodes (:meth:`BlockKind.lower`) and
builds and runs it with PyTorch for ``dse measure`` (:meth:`BlockKind.torch_layer`,
:meth:`BlockKind.torch_forward`), so that the operators a kind is costed as and the eager ops it is
measured as sit side by side. Nothing here imports torch at module level: the torch methods
import it when called.

PyTorch values follow one convention: a tensor is either a list of ``(b, width)`` pieces (one per
table of a group, so a concatenation reads the embedding outputs directly) or a ``(b, steps,
dim)`` sequence.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from dse.graph import ops
from dse.graph.ops import Op, OpKind
from dse.graph.opgraph import OpGraph
from dse.specs.model import (
    ActivationBlock,
    AttentionBlock,
    BlockSchema,
    ElementwiseBlock,
    GruBlock,
    InteractionBlock,
    MlpBlock,
    TensorShape,
    block_kind,
)

_ACTIVATION_KINDS = {"relu": OpKind.RELU, "sigmoid": OpKind.SIGMOID, "softmax": OpKind.SOFTMAX}

B = TypeVar("B", bound=BlockSchema)


@dataclass
class GraphBuilder:
    """An operator graph being built, and which of its nodes produce each named tensor."""

    graph: OpGraph
    shapes: dict[str, TensorShape]
    precision: int
    producers: dict[str, list[str]] = field(default_factory=dict)

    def add(self, op: Op, inputs: list[str]) -> str:
        """Add ``op`` with edges from the nodes ``inputs``; returns its node name."""
        return self.graph.add(op, inputs)

    def sources(self, tensor_names: list[str]) -> list[str]:
        """The nodes whose outputs form the tensors ``tensor_names``, in order."""
        return [node for t in tensor_names for node in self.producers[t]]

    def add_reading(self, op: Op, block: BlockSchema) -> list[str]:
        """Add ``op`` as the one node of ``block``, reading every tensor the block reads."""
        return [self.add(op, self.sources(block.input_names()))]


class BlockKind(ABC, Generic[B]):
    """Lowering and PyTorch execution of one block kind (its schema is :attr:`schema`)."""

    schema: ClassVar[type[BlockSchema]]

    @abstractmethod
    def lower(self, block: B, builder: GraphBuilder) -> list[str]:
        """Add the block's operators to ``builder``; return the nodes whose outputs form its tensor."""

    @abstractmethod
    def torch_layer(self, block: B, shapes: dict[str, TensorShape], dtype: Any) -> Any:
        """The block's parameters as a ``torch.nn.Module`` of ``dtype``, or None when it has none.

        Called once per block, in spec order after the embedding tables, under a fixed seed: the
        order in which layers are created fixes the initial weights.
        """

    @abstractmethod
    def torch_forward(self, block: B, layer: Any, inputs: list[Any], shapes: dict[str, TensorShape]) -> Any:
        """The block's output value from ``inputs`` (the values of ``block.input_names()``)."""


def flat(value: Any) -> Any:
    """A value as one ``(b, width)`` tensor: pieces joined, a sequence flattened per item."""
    import torch

    if isinstance(value, list):
        return value[0] if len(value) == 1 else torch.cat(value, dim=1)
    return value.reshape(value.shape[0], -1)


def _activate(x: Any, act: str) -> Any:
    """``act`` (relu, sigmoid, softmax over the last axis, or none) applied to ``x``."""
    import torch

    if act == "relu":
        return torch.relu(x)
    if act == "sigmoid":
        return torch.sigmoid(x)
    if act == "softmax":
        return torch.softmax(x, dim=-1)
    return x


class Mlp(BlockKind[MlpBlock]):
    """``Linear`` layers (``B.fc{i}``) with ReLU (``B.relu{i}``) between them, ``final`` after the last."""

    schema = MlpBlock

    def lower(self, block: MlpBlock, builder: GraphBuilder) -> list[str]:
        p = builder.precision
        prev = builder.sources([block.input])
        width = builder.shapes[block.input].width
        for i, n in enumerate(block.layers):
            prev = [builder.add(ops.fc(f"{block.name}.fc{i}", width, n, p), prev)]
            width = n
            act = "relu" if i < len(block.layers) - 1 else block.final
            if act != "none":
                suffix = f"{act}{i}" if act == "relu" else act
                prev = [builder.add(ops.activation(f"{block.name}.{suffix}", _ACTIVATION_KINDS[act], n, p), prev)]
        return prev

    def torch_layer(self, block: MlpBlock, shapes: dict[str, TensorShape], dtype: Any) -> Any:
        from torch import nn

        widths = [shapes[block.input].width, *block.layers]
        return nn.ModuleList(nn.Linear(k, n).to(dtype) for k, n in zip(widths[:-1], widths[1:]))

    def torch_forward(self, block: MlpBlock, layer: Any, inputs: list[Any], shapes: dict[str, TensorShape]) -> Any:
        x = flat(inputs[0])
        for i, linear in enumerate(layer):
            x = _activate(linear(x), "relu" if i < len(layer) - 1 else block.final)
        return [x]


class Interaction(BlockKind[InteractionBlock]):
    """``concat``: one ``cat`` of the flattened inputs. ``dot``: stack the vectors, ``bmm(X, Xᵀ)``,
    take the strictly lower triangle, ``cat`` it after the first input."""

    schema = InteractionBlock

    def lower(self, block: InteractionBlock, builder: GraphBuilder) -> list[str]:
        ins = [builder.shapes[n] for n in block.inputs]
        if block.op == "concat":
            op = ops.concat(block.name, [s.width for s in ins], builder.precision)
        else:
            op = ops.dot_interaction(block.name, sum(s.count for s in ins), ins[0].dim, ins[0].width, builder.precision)
        return builder.add_reading(op, block)

    def torch_layer(self, block: InteractionBlock, shapes: dict[str, TensorShape], dtype: Any) -> Any:
        return None

    def torch_forward(
        self, block: InteractionBlock, layer: Any, inputs: list[Any], shapes: dict[str, TensorShape]
    ) -> Any:
        import torch

        pieces_of = [v if isinstance(v, list) else [flat(v)] for v in inputs]
        if block.op == "concat":
            return [torch.cat([piece for pieces in pieces_of for piece in pieces], dim=1)]
        vectors = [
            piece.reshape(piece.shape[0], -1, shapes[name].dim)
            for name, pieces in zip(block.inputs, pieces_of)
            for piece in pieces
        ]
        x = torch.cat(vectors, dim=1)  # (b, n, d): the stacked X
        z = torch.bmm(x, x.transpose(1, 2))
        n = x.shape[1]
        li, lj = torch.tril_indices(n, n, offset=-1)
        return [torch.cat([flat(inputs[0]), z[:, li, lj]], dim=1)]


class Elementwise(BlockKind[ElementwiseBlock]):
    """Chained binary ``add`` / ``mul`` of same-shaped tensors."""

    schema = ElementwiseBlock

    def lower(self, block: ElementwiseBlock, builder: GraphBuilder) -> list[str]:
        width = builder.shapes[block.inputs[0]].width
        return builder.add_reading(ops.elementwise(block.name, block.op, width, len(block.inputs), builder.precision), block)

    def torch_layer(self, block: ElementwiseBlock, shapes: dict[str, TensorShape], dtype: Any) -> Any:
        return None

    def torch_forward(
        self, block: ElementwiseBlock, layer: Any, inputs: list[Any], shapes: dict[str, TensorShape]
    ) -> Any:
        x = flat(inputs[0]) if isinstance(inputs[0], list) else inputs[0]
        for value in inputs[1:]:
            y = flat(value) if isinstance(value, list) else value
            x = x + y if block.op == "add" else x * y
        return [x] if x.dim() == 2 else x


class Activation(BlockKind[ActivationBlock]):
    """A stand-alone relu / sigmoid / softmax over the flattened tensor."""

    schema = ActivationBlock

    def lower(self, block: ActivationBlock, builder: GraphBuilder) -> list[str]:
        width = builder.shapes[block.input].width
        return builder.add_reading(ops.activation(block.name, _ACTIVATION_KINDS[block.op], width, builder.precision), block)

    def torch_layer(self, block: ActivationBlock, shapes: dict[str, TensorShape], dtype: Any) -> Any:
        return None

    def torch_forward(
        self, block: ActivationBlock, layer: Any, inputs: list[Any], shapes: dict[str, TensorShape]
    ) -> Any:
        return [_activate(flat(inputs[0]), block.op)]


class Attention(BlockKind[AttentionBlock]):
    """``score: mlp`` (DIN): ``keys ⊙ query``, ``cat(keys, query, product)``, the scoring MLP (ReLU
    after each hidden layer, one output), no softmax. ``score: bilinear`` (DIEN): ``W·query`` (no
    bias), ``⟨h_t, W·query⟩`` by ``bmm``, softmax over t. Then ``Σ w·key`` (pooled) or ``w·key``."""

    schema = AttentionBlock

    def lower(self, block: AttentionBlock, builder: GraphBuilder) -> list[str]:
        keys, query = builder.shapes[block.keys], builder.shapes[block.query]
        pooled = block.output == "pooled"
        if block.score == "mlp":
            op = ops.mlp_attention(block.name, keys.count, keys.dim, block.mlp, pooled, builder.precision)
        else:
            op = ops.bilinear_attention(block.name, keys.count, keys.dim, query.dim, pooled, builder.precision)
        return builder.add_reading(op, block)

    def torch_layer(self, block: AttentionBlock, shapes: dict[str, TensorShape], dtype: Any) -> Any:
        from torch import nn

        keys, query = shapes[block.keys], shapes[block.query]
        if block.score == "mlp":
            widths = [3 * keys.dim, *block.mlp, 1]
            return nn.ModuleList(nn.Linear(k, n).to(dtype) for k, n in zip(widths[:-1], widths[1:]))
        return nn.Linear(query.dim, keys.dim, bias=False).to(dtype)

    def torch_forward(self, block: AttentionBlock, layer: Any, inputs: list[Any], shapes: dict[str, TensorShape]) -> Any:
        import torch

        query, keys = flat(inputs[0]), inputs[1]  # (b, dq) and the (b, S, d) sequence
        if block.score == "mlp":
            q = query.unsqueeze(1).expand(-1, keys.shape[1], -1)
            x = torch.cat([keys, q, keys * q], dim=-1)
            for linear in layer[:-1]:
                x = torch.relu(linear(x))
            weights = layer[-1](x)  # (b, S, 1)
        else:
            scores = torch.bmm(keys, layer(query).unsqueeze(2))  # (b, S, 1)
            weights = torch.softmax(scores, dim=1)
        scaled = weights * keys
        return [scaled.sum(dim=1)] if block.output == "pooled" else scaled


class Gru(BlockKind[GruBlock]):
    """``nn.GRU`` (batch first): every hidden state (a sequence) or the last one."""

    schema = GruBlock

    def lower(self, block: GruBlock, builder: GraphBuilder) -> list[str]:
        seq = builder.shapes[block.input]
        op = ops.gru(block.name, seq.count, seq.dim, block.hidden, block.return_sequence, builder.precision)
        return builder.add_reading(op, block)

    def torch_layer(self, block: GruBlock, shapes: dict[str, TensorShape], dtype: Any) -> Any:
        from torch import nn

        return nn.GRU(shapes[block.input].dim, block.hidden, batch_first=True).to(dtype)

    def torch_forward(self, block: GruBlock, layer: Any, inputs: list[Any], shapes: dict[str, TensorShape]) -> Any:
        out, h_n = layer(inputs[0])
        return out if block.return_sequence else [h_n[-1]]


#: The block kinds by their ``kind:`` value.
BLOCK_KINDS: dict[str, BlockKind[Any]] = {
    block_kind(cls.schema): cls() for cls in (Mlp, Interaction, Elementwise, Activation, Attention, Gru)
}
