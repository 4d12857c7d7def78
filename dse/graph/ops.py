"""Operator kinds and their cost formulas as functions of the batch size b.

Every formula is affine in b: a per-batch part (weights, read once) plus a per-item part
(activations, gathered rows). So an :class:`Op` stores coefficients and evaluates them on a
scalar or a numpy array of batch sizes at once.

Conventions (docs/graph.md gives the derivations):

- FLOPs count a multiply-add as 2. Bias additions are fused into the GEMM and not counted.
- ``streamed_bytes(b)`` = weight bytes (once per batch) + activation bytes per item × b, where an
  operator's activations are the inputs it reads plus the outputs it writes; a fused operator
  (attention unit, GRU, dot interaction) stands for a chain of eager framework ops, each of which
  writes its result and the next one reads it back, so every intermediate it materialises counts
  twice (written, then read: 2 passes).
- ``gathered_bytes(b)`` = embedding rows fetched at data-dependent addresses (irregular).
- ``framework_ops`` = the eager ATen operators the node dispatches per call, in order (views such as
  ``reshape`` or ``expand`` dispatch no work and are left out; so are the ops a framework call
  runs inside itself to prepare its arguments: ``F.embedding_bag``'s offsets, ``nn.GRU``'s zero
  initial state). ``tests/test_graph_optrace.py`` checks them against ``torch.profiler``'s trace.
- ``launches`` = framework operator dispatches (kernel launches on a GPU) per call: the number of
  ``framework_ops``.
- ``allocations`` = the tensors an eager framework allocates per call (its output and every
  intermediate it materialises; views such as ``expand`` or ``chunk`` allocate nothing), as
  ``(bytes per item, how many)`` pairs: a tensor of ``bytes per item × b`` bytes, that many times.
  Used by the allocator page-fault term (``dse/cost/alloc.py``): a tensor above the allocator's
  threshold is mapped fresh on every call and its pages fault in on first touch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dse.specs.opkinds import OpKind  # re-exported: the graph's users import it from here

# numpy loads on the first array of batch sizes: listing models costs one batch size, and numpy
# costs about 0.1 s of a command's start-up
if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike


#: FLOPs per element of the element-wise kinds (exp and division counted as one FLOP each).
ACTIVATION_FLOPS_PER_ELEMENT = {OpKind.RELU: 1.0, OpKind.SIGMOID: 4.0, OpKind.SOFTMAX: 5.0}
#: FLOPs per hidden unit and time step for a GRU's gate non-linearities and blends.
GRU_ELEMENTWISE_FLOPS_PER_UNIT = 16.0


def as_batch(batch: ArrayLike) -> float | np.ndarray:
    """Batch sizes as floats: one Python ``float`` for one size, else a numpy array of them."""
    if isinstance(batch, (int, float)):
        return float(batch)
    import numpy as np

    return np.asarray(batch, dtype=float)


@dataclass(frozen=True)
class Op:
    """One operator node. All byte counts in bytes, all FLOP counts in FLOPs (multiply-add = 2)."""

    name: str
    kind: OpKind
    flops_per_item: float = 0.0
    weight_bytes: float = 0.0
    activation_bytes_per_item: float = 0.0
    gathered_bytes_per_item: float = 0.0
    rows_per_item: float = 0.0
    row_bytes: float = 0.0
    table_bytes: float = 0.0
    table: str | None = None
    irregularity: float = 0.0
    launches: int = 1
    sequential_steps: int = 1
    shape: dict[str, Any] = field(default_factory=dict)
    allocations: tuple[tuple[float, int], ...] = ()
    framework_ops: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.framework_ops and len(self.framework_ops) != self.launches:
            raise ValueError(f"{self.name}: {self.launches} launches but framework ops {self.framework_ops}")

    def flops(self, batch: ArrayLike) -> np.ndarray | float:
        """FLOPs for a batch of ``batch`` items."""
        return self.flops_per_item * as_batch(batch)

    def streamed_bytes(self, batch: ArrayLike) -> np.ndarray | float:
        """Bytes read or written sequentially: weights once, activations per item."""
        return self.weight_bytes + self.activation_bytes_per_item * as_batch(batch)

    def gathered_bytes(self, batch: ArrayLike) -> np.ndarray | float:
        """Bytes of embedding rows fetched at data-dependent addresses."""
        return self.gathered_bytes_per_item * as_batch(batch)

    def rows_touched(self, batch: ArrayLike) -> np.ndarray | float:
        """Embedding rows fetched (with repetition) for a batch."""
        return self.rows_per_item * as_batch(batch)

    def arithmetic_intensity(self, batch: ArrayLike) -> np.ndarray | float:
        """FLOPs per byte moved (streamed + gathered)."""
        import numpy as np

        moved = self.streamed_bytes(batch) + self.gathered_bytes(batch)
        return np.divide(self.flops(batch), moved, out=np.zeros_like(np.asarray(moved, float)), where=moved > 0)

    def as_dict(self, batch: int) -> dict[str, Any]:
        """JSON-ready description at one batch size."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "flops": float(self.flops(batch)),
            "streamed_bytes": float(self.streamed_bytes(batch)),
            "gathered_bytes": float(self.gathered_bytes(batch)),
            "rows_touched": float(self.rows_touched(batch)),
            "weight_bytes": float(self.weight_bytes),
            "table_bytes": float(self.table_bytes),
            "irregularity": float(self.irregularity),
            "launches": int(self.launches),
            "framework_ops": list(self.framework_ops),
            "shape": dict(self.shape),
        }


