"""Schema of a recommendation-model spec (``modelspecs/*.yaml``).

A spec names its inputs (dense features and embedding lookups into tables) and a list of blocks,
each consuming tensors defined before it, so a valid spec is a DAG by construction. Shape inference
runs at validation time: a dangling reference or a width mismatch is a one-line error naming the
field, e.g. ``blocks[1].inputs: dot interaction needs equal dims: 'bottom' has dim 64, 'sparse' has
dim 32``. docs/modelspecs.md describes the format for architects.

Each block kind is a :class:`BlockSchema` subclass that checks its own inputs and infers its
output's shape; its lowering to operators and its PyTorch form are in ``dse/graph/blocks.py``.

Widths are per sample; every tensor is a ``count × dim`` block of fp values (``count`` vectors of
``dim`` elements; for sequences, ``count`` is the sequence length).
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union, get_args

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
#: Largest count in a model spec (rows, widths, lookups): a trillion is beyond any embedding table
#: or layer (production tables reach about 1e10 rows) and keeps every product of counts finite.
MAX_SIZE = 10**12
#: A positive integer that refuses YAML booleans.
Size = Annotated[PositiveInt, _NoBool, Field(le=MAX_SIZE)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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


def _shape_error(field: str, message: str) -> ValueError:
    return ValueError(f"{field}: {message}")


class ShapeScope:
    """The tensors defined so far while a spec is checked: each one's shape, and the field defining it."""

    def __init__(self) -> None:
        self.shapes: dict[str, TensorShape] = {}
        self.defined_by: dict[str, str] = {}

    def define(self, field: str, name: str, shape: TensorShape) -> None:
        """Define tensor ``name`` (``field`` is where: ``lookups[0]``, ``blocks[2]``)."""
        if name in self.shapes:
            raise _shape_error(f"{field}.name", f"name '{name}' is already defined by {self.defined_by[name]}")
        self.shapes[name] = shape
        self.defined_by[name] = field

    def ref(self, field: str, name: str, what: str = "input", where: str = "defined before it") -> TensorShape:
        """The shape of tensor ``name``, read by ``field``; an unknown name is an error naming ``field``."""
        if name not in self.shapes:
            if name == "dense":
                hint = " (set dense_features > 0 to use 'dense')"
            else:
                close = difflib.get_close_matches(name, list(self.shapes), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
            known = ", ".join(self.shapes) or "none"
            raise _shape_error(field, f"unknown {what} '{name}'{hint}; {where}: {known}")
        return self.shapes[name]

    def ref_vectors(self, field: str, names: list[str], before: str) -> list[TensorShape]:
        """The shapes of ``names`` (read by ``field.inputs``), none of which may be a sequence."""
        shapes = [self.ref(f"{field}.inputs[{j}]", n) for j, n in enumerate(names)]
        for j, (n, s) in enumerate(zip(names, shapes)):
            if s.sequence:
                raise _shape_error(f"{field}.inputs[{j}]", f"'{n}' is a sequence; pool it before {before}")
        return shapes


class BlockSchema(_Strict, ABC):
    """A block kind's schema: its fields, the tensors it reads and the shape of its output.

    Adding a block kind: a subclass here (listed in :data:`BLOCK_SCHEMAS`) and its lowering and
    PyTorch counterpart in ``dse/graph/blocks.py`` (docs/graph.md, "Adding a block kind").
    """

    kind: str
    name: Name

    @abstractmethod
    def input_names(self) -> list[str]:
        """Names of the tensors the block reads, in order."""

    @abstractmethod
    def infer_shape(self, field: str, scope: ShapeScope) -> TensorShape:
        """Per-sample shape of the block's output; raises ``ValueError("field: message")``.

        ``field`` is the block's place in the spec (``blocks[2]``), the prefix of its errors.
        """


class MlpBlock(BlockSchema):
    """A stack of fully connected layers; ReLU between layers, ``final`` after the last one."""

    kind: Literal["mlp"]
    name: Name
    input: Name
    layers: Annotated[list[Size], Field(min_length=1)]
    final: Literal["none", "relu", "sigmoid", "softmax"] = "none"

    def input_names(self) -> list[str]:
        return [self.input]

    def infer_shape(self, field: str, scope: ShapeScope) -> TensorShape:
        if scope.ref(f"{field}.input", self.input).sequence:
            raise _shape_error(f"{field}.input", f"'{self.input}' is a sequence; pool it before an MLP")
        return TensorShape(1, self.layers[-1])


class InteractionBlock(BlockSchema):
    """Feature interaction: ``concat`` flattens and joins; ``dot`` is DLRM's pairwise dot product
    (output = the first input, flattened, followed by the n(n-1)/2 distinct dot products of all n
    input vectors)."""

    kind: Literal["interaction"]
    name: Name
    op: Literal["concat", "dot"]
    inputs: Annotated[list[Name], Field(min_length=1)]

    def input_names(self) -> list[str]:
        return list(self.inputs)

    def infer_shape(self, field: str, scope: ShapeScope) -> TensorShape:
        ins = scope.ref_vectors(field, self.inputs, "an interaction")
        if self.op == "concat":
            return TensorShape(1, sum(s.width for s in ins))
        if len({s.dim for s in ins}) > 1:
            detail = ", ".join(f"'{n}' has dim {s.dim}" for n, s in zip(self.inputs, ins))
            raise _shape_error(f"{field}.inputs", f"dot interaction needs equal dims: {detail}")
        vectors = sum(s.count for s in ins)
        if vectors < 2:
            raise _shape_error(f"{field}.inputs", "dot interaction needs at least two vectors")
        return TensorShape(1, ins[0].width + vectors * (vectors - 1) // 2)


class ElementwiseBlock(BlockSchema):
    """Element-wise ``add`` or ``mul`` of same-shaped tensors (e.g. NCF's GMF, WnD's deep + wide)."""

    kind: Literal["elementwise"]
    name: Name
    op: Literal["add", "mul"]
    inputs: Annotated[list[Name], Field(min_length=2)]

    def input_names(self) -> list[str]:
        return list(self.inputs)

    def infer_shape(self, field: str, scope: ShapeScope) -> TensorShape:
        ins = [scope.ref(f"{field}.inputs[{j}]", n) for j, n in enumerate(self.inputs)]
        if len({(s.count, s.dim, s.sequence) for s in ins}) > 1:
            detail = ", ".join(
                f"'{n}' is {'a sequence of ' if s.sequence else ''}{s.count}x{s.dim}" for n, s in zip(self.inputs, ins)
            )
            raise _shape_error(f"{field}.inputs", f"element-wise {self.op} needs equal shapes: {detail}")
        return ins[0]


class ActivationBlock(BlockSchema):
    """A stand-alone activation over one tensor."""

    kind: Literal["activation"]
    name: Name
    op: Literal["relu", "sigmoid", "softmax"]
    input: Name

    def input_names(self) -> list[str]:
        return [self.input]

    def infer_shape(self, field: str, scope: ShapeScope) -> TensorShape:
        return scope.ref(f"{field}.input", self.input)


class AttentionBlock(BlockSchema):
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

    def input_names(self) -> list[str]:
        return [self.query, self.keys]

    def infer_shape(self, field: str, scope: ShapeScope) -> TensorShape:
        query = scope.ref(f"{field}.query", self.query)
        keys = scope.ref(f"{field}.keys", self.keys)
        if query.sequence or query.count != 1:
            raise _shape_error(f"{field}.query", f"'{self.query}' must be a single vector, it is {query.count}x{query.dim}")
        if not keys.sequence:
            raise _shape_error(f"{field}.keys", f"'{self.keys}' must be a sequence (an unpooled lookup or a GRU)")
        if self.score == "mlp" and query.dim != keys.dim:
            raise _shape_error(f"{field}.query", f"mlp attention needs equal dims: query {query.dim}, keys {keys.dim}")
        if self.score == "bilinear" and "mlp" in self.model_fields_set:
            raise _shape_error(f"{field}.mlp", "only used with score: mlp")
        if self.output == "pooled":
            return TensorShape(1, keys.dim)
        return TensorShape(keys.count, keys.dim, sequence=True)


class GruBlock(BlockSchema):
    """A GRU over a sequence; returns every hidden state or only the last one."""

    kind: Literal["gru"]
    name: Name
    input: Name
    hidden: Size
    return_sequence: bool = True

    def input_names(self) -> list[str]:
        return [self.input]

    def infer_shape(self, field: str, scope: ShapeScope) -> TensorShape:
        seq = scope.ref(f"{field}.input", self.input)
        if not seq.sequence:
            raise _shape_error(f"{field}.input", f"'{self.input}' must be a sequence (an unpooled lookup or a GRU)")
        if self.return_sequence:
            return TensorShape(seq.count, self.hidden, sequence=True)
        return TensorShape(1, self.hidden)


#: Every block kind's schema; the order is the one error messages list the kinds in.
BLOCK_SCHEMAS: tuple[type[BlockSchema], ...] = (
    MlpBlock,
    InteractionBlock,
    ElementwiseBlock,
    ActivationBlock,
    AttentionBlock,
    GruBlock,
)

Block = Annotated[Union[BLOCK_SCHEMAS], Field(discriminator="kind")]  # type: ignore[valid-type]


def block_kind(schema: type[BlockSchema]) -> str:
    """The ``kind:`` value that selects ``schema`` (``"mlp"`` for :class:`MlpBlock`)."""
    return get_args(schema.model_fields["kind"].annotation)[0]


class ModelSpec(_Strict):
    """A recommendation model, as an architect writes it in YAML."""

    name: Name
    description: str = ""
    source: str = ""
    precision_bytes: Annotated[Literal[1, 2, 4, 8], _NoBool] = 4
    index_bytes: Annotated[Literal[4, 8], _NoBool] = 8
    dense_features: Annotated[int, _NoBool] = Field(0, ge=0, le=MAX_SIZE)
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


def infer_shapes(spec: ModelSpec) -> dict[str, TensorShape]:
    """Per-sample shape of every named tensor, checking references and widths on the way.

    Raises ``ValueError("field: message")`` on the first inconsistency. Besides widths it checks
    that names are unique, that every table is looked up, and that every tensor (the dense
    features, each lookup, each block) is read by a later block or is an output, so that the
    lowered graph has no dead ends.
    """
    scope = ShapeScope()
    if spec.dense_features > 0:
        scope.define("dense_features", "dense", TensorShape(1, spec.dense_features))
    _define_lookups(spec, _tables_by_name(spec), scope)
    for i, block in enumerate(spec.blocks):
        field = f"blocks[{i}]"
        scope.define(field, block.name, block.infer_shape(field, scope))
    for i, out_name in enumerate(spec.outputs):
        scope.ref(f"outputs[{i}]", out_name, "tensor", "defined")
        if out_name in spec.outputs[:i]:
            raise _shape_error(f"outputs[{i}]", f"'{out_name}' is listed twice")
    _check_everything_read(spec, scope)
    return scope.shapes


def _tables_by_name(spec: ModelSpec) -> dict[str, TableSpec]:
    tables: dict[str, TableSpec] = {}
    for i, table in enumerate(spec.tables):
        if table.name in tables:
            raise _shape_error(f"tables[{i}].name", f"duplicate table name '{table.name}'")
        tables[table.name] = table
    return tables


def _define_lookups(spec: ModelSpec, tables: dict[str, TableSpec], scope: ShapeScope) -> None:
    """Define every lookup's tensor (a vector per table, or a sequence when unpooled); every table
    must be looked up."""
    used_tables: set[str] = set()
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
            scope.define(field, lookup.name, TensorShape(lookup.per_sample, table.dim, sequence=True))
        else:
            scope.define(field, lookup.name, TensorShape(table.n_tables, table.dim))
    for i, table in enumerate(spec.tables):
        if table.name not in used_tables:
            raise _shape_error(f"tables[{i}]", f"table '{table.name}' is never looked up")


def _check_everything_read(spec: ModelSpec, scope: ShapeScope) -> None:
    """Every tensor is read by a block or is an output: the lowered graph has no dead ends."""
    consumed: set[str] = set(spec.outputs)
    for block in spec.blocks:
        consumed.update(block.input_names())
    if scope.defined_by.get("dense") == "dense_features" and "dense" not in consumed:
        raise _shape_error("dense_features", "the dense features are never used (no block reads 'dense')")
    for i, lookup in enumerate(spec.lookups):
        if lookup.name not in consumed:
            raise _shape_error(f"lookups[{i}]", f"lookup '{lookup.name}' is neither used nor an output")
    for i, block in enumerate(spec.blocks):
        if block.name not in consumed:
            raise _shape_error(f"blocks[{i}]", f"block '{block.name}' is neither used nor an output")


def load_model_spec(path: Path | str) -> ModelSpec:
    """Load and validate a model spec; every problem is a one-line :class:`~dse.errors.SpecError`."""
    return validate_spec(ModelSpec, load_yaml(Path(path)), path)
