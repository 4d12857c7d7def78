"""Every operator kind's cost formulas against hand counts written out here.

The expected numbers are counted by hand from the operator's definition (docs/graph.md), not
computed with the formula code, so a change of convention shows up as a failing test.
Conventions: a multiply-add is 2 FLOPs; biases are not counted as FLOPs; weights are read once
per batch; activations are read/written once per item; the intermediates of a fused operator
(attention, GRU, dot interaction) are written by one eager op and read by the next: 2 passes.
"""

import numpy as np
import pytest

from dse.graph import ops
from dse.graph.ops import OpKind

BATCHES = np.array([1, 4, 16, 1000])


def check_affine(op, batch, *, flops, streamed_fixed, streamed_per_item, gathered=0.0, rows=0.0):
    """Check op costs at every batch size in ``batch`` (evaluated as one numpy array)."""
    b = np.asarray(batch, dtype=float)
    np.testing.assert_allclose(op.flops(b), flops * b)
    np.testing.assert_allclose(op.streamed_bytes(b), streamed_fixed + streamed_per_item * b)
    np.testing.assert_allclose(op.gathered_bytes(b), gathered * b)
    np.testing.assert_allclose(op.rows_touched(b), rows * b)
    assert np.shape(op.flops(b)) == b.shape


def test_input():
    op = ops.input_op("dense", 52.0, "dense features")
    assert op.kind is OpKind.INPUT
    # an input costs nothing inside the graph; what the host ships per item is recorded
    check_affine(op, BATCHES, flops=0, streamed_fixed=0, streamed_per_item=0)
    assert op.launches == 0
    assert op.shape["bytes_per_item"] == 52.0


def test_fc():
    # Linear(3 -> 5) in fp32: 15 MACs = 30 FLOPs per item (bias add not counted).
    # Weights 3*5 + 5 bias = 20 params = 80 B once per batch; activations in 3 + out 5 = 8 floats = 32 B per item.
    op = ops.fc("l", k=3, n=5, precision=4)
    assert op.kind is OpKind.FC
    check_affine(op, BATCHES, flops=30, streamed_fixed=80, streamed_per_item=32)
    assert op.weight_bytes == 80
    assert list(op.streamed_bytes(np.array([1, 4, 16]))) == [112, 208, 592]
    assert op.launches == 1


def test_fc_fp16():
    # Linear(128 -> 64) in 2-byte precision: 8192 MACs; weights (8192 + 64) * 2 = 16512 B; (128 + 64) * 2 = 384 B/item
    op = ops.fc("l", k=128, n=64, precision=2)
    check_affine(op, BATCHES, flops=16384, streamed_fixed=16512, streamed_per_item=384)


def test_embedding_bag_sum():
    # 5 lookups of dim 8 (fp32, 32 B rows) from a 1000-row table, 8-byte indices.
    # Pool: 4 vector adds of 8 = 32 FLOPs. Gathered 5 rows * 32 B = 160 B.
    # Streamed: 5 indices + 1 offset = 48 B, plus the 32 B pooled output = 80 B per item; no weights.
    op = ops.embedding_bag("e", table="t", rows=1000, dim=8, lookups=5, precision=4, index_bytes=8)
    assert op.kind is OpKind.EMBEDDING_BAG
    check_affine(op, BATCHES, flops=32, streamed_fixed=0, streamed_per_item=80, gathered=160, rows=5)
    assert op.row_bytes == 32
    assert op.table_bytes == 32_000
    assert op.table == "t"
    assert op.irregularity == 1.0
    assert op.weight_bytes == 0


def test_embedding_bag_mean():
    # as above, plus one division per output element: 32 + 8 = 40 FLOPs per item
    op = ops.embedding_bag(
        "e", table="t", rows=1000, dim=8, lookups=5, precision=4, index_bytes=8, mode="mean", irregularity=0.5
    )
    check_affine(op, BATCHES, flops=40, streamed_fixed=0, streamed_per_item=80, gathered=160, rows=5)
    assert op.irregularity == 0.5
    assert op.shape["mode"] == "mean"


def test_embedding_bag_single_lookup_has_no_adds():
    # one lookup of dim 64 (256 B): nothing to add; 1 index + 1 offset (16 B) + 256 B out
    op = ops.embedding_bag("e", table="t", rows=10, dim=64, lookups=1, precision=4, index_bytes=8)
    check_affine(op, BATCHES, flops=0, streamed_fixed=0, streamed_per_item=272, gathered=256, rows=1)


