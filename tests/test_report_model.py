"""The model report (`dse predict ... --html`): content from the cost model, rendered in Chromium."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from browser import check_report, chromium_path
from dse.cli import app
from dse.cost import predict_latency
from dse.graph import load_graph
from dse.report.model import breakdown_fraction_table, build_model_report, engine_roofs
from dse.specs.hardware import load_platform


def test_breakdown_table_matches_the_cost_model():
    graph, platform = load_graph("dlrm_rmc2"), load_platform("skylake")
    table = breakdown_fraction_table(graph, platform, [1, 256], engines=1)
    share_columns = [c for c in table.columns if c.endswith(" %")]
    for _, row in table.iterrows():
        prediction = predict_latency(graph, platform, int(row["batch"]))
        assert row["latency_ms"] == pytest.approx(prediction.latency_s * 1e3, rel=1e-9)
        assert row[share_columns].sum() == pytest.approx(100.0)
    # RMC2 is embedding-dominated on a CPU server (HPCA 2020): the summary says so
    report = build_model_report(graph, platform, [256])
    assert "in embedding_bag" in report.summary[-1]


def test_engine_roofs_by_hand():
    platform = load_platform("skylake")
    peak, bandwidth = engine_roofs(platform)
    c = platform.compute
    assert peak == pytest.approx(c.clock_ghz * 1e9 * c.simd_lanes * 2 * c.fma_units * c.engine_cores * c.gemm.peak_fraction)
    assert bandwidth == pytest.approx(platform.dram.engine_bandwidth_gbs * 1e9)


@pytest.mark.skipif(chromium_path() is None, reason="Chromium is not installed (.ci/run installs it)")
def test_model_report_renders_in_chromium(tmp_path):
    out = tmp_path / "model.html"
    result = CliRunner().invoke(app, ["predict", "dlrm_rmc3", "skylake", "--batch", "1,64,1024", "--html", str(out),
                                      "--compare", "broadwell,gtx1080ti"])
    assert result.exit_code == 0, result.output
    check = check_report(out, tmp_path / "model_report.png")
    assert check.console_errors == [] and check.page_errors == []
    assert check.figures == 3 and check.rendered_figures == 3
