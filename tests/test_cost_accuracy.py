"""Predicted single-inference latency against the shared cold=1 measurements (FACTS.md 5).

The bounds sit a few points above the achieved figures stated in README.md ("Cost model"), so a
change that makes the model worse fails here. The shipped specs were calibrated (``dse calibrate``,
dse/calibrate/crossval.py) on the microbenchmarks and the cold=1 runs of ONE model per platform
(ci_cpu: dlrm_rmc3, h200_host: wnd, h200: dlrm_rmc1); every other model's rows are a test set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dse.calibrate.fit import Predictor
from dse.cost.validation import CASES, MEASURED_DIR, AccuracyCase, accuracy_table, mape
from dse.paths import BUNDLED_MEASURED_DIR
from dse.specs.hardware import load_platform

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
    """Batch >= 1024, cold=1 rows (the issue's target is 25%; not met here, see the next test for
    all of the runs). The page walks of fresh indices overlap the row fetches of the same call
    (dse/cost/gather.py), so RMC2, whose per-table fetches outgrow the wait, is not charged both (it
    was over-predicted 1.5-1.6x). RMC3 at b = 2048/4096 is still 1.6-1.9x over: its cold runs are
    as fast as its warm ones, which the model predicts within 12% (launch-ahead,
    dse/cost/stream.py), while its calls are RMC1's size at b = 1024, which keeps the wait
    (docs/cost_model.md, "Where the remaining error comes from"). Bounds loosened once, by the
    refit that came with the copies per tensor and took the host link from the pinned-copy rows
    (dse/cost/transfer.py): it put dram.random_efficiency at 0.381 (was 0.349), and RMC2 at
    b = 4096 went 0.93 -> 0.85x (RMC2 11.4 -> 13.9%, the six rows 31.9 -> 32.5%)."""
    table = accuracy_table(RMC2_RMC3_GPU)
    table = table[table["batch"] >= 1024]
    assert len(table) == 6
    per_model = {m: 100 * g["ape"].mean() for m, g in table.groupby("model")}
    assert per_model["dlrm_rmc2"] < 15.0
    assert mape(table) < 34.0


def test_every_gpu_run_of_rmc2_and_rmc3_at_large_batch():
    """All 18 GPU rows at b >= 1024 of the two models measured after the fit (warm, warm with the
    host copies, cold): 16.8% (the issue's target is 25%). It was 48.3% while the copies were
    costed at the pageable microbenchmark's 15 GB/s, one copy per graph input (the 6 rows with
    copies 106%, now 10.4%)."""
    df = pd.read_csv(BUNDLED_MEASURED_DIR / "h200_models_rmc2_rmc3.csv")
    df = df[(df.tag == "gpu") & (df.batch >= 1024)].reset_index(drop=True)
    assert len(df) == 18
    predicted = Predictor(pd.DataFrame(), df).predict_models(load_platform("h200"))
    ape = np.abs(predicted / (df["median_ms"].to_numpy() * 1e-3) - 1.0)
    with_copies = df["transfer"].to_numpy() == 1
    assert 100 * ape[with_copies].mean() < 15.0
    assert 100 * ape.mean() < 20.0
