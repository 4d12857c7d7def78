"""Software stacks (hwspecs/stacks/): loading, provenance, binding to platforms, feeding as
``input`` operators, the threaded-GEMM formula, serving defaults, and the DeepRecSys operator
breakdown against the published figure (FACTS.md section 6)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from dse.cli import app
from dse.cost import predict_latency
from dse.errors import SpecError
from dse.graph import load_graph
from dse.paths import PROJECT_ROOT, STACKS_DIR
from dse.specs.hardware import list_platforms, load_platform
from dse.specs.stack import list_stacks, load_stack

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import bench_stacks  # noqa: E402


def test_every_shipped_stack_loads_and_every_hwspec_names_one():
    assert {"pytorch_eager", "caffe2_deeprecsys"} <= set(list_stacks())
    for name in list_platforms():
        p = load_platform(name)
        assert p.dispatch is not None and p.software is not None
        assert p.software.stack in list_stacks()


def test_no_hwspec_carries_framework_costs():
    for path in (PROJECT_ROOT / "hwspecs").glob("*.yaml"):
        assert "dispatch" not in yaml.safe_load(path.read_text()), path


def test_calibrated_machines_keep_their_fitted_costs_with_sources():
    # the numbers moved verbatim from the hwspecs (git history) into pytorch_eager.yaml
    assert load_platform("ci_cpu").dispatch.per_kind_us["embedding_bag"] == 13.93
    assert load_platform("h200").dispatch.per_kind_us["embedding_bag"] == 40.66
    host = load_platform("h200_host")
    assert host.dispatch.op_us == 0.8759
    assert host.source_of("dispatch.op_us").startswith("stack pytorch_eager: fitted: h200_micro.csv")


def test_generic_cpu_costs_scale_by_clock():
    # a CPU with no entry of its own gets the reference machine's costs times reference/clock
    p = load_platform("ci_cpu", ["name=other", "compute.clock_ghz=1.3"])
    assert p.dispatch.op_us == pytest.approx(2.09 * 2.6 / 1.3)
    assert "scaled by clock" in p.source_of("dispatch.op_us")


def test_gpu_launch_costs_have_one_home_and_scale_by_host_clock():
    # the 1080 Ti has no PyTorch measurements: it takes the H200 host's launch costs (2.1 GHz host,
    # h200_env.json) scaled to its 2.0 GHz host; the Caffe2 launch counts live only in caffe2_deeprecsys
    card = load_platform("gtx1080ti")
    assert card.dispatch.per_kind_us["embedding_bag"] == pytest.approx(40.66 * 2.1 / 2.0)
    assert card.dispatch.op_us == pytest.approx(8.679 * 2.1 / 2.0)
    assert "scaled by clock 2.1/2.0 GHz" in card.source_of("dispatch.per_kind_us.embedding_bag")
    assert "scaled by clock" not in load_platform("h200").source_of("dispatch.op_us")
    assert load_platform("gtx1080ti", stack="caffe2_deeprecsys").dispatch.op_us == 10.0
    assert "gtx1080ti" not in load_stack("pytorch_eager").platforms


def test_feeding_by_hand_is_the_input_operators():
    """RMC1 at batch b on a CPU with Caffe2: 8 tables x (80 indices + 1 length) list elements per
    item, 16 index/length blobs and the dense blob (128 floats), priced by the stack's numbers."""
    p = load_platform("skylake", stack="caffe2_deeprecsys")
    feed = p.software.feed
    scale = 2.6 / 2.0
    assert feed.blob_us == pytest.approx(4.0 * scale)
    b = 64
    pred = predict_latency(load_graph("dlrm_rmc1"), p, b)
    inputs = {o.name: o.time_s for o in pred.ops if o.kind == "input"}
    sparse = 16 * feed.blob_us * 1e-6 + 8 * 81 * b * feed.element_ns * 1e-9 + 8 * 81 * 8 * b / (feed.copy_gbs * 1e9)
    dense = feed.blob_us * 1e-6 + 128 * 4 * b / (feed.copy_gbs * 1e9)
    assert inputs["sparse.indices"] == pytest.approx(sparse, rel=1e-9)
    assert inputs["dense"] == pytest.approx(dense, rel=1e-9)


