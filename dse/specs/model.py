"""Schema of a recommendation-model spec (``modelspecs/*.yaml``).

A spec names its inputs (dense features and embedding lookups into tables) and a list of blocks,
each consuming tensors defined before it, so a valid spec is a DAG by construction. Shape inference
runs at validation time: a dangling reference or a width mismatch is a one-line error naming the
field, e.g. ``blocks[1].inputs: dot interaction needs equal dims: 'bottom' has dim 64, 'sparse' has
dim 32``. docs/modelspecs.md describes the format for architects.

Widths are per sample; every tensor is a ``count × dim`` block of fp values (``count`` vectors of
``dim`` elements; for sequences, ``count`` is the sequence length).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dse.specs.loading import load_yaml, validate_spec

Name = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def _not_bool(value: object) -> object:
    """YAML reads ``yes``/``no``/``true``/``on`` as booleans, which pydantic would take as 1 and 0."""
    if isinstance(value, bool):
        raise ValueError(f"should be a number, not {str(value).lower()}")
    return value


_NoBool = BeforeValidator(_not_bool)
#: A positive integer that refuses YAML booleans.
Size = Annotated[PositiveInt, _NoBool]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class TensorShape:
    """Per-sample shape of a tensor: ``count`` vectors of ``dim`` elements."""

    count: int
    dim: int
    sequence: bool = False

    @property
    def width(self) -> int:
        """Elements per sample once flattened."""
        return self.count * self.dim


class TableSpec(_Strict):
    """One embedding table, or a group of ``count`` tables of the same dim.

    ``rows`` is one number (every table in the group has it) or a list with one entry per table.
    """

    name: Name
    rows: Size | list[Size]
    dim: Size
    count: Size | None = None
    source: str | None = None

    @field_validator("rows")
    @classmethod
    def _rows_not_empty(cls, rows: int | list[int]) -> int | list[int]:
        if isinstance(rows, list) and not rows:
            raise ValueError("the rows list is empty; give one row count per table")
        return rows

    @field_validator("count")
    @classmethod
    def _count_matches_rows(cls, count: int | None, info: ValidationInfo) -> int | None:
        rows = info.data.get("rows")
        if count is not None and isinstance(rows, list) and count != len(rows):
            raise ValueError(f"{count} does not match the {len(rows)} entries of rows")
        return count

    @property
    def n_tables(self) -> int:
        if isinstance(self.rows, list):
            return len(self.rows)
        return self.count or 1

    @property
    def rows_per_table(self) -> list[int]:
        if isinstance(self.rows, list):
            return list(self.rows)
        return [self.rows] * self.n_tables


class LookupSpec(_Strict):
    """A sparse feature: ``per_sample`` lookups into every table of ``table`` for each sample.

    ``pooling: sum`` (SparseLengthsSum / EmbeddingBag sum) or ``mean`` pools the rows into one
    vector per table; ``none`` keeps them as a sequence (behaviour histories in DIN/DIEN).
    ``irregularity`` is the fraction of row fetches that behave as independent random accesses
    (1.0 for uniform random indices; lower for streams with reuse or spatial locality).
    """

    name: Name
    table: Name
    per_sample: Size
    pooling: Literal["sum", "mean", "none"] = "sum"
    irregularity: Annotated[float, _NoBool] = Field(1.0, gt=0.0, le=1.0)


class MlpBlock(_Strict):
    """A stack of fully connected layers; ReLU between layers, ``final`` after the last one."""

    kind: Literal["mlp"]
    name: Name
    input: Name
    layers: Annotated[list[Size], Field(min_length=1)]
    final: Literal["none", "relu", "sigmoid", "softmax"] = "none"


class InteractionBlock(_Strict):
    """Feature interaction: ``concat`` flattens and joins; ``dot`` is DLRM's pairwise dot product
    (output = the first input, flattened, followed by the n(n-1)/2 distinct dot products of all n
    input vectors)."""

    kind: Literal["interaction"]
    name: Name
    op: Literal["concat", "dot"]
    inputs: Annotated[list[Name], Field(min_length=1)]


class ElementwiseBlock(_Strict):
    """Element-wise ``add`` or ``mul`` of same-shaped tensors (e.g. NCF's GMF, WnD's deep + wide)."""

    kind: Literal["elementwise"]
    name: Name
    op: Literal["add", "mul"]
    inputs: Annotated[list[Name], Field(min_length=2)]


class ActivationBlock(_Strict):
    """A stand-alone activation over one tensor."""

    kind: Literal["activation"]
    name: Name
    op: Literal["relu", "sigmoid", "softmax"]
    input: Name


class AttentionBlock(_Strict):
    """Attention of a ``query`` vector over a ``keys`` sequence.

    ``score: mlp`` is DIN's activation unit: an MLP (hidden ``mlp`` widths, ReLU, then 1 output) on
    concat(key, query, key⊙query) for every step. ``score: bilinear`` is DIEN's ⟨h_t, W·query⟩
    followed by a softmax over steps. ``output: pooled`` returns Σ_t w_t·key_t (one vector);
    ``scaled_sequence`` returns w_t·key_t for every step (DIEN's AIGRU input).
    """

    kind: Literal["attention"]
    name: Name
    query: Name
    keys: Name
    score: Literal["mlp", "bilinear"] = "mlp"
    mlp: list[Size] = Field(default_factory=lambda: [36])
    output: Literal["pooled", "scaled_sequence"] = "pooled"


class GruBlock(_Strict):
    """A GRU over a sequence; returns every hidden state or only the last one."""

    kind: Literal["gru"]
    name: Name
    input: Name
    hidden: Size
    return_sequence: bool = True


Block = Annotated[
    Union[MlpBlock, InteractionBlock, ElementwiseBlock, ActivationBlock, AttentionBlock, GruBlock],
    Field(discriminator="kind"),
]


class ModelSpec(_Strict):
    """A recommendation model, as an architect writes it in YAML."""

    name: Name
    description: str = ""
    source: str = ""
    precision_bytes: Annotated[Literal[1, 2, 4, 8], _NoBool] = 4
    index_bytes: Annotated[Literal[4, 8], _NoBool] = 8
    dense_features: Annotated[int, _NoBool] = Field(0, ge=0)
    tables: list[TableSpec] = Field(default_factory=list)
    lookups: list[LookupSpec] = Field(default_factory=list)
    blocks: Annotated[list[Block], Field(min_length=1)]
    outputs: Annotated[list[Name], Field(min_length=1)]

    @model_validator(mode="after")
    def _check_graph(self) -> "ModelSpec":
        infer_shapes(self)
        return self

    def table(self, name: str) -> TableSpec:
        return next(t for t in self.tables if t.name == name)

    @property
    def table_bytes(self) -> int:
        """Bytes of all embedding tables (a table shared by several lookups counts once)."""
        return sum(sum(t.rows_per_table) * t.dim * self.precision_bytes for t in self.tables)

    @property
    def shapes(self) -> dict[str, TensorShape]:
        return infer_shapes(self)


def _shape_error(field: str, message: str) -> ValueError:
    return ValueError(f"{field}: {message}")


def infer_shapes(spec: ModelSpec) -> dict[str, TensorShape]:
    """Per-sample shape of every named tensor, checking references and widths on the way.

    Raises ``ValueError("field: message")`` on the first inconsistency. Besides widths it checks
    that names are unique, that every table is looked up, and that every tensor (the dense
    features, each lookup, each block) is read by a later block or is an output, so that the
    lowered graph has no dead ends.
    """
    shapes: dict[str, TensorShape] = {}
    defined_by: dict[str, str] = {}
    if spec.dense_features > 0:
        shapes["dense"] = TensorShape(1, spec.dense_features)
        defined_by["dense"] = "dense_features"
    tables: dict[str, TableSpec] = {}
    for i, table in enumerate(spec.tables):
        if table.name in tables:
            raise _shape_error(f"tables[{i}].name", f"duplicate table name '{table.name}'")
        tables[table.name] = table
    used_tables: set[str] = set()

    def define(field: str, name: str, shape: TensorShape) -> None:
        if name in shapes:
            raise _shape_error(f"{field}.name", f"name '{name}' is already defined by {defined_by[name]}")
        shapes[name] = shape
        defined_by[name] = field

    def ref(field: str, name: str, what: str = "input", where: str = "defined before it") -> TensorShape:
        if name not in shapes:
            if name == "dense":
                hint = " (set dense_features > 0 to use 'dense')"
            else:
                close = difflib.get_close_matches(name, list(shapes), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(shapes) or "none"
            raise _shape_error(field, f"unknown {what} '{name}'{hint}; {where}: {known}")
        return shapes[name]

    for i, lookup in enumerate(spec.lookups):
        field = f"lookups[{i}]"
        if lookup.table not in tables:
            known = ", ".join(tables) or "none"
            raise _shape_error(f"{field}.table", f"unknown table '{lookup.table}' (tables: {known})")
        table = tables[lookup.table]
        used_tables.add(table.name)
        if lookup.pooling == "none":
            if table.n_tables != 1:
                raise _shape_error(
                    f"{field}.pooling",
                    f"unpooled lookups need a single table, but '{table.name}' is a group of {table.n_tables}",
                )
            define(field, lookup.name, TensorShape(lookup.per_sample, table.dim, sequence=True))
        else:
            define(field, lookup.name, TensorShape(table.n_tables, table.dim))
    for i, table in enumerate(spec.tables):
        if table.name not in used_tables:
            raise _shape_error(f"tables[{i}]", f"table '{table.name}' is never looked up")

    for i, block in enumerate(spec.blocks):
        field = f"blocks[{i}]"
        if isinstance(block, MlpBlock):
            shape = ref(f"{field}.input", block.input)
            if shape.sequence:
                raise _shape_error(f"{field}.input", f"'{block.input}' is a sequence; pool it before an MLP")
            out = TensorShape(1, block.layers[-1])
        elif isinstance(block, InteractionBlock):
            ins = [ref(f"{field}.inputs[{j}]", n) for j, n in enumerate(block.inputs)]
            for j, (n, s) in enumerate(zip(block.inputs, ins)):
                if s.sequence:
                    raise _shape_error(
                        f"{field}.inputs[{j}]", f"'{n}' is a sequence; pool it before an interaction"
                    )
            if block.op == "concat":
                out = TensorShape(1, sum(s.width for s in ins))
            else:
                dims = {s.dim for s in ins}
                if len(dims) > 1:
                    detail = ", ".join(f"'{n}' has dim {s.dim}" for n, s in zip(block.inputs, ins))
                    raise _shape_error(f"{field}.inputs", f"dot interaction needs equal dims: {detail}")
                vectors = sum(s.count for s in ins)
                if vectors < 2:
                    raise _shape_error(f"{field}.inputs", "dot interaction needs at least two vectors")
                out = TensorShape(1, ins[0].width + vectors * (vectors - 1) // 2)
        elif isinstance(block, ElementwiseBlock):
            ins = [ref(f"{field}.inputs[{j}]", n) for j, n in enumerate(block.inputs)]
            if len({(s.count, s.dim, s.sequence) for s in ins}) > 1:
                detail = ", ".join(
                    f"'{n}' is {'a sequence of ' if s.sequence else ''}{s.count}x{s.dim}"
                    for n, s in zip(block.inputs, ins)
                )
                raise _shape_error(f"{field}.inputs", f"element-wise {block.op} needs equal shapes: {detail}")
            out = ins[0]
        elif isinstance(block, ActivationBlock):
            out = ref(f"{field}.input", block.input)
        elif isinstance(block, AttentionBlock):
            query = ref(f"{field}.query", block.query)
            keys = ref(f"{field}.keys", block.keys)
            if query.sequence or query.count != 1:
                raise _shape_error(
                    f"{field}.query", f"'{block.query}' must be a single vector, it is {query.count}x{query.dim}"
                )
            if not keys.sequence:
                raise _shape_error(
                    f"{field}.keys", f"'{block.keys}' must be a sequence (an unpooled lookup or a GRU)"
                )
            if block.score == "mlp" and query.dim != keys.dim:
                raise _shape_error(
                    f"{field}.query", f"mlp attention needs equal dims: query {query.dim}, keys {keys.dim}"
                )
            if block.score == "bilinear" and "mlp" in block.model_fields_set:
                raise _shape_error(f"{field}.mlp", "only used with score: mlp")
            if block.output == "pooled":
                out = TensorShape(1, keys.dim)
            else:
                out = TensorShape(keys.count, keys.dim, sequence=True)
        elif isinstance(block, GruBlock):
            seq = ref(f"{field}.input", block.input)
            if not seq.sequence:
                raise _shape_error(
                    f"{field}.input", f"'{block.input}' must be a sequence (an unpooled lookup or a GRU)"
                )
            out = (
                TensorShape(seq.count, block.hidden, sequence=True)
                if block.return_sequence
                else TensorShape(1, block.hidden)
            )
        else:  # pragma: no cover - the discriminated union admits nothing else
            raise _shape_error(field, f"unknown block kind {block.kind!r}")
        define(field, block.name, out)

    for i, out_name in enumerate(spec.outputs):
        ref(f"outputs[{i}]", out_name, "tensor", "defined")
        if out_name in spec.outputs[:i]:
            raise _shape_error(f"outputs[{i}]", f"'{out_name}' is listed twice")
    consumed: set[str] = set(spec.outputs)
    for block in spec.blocks:
        consumed.update(block_inputs(block))
    if "dense" in defined_by and defined_by["dense"] == "dense_features" and "dense" not in consumed:
        raise _shape_error("dense_features", "the dense features are never used (no block reads 'dense')")
    for i, lookup in enumerate(spec.lookups):
        if lookup.name not in consumed:
            raise _shape_error(f"lookups[{i}]", f"lookup '{lookup.name}' is neither used nor an output")
    for i, block in enumerate(spec.blocks):
        if block.name not in consumed:
            raise _shape_error(f"blocks[{i}]", f"block '{block.name}' is neither used nor an output")
    return shapes


def block_inputs(block: Block) -> list[str]:
    """Names of the tensors a block reads, in order."""
    if isinstance(block, (InteractionBlock, ElementwiseBlock)):
        return list(block.inputs)
    if isinstance(block, AttentionBlock):
        return [block.query, block.keys]
    return [block.input]


def load_model_spec(path: Path | str) -> ModelSpec:
    """Load and validate a model spec; every problem is a one-line :class:`~dse.errors.SpecError`."""
    return validate_spec(ModelSpec, load_yaml(Path(path)), path)
