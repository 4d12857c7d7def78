"""Host-to-device copies of a GPU pass (dse/cost/transfer.py) against hand counts and the measured
``transfer=1`` runs of the H200 host (FACTS.md section 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dse.cost.cycled import with_cycled_batches
from dse.cost.model import predict_latency, total_curve
from dse.graph import load_graph
from dse.paths import BUNDLED_MEASURED_DIR
from dse.specs.hardware import load_platform

SMALL = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0])


def test_pytorch_copies_every_tensor_and_sets_the_link_up_once_per_pass():
    """RMC1 on the H200 with PyTorch eager at b = 16: the harness copies the dense features (one
    tensor) and one (b, 80) int64 index tensor per table (8), each paying the link's latency; the
    output's copy back carries the pass's one set-up."""
    gpu = load_platform("h200")
    link = gpu.host_link
    b = 16
    ops = {o.name: o for o in predict_latency(load_graph("dlrm_rmc1"), gpu, b).ops}
    # the graph's bytes per item count the offsets too (per_sample + 1 per table, as Caffe2 feeds them)
    sparse = 8 * link.latency_us * 1e-6 + 8 * 81 * 8 * b / (link.h2d_gbs * 1e9)
    dense = link.latency_us * 1e-6 + 128 * 4 * b / (link.h2d_gbs * 1e9)
    back = (link.latency_us + link.setup_us) * 1e-6 + 4 * b / (link.d2h_gbs * 1e9)
    assert ops["sparse.indices"].terms["transfer"] == pytest.approx(sparse, rel=1e-12)
    assert ops["dense"].terms["transfer"] == pytest.approx(dense, rel=1e-12)
    assert ops["output.d2h"].time_s == pytest.approx(back, rel=1e-12)


def test_the_graph_counts_the_tensors_a_framework_copies():
    graph = load_graph("dlrm_rmc2")
    inputs = {graph.nodes[n]["op"].name: graph.nodes[n]["op"].shape for n in graph.nodes if graph.nodes[n]["op"].kind.value == "input"}
    assert inputs["sparse.indices"]["tensors"] == 32 and inputs["sparse.indices"]["blobs"] == 64
    assert inputs["dense"]["tensors"] == 1


def _measured_copy_ms(csv: str, model: str) -> pd.Series:
    """Measured transfer=1 minus transfer=0 median (ms) of a model's warm GPU runs, by batch."""
    df = pd.read_csv(BUNDLED_MEASURED_DIR / csv)
    runs = df[(df.tag == "gpu") & (df.model == model) & (df.cold == 0)]
    piv = runs.pivot_table(index="batch", columns="transfer", values="median_ms")
    return piv[1] - piv[0]


def _predicted_copy_ms(model: str, batches: np.ndarray) -> np.ndarray:
    gpu = with_cycled_batches(load_platform("h200"), 1)
    graph = load_graph(model)
    both = [total_curve(graph, gpu, batches, transfer=t).seconds for t in (True, False)]
    return (both[0] - both[1]) * 1e3


@pytest.mark.parametrize(
    "csv, model, copies",
    [("h200_models.csv", "dlrm_rmc1", 10), ("h200_models_rmc2_rmc3.csv", "dlrm_rmc2", 34), ("h200_models_rmc2_rmc3.csv", "dlrm_rmc3", 12)],
)
def test_small_batch_copies_cost_what_the_runs_measured(csv, model, copies):
    """At b <= 64 the bytes are negligible and a pass's copies cost their number: measured medians
    of 0.112 / 0.282 / 0.124 ms for 10 / 34 / 12 copies (RMC1 trained, RMC2 and RMC3 never fitted).
    With one copy per graph input (before) RMC2 was predicted 0.32x."""
    graph = load_graph(model)
    tensors = sum(graph.nodes[n]["op"].shape.get("tensors", 0) for n in graph.nodes if graph.nodes[n]["op"].kind.value == "input")
    assert tensors + graph.graph["output_tensors"] == copies  # what dse/calibrate/harness.py copies
    measured = float(np.median(_measured_copy_ms(csv, model).loc[SMALL]))
    predicted = float(np.median(_predicted_copy_ms(model, SMALL)))
    assert predicted == pytest.approx(measured, rel=0.15), (model, copies)