def test_pytorch_eager_feeds_nothing():
    pred = predict_latency(load_graph("dlrm_rmc1"), load_platform("ci_cpu"), 64)
    assert all(o.time_s == 0.0 for o in pred.ops if o.kind == "input")


def test_gpu_copies_every_blob_synchronously_with_caffe2():
    g = load_graph("dlrm_rmc1")
    gpu = load_platform("gtx1080ti", stack="caffe2_deeprecsys")
    op = next(o for o in predict_latency(g, gpu, 1).ops if o.name == "sparse.indices")
    link = gpu.host_link
    assert op.terms["transfer"] == pytest.approx(16 * link.latency_us * 1e-6 + 8 * 81 * 8 / (link.h2d_gbs * 1e9))


def test_threaded_gemm_formula_by_hand():
    """t(T) = t(1) / (1 + (T-1) e) + fork_join per call, T = the cores the engines leave free."""
    g = load_graph("dlrm_rmc3")
    one = load_platform("skylake", stack="caffe2_deeprecsys")
    many = load_platform("skylake", ["stack.gemm.threads=40", "stack.gemm.parallel_efficiency=0.5"], stack="caffe2_deeprecsys")
    fj = many.software.gemm.fork_join_us * 1e-6
    fc1 = next(o for o in predict_latency(g, one, 1024).ops if o.kind == "fc")
    fc40 = next(o for o in predict_latency(g, many, 1024).ops if o.kind == "fc")
    assert fc40.terms["compute"] == pytest.approx(fc1.terms["compute"] / (1 + 39 * 0.5))
    assert fc40.terms["overhead"] == pytest.approx(fc1.terms["overhead"] + fj)
    # 40 engines leave one core each: no threading
    fc_loaded = next(o for o in predict_latency(g, many, 1024, engines=40).ops if o.kind == "fc")
    assert fc_loaded.terms["overhead"] == pytest.approx(
        next(o for o in predict_latency(g, one, 1024, engines=40).ops if o.kind == "fc").terms["overhead"])


def test_bad_stacks_fail_with_one_line(tmp_path: Path):
    data = yaml.safe_load((STACKS_DIR / "caffe2_deeprecsys.yaml").read_text())
    data["feed"]["element_ns"] = -1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"bad.yaml: feed.element_ns"):
        load_stack(str(bad))
    data = yaml.safe_load((STACKS_DIR / "caffe2_deeprecsys.yaml").read_text())
    data["gpu"]["dispatch"]["per_kind_us"]["convolution"] = 3.0
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="unknown operator kind 'convolution'"):
        load_stack(str(bad))
    data = yaml.safe_load((STACKS_DIR / "caffe2_deeprecsys.yaml").read_text())
    data["sources"].pop("feed.blob_us")
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="feed.blob_us: no source given"):
        load_stack(str(bad))
    r = CliRunner().invoke(app, ["predict", "dlrm_rmc1", "skylake", "--stack", "nope"])
    assert r.exit_code == 2 and "--stack: unknown stack 'nope'" in r.output and len(r.output.strip().splitlines()) == 1


def test_stacks_command_lists_and_shows_sources():
    r = CliRunner().invoke(app, ["stacks", "--json"])
    assert r.exit_code == 0, r.output
    assert {s["name"] for s in json.loads(r.output)["stacks"]} >= {"pytorch_eager", "caffe2_deeprecsys"}
    r = CliRunner().invoke(app, ["stacks", "caffe2_deeprecsys"])
    assert r.exit_code == 0 and "list_to_array" in r.output