def test_embedding_unpooled():
    # 10 lookups of dim 4 (16 B rows), 4-byte indices: gathers 160 B, writes the 10 rows (160 B)
    # and reads 10 indices (40 B): 200 B streamed per item; no arithmetic.
    op = ops.embedding("s", table="t", rows=100, dim=4, lookups=10, precision=4, index_bytes=4)
    assert op.kind is OpKind.EMBEDDING
    check_affine(op, BATCHES, flops=0, streamed_fixed=0, streamed_per_item=200, gathered=160, rows=10)
    assert op.table_bytes == 1600


def test_concat():
    # joining widths 3 + 5 + 8 = 16 floats: read 16, write 16 -> 128 B per item, no FLOPs
    op = ops.concat("c", [3, 5, 8], precision=4)
    assert op.kind is OpKind.INTERACTION
    check_affine(op, BATCHES, flops=0, streamed_fixed=0, streamed_per_item=128)
    assert op.shape["out"] == 16


def test_dot_interaction():
    # 3 vectors of dim 4: Z = X X^T computed in full, 3*3*4 = 36 MACs = 72 FLOPs.
    # Output: first input (width 4) then the 3 distinct pairs -> width 7.
    # Bytes: read the inputs 12 floats; intermediates written then read: stacked X 12, Z 9,
    # the 3 selected pairs -> 2 * 24 = 48; write 7 floats -> 67 floats = 268 B per item.
    op = ops.dot_interaction("i", vectors=3, dim=4, first_width=4, precision=4)
    assert op.kind is OpKind.INTERACTION
    check_affine(op, BATCHES, flops=72, streamed_fixed=0, streamed_per_item=268)
    assert op.shape["out"] == 7
    # cat (stack), bmm, tril_indices, index, cat: what torch.profiler shows (tests/test_graph_optrace.py)
    assert op.launches == 5


def test_dot_interaction_mlperf_width():
    # MLPerf DLRM: bottom output (128) + 26 embeddings = 27 vectors; 27*26/2 = 351 pairs; 128 + 351 = 479
    op = ops.dot_interaction("i", vectors=27, dim=128, first_width=128, precision=4)
    assert op.shape["out"] == 479
    assert op.flops(1) == 2 * 27 * 27 * 128


@pytest.mark.parametrize("kind_op", ["add", "mul"])
def test_elementwise(kind_op):
    # 3 tensors of 10 elements in 2-byte precision: 2 ops per element = 20 FLOPs;
    # read 30 + write 10 elements = 40 * 2 B = 80 B; two binary kernels
    op = ops.elementwise("x", kind_op, width=10, n_inputs=3, precision=2)
    assert op.kind is OpKind.ELEMENTWISE
    check_affine(op, BATCHES, flops=20, streamed_fixed=0, streamed_per_item=80)
    assert op.launches == 2


@pytest.mark.parametrize(
    "kind, flops",
    [
        (OpKind.RELU, 10),  # max(x, 0): 1 per element
        (OpKind.SIGMOID, 40),  # negate, exp, add 1, divide: 4 per element
        (OpKind.SOFTMAX, 50),  # max, subtract, exp, sum, divide: 5 per element
    ],
)
def test_activation(kind, flops):
    # 10 elements fp32: read 40 B, write 40 B
    op = ops.activation("a", kind, width=10, precision=4)
    assert op.kind is kind
    check_affine(op, BATCHES, flops=flops, streamed_fixed=0, streamed_per_item=80)


def test_mlp_attention_pooled():
    # DIN unit, 2 steps of dim 2, one hidden layer of 3, pooled.
    # Per step: key*query 2 FLOPs; FC 6->3: 18 MACs = 36; ReLU 3; FC 3->1: 3 MACs = 6;
    # weighted sum: 2 multiplies + 2 adds = 4.  2 + 36 + 3 + 6 + 4 = 51 per step, 102 per item.
    # Weights: 6*3 + 3 + 3*1 + 1 = 25 params = 100 B.
    # Floats per item: keys 4 + query 2; intermediates per step (product 2, concat 6, hidden 3,
    # score 1, weighted key 2) = 14, over 2 steps = 28, written and read = 56; output 2
    # -> 64 floats = 256 B.
    op = ops.mlp_attention("a", steps=2, dim=2, hidden=[3], pooled=True, precision=4)
    assert op.kind is OpKind.ATTENTION
    check_affine(op, BATCHES, flops=102, streamed_fixed=100, streamed_per_item=256)
    # mul, cat, linear, relu, linear, mul, sum (unsqueeze and expand of the query are views)
    assert op.launches == 7


