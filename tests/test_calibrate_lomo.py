"""Leave-one-model-out cross-validation (dse/calibrate/crossval.py, ``dse validate --lomo``).

The whole run (18 refits) takes minutes, so the suite runs one real fold and checks the
aggregation and the CLI's JSON on stubbed folds; README.md gives the full figures."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dse.calibrate import crossval
from dse.calibrate.crossval import lomo_fold, lomo_measurements, measured_dir
from dse.cli import app

pytestmark = pytest.mark.skipif(not measured_dir().is_dir(), reason=f"measured data not found at {measured_dir()}")


def test_every_platform_has_its_measured_models():
    # ci_cpu: 8 models; the H200 host and GPU: 5 once RMC2/RMC3 are included (FACTS.md section 5)
    counts = {p: len(lomo_measurements(p)[2]) for p in crossval.PLAN}
    assert counts == {"ci_cpu": 8, "h200_host": 5, "h200": 5}


def test_one_real_fold_predicts_an_unseen_model():
    # NCF on the H200 GPU, refitted on the microbenchmarks and the cold and warm runs of RMC1/2/3
    # and WnD only; scored on NCF's measured cold=1 rows (the 13 batch sizes 1..4096 of
    # h200_models.csv). NCF is the model whose small-batch time is all fixed costs: fitted on
    # cold rows alone (the translation wait of the other models' fresh indices trading against
    # the launch costs) this fold was 26.2%; the warm rows pin the launch costs (12-13%).
    mape, rows = lomo_fold("h200", "ncf")
    assert rows == 13
    assert 0.0 < mape < 0.18, f"held-out NCF MAPE {mape:.3f}"


def test_unknown_model_is_a_one_line_error():
    from dse.errors import DseError

    with pytest.raises(DseError, match="no cold=1 rows of 'nope'"):
        lomo_fold("h200", "nope")


def test_aggregation_and_json(monkeypatch):
    # stub folds: the platform MAPE is the row-weighted mean of the per-model MAPEs
    fake = {"dlrm_rmc1": (0.1, 10), "dlrm_rmc2": (0.3, 30), "dlrm_rmc3": (0.2, 10), "ncf": (0.0, 10), "wnd": (0.4, 40)}
    monkeypatch.setattr(crossval, "lomo_fold", lambda p, m, folder=None: fake[m])
    result = CliRunner().invoke(app, ["validate", "--lomo", "--platforms", "h200", "--workers", "1", "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert set(d) == {"platforms"} and set(d["platforms"]) == {"h200"}
    h200 = d["platforms"]["h200"]
    assert h200["models"] == {m: v[0] for m, v in fake.items()}
    assert h200["mape"] == pytest.approx((1 + 9 + 2 + 0 + 16) / 100)