def input_op(
    name: str, bytes_per_item: float, what: str, blobs: int = 1, elements_per_item: float = 0.0, tensors: int = 1
) -> Op:
    """A graph input: ``bytes_per_item`` is what a host sends an accelerator per item; a harness
    that feeds it passes ``blobs`` tensors and converts ``elements_per_item`` Python list elements
    per item to arrays (the software stack prices both: dse/cost/transfer.py). ``tensors``: the
    tensors a framework that takes fixed-size bags as one 2-D index tensor per table passes (no
    lengths; PyTorch as ``dse measure`` feeds it), each its own host-to-device copy there."""
    return Op(
        name,
        OpKind.INPUT,
        activation_bytes_per_item=0.0,
        launches=0,
        shape={
            "bytes_per_item": bytes_per_item,
            "what": what,
            "blobs": int(blobs),
            "tensors": int(tensors),
            "elements_per_item": float(elements_per_item),
        },
    )


def fc(name: str, k: int, n: int, precision: int) -> Op:
    """Linear(k→n) on a batch: 2kn FLOPs/item; weights (k·n + n)·p; activations (k + n)·p per item."""
    return Op(
        name,
        OpKind.FC,
        flops_per_item=2.0 * k * n,
        weight_bytes=float((k * n + n) * precision),
        activation_bytes_per_item=float((k + n) * precision),
        shape={"k": k, "n": n},
        allocations=((float(n * precision), 1),),  # the output
        framework_ops=("linear",),
    )


def embedding_bag(
    name: str,
    *,
    table: str,
    rows: int,
    dim: int,
    lookups: int,
    precision: int,
    index_bytes: int,
    mode: str = "sum",
    irregularity: float = 1.0,
) -> Op:
    """EmbeddingBag / SparseLengthsSum over one table.

    Per item: gathers ``lookups`` rows of ``dim·p`` bytes; pools them with (lookups-1)·dim adds
    (+ dim divisions for ``mean``); streams the indices, one offset, and writes one ``dim`` vector.
    """
    row_bytes = dim * precision
    flops = (lookups - 1) * dim + (dim if mode == "mean" else 0)
    return Op(
        name,
        OpKind.EMBEDDING_BAG,
        flops_per_item=float(flops),
        activation_bytes_per_item=float((lookups + 1) * index_bytes + row_bytes),
        gathered_bytes_per_item=float(lookups * row_bytes),
        rows_per_item=float(lookups),
        row_bytes=float(row_bytes),
        table_bytes=float(rows * row_bytes),
        table=table,
        irregularity=irregularity,
        shape={"rows": rows, "dim": dim, "lookups": lookups, "mode": mode},
        allocations=((float(row_bytes), 1),),  # the pooled output
        framework_ops=("embedding_bag",),
    )