def test_predict_json_shows_input_ops_with_the_caffe2_stack():
    r = CliRunner().invoke(app, ["predict", "dlrm_rmc1", "skylake", "--stack", "caffe2_deeprecsys", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["stack"] == "caffe2_deeprecsys"
    inputs = [o for o in d["points"][0]["ops"] if o["kind"] == "input"]
    assert inputs and all(o["time_s"] > 0 for o in inputs)


def test_serve_uses_the_stack_serving_costs_unless_ideal():
    base = ["serve", "wnd", "h200_host", "--qps", "1200", "--batch", "64", "--workers", "14", "--method", "analytic", "--json"]
    real = json.loads(CliRunner().invoke(app, base).output)
    ideal = json.loads(CliRunner().invoke(app, [*base, "--ideal"]).output)
    # the measured p95 at 900 and 1261 queries/s was 8.5 and 28.6 ms (h200_serving_wnd_summary.csv)
    assert 8.5e-3 < real["p95_s"] < 28.6e-3
    assert ideal["p95_s"] < 0.7 * real["p95_s"]


def test_operator_breakdown_against_facts_section6():
    """FC and SparseLengthsSum share of the net's operator time on Skylake and the GTX 1080 Ti,
    RMC1/2/3 at batch 1/16/64/1024 (48 published numbers, read off the figure +-2 points).
    Target: 40 within 10 points; reached: 43 (docs/stacks.md lists the five misses: Skylake RMC2
    at batch 1 and the 1080 Ti's RMC1 SLS share at batch 1-64)."""
    rows = bench_stacks.breakdown("caffe2_deeprecsys")
    within = sum(abs(got - pub) <= 10 for *_, got, pub in rows)
    assert len(rows) == 48
    assert within >= 40
    # the qualitative split of the figure holds everywhere: RMC3 FC-dominated on Skylake, RMC1/2
    # SLS-dominated except RMC1 at batch 1, where FC leads (58% against 30% in the figure)
    by = {(hw, m, b, w): got for hw, m, b, w, got, _ in rows}
    assert all(by[("skylake", "dlrm_rmc3", b, "FC")] > 85 for b in (1, 16, 64, 1024))
    assert all(by[("skylake", "dlrm_rmc2", b, "SLS")] > 50 for b in (1, 16, 64, 1024))
    assert all(by[("skylake", "dlrm_rmc1", b, "SLS")] > 50 for b in (16, 64, 1024))
    assert by[("skylake", "dlrm_rmc1", 1, "FC")] > by[("skylake", "dlrm_rmc1", 1, "SLS")]


def test_unknown_stack_field_in_a_study_axis_points_at_the_path(tmp_path: Path):
    from dse.sweep.resolve import load_study

    study = {"name": "s", "models": ["ncf"], "platform": "skylake",
             "axes": [{"path": "stack.feed.element_ns", "values": [10, 20]}],
             "workload": {"sla_ms": {"ncf": 5}}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(study))
    assert load_study(path).study.axes[0].path == "stack.feed.element_ns"  # a known field loads
    study["axes"][0]["path"] = "stack.feed.nope"
    path.write_text(yaml.safe_dump(study))
    with pytest.raises(SpecError, match=r"s.yaml: axes\[0\]\.path: .*feed.nope"):
        load_study(path)
    study["axes"][0] = {"path": "stack.feed.element_ns", "values": [-1]}  # a known field, bad value
    path.write_text(yaml.safe_dump(study))
    with pytest.raises(SpecError, match=r"s.yaml: axes\[0\]\.values\[0\]: .*element_ns"):
        load_study(path)


def test_a_sweep_holds_the_software_fixed_across_host_and_accelerator(tmp_path: Path):
    # a stack axis on the host carries over to the accelerator (as dse optimize does), unless the
    # study sets the accelerator's stack itself
    from dse.sweep import evaluate as E
    from dse.sweep.expand import expand
    from dse.sweep.resolve import load_study

    study = {"name": "s", "models": ["ncf"], "platform": "skylake", "accelerator": "gtx1080ti",
             "axes": [{"path": "stack", "values": ["pytorch_eager", "caffe2_deeprecsys"]}],
             "workload": {"sla_ms": {"ncf": 5}}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(study))
    configs = expand(load_study(path), "test").tasks
    stacks = {(E._problem(c)["platform"].software.stack, E._problem(c)["accel"].software.stack) for c in configs}
    assert stacks == {("pytorch_eager", "pytorch_eager"), ("caffe2_deeprecsys", "caffe2_deeprecsys")}
    study["axes"].append({"path": "accel.stack", "values": ["pytorch_eager"]})
    path.write_text(yaml.safe_dump(study))
    configs = expand(load_study(path), "test").tasks
    assert {E._problem(c)["accel"].software.stack for c in configs} == {"pytorch_eager"}
