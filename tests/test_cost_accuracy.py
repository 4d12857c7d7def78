"""Predicted single-inference latency against the shared cold=1 measurements (FACTS.md 5).

The bounds sit a few points above the achieved figures stated in README.md ("Cost model"), so a
change that makes the model worse fails here. The shipped specs were calibrated (``dse calibrate``,
dse/calibrate/crossval.py) on the microbenchmarks and the cold=1 runs of ONE model per platform
(ci_cpu: dlrm_rmc3, h200_host: wnd, h200: dlrm_rmc1); every other model's rows are a test set.
"""

from __future__ import annotations

import pytest

from dse.cost.validation import CASES, MEASURED_DIR, AccuracyCase, accuracy_table, mape

pytestmark = pytest.mark.skipif(not MEASURED_DIR.is_dir(), reason=f"measured data not found at {MEASURED_DIR}")

#: platform -> (test rows, MAPE bound in percent)
EXPECTED = {"ci_cpu": (48, 20.0), "h200_host": (18, 13.0), "h200": (39, 9.0)}


@pytest.fixture(scope="module")
def tables():
    return {case.platform: accuracy_table(case) for case in CASES}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_mape_is_bounded(tables, name):
    rows, bound = EXPECTED[name]
    table = tables[name]
    assert len(table) == rows  # var00..var23 and unknown models are left out
    assert not table["model"].str.startswith("var").any()
    assert mape(table) < bound, f"{name}: MAPE {mape(table):.1f}% >= {bound}%"


def test_no_row_is_off_by_more_than_5x(tables):
    for table in tables.values():
        ratio = table["predicted_s"] / table["measured_s"]
        assert ratio.between(0.2, 5.0).all()


def test_fc_dominated_models_are_predicted_closely_on_the_ci_machine(tables):
    t = tables["ci_cpu"]
    for model in ["dlrm_rmc3", "wnd"]:
        assert 100 * t[t.model == model]["ape"].mean() < 15.0


#: RMC2 and RMC3 on the H200 GPU, measured after the shipped fit and never fitted (FACTS.md 5)
RMC2_RMC3_GPU = AccuracyCase("h200", "h200_models_rmc2_rmc3.csv", "gpu", 0)


def test_gpu_rmc2_rmc3_at_large_batch():
    """Batch >= 1024 (the issue's target is 25%; not met). The page walks of fresh indices overlap
    the row fetches of the same call (dse/cost/gather.py), so RMC2, whose per-table fetches outgrow
    the wait, is not charged both (it was over-predicted 1.5-1.6x). RMC3 at b = 2048/4096 is still
    1.6-1.9x over: its cold runs are as fast as its warm ones, which the model now predicts within
    12% (launch-ahead, dse/cost/stream.py), while its calls are RMC1's size at b = 1024, which keeps
    the wait (docs/cost_model.md, "Where the remaining error comes from"). The refit that came with
    launch-ahead (with the warm runs) moved these six rows from 30.2% to 31.9% (RMC2 at 4096: 1.01
    -> 0.93x)."""
    table = accuracy_table(RMC2_RMC3_GPU)
    table = table[table["batch"] >= 1024]
    assert len(table) == 6
    per_model = {m: 100 * g["ape"].mean() for m, g in table.groupby("model")}
    assert per_model["dlrm_rmc2"] < 12.0
    assert mape(table) < 33.0
