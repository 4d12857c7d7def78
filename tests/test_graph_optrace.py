"""Launch counts and op kinds: every node's framework ops in the graph against torch.profiler's CPU
op trace of the PyTorch model built from the same spec (dse/calibrate/optrace.py), for the nine
shipped models and RANDOM_VARIANTS seeded random DLRMs (dse/specs/random_models.py). The trace is
the outside reference: it is what PyTorch eager really dispatches."""

from __future__ import annotations

import pytest

from dse.calibrate.optrace import first_mismatch, normalise
from dse.graph.lower import lower, totals
from dse.paths import MODELSPECS_DIR, list_specs
from dse.specs.model import load_model_spec
from dse.specs.random_models import RANDOM_VARIANTS, random_dlrm, random_dlrms

SHIPPED = list_specs(MODELSPECS_DIR)


def _check(spec):
    pytest.importorskip("torch")
    from dse.calibrate.optrace import compare_ops

    result = compare_ops(spec, batch=4)
    assert result.mismatch is None, f"{spec.name}: {result.mismatch}"
    assert result.graph_launches == len(result.traced)
    assert result.graph_launches == totals(lower(spec), 1)["launches"]


def test_nine_shipped_models():
    assert len(SHIPPED) == 9


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_launches_match_the_trace(name):
    _check(load_model_spec(MODELSPECS_DIR / f"{name}.yaml"))


@pytest.mark.parametrize("seed", range(RANDOM_VARIANTS))
def test_random_dlrm_launches_match_the_trace(seed):
    _check(random_dlrm(seed))


def test_random_dlrms_are_seeded_and_varied():
    a, b = random_dlrms(RANDOM_VARIANTS), random_dlrms(RANDOM_VARIANTS)
    assert [s.model_dump() for s in a] == [s.model_dump() for s in b]
    assert RANDOM_VARIANTS >= 20
    assert len({s.blocks[1].op for s in a}) == 2  # dot and concat interactions
    assert len({len(s.tables) for s in a}) >= 3
    assert len({s.tables[0].dim for s in a}) >= 3
    assert len({len(s.blocks[0].layers) for s in a}) >= 3


def test_hand_counted_dot_interaction():
    # DLRM's dot interaction in PyTorch eager: stack the vectors (cat), bmm with the transposed
    # view, tril_indices, advanced indexing, cat after the dense vector: 5 dispatches
    spec = load_model_spec(MODELSPECS_DIR / "mlperf_dlrm.yaml")
    node = lower(spec).nodes["interact"]["op"]
    assert node.framework_ops == ("cat", "bmm", "tril_indices", "index", "cat") and node.launches == 5


def test_normalise_drops_views_and_folds_call_helpers():
    raw = ["aten::arange", "aten::reshape", "aten::embedding_bag", "aten::unsqueeze", "aten::expand", "aten::mul",
           "aten::zeros", "aten::gru", "aten::arange", "aten::select"]
    # an arange that does not prepare an embedding_bag is a real op and stays
    assert normalise(raw) == ["embedding_bag", "mul", "gru", "arange"]


def test_a_wrong_graph_is_caught():
    nodes = [("e", "embedding_bag", ("embedding_bag",)), ("fc", "fc", ("linear",))]
    assert first_mismatch(nodes, ["embedding_bag", "linear"]) is None
    assert "fc (fc)" in first_mismatch(nodes, ["embedding_bag", "linear", "relu"][:1] + ["relu"])
    assert "more than the graph" in first_mismatch(nodes, ["embedding_bag", "linear", "relu"])


def test_validate_launches_group():
    pytest.importorskip("torch")
    import json

    from typer.testing import CliRunner

    from dse.cli import app

    result = CliRunner().invoke(app, ["validate", "--only", "launches", "--json"])
    assert result.exit_code == 0, result.output
    cases = json.loads(result.output)["cases"]
    assert len(cases) == len(SHIPPED) + RANDOM_VARIANTS
    assert all(c["error"] == 0 for c in cases)