def embedding(
    name: str,
    *,
    table: str,
    rows: int,
    dim: int,
    lookups: int,
    precision: int,
    index_bytes: int,
    irregularity: float = 1.0,
) -> Op:
    """Embedding without pooling (a sequence): gathers and writes ``lookups`` rows per item."""
    row_bytes = dim * precision
    return Op(
        name,
        OpKind.EMBEDDING,
        activation_bytes_per_item=float(lookups * index_bytes + lookups * row_bytes),
        gathered_bytes_per_item=float(lookups * row_bytes),
        rows_per_item=float(lookups),
        row_bytes=float(row_bytes),
        table_bytes=float(rows * row_bytes),
        table=table,
        irregularity=irregularity,
        shape={"rows": rows, "dim": dim, "lookups": lookups},
        allocations=((float(lookups * row_bytes), 1),),  # the gathered sequence
        framework_ops=("embedding",),
    )


def concat(name: str, widths: list[int], precision: int) -> Op:
    """Concatenation: no FLOPs; reads every input and writes the joined vector (2·W·p per item)."""
    total = sum(widths)
    return Op(
        name,
        OpKind.INTERACTION,
        activation_bytes_per_item=float(2 * total * precision),
        shape={"op": "concat", "widths": list(widths), "out": total},
        allocations=((float(total * precision), 1),),
        framework_ops=("cat",),
    )


def dot_interaction(name: str, vectors: int, dim: int, first_width: int, precision: int) -> Op:
    """DLRM dot interaction of ``vectors`` vectors of ``dim``: Z = X·Xᵀ (2·n²·d FLOPs per item, as
    the batched GEMM computes the full square), then the n(n-1)/2 distinct entries are concatenated
    after the first input. Bytes per item: read the inputs (n·d); intermediates written and read
    (2 passes each): the stacked X (n·d), Z (n²), the selected pairs (n(n-1)/2); write the output."""
    pairs = vectors * (vectors - 1) // 2
    out = first_width + pairs
    intermediates = vectors * dim + vectors * vectors + pairs
    return Op(
        name,
        OpKind.INTERACTION,
        flops_per_item=2.0 * vectors * vectors * dim,
        activation_bytes_per_item=float((vectors * dim + 2 * intermediates + out) * precision),
        # stack the vectors, Z = bmm(X, Xᵀ) (the transpose is a view), the triangle's indices,
        # gather the pairs, join them after the first input
        launches=5,
        framework_ops=("cat", "bmm", "tril_indices", "index", "cat"),
        # tril_indices builds the pair indices (two int64 tensors of n(n-1)/2) on the host every
        # pass (the DLRM reference builds them on the host too, from Python lists); ``index``
        # follows the first three framework ops, after the bmm (all the FLOPs) and the bytes of
        # reading the inputs, writing and reading X and writing Z
        shape={"op": "dot", "vectors": vectors, "dim": dim, "out": out,
               "host_index_tensors": 2, "host_index_bytes": float(2 * pairs * 8), "launches_before_index": 3,
               "stream_share_before_index": (3 * vectors * dim + vectors * vectors) / (vectors * dim + 2 * intermediates + out)},
        # cat → X, bmm → Z, index → pairs, cat → output
        allocations=tuple((float(w * precision), 1) for w in (vectors * dim, vectors * vectors, pairs, out)),
    )


