"""``dse hardware`` and ``dse predict``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from dse.cli import app
from dse.cost import predict_latency
from dse.graph import load_graph
from dse.specs.hardware import load_platform

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_hardware_lists_every_spec():
    res = run("hardware")
    assert res.exit_code == 0, res.output
    for name in ["haswell", "broadwell", "skylake", "gtx1080ti", "h100", "h200", "h200_host", "ci_cpu"]:
        assert name in res.stdout


def test_hardware_json_and_detail_with_sources():
    res = run("hardware", "--json")
    names = {p["name"] for p in json.loads(res.stdout)["hardware"]}
    assert {"skylake", "h200"} <= names
    res = run("hardware", "skylake")
    assert res.exit_code == 0 and "compute.clock_ghz" in res.stdout and "datasheet" in res.stdout
    res = run("hardware", "skylake", "--set", "compute.cores=10", "--json")
    assert json.loads(res.stdout)["spec"]["compute"]["cores"] == 10


def test_predict_json_format_matches_the_library():
    res = run("predict", "dlrm_rmc1", "skylake", "--batch", "1,16,256", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["model"] == "dlrm_rmc1" and out["hardware"] == "skylake"
    assert [p["batch"] for p in out["points"]] == [1, 16, 256]
    point = out["points"][1]
    assert set(point) == {"batch", "latency_s", "ops"}
    assert all(set(op) == {"name", "kind", "time_s", "bound"} for op in point["ops"])
    assert point["latency_s"] == pytest.approx(sum(op["time_s"] for op in point["ops"]))
    expected = predict_latency(load_graph("dlrm_rmc1"), load_platform("skylake"), 16).latency_s
    assert point["latency_s"] == pytest.approx(expected)


def test_predict_table_engines_and_overrides():
    res = run("predict", "wnd", "h200", "--batch", "1,1024")
    assert res.exit_code == 0 and "wnd on h200" in res.stdout
    one = json.loads(run("predict", "dlrm_rmc2", "skylake", "-b", "256", "--json").stdout)["points"][0]["latency_s"]
    many = json.loads(run("predict", "dlrm_rmc2", "skylake", "-b", "256", "--engines", "40", "--json").stdout)
    assert many["points"][0]["latency_s"] > one  # co-located engines share DRAM bandwidth
    slow = json.loads(run("predict", "dlrm_rmc2", "skylake", "-b", "256", "--set", "dram.latency_ns=300", "--json").stdout)
    assert slow["points"][0]["latency_s"] > one


@pytest.mark.parametrize(
    "args, message",
    [
        (["predict", "dlrm_rmc1", "skylake", "--set", "compute.cores=-2"], "compute.cores"),
        (["predict", "dlrm_rmc1", "skylake", "--set", "compute.corez=2"], "unknown field 'corez'"),
        (["predict", "dlrm_rmc1", "skylake", "--set", "dram.latency_ns=fast"], "expected a number"),
        (["predict", "dlrm_rmc1", "skylake", "--batch", "0"], "--batch"),
        (["predict", "dlrm_rmc1", "skylake", "--engines", "0"], "--engines"),
        (["predict", "dlrm_rmc1", "epyc"], "unknown hardware 'epyc'"),
        (["predict", "no_such_model", "skylake"], "unknown model"),
        (["hardware", "--set", "a=1"], "--set needs a hardware spec name"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    res = run(*args)
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
