"""Predicted single-inference latency against the shared cold=1 measurements (FACTS.md 5).

The bounds sit a few points above the achieved figures stated in README.md ("Cost model"), so a
change that makes the model worse fails here. The shipped specs were calibrated (``dse calibrate``,
dse/calibrate/crossval.py) on the microbenchmarks and the cold=1 runs of ONE model per platform
(ci_cpu: dlrm_rmc3, h200_host: wnd, h200: dlrm_rmc1); every other model's rows are a test set.
"""

from __future__ import annotations

import pytest

from dse.cost.validation import CASES, MEASURED_DIR, accuracy_table, mape

pytestmark = pytest.mark.skipif(not MEASURED_DIR.is_dir(), reason=f"measured data not found at {MEASURED_DIR}")

#: platform -> (test rows, MAPE bound in percent)
EXPECTED = {"ci_cpu": (48, 20.0), "h200_host": (18, 13.0), "h200": (39, 14.0)}


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