def elementwise(name: str, op: str, width: int, n_inputs: int, precision: int) -> Op:
    """Element-wise add/mul of ``n_inputs`` tensors of ``width``: (n-1)·w FLOPs, (n+1)·w·p bytes."""
    return Op(
        name,
        OpKind.ELEMENTWISE,
        flops_per_item=float((n_inputs - 1) * width),
        activation_bytes_per_item=float((n_inputs + 1) * width * precision),
        launches=n_inputs - 1,
        framework_ops=(op,) * (n_inputs - 1),
        shape={"op": op, "width": width, "inputs": n_inputs},
        allocations=((float(width * precision), n_inputs - 1),),  # one result per binary op
    )


def activation(name: str, kind: OpKind, width: int, precision: int) -> Op:
    """ReLU / sigmoid / softmax over ``width`` elements: reads and writes each once."""
    return Op(
        name,
        kind,
        flops_per_item=ACTIVATION_FLOPS_PER_ELEMENT[kind] * width,
        activation_bytes_per_item=float(2 * width * precision),
        shape={"width": width},
        allocations=((float(width * precision), 1),),
        framework_ops=(kind.value,),
    )


def mlp_attention(name: str, steps: int, dim: int, hidden: list[int], pooled: bool, precision: int) -> Op:
    """DIN activation unit over ``steps`` behaviours of ``dim``.

    Per step: key⊙query (d FLOPs); MLP on concat(key, query, key⊙query) = 3d through ``hidden``
    (ReLU after each, 1 FLOP per element) to 1 score; then the weighted sum Σ w·key (2·d per step:
    multiply and add) or the scaled keys w·key (d per step). No softmax (as in DIN).

    Bytes per item: read the keys (S·d) and the query (d); every intermediate the unit
    materialises is written by one eager op and read by the next (2 passes): key⊙query (S·d), the
    concat (S·3d), the hidden activations (S·Σh), the scores (S) and, when pooled, the weighted
    keys w·key (S·d) before the sum; write the output (d pooled, S·d scaled). Weights Σ(k·n + n)·p.
    """
    widths = [3 * dim, *hidden, 1]
    mlp_flops = sum(2.0 * k * n for k, n in zip(widths[:-1], widths[1:])) + sum(hidden)
    combine = 2.0 * dim if pooled else float(dim)
    weights = sum((k * n + n) for k, n in zip(widths[:-1], widths[1:])) * precision
    out_width = dim if pooled else steps * dim
    intermediates = steps * (dim + 3 * dim + sum(hidden) + 1 + (dim if pooled else 0))
    acts = steps * dim + dim + 2 * intermediates + out_width
    return Op(
        name,
        OpKind.ATTENTION,
        flops_per_item=steps * (dim + mlp_flops + combine),
        weight_bytes=float(weights),
        activation_bytes_per_item=float(acts * precision),
        # key⊙query, cat, (linear, relu) per hidden layer, linear, w·key, (sum when pooled); the
        # query's unsqueeze and expand are views
        launches=2 + 2 * len(hidden) + 2 + (1 if pooled else 0),
        framework_ops=("mul", "cat", *(("linear", "relu") * len(hidden)), "linear", "mul") + (("sum",) if pooled else ()),
        shape={"score": "mlp", "steps": steps, "dim": dim, "hidden": list(hidden), "pooled": pooled},
        # key⊙query, the concat, per hidden layer the Linear output and the ReLU output, the
        # scores, w·key, and the sum when pooled (the expanded query is a view)
        allocations=tuple(
            (float(w * precision), 1)
            for w in (steps * dim, steps * 3 * dim, *(steps * h for h in hidden for _ in (0, 1)), steps, steps * dim)
        )
        + (((float(dim * precision), 1),) if pooled else ()),
    )


