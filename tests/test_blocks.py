"""Block kinds: every kind a spec may name has shape inference (its schema), lowering and a
PyTorch builder (its BlockKind), and nothing is registered on one side only."""

import inspect
import typing

import pytest

from dse.graph.blocks import BLOCK_KINDS, BlockKind
from dse.specs.model import BLOCK_SCHEMAS, Block, BlockSchema, ModelSpec, block_kind


def _implements(cls: type, base: type, method: str) -> bool:
    """Whether ``cls`` overrides ``base``'s abstract ``method`` with a concrete one."""
    own = getattr(cls, method)
    return own is not getattr(base, method) and not getattr(own, "__isabstractmethod__", False)


def test_the_spec_union_admits_exactly_the_registered_schemas():
    union = typing.get_args(typing.get_args(Block)[0])
    assert union == BLOCK_SCHEMAS
    assert typing.get_args(ModelSpec.model_fields["blocks"].annotation)[0] == Block


def test_every_schema_has_a_kind_and_every_kind_a_schema():
    schema_kinds = [block_kind(schema) for schema in BLOCK_SCHEMAS]
    assert len(set(schema_kinds)) == len(schema_kinds)
    assert sorted(BLOCK_KINDS) == sorted(schema_kinds)
    for kind, impl in BLOCK_KINDS.items():
        assert block_kind(impl.schema) == kind


@pytest.mark.parametrize("schema", BLOCK_SCHEMAS, ids=block_kind)
def test_every_kind_infers_shapes_lowers_and_builds_in_torch(schema):
    assert issubclass(schema, BlockSchema)
    for method in ("infer_shape", "input_names"):
        assert _implements(schema, BlockSchema, method), f"{schema.__name__} lacks {method}"
    impl = type(BLOCK_KINDS[block_kind(schema)])
    assert not inspect.isabstract(impl)
    for method in ("lower", "torch_layer", "torch_forward"):
        assert _implements(impl, BlockKind, method), f"{impl.__name__} lacks {method}"


def test_block_kind_names_the_literal():
    from dse.specs.model import GruBlock, MlpBlock

    assert block_kind(MlpBlock) == "mlp" and block_kind(GruBlock) == "gru"
