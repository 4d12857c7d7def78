"""Property tests: random MLP-only specs obey the FC FLOP formula and scale linearly with batch;
randomly corrupted specs fail with a one-line SpecError, never another exception."""

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dse.errors import SpecError
from dse.graph import lower, totals
from dse.graph.ops import OpKind
from dse.specs.loading import validate_spec
from dse.specs.model import ModelSpec

ACT_FLOPS = {"none": 0, "relu": 1, "sigmoid": 4, "softmax": 5}  # per element, docs/graph.md

widths = st.lists(st.integers(1, 96), min_size=1, max_size=4)


@st.composite
def mlp_specs(draw):
    """dense -> MLP -> MLP ... (a chain), each block reading the previous one."""
    dense = draw(st.integers(1, 128))
    precision = draw(st.sampled_from([1, 2, 4, 8]))
    blocks = []
    source = "dense"
    for i in range(draw(st.integers(1, 4))):
        blocks.append(
            {
                "kind": "mlp",
                "name": f"m{i}",
                "input": source,
                "layers": draw(widths),
                "final": draw(st.sampled_from(list(ACT_FLOPS))),
            }
        )
        source = f"m{i}"
    return {
        "name": "random_mlp",
        "precision_bytes": precision,
        "dense_features": dense,
        "blocks": blocks,
        "outputs": [source],
    }


def hand_counts(data):
    """(FC MACs per item, activation FLOPs per item, parameters) counted from the dict."""
    macs = act = params = 0
    k = data["dense_features"]
    for block in data["blocks"]:
        for j, n in enumerate(block["layers"]):
            macs += k * n
            params += k * n + n
            last = j == len(block["layers"]) - 1
            act += n * (ACT_FLOPS[block["final"]] if last else ACT_FLOPS["relu"])
            k = n
    return macs, act, params


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mlp_specs(), batch=st.integers(1, 4096), factor=st.integers(2, 64))
def test_random_mlp_flops_and_linearity(data, batch, factor):
    spec = ModelSpec.model_validate(data)
    graph = lower(spec)
    macs, act, params = hand_counts(data)
    p = data["precision_bytes"]

    fc_flops = sum(graph.nodes[n]["op"].flops(batch) for n in graph if graph.nodes[n]["op"].kind is OpKind.FC)
    assert fc_flops == 2 * macs * batch  # FLOPs = 2 * sum(k * n) * b
    t = totals(graph, batch)
    assert t["flops"] == 2 * macs * batch + act * batch
    assert t["gathered_bytes"] == 0 and t["table_bytes"] == 0
    assert t["weight_bytes"] == params * p

    # linear in the batch: FLOPs exactly; streamed bytes affine (weights once per batch)
    big = totals(graph, factor * batch)
    assert big["flops"] == pytest.approx(factor * t["flops"], rel=1e-12)
    assert big["streamed_bytes"] - big["weight_bytes"] == pytest.approx(
        factor * (t["streamed_bytes"] - t["weight_bytes"]), rel=1e-12
    )
    # the same through a numpy array of batch sizes
    vec = totals(graph, np.array([batch, factor * batch]))
    np.testing.assert_allclose(vec["flops"], [t["flops"], big["flops"]])
    np.testing.assert_allclose(vec["streamed_bytes"], [t["streamed_bytes"], big["streamed_bytes"]])


# --- corrupted specs -----------------------------------------------------------------------------

VALID = {
    "name": "fuzz",
    "dense_features": 16,
    "tables": [
        {"name": "emb", "rows": [100, 200], "dim": 8},
        {"name": "items", "rows": 1000, "dim": 8},
    ],
    "lookups": [
        {"name": "sparse", "table": "emb", "per_sample": 3},
        {"name": "cand", "table": "items", "per_sample": 1},
        {"name": "hist", "table": "items", "per_sample": 5, "pooling": "none"},
    ],
    "blocks": [
        {"kind": "mlp", "name": "bottom", "input": "dense", "layers": [8]},
        {"kind": "gru", "name": "g", "input": "hist", "hidden": 8},
        {"kind": "attention", "name": "att", "query": "cand", "keys": "g", "output": "pooled"},
        {"kind": "interaction", "name": "x", "op": "dot", "inputs": ["bottom", "sparse", "att"]},
        {"kind": "elementwise", "name": "e", "op": "mul", "inputs": ["cand", "att"]},
        {"kind": "interaction", "name": "y", "op": "concat", "inputs": ["x", "e"]},
        {"kind": "mlp", "name": "top", "input": "y", "layers": [4, 1]},
        {"kind": "activation", "name": "p", "op": "sigmoid", "input": "top"},
    ],
    "outputs": ["p"],
}

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "dense", "bottom", "hist", "g", "cand", "emb", "mlp", "dot", "none", "x-y", "top"]),
    st.lists(st.sampled_from(["bottom", "sparse", "att", "hist", "dense", 0]), max_size=3),
    st.dictionaries(st.sampled_from(["a", "kind", "name"]), st.integers(0, 2), max_size=2),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, prefix + (i,))


ALL_PATHS = [p for p in _paths(VALID) if p]


def test_fuzz_base_is_valid():
    graph = lower(validate_spec(ModelSpec, VALID, "fuzz.yaml"))
    assert graph.nodes["x"]["op"].shape["vectors"] == 1 + 2 + 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(st.tuples(st.sampled_from(ALL_PATHS), junk, st.booleans()), min_size=1, max_size=3),
)
def test_corrupted_specs_fail_cleanly(edits):
    data = copy.deepcopy(VALID)
    for path, value, delete in edits:
        target = data
        try:
            for key in path[:-1]:
                target = target[key]
            if delete and isinstance(target, dict):
                target.pop(path[-1], None)
            else:
                target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    try:
        spec = validate_spec(ModelSpec, data, "fuzz.yaml")
    except SpecError as exc:
        message = str(exc)
        assert message.startswith("fuzz.yaml: ")
        assert "\n" not in message
        assert "Traceback" not in message and "function-" not in message and "constrained-" not in message
        return
    graph = lower(spec)  # whatever validates must lower and cost without error
    assert totals(graph, 4)["flops"] >= 0