def test_large_copies_move_at_the_rate_the_model_runs_measured():
    """RMC2 at b = 2048 / 4096 copies 66 / 131 MB of indices: measured 1.30 / 2.65 ms more than
    without the copies (50 GB/s, the pinned rows' rate); the never-written pageable microbenchmark's
    15 GB/s would make it 4.4 / 8.8 ms."""
    batches = np.array([2048.0, 4096.0])
    measured = _measured_copy_ms("h200_models_rmc2_rmc3.csv", "dlrm_rmc2").loc[batches].to_numpy()
    np.testing.assert_allclose(_predicted_copy_ms("dlrm_rmc2", batches), measured, rtol=0.20)


@pytest.mark.parametrize("stack, copies_back", [("pytorch_eager", 4), ("caffe2_deeprecsys", 4), (None, 1)])
def test_every_output_is_its_own_copy_back(stack, copies_back):
    """MT-WnD returns four task heads, each a tensor the harness copies back on its own
    (``[o.to("cpu") for o in out]``; Caffe2: one fetch per output blob): four latencies and the
    pass's one set-up; a stack that copies one per input (``input``) brings them back in one."""
    overrides = ["stack.feed.h2d_copies=input"] if stack is None else []
    gpu = load_platform("h200", overrides=overrides, stack=stack)
    link = gpu.host_link
    b = 8
    ops = {o.name: o for o in predict_latency(load_graph("mtwnd"), gpu, b).ops}
    back = (copies_back * link.latency_us + link.setup_us) * 1e-6 + 4 * 4 * b / (link.d2h_gbs * 1e9)
    assert ops["output.d2h"].time_s == pytest.approx(back, rel=1e-12)


def test_dse_validate_checks_the_gpu_runs_with_copies_and_those_measured_after_the_fit():
    """`dse validate`'s measured group: per model, the GPU's warm runs with the host copies
    (transfer=1: RMC1 8.1%, RMC2 14.4%, RMC3 14.2%, NCF 15.0%, WnD 13.7% MAPE) and the cold=1 runs
    of RMC2/RMC3 measured after the fits on the H200 host's CPU and GPU."""
    from dse.calibrate.validate import measured_checks

    checks = measured_checks(BUNDLED_MEASURED_DIR)
    copies = [c for c in checks if "with the host copies" in c.case]
    after = [c for c in checks if c.case.endswith("measured after the fit")]
    assert len(copies) == 5 and all(c.rows == 13 for c in copies)
    assert all(c.error < 0.16 for c in copies), [(c.case, c.error) for c in copies]
    assert sum(c.case.endswith("(fitted)") for c in copies) == 1  # RMC1, the model h200 is fitted on
    assert len(after) == 4 and all(c.error < 0.30 for c in after), [(c.case, c.error) for c in after]
    assert all(np.isfinite([c.reference, c.prediction, c.error]).all() for c in checks)


@pytest.mark.parametrize("model", ["dlrm_rmc1", "ncf", "wnd", "mtwnd", "din"])
def test_the_copy_counts_are_what_the_harness_copies(model):
    """The graph's tensors per input and outputs are the tensors `dse measure` moves with
    transfer=1: `_to_device` of `make_inputs` (dense features, one index tensor per table) and one
    `.to("cpu")` per element of the module's output tuple (tables capped at 64 rows: counts do not
    depend on sizes)."""
    torch = pytest.importorskip("torch")
    from dse.calibrate.optrace import small_tables
    from dse.calibrate.torch_model import build_module, make_inputs
    from dse.paths import MODELSPECS_DIR, resolve_spec
    from dse.specs.model import load_model_spec

    spec = small_tables(load_model_spec(resolve_spec(model, MODELSPECS_DIR, "model")))
    dense, indices = make_inputs(spec, 2, "cpu", torch.Generator().manual_seed(0))
    with torch.inference_mode():
        outputs = build_module(spec)(dense, indices)
    graph = load_graph(model)
    tensors = sum(graph.nodes[n]["op"].shape["tensors"] for n in graph.nodes if graph.nodes[n]["op"].kind.value == "input")
    assert tensors == (dense is not None) + sum(len(v) for v in indices.values())
    assert graph.graph["output_tensors"] == len(outputs)
