"""DeepRecSched's mechanics: the walks, the result's bookkeeping, power, the CLI, the sweep row."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from dse.cli import app
from dse.errors import DseError
from dse.sched import optimize
from dse.sched.deeprecsched import hill_climb
from dse.sched.power import device_power, serving_power
from dse.settings import OptimizerSettings
from dse.specs.hardware import load_platform

runner = CliRunner()
B = [512, 384, 256, 192, 128, 96, 64, 48, 32]
Q = [96, 128, 192, 256, 384, 512]
JSON_KEYS = {"batch", "threshold", "max_qps", "p95_s", "baseline_qps", "gain", "qps_per_watt", "grid_max_qps"}


class FakeTable:
    """A capacity table with given values; records what the walk asked for."""

    def __init__(self, values, has_accel=False):
        self.values = dict(values)
        self.has_accel = has_accel
        self.asked = []

    def get(self, key):
        self.asked.append(key)
        return self.values[key]


def test_batch_walk_stops_at_the_first_decrease():
    t = FakeTable({(b, None): v for b, v in zip(B, [10, 12, 15, 14, 20, 30, 1, 1, 1])})
    chosen, path = hill_climb(t, B, Q)
    assert chosen == (256, None)  # 192 is lower than 256: stop, even though 96 would be better
    assert [k[0] for k in t.asked] == [512, 384, 256, 192]
    assert [p[0] for p in path] == [512, 384, 256, 192]


def test_ties_and_infeasible_sizes_do_not_stop_the_walk():
    t = FakeTable({(b, None): v for b, v in zip(B, [0, 0, 0, 5, 5, 7, 6, 9, 9])})
    chosen, _ = hill_climb(t, B, Q)
    assert chosen == (96, None)  # zeros and the tie at 128 go on; 64 < 96 stops
    assert t.asked[-1] == (64, None)


def test_stop_tolerance():
    t = FakeTable({(b, None): v for b, v in zip(B, [100, 99, 98, 120, 80, 1, 1, 1, 1])})
    assert hill_climb(t, B, Q)[0] == (512, None)
    assert hill_climb(t, B, Q, stop_tol=0.02)[0] == (192, None)


def test_threshold_walk_uses_the_best_batch_and_keeps_the_best_threshold():
    values = {(b, None): v for b, v in zip(B, [10, 11, 12, 9, 1, 1, 1, 1, 1])}
    values.update({(256, q): v for q, v in zip(Q, [3, 8, 20, 15, 12, 12])})
    t = FakeTable(values, has_accel=True)
    chosen, path = hill_climb(t, B, Q)
    assert chosen == (256, 192)
    assert [k for k in t.asked if k[1] is not None] == [(256, 96), (256, 128), (256, 192), (256, 256)]
    # a one-entry list pins Q, as in the published scheduler (it always offloads once Q is tuned)
    assert hill_climb(FakeTable(values, has_accel=True), B, [96])[0] == (256, 96)


def test_power_model():
    sky, gpu = load_platform("skylake"), load_platform("gtx1080ti")
    assert device_power(sky, 0.0) == sky.idle_w and device_power(sky, 1.0) == sky.tdp_w
    assert device_power(sky, 2.0) == sky.tdp_w
    from dse.sched.power import memory_standby_power

    dram = memory_standby_power(sky)  # its memory: section (6 x DDR4-2666, 4 ranks per channel)
    assert dram > 0
    half = serving_power(sky, None, 20, 1.0, 0.0)  # 20 of 40 cores busy
    assert half.total_w == pytest.approx(sky.idle_w + 0.5 * (sky.tdp_w - sky.idle_w) + dram)
    both = serving_power(sky, gpu, 40, 0.0, 0.0)
    assert both.accel_w == gpu.idle_w and both.total_w == pytest.approx(sky.idle_w + gpu.idle_w + dram)


@pytest.fixture(scope="module")
def wnd_gpu():
    return optimize("wnd", "skylake", "gtx1080ti", sla_s=0.015)


def test_result_bookkeeping(wnd_gpu):
    r = wnd_gpu
    assert r.feasible and r.max_qps > 0 and r.workers == 40
    assert r.max_qps == r.table[(r.batch, r.threshold)]
    assert r.grid_max_qps == max(r.table[(b, q)] for b in B for q in [None, *Q])
    assert r.grid_max_qps == r.table[(r.grid_batch, r.grid_threshold)]
    assert 0.0 <= r.gap < 1 and r.gap == pytest.approx(1 - r.max_qps / r.grid_max_qps, abs=1e-12)
    assert r.baseline_batch == 32 and r.baseline_qps == r.table[(32, None)]
    assert r.gain == pytest.approx(r.max_qps / r.baseline_qps)
    assert 0 < r.p95_s <= r.sla_s
    assert r.memory_power_w > 0  # skylake describes its DIMMs
    assert r.power_w == pytest.approx(r.cpu_power_w + r.accel_power_w + r.memory_power_w)
    assert 75.0 + 15.0 < r.power_w <= 250.0 + 250.0 + r.memory_power_w
    assert r.qps_per_watt == pytest.approx(r.max_qps / r.power_w)
    assert r.energy_per_query_j == pytest.approx(r.power_w / r.max_qps)
    assert [p[:2] for p in r.climb][0] == (512, None)
    out = r.as_json()
    assert JSON_KEYS <= set(out) and out["feasible"] is True
    json.dumps(out, allow_nan=False)


def test_no_grid_gives_the_same_choice(wnd_gpu):
    r = optimize("wnd", "skylake", "gtx1080ti", sla_s=0.015, grid=False)
    assert (r.batch, r.threshold, r.max_qps) == (wnd_gpu.batch, wnd_gpu.threshold, wnd_gpu.max_qps)
    assert r.grid_max_qps is None and r.gap is None


def test_the_walk_solves_only_what_it_reads(wnd_gpu):
    """Without the grid, only the capacities the walks reach (and the baseline) are solved, in
    rounds, and the walks take the same path with the same capacities as when everything is."""
    r = optimize("wnd", "skylake", "gtx1080ti", sla_s=0.015, grid=False)
    from dse.sched.deeprecsched import WALK_AHEAD

    read = {(b, q) for b, q, _ in r.climb} | {(32, None)}
    assert set(r.table) >= read
    # beyond what the walks read, at most the keys solved ahead in each walk's last round
    assert len(set(r.table) - read) <= 2 * (max(WALK_AHEAD) - 1) < len(set(wnd_gpu.table) - read)
    assert [p[:2] for p in r.climb] == [p[:2] for p in wnd_gpu.climb]
    for (_, _, got), (_, _, ref) in zip(r.climb, wnd_gpu.climb):
        assert got == pytest.approx(ref, rel=1e-12)


def test_unreachable_sla_reports_the_best_p95():
    r = optimize("dlrm_rmc2", "skylake", sla_s=0.002)
    assert not r.feasible and r.max_qps == 0.0 and r.baseline_qps == 0.0 and r.gain is None
    assert r.p95_s > r.sla_s and r.best_p95_s == r.p95_s
    assert (r.batch, r.threshold) == (r.best_p95_batch, r.best_p95_threshold)
    # the best p95 is the lowest zero-load p95 over the list: every other b does worse
    for b in (512, 128, 64):
        other = optimize("dlrm_rmc2", "skylake", sla_s=0.002, search=OptimizerSettings(batches=[b]), grid=False)
        assert other.p95_s >= r.p95_s * (1 - 1e-3)
    assert r.qps_per_watt == 0.0 and r.energy_per_query_j is None
    assert r.power_w == pytest.approx(load_platform("skylake").idle_w + r.memory_power_w)


def test_cli_reports_an_unreachable_sla_clearly():
    res = runner.invoke(app, ["optimize", "dlrm_rmc2", "skylake", "--sla-ms", "2"])
    assert res.exit_code == 0
    assert "INFEASIBLE" in res.stdout and "best achievable p95" in res.stdout
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["optimize", "dlrm_rmc2", "skylake", "--sla-ms", "2", "--json"])
    out = json.loads(res.stdout)
    assert out["feasible"] is False and out["max_qps"] == 0.0 and out["p95_s"] > 0.002
    assert out["batch"] in B and out["gain"] is None


def test_cli_json(wnd_gpu):
    res = runner.invoke(app, ["optimize", "wnd", "skylake", "--accel", "gtx1080ti", "--sla-ms", "15", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert JSON_KEYS <= set(out)
    assert (out["batch"], out["threshold"]) == (wnd_gpu.batch, wnd_gpu.threshold)
    assert out["max_qps"] == pytest.approx(wnd_gpu.max_qps)
    assert out["grid_max_qps"] >= out["max_qps"]


def test_cli_text():
    res = runner.invoke(app, ["optimize", "ncf", "skylake", "--sla-ms", "2", "--batches", "256,128,64"])
    assert res.exit_code == 0, res.output
    for word in ("DeepRecSched", "static baseline (b=32", "gain", "grid optimum", "queries/s/W"):
        assert word in res.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--sla-ms", "0"], "--sla-ms"),
        (["--sla-ms", "10", "--batches", "64,x"], "--batches"),
        (["--sla-ms", "10", "--batches", "64,64"], "duplicate"),
        (["--sla-ms", "10", "--thresholds", "-5"], "--thresholds"),
        (["--sla-ms", "10", "--method", "fast"], "--method"),
        (["--sla-ms", "10", "--workers", "0"], "--workers"),
        (["--sla-ms", "10", "--sizes", "lognormal:5"], "--sizes"),
        (["--sla-ms", "10", "--accel", "skylake"], "--accel"),
        (["--sla-ms", "10", "--stop-tol", "1.5"], "--stop-tol"),
    ],
)
def test_cli_bad_input_is_one_line(args, needle):
    res = runner.invoke(app, ["optimize", "wnd", "skylake", *args])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]


def test_accelerator_as_host_is_refused():
    with pytest.raises(DseError, match="host"):
        optimize("wnd", "gtx1080ti", sla_s=0.01)


def test_des_method_agrees_with_analytic():
    kw = dict(batches=[512, 128], baseline_batch=128)
    a = optimize("wnd", "skylake", sla_s=0.015, grid=False, search=OptimizerSettings(method="analytic", **kw))
    d = optimize("wnd", "skylake", sla_s=0.015, grid=False, search=OptimizerSettings(method="des", queries=5000, **kw))
    assert d.method == "des" and d.batch == a.batch
    assert d.max_qps == pytest.approx(a.max_qps, rel=0.15)
    assert 0 < d.p95_s <= 0.015


def test_sweep_evaluate_row(tmp_path):
    from dse.sweep.resolve import load_study
    from dse.sweep.evaluate import EVALUATOR_VERSION, check_configs, evaluate
    from dse.sweep.expand import expand

    assert EVALUATOR_VERSION != "0"
    study = tmp_path / "s.yaml"
    study.write_text(
        "name: s\nmodels: [wnd]\nplatform: skylake\naccelerator: gtx1080ti\n"
        "axes:\n  - path: accel.host_link.h2d_gbs\n    values: [6.0, 12.0]\n"
        "workload: {sla_ms: 15}\n"
    )
    configs = expand(load_study(study), "test").tasks
    check_configs(configs)
    rows = [evaluate(c) for c in configs]
    keys = {"batch", "threshold", "max_qps", "p95_ms", "qps_per_watt", "energy_per_query_j", "power_w",
            "baseline_qps", "gain"}
    for row in rows:
        assert keys <= set(row) and row["feasible"] is True
        json.dumps(row, allow_nan=False)
        assert row["p95_ms"] <= 15.0 and math.isclose(row["qps_per_watt"] * row["energy_per_query_j"], 1.0)
    point = next(c for c in configs if c["role"] == "point" and c["axes"]["accel.host_link.h2d_gbs"] == 12.0)
    direct = optimize("wnd", "skylake", "gtx1080ti", sla_s=0.015, grid=False)
    assert evaluate(point)["max_qps"] == pytest.approx(direct.max_qps, rel=1e-9)


@pytest.mark.parametrize("name,min_hw", [("nmp", 1000), ("cpu_generations", 100), ("gpu_offload", 500)])
def test_shipped_studies_expand_and_evaluate(name, min_hw):
    from pathlib import Path

    from dse.sweep.resolve import load_study
    from dse.sweep.evaluate import check_configs, evaluate
    from dse.sweep.expand import combine, expand

    path = Path(__file__).resolve().parents[1] / "studies" / f"{name}.yaml"
    loaded = load_study(path)
    assert len(combine(loaded.study)) >= min_hw
    configs = expand(loaded, "test").tasks
    check_configs(configs)
    for config in (configs[0], configs[len(configs) // 2], configs[-1]):
        row = evaluate(config)
        assert row["feasible"] and row["max_qps"] > 0 and row["p95_ms"] <= config["workload"]["sla_ms"]


def test_dram_standby_power_counts_every_rank():
    """P_mem = sockets * ranks * VDD * IDD3N * devices per rank (DDR4 datasheet currents in the spec)."""
    from dse.sched.power import memory_standby_power, serving_power
    from dse.specs.hardware import load_platform

    base = load_platform("skylake_recnmp")
    big = load_platform("skylake_recnmp", ["memory.ranks_per_dimm=8", "memory.dimms_per_channel=4"])
    m = base.memory
    by_hand = base.compute.sockets * m.ranks * m.power.vdd_v * m.power.idd3n_ma * 1e-3 * m.devices_per_rank
    assert memory_standby_power(base) == pytest.approx(by_hand)
    assert memory_standby_power(big) == pytest.approx(by_hand * big.memory.ranks / m.ranks)
    assert memory_standby_power(load_platform("ci_cpu")) == 0.0  # no DRAM topology described
    sky = load_platform("skylake")  # 2 sockets x 6 channels x 2 DIMMs x 2 ranks
    assert memory_standby_power(sky) == pytest.approx(
        2 * 24 * sky.memory.power.vdd_v * sky.memory.power.idd3n_ma * 1e-3 * sky.memory.devices_per_rank
    )
    draw = serving_power(base, None, 4, 0.5, 0.0)
    assert draw.total_w == pytest.approx(draw.cpu_w + by_hand)
