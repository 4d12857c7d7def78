"""Serving reports (`dse capacity --html`, `dse optimize --html`): numbers from the model, rendered in Chromium."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from browser import check_report, chromium_path
from dse.cli import app
from dse.report.serving import build_capacity_report, capacity_grid_figure


def test_capacity_report_summary_states_the_capacity_result(tmp_path):
    args = ["capacity", "wnd", "skylake", "--sla-ms", "25", "--batch", "64", "--method", "analytic"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    cap = json.loads(result.stdout)
    curve = pd.DataFrame({"qps": [10.0, 20.0], "p50_s": [0.004, 0.005], "p95_s": [0.006, 0.03], "p99_s": [0.007, 0.05],
                          "stable": [True, True], "utilization": [0.1, 0.2]})
    report = build_capacity_report("t", "s", curve, cap["sla_s"], cap["max_qps"], cap["p95_s"])
    assert f"{cap['max_qps']:.4g} queries/s" in report.summary[0]


def test_grid_heatmap_orders_no_offload_first():
    grid = pd.DataFrame({"batch": [64, 64, 128, 128], "threshold": [None, 256, None, 256], "max_qps": [1.0, 2.0, 3.0, 4.0]})
    fig = capacity_grid_figure(grid, chosen=(128, 256))
    heat = fig.data[0]
    assert list(heat.y) == ["no offload", "256"]
    assert heat.z[1][1] == 4.0  # Q=256, b=128


@pytest.mark.skipif(chromium_path() is None, reason="Chromium is not installed (.ci/run installs it)")
def test_capacity_report_renders_in_chromium(tmp_path):
    out = tmp_path / "capacity.html"
    result = CliRunner().invoke(app, ["capacity", "wnd", "skylake", "--sla-ms", "25", "--batch", "64",
                                      "--method", "analytic", "--html", str(out)])
    assert result.exit_code == 0, result.output
    check = check_report(out, tmp_path / "capacity_report.png")
    assert check.console_errors == [] and check.page_errors == []
    assert check.figures == 1 and check.rendered_figures == 1


@pytest.mark.skipif(chromium_path() is None, reason="Chromium is not installed (.ci/run installs it)")
def test_optimize_report_renders_in_chromium(tmp_path):
    out = tmp_path / "optimize.html"
    result = CliRunner().invoke(app, ["optimize", "wnd", "skylake", "--accel", "gtx1080ti", "--sla-ms", "15",
                                      "--batches", "64,128", "--thresholds", "192,256", "--html", str(out), "--json"])
    assert result.exit_code == 0, result.output
    chosen = json.loads(result.stdout)
    html = out.read_text()
    assert f"DeepRecSched chose b={chosen['batch']}" in html
    check = check_report(out, tmp_path / "optimize_report.png")
    assert check.console_errors == [] and check.page_errors == []
    assert check.figures == 2 and check.rendered_figures == 2
