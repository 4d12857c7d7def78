"""Bad studies fail before any work starts, with one line naming the file and the field."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from dse.cli import app
from dse.paths import HWSPECS_DIR
from sweep_stub import REF, stub_env, write_study

GOOD_AXES = [{"path": "memory.ranks_per_dimm", "values": [1, 2]}]


def _sweep(tmp_path, monkeypatch, *args, **changes):
    log = tmp_path / "computed.log"
    monkeypatch.setenv("DSE_STUB_LOG", str(log))
    study = write_study(tmp_path, **changes)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", str(study), "--out", str(out), "--evaluator", REF, "--workers", "1", *args])
    assert not log.exists(), "an evaluation ran before the study was refused"
    return result, out


CASES = [
    # (changes to the study, expected fragment of the one-line message)
    ({"models": ["dlrm_rmc1", "dlrm_rmc9"]}, "models[1]: unknown model 'dlrm_rmc9'"),
    ({"models": ["dlrm_rmc1", "dlrm_rmc1"]}, "models[1]: duplicate model 'dlrm_rmc1'"),
    ({"models": []}, "models"),
    ({"platform": "no_such_hw"}, "platform: unknown hwspec 'no_such_hw'"),
    ({"axes": [{"path": "memory.ranks_per_dimm", "values": []}]}, "axes[0].values: values is empty"),
    ({"axes": [{"path": "memory.ranks_per_dimm", "range": {"start": 4, "stop": 1, "step": 1}}]}, "stop (1) is below start (4)"),
    ({"axes": [{"path": "memory.ranks_per_dimm"}]}, "give exactly one of values, range, logrange"),
    ({"axes": [{"path": "memory.ranks_per_dimm", "values": 4}]}, "axes[0].values"),
    ({"axes": [{"path": "memory.ranks_per_dimm", "values": ["four"]}]}, "memory.ranks_per_dimm: expected a number, got 'four'"),
    ({"axes": [{"path": "memory.rank_per_dimm", "values": [1, 2]}]}, "memory.rank_per_dimm: unknown field 'rank_per_dimm'"),
    ({"axes": [{"path": "memroy.channels", "values": [1, 2]}]}, "memroy.channels: unknown field 'memroy'"),
    ({"axes": [{"path": "memory", "values": [1, 2]}]}, "is a section"),
    ({"axes": [{"path": "accel.link.bandwidth_gbs", "values": [8, 16]}]}, "targets the accelerator"),
    ({"axes": [{"path": "workload.slaa_ms", "values": [10]}]}, "unknown path 'workload.slaa_ms'"),
    ({"axes": [{"path": "workload.sla_ms", "values": [-1]}]}, "sla_ms"),
    ({"axes": GOOD_AXES * 2}, "already swept by axes[0]"),
    ({"axes": GOOD_AXES, "axis": []}, "axis: unknown field"),
    ({"axes": [{"path": "memory.ranks_per_dimm", "values": [1], "step": 2}]}, "axes[0].step: unknown field"),
    ({"axes": GOOD_AXES + [{"path": "memory.channels", "values": [1, 2, 3]}], "combine": "zip"}, "zip needs axes of equal length"),
    ({"axes": GOOD_AXES, "combine": "random"}, "random needs n"),
    ({"axes": [{"path": "cpu.freq_ghz", "range": {"start": 1, "stop": 2}}]}, "is continuous"),
    ({"axes": GOOD_AXES, "workload": {"sla_ms": "fast"}}, "workload.sla_ms"),
    ({"axes": GOOD_AXES, "workload": {"sla_ms": {"dlrm_rmc1": 10}}}, "no target for model 'dlrm_rmc2'"),
    ({"axes": GOOD_AXES, "objectives": ["max_qps", "qps_per_dollar"]}, "qps_per_dollar needs a cost"),
    ({"axes": GOOD_AXES, "cost": {"other": 1000}}, "cost: no cost for hwspec 'toy.yaml'"),
    ({"axes": GOOD_AXES, "baseline": {"set": {"memory.chanels": 2}}}, "baseline.set.memory.chanels: "),
    ({"axes": GOOD_AXES, "optimizer": {"method": "magic"}}, "optimizer.method"),
]


@pytest.mark.parametrize("changes, fragment", CASES, ids=[c[1][:40] for c in CASES])
def test_bad_study_fails_before_work(tmp_path, monkeypatch, changes, fragment):
    result, out = _sweep(tmp_path, monkeypatch, **changes)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "study.yaml" in lines[0], lines[0]
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert not out.exists()


def test_unknown_path_lists_the_known_fields(tmp_path, monkeypatch):
    result, _ = _sweep(tmp_path, monkeypatch, axes=[{"path": "memory.rank_per_dimm", "values": [1]}])
    assert "did you mean 'ranks_per_dimm'?" in result.stderr
    assert "channels, dimms_per_channel, ranks_per_dimm" in result.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--workers", "0"], "--workers: 0 must be at least 1"),
        (["--limit", "0"], "--limit: 0 must be at least 1"),
        (["--dask", "nowhere"], "--dask: expected 'local' or a scheduler address"),
        (["--evaluator", "no_such_module:evaluate"], "cannot import no_such_module"),
    ],
)
def test_bad_options(tmp_path, monkeypatch, args, fragment):
    result, out = _sweep(tmp_path, monkeypatch, *args, axes=GOOD_AXES)
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert not out.exists()


def test_malformed_yaml_and_missing_study(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodels: [dlrm_rmc1\n")
    runner = CliRunner()
    result = runner.invoke(app, ["sweep", str(bad), "--evaluator", REF])
    assert result.exit_code == 2 and "malformed YAML at line" in result.stderr
    result = runner.invoke(app, ["sweep", "no_such_study", "--evaluator", REF])
    assert result.exit_code == 2 and "unknown study 'no_such_study'" in result.stderr


def test_end_to_end_one_line_no_traceback(tmp_path):
    study = write_study(tmp_path, axes=[{"path": "memory.rank_per_dimm", "values": [1]}])
    proc = subprocess.run(
        [sys.executable, "-m", "dse.cli", "sweep", str(study), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, env=stub_env(), timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "axes[0].path: " in proc.stderr and "unknown field 'rank_per_dimm'" in proc.stderr


@pytest.mark.parametrize(
    "axis, fragment",
    [
        ({"path": "compute.cores", "values": [2, 1.5]}, "compute.cores"),
        ({"path": "dram.peak_bandwidth_gbs", "values": [100, -5]}, "dram.peak_bandwidth_gbs"),
        ({"path": "compute.coress", "values": [2]}, "did you mean 'cores'?"),
    ],
)
def test_values_are_validated_by_the_platform_schema(tmp_path, monkeypatch, axis, fragment):
    # a shipped platform: overrides go through the hardware schema (types and ranges)
    result, out = _sweep(tmp_path, monkeypatch, platform="ci_cpu", axes=[axis])
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert not out.exists()


def test_an_invalid_platform_file_fails_before_any_work(tmp_path):
    """A copy of skylake.yaml with ``tdp_w: -5`` used to pass the study checks and fail every row;
    with the default evaluator every hwspec must be a valid platform before anything runs."""
    text = (HWSPECS_DIR / "skylake.yaml").read_text()
    bad = tmp_path / "bad_skylake.yaml"
    bad.write_text(text.replace("\ntdp_w: 250.0", "\ntdp_w: -5", 1))
    assert bad.read_text() != text
    study = tmp_path / "study.yaml"
    study.write_text(f"name: t\nmodels: [dlrm_rmc1]\nplatform: {bad}\nworkload: {{sla_ms: 20}}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["sweep", str(study), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 2, result.output
    assert "platform: " in result.stderr and "tdp_w" in result.stderr and result.stderr.count("\n") == 1
    assert not out.exists()
