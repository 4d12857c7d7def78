"""``dse serve`` and ``dse capacity`` on the shipped specs (wnd on the H200 host)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dse.cli import app

runner = CliRunner()
BASE = ["wnd", "h200_host", "--batch", "64", "--workers", "14", "--queries", "20000"]
SERVE_KEYS = {"qps", "p50_s", "p95_s", "p99_s", "mean_s", "utilization", "accel_fraction", "stable"}


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.mark.parametrize("method", ["des", "analytic"])
def test_serve_json(method):
    res = run("serve", *BASE, "--qps", "800", "--method", method, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == SERVE_KEYS
    assert out["stable"] is True and out["qps"] == 800.0 and out["accel_fraction"] == 0.0
    assert 0 < out["p50_s"] <= out["p95_s"] <= out["p99_s"] and 0 < out["utilization"] < 1


def test_serve_methods_agree():
    d = json.loads(run("serve", *BASE, "--qps", "900", "--json").stdout)
    a = json.loads(run("serve", *BASE, "--qps", "900", "--method", "analytic", "--json").stdout)
    assert a["p95_s"] == pytest.approx(d["p95_s"], rel=0.15)
    assert a["utilization"] == pytest.approx(d["utilization"])


def test_serve_overloaded_is_unstable():
    res = run("serve", *BASE, "--qps", "5000", "--json")
    out = json.loads(res.stdout)
    assert out["stable"] is False and out["p95_s"] is None and out["utilization"] > 1
    text = run("serve", *BASE, "--qps", "5000")
    assert text.exit_code == 0 and "unstable" in text.stdout


def test_serve_with_accelerator_and_costs(tmp_path):
    costs = tmp_path / "costs.json"
    costs.write_text(json.dumps({"costs": {"query_overhead_s": 0.001, "jitter": 0.2}}))
    res = run("serve", *BASE, "--accel", "h200", "--threshold", "256", "--qps", "800", "--costs", str(costs), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert 0 < out["accel_fraction"] < 0.05 and out["p50_s"] > 0.001
    text = run("serve", *BASE, "--qps", "800", "--jitter", "0.3", "--query-overhead-ms", "1")
    assert "p95" in text.stdout and "CI" in text.stdout


def test_serve_trace(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("arrival_s,size\n" + "".join(f"{i * 0.002:.4f},{100 + i % 50}\n" for i in range(2000)))
    res = run("serve", "wnd", "h200_host", "--batch", "64", "--workers", "14", "--trace", str(trace), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["qps"] == pytest.approx(500, rel=0.01) and out["stable"]


def test_capacity_json():
    res = run("capacity", *BASE, "--sla-ms", "25", "--method", "analytic", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"max_qps", "p95_s", "sla_s"}
    assert out["sla_s"] == 0.025 and out["max_qps"] > 0 and out["p95_s"] <= 0.025
    d = json.loads(run("capacity", *BASE, "--sla-ms", "25", "--json").stdout)
    assert d["max_qps"] == pytest.approx(out["max_qps"], rel=0.1)


def test_capacity_unreachable_sla():
    res = run("capacity", *BASE, "--sla-ms", "0.5", "--method", "analytic", "--json")
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["max_qps"] == 0.0 and out["p95_s"] > 0.0005
    assert "no load meets the SLA" in res.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["serve", *BASE, "--qps", "100", "--sizes", "lognormal:5"], "lognormal takes 2 parameters"),
        (["serve", *BASE, "--qps", "100", "--threshold", "128"], "needs an accelerator"),
        (["serve", *BASE, "--qps", "-3"], "--qps"),
        (["serve", *BASE], "--qps is required"),
        (["serve", *BASE, "--qps", "100", "--method", "magic"], "--method"),
        (["serve", "nosuchmodel", "h200_host", "--batch", "64", "--qps", "100"], "unknown model"),
        (["serve", "wnd", "nosuchhw", "--batch", "64", "--qps", "100"], "unknown hardware"),
        (["serve", *BASE, "--qps", "100", "--costs", "/nonexistent.json"], "cannot read"),
        (["capacity", *BASE, "--sla-ms", "0"], "--sla-ms"),
    ],
)
def test_bad_input_is_one_line_error(args, fragment):
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert fragment in res.stderr
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