def bilinear_attention(name: str, steps: int, key_dim: int, query_dim: int, pooled: bool, precision: int) -> Op:
    """DIEN attention: s_t = ⟨h_t, W·q⟩ (W: query_dim→key_dim), softmax over t, then w_t·h_t.

    FLOPs per item: 2·dq·dk (project q) + 2·S·dk (scores) + 5·S (softmax) + S·dk (scale)
    (+ S·dk for the sum when pooled). Weights dq·dk·p (no bias).

    Bytes per item: read q (dq) and the keys (S·dk); intermediates written then read (2 passes):
    W·q (dk), scores, exponentials and weights (3·S) and, when pooled, the scaled keys (S·dk)
    before the sum; write the output (dk pooled, S·dk scaled).
    """
    flops = 2.0 * query_dim * key_dim + steps * (2.0 * key_dim + 5.0 + key_dim) + (steps * key_dim if pooled else 0)
    out_width = key_dim if pooled else steps * key_dim
    intermediates = key_dim + 3 * steps + (steps * key_dim if pooled else 0)
    acts = query_dim + steps * key_dim + 2 * intermediates + out_width
    return Op(
        name,
        OpKind.ATTENTION,
        flops_per_item=flops,
        weight_bytes=float(query_dim * key_dim * precision),
        activation_bytes_per_item=float(acts * precision),
        launches=4 + (1 if pooled else 0),
        framework_ops=("linear", "bmm", "softmax", "mul") + (("sum",) if pooled else ()),
        shape={"score": "bilinear", "steps": steps, "dim": key_dim, "query_dim": query_dim, "pooled": pooled},
        # W·q, the scores, their softmax, w·h (and the sum when pooled)
        allocations=tuple((float(w * precision), 1) for w in (key_dim, steps, steps, steps * key_dim))
        + (((float(key_dim * precision), 1),) if pooled else ()),
    )


def gru(name: str, steps: int, input_dim: int, hidden: int, return_sequence: bool, precision: int) -> Op:
    """GRU over ``steps`` steps (PyTorch ``nn.GRU`` form, h₀ = 0 still computed).

    FLOPs per step: 3 gates of W_i·x + W_h·h, i.e. 6·h·(i + h), plus 16·h for the gate
    non-linearities and blends. Weights 3·(i·h + h·h + 2h)·p (two biases per gate).
    Bytes per item: read the inputs (S·i); per step the intermediates are written by one eager
    op and read by the next (2 passes): the gate pre-activations from x and from h (6h), the
    activated gates r, z, n (3h) and the hidden state (h), i.e. 2·S·10h (with
    ``return_sequence`` the hidden states are the output, otherwise the last one is). Steps are
    sequential (``sequential_steps`` = S).
    """
    per_step = 6.0 * hidden * (input_dim + hidden) + GRU_ELEMENTWISE_FLOPS_PER_UNIT * hidden
    acts = steps * input_dim + 2 * steps * (6 * hidden + 3 * hidden + hidden)
    return Op(
        name,
        OpKind.GRU,
        flops_per_item=steps * per_step,
        weight_bytes=float(3 * (input_dim * hidden + hidden * hidden + 2 * hidden) * precision),
        activation_bytes_per_item=float(acts * precision),
        sequential_steps=steps,
        # one ATen gru call runs the whole sequence; what a step costs depends on the device's
        # path (dse/cost/recurrent.py: step by step, or one persistent cuDNN kernel)
        framework_ops=("gru",),
        shape={"steps": steps, "input": input_dim, "hidden": hidden, "return_sequence": return_sequence, "precision": precision},
        # ATen's CPU GRU (batch first): a contiguous time-major copy of the input (S·i), the input
        # projection of every step at once (S·3h); per step the hidden projection (3h), the new
        # gate (h) and the new hidden state (h); the stacked outputs (S·h)
        allocations=(
            (float(steps * input_dim * precision), 1),
            (float(steps * 3 * hidden * precision), 1),
            (float(3 * hidden * precision), steps),
            (float(hidden * precision), 2 * steps),
            (float(steps * hidden * precision), 1),
        ),
    )
