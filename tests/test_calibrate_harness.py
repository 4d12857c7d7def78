"""The PyTorch harness: modules built from specs, timing on the CPU, then calibrating on its own
output (dse/calibrate/harness.py). Skipped only where torch is not importable (CI installs the
[measure] extra)."""

from __future__ import annotations

import copy

import pytest
from typer.testing import CliRunner

from dse.cli import app
from dse.paths import MODELSPECS_DIR, list_specs
from dse.specs.loading import load_yaml, validate_spec
from dse.specs.model import ModelSpec

torch = pytest.importorskip("torch")


def tiny(name: str) -> ModelSpec:
    """The shipped spec with every table cut to 100 rows (same architecture)."""
    raw = copy.deepcopy(load_yaml(MODELSPECS_DIR / f"{name}.yaml"))
    for t in raw.get("tables", []):
        t["rows"] = [100] * len(t["rows"]) if isinstance(t["rows"], list) else 100
    return validate_spec(ModelSpec, raw, name)


@pytest.mark.parametrize("name", list_specs(MODELSPECS_DIR))
def test_module_matches_the_spec_shapes(name):
    from dse.calibrate.torch_model import build_module, make_inputs

    spec = tiny(name)
    module = build_module(spec)
    with torch.inference_mode():
        outs = module(*make_inputs(spec, 3))
    assert len(outs) == len(spec.outputs)
    for out, o in zip(outs, spec.outputs):
        assert tuple(out.shape) == (3, spec.shapes[o].width)
        assert torch.isfinite(out).all()


def test_harness_then_calibrate(tmp_path):
    micro, models = tmp_path / "box_micro.csv", tmp_path / "box_models.csv"
    runner = CliRunner()
    r = runner.invoke(app, ["measure", "--micro", "--size", "quick", "--reps", "3", "--out", str(micro)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["measure", "ncf", "--batch", "1,16,128", "--reps", "7", "--out", str(models)])
    assert r.exit_code == 0, r.output
    from dse.calibrate.data import load_measurements
    from dse.calibrate.fit import calibrate
    from dse.specs.hardware import load_platform

    meas = load_measurements([micro, models])
    assert meas.frameworks() == [f"torch {torch.__version__}"]
    result = calibrate(meas, load_platform("ci_cpu"))
    per = {m["model"]: m for m in result.per_model()}
    # tolerance: within 30% per row on average for the model it was fitted on, 35% on the
    # microbenchmarks (a 2-core machine shared with other jobs is noisy)
    assert per["ncf"]["after_mape"] < 0.30
    assert result.mape("after_s", which="micro") < 0.35
    d = result.as_dict()
    assert d["frameworks"] == [f"torch {torch.__version__}"]


def test_measure_rejects_bad_options():
    r = CliRunner().invoke(app, ["measure", "ncf", "--device", "tpu"])
    assert r.exit_code == 2 and "--device" in r.output
    r = CliRunner().invoke(app, ["measure"])
    assert r.exit_code == 2 and "MODEL" in r.output


def test_huge_pages_reads_the_mode_and_the_process_huge_pages(tmp_path, monkeypatch):
    from dse.calibrate import harness

    mode, rollup = tmp_path / "enabled", tmp_path / "smaps_rollup"
    mode.write_text("always [madvise] never\n")
    rollup.write_text("Rss:             4194304 kB\nAnonHugePages:    819200 kB\nShmemHugePages:        0 kB\n")
    monkeypatch.setattr(harness, "THP_MODE", mode)
    monkeypatch.setattr(harness, "SMAPS_ROLLUP", rollup)
    assert harness.huge_pages() == {"thp": "madvise", "huge_pages_mib": 800.0}
    monkeypatch.setattr(harness, "THP_MODE", tmp_path / "missing")
    monkeypatch.setattr(harness, "SMAPS_ROLLUP", tmp_path / "missing")
    assert harness.huge_pages() == {"thp": "", "huge_pages_mib": None}


def test_model_rows_record_the_page_size_state(tmp_path):
    out = tmp_path / "m.csv"
    r = CliRunner().invoke(app, ["measure", "ncf", "--batch", "2", "--reps", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    import pandas as pd

    row = pd.read_csv(out).iloc[0]
    assert {"thp", "huge_pages_mib"} <= set(row.index)
    from dse.calibrate.data import load_measurements

    assert len(load_measurements([out]).models) == 1  # the extra columns do not disturb the loader


def test_model_rows_with_page_state_append_to_files_without_it(tmp_path):
    """CPU model rows carry ``thp``/``huge_pages_mib``; GPU rows and files written before do not:
    appending either way keeps every row (empty where unknown); other column differences are refused."""
    import pandas as pd

    from dse.calibrate.harness import write_csv
    from dse.errors import DseError

    out = tmp_path / "models.csv"
    gpu = pd.DataFrame({"model": ["ncf"], "device": ["cuda"], "batch": [4], "median_ms": [0.2]})
    cpu = pd.DataFrame({"model": ["ncf"], "device": ["cpu"], "batch": [4], "median_ms": [0.3], "thp": ["madvise"],
                        "huge_pages_mib": [0.0]})
    write_csv(gpu, out)
    write_csv(cpu, out, append=True)
    write_csv(gpu, out, append=True)
    table = pd.read_csv(out)
    assert list(table["device"]) == ["cuda", "cpu", "cuda"]
    assert list(table.columns) == ["model", "device", "batch", "median_ms", "thp", "huge_pages_mib"]
    assert table["thp"].isna().tolist() == [True, False, True]
    with pytest.raises(DseError, match="other columns"):
        write_csv(gpu.assign(extra=1), out, append=True)