def test_mlp_attention_scaled_sequence():
    # as above but returns w_t * key_t: scaling is 2 multiplies per step, no sum: 49 per step = 98;
    # intermediates per step 2 + 6 + 3 + 1 = 12 (the scaled keys are the output), 2 steps,
    # 2 passes = 48; output 2 steps * 2 = 4 floats: 4 + 2 + 48 + 4 = 58 floats = 232 B
    op = ops.mlp_attention("a", steps=2, dim=2, hidden=[3], pooled=False, precision=4)
    check_affine(op, BATCHES, flops=98, streamed_fixed=100, streamed_per_item=232)
    assert op.launches == 6


def test_mlp_attention_din_size():
    # DIN: 250 steps of dim 32, MLP 96 -> 36 -> 1: per step 32 + 2*(96*36 + 36) + 36 + 64 = 7116 FLOPs
    op = ops.mlp_attention("a", steps=250, dim=32, hidden=[36], pooled=True, precision=4)
    assert op.flops(1) == 250 * 7116
    assert op.weight_bytes == (96 * 36 + 36 + 36 + 1) * 4


def test_bilinear_attention_pooled():
    # DIEN form, 3 steps of key dim 4, query dim 2, pooled.
    # W q: 2*4 = 8 MACs = 16; scores: 3 dot products of 4 = 12 MACs = 24; softmax 5 * 3 = 15;
    # scale 3*4 = 12; sum over steps 3*4 = 12 -> 79 FLOPs per item.
    # Weights W 2*4 = 8 floats = 32 B (no bias).
    # Floats: read q 2 + keys 12; intermediates Wq 4 + scores/exp/weights 9 + scaled keys 12 = 25,
    # written and read = 50; output 4 -> 68 floats = 272 B.
    op = ops.bilinear_attention("a", steps=3, key_dim=4, query_dim=2, pooled=True, precision=4)
    assert op.kind is OpKind.ATTENTION
    check_affine(op, BATCHES, flops=79, streamed_fixed=32, streamed_per_item=272)
    assert op.launches == 5


def test_bilinear_attention_scaled_sequence():
    # no sum: 67 FLOPs; intermediates Wq 4 + 9 = 13, 2 passes = 26 (the scaled keys are the
    # output); 2 + 12 + 26 + output 3 steps * 4 = 12 -> 52 floats = 208 B
    op = ops.bilinear_attention("a", steps=3, key_dim=4, query_dim=2, pooled=False, precision=4)
    check_affine(op, BATCHES, flops=67, streamed_fixed=32, streamed_per_item=208)
    assert op.launches == 4


@pytest.mark.parametrize("return_sequence", [True, False])
def test_gru(return_sequence):
    # GRU(3 -> 4) over 2 steps. Per step 3 gates x (3*4 + 4*4) = 84 MACs = 168 FLOPs,
    # plus 16 per hidden unit for the non-linearities and blends = 64 -> 232 per step, 464 per item.
    # Weights 3 gates x (3*4 + 4*4 + 2 biases of 4) = 108 floats = 432 B.
    # Floats per item: inputs 2*3 = 6; per step the gate pre-activations 6*4 = 24, activated gates
    # 3*4 = 12 and the hidden state 4 = 40, over 2 steps = 80, written and read = 160 -> 166 = 664 B.
    op = ops.gru("g", steps=2, input_dim=3, hidden=4, return_sequence=return_sequence, precision=4)
    assert op.kind is OpKind.GRU
    check_affine(op, BATCHES, flops=464, streamed_fixed=432, streamed_per_item=664)
    assert op.sequential_steps == 2


def test_arithmetic_intensity_grows_with_batch_for_fc():
    # Linear(1024 -> 1024) fp32: 2 MFLOP per item over 4 MiB of weights + 8 KiB of activations
    op = ops.fc("l", k=1024, n=1024, precision=4)
    ai = op.arithmetic_intensity(np.array([1, 64, 4096]))
    expected = [2 * 1024 * 1024 * b / ((1024 * 1024 + 1024) * 4 + 2048 * 4 * b) for b in (1, 64, 4096)]
    np.testing.assert_allclose(ai, expected)
    assert ops.input_op("x", 4, "x").arithmetic_intensity(8) == 0


def test_as_dict_is_one_batch():
    op = ops.fc("l", k=3, n=5, precision=4)
    d = op.as_dict(4)
    assert d["name"] == "l" and d["kind"] == "fc"
    assert d["flops"] == 120 and d["streamed_bytes"] == 208 and d["gathered_bytes"] == 0
    assert isinstance(d["flops"], float)
