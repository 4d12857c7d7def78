"""RecNMP as a platform (hwspecs/skylake_recnmp.yaml) through the normal cost-model path, and the
``dse nmp`` command.

Reference: Ke et al., RecNMP, ISCA 2020 (abstract; FACTS.md section 3): "4.2x throughput
improvement" for recommendation inference under heavy co-location on an 18-core Skylake with 4
channels of DDR4-2400 (here: the ratio of one engine's inference times at batch 256 with 18
engines busy, which is the throughput ratio at equal engines and batch), with the index stream of
RecNMP's production traces (``zipf:1.05``, dse.settings.RECNMP_LOCALITY);
HPCA 2020 (Gupta et al., FACTS.md section 3): RMC1 and RMC2 are dominated by SparseLengthsSum,
RMC3 by fully connected layers, so RMC3 must gain little.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dse.cli import app
from dse.cost.model import predict_latency, service_curve
from dse.errors import DseError
from dse.graph import load_graph
from dse.settings import RECNMP_LOCALITY
from dse.specs.hardware import load_platform

ENGINES = 18  # one single-threaded engine per core of the paper's 18-core Skylake
BATCH = 256

runner = CliRunner()


def _throughput_gain(model: str) -> float:
    graph = load_graph(model)
    near = load_platform("skylake_recnmp")
    host = load_platform("skylake_recnmp", ["kind=cpu", "nmp.enabled=false"])
    b = np.array([BATCH])
    t_host = service_curve(graph, host, b, engines=ENGINES, locality=RECNMP_LOCALITY).seconds[0]
    t_near = service_curve(graph, near, b, engines=ENGINES, locality=RECNMP_LOCALITY).seconds[0]
    # throughput = engines x batch / t(batch) on both, so the gain is the ratio of the times
    return float(t_host / t_near)


@pytest.mark.parametrize("model", ["dlrm_rmc1", "dlrm_rmc2"])
def test_end_to_end_gain_of_embedding_heavy_models_in_the_range_of_4_2x(model):
    # paper (abstract): "RecNMP offers 4.2x throughput improvement"; the embedding-dominated RMC1 and
    # RMC2 each within +-35% of it (2.7x-5.7x)
    assert 4.2 * 0.65 <= _throughput_gain(model) <= 4.2 * 1.35


def test_end_to_end_gain_follows_from_the_host_sls_share():
    # for the right reasons: 4.2x end-to-end with ~9x on SparseLengthsSum needs SLS to take
    # 1/((1 - 1/4.2) / (1 - 1/9)) ~ 85% of the host's time (Amdahl). On the paper's host the
    # embedding-heavy models spend 70-95% of their time in embedding_bag; RMC3 under 10%.
    host = load_platform("skylake_recnmp", ["kind=cpu", "nmp.enabled=false"])
    share = {}
    for model in ("dlrm_rmc1", "dlrm_rmc2", "dlrm_rmc3"):
        by_kind = predict_latency(load_graph(model), host, BATCH, ENGINES, locality=RECNMP_LOCALITY).time_by_kind()
        share[model] = by_kind["embedding_bag"] / sum(by_kind.values())
    assert 0.7 <= share["dlrm_rmc1"] <= 0.95 and 0.7 <= share["dlrm_rmc2"] <= 0.95, share
    assert share["dlrm_rmc3"] < 0.1, share


def test_host_gathers_use_the_same_dram_derivation_as_the_sls_baseline():
    # on the NMP platform and its host-only baseline a random row costs one activate and k bursts
    # of the memory: section's channels (dse.cost.dram.channel_random_read), like host_sls_time
    from dse.cost import dram
    from dse.cost.gather import dram_row_time
    from dse.graph import ordered_ops

    host = load_platform("skylake_recnmp", ["kind=cpu", "nmp.enabled=false"])
    for model in ("dlrm_rmc1", "dlrm_rmc2"):
        op = next(o for o in ordered_ops(load_graph(model)) if o.kind.value == "embedding_bag")
        rate = host.memory.channels * dram.channel_random_read(host.memory, op.row_bytes).lookups_per_s
        # scaled by the spec's DRAM peak over the channels' own (76.8 / 76.83 GB/s here)
        scale = host.dram.peak_bandwidth_gbs * 1e9 / (host.memory.channels * host.memory.channel_peak_bandwidth)
        assert scale == pytest.approx(1.0, abs=1e-3)
        per_row = dram_row_time(op, host, np.array([1e6]), ENGINES)[0]
        assert per_row == pytest.approx(ENGINES / (rate * scale))
    # a sweep over the DRAM peak moves the gathers' random-row rate with it
    faster = load_platform("skylake_recnmp", ["kind=cpu", "nmp.enabled=false", "dram.peak_bandwidth_gbs=153.6"])
    op = next(o for o in ordered_ops(load_graph("dlrm_rmc2")) if o.kind.value == "embedding_bag")
    ratio = dram_row_time(op, host, np.array([1e6]), ENGINES)[0] / dram_row_time(op, faster, np.array([1e6]), ENGINES)[0]
    assert ratio == pytest.approx(153.6 / 76.8)


def test_fc_heavy_rmc3_gains_little():
    # HPCA 2020: RMC3 is dominated by FC layers; below 1.3x and far below RMC1
    gain = _throughput_gain("dlrm_rmc3")
    assert 1.0 <= gain < 1.3
    assert gain < _throughput_gain("dlrm_rmc1") / 2


def test_predict_with_set_goes_through_the_normal_path():
    # dse predict MODEL skylake_recnmp --set memory.ranks_per_dimm=2 ... : overrides are ordinary
    # platform overrides; fewer ranks per DIMM means fewer ranks in parallel, so slower SLS
    # (RMC2: its 4 ranks per channel are rank-bound; RMC1's 128 B rows are channel-bound already
    # at 4 ranks, so it gains nothing from the fifth to eighth rank)
    graph = load_graph("dlrm_rmc2")
    two = load_platform("skylake_recnmp", ["memory.ranks_per_dimm=2"])
    one = load_platform("skylake_recnmp", ["memory.ranks_per_dimm=1"])
    assert two.sources["memory.ranks_per_dimm"].startswith("override")
    t2 = predict_latency(graph, two, BATCH, ENGINES, locality=RECNMP_LOCALITY).time_by_kind()["embedding_bag"]
    t1 = predict_latency(graph, one, BATCH, ENGINES, locality=RECNMP_LOCALITY).time_by_kind()["embedding_bag"]
    assert t1 > 1.3 * t2  # less than 2x: at 8 ranks the channel binds


def test_nmp_platform_runs_only_pooled_lookups_in_memory():
    # FCs cost the same on both platforms; embedding_bag has no host compute term on NMP
    graph = load_graph("dlrm_rmc1")
    near = predict_latency(graph, load_platform("skylake_recnmp"), BATCH, ENGINES, locality=RECNMP_LOCALITY)
    host = predict_latency(graph, load_platform("skylake_recnmp", ["kind=cpu", "nmp.enabled=false"]), BATCH, ENGINES, locality=RECNMP_LOCALITY)
    assert near.time_by_kind()["fc"] == pytest.approx(host.time_by_kind()["fc"])
    bag = next(op for op in near.ops if op.kind == "embedding_bag")
    assert bag.terms["compute"] == 0.0


def test_impossible_platforms_are_one_line_errors():
    with pytest.raises(DseError, match="ranks_per_dimm: should be greater than 0"):
        load_platform("skylake_recnmp", ["memory.ranks_per_dimm=0"])
    with pytest.raises(DseError, match="larger than the 16 GB DIMM"):
        load_platform("skylake_recnmp", ["nmp.rank_cache_kb=1e10"])
    with pytest.raises(DseError, match="nmp.locality: unknown field 'locality'"):  # a workload setting now
        load_platform("skylake_recnmp", ["nmp.locality=zipf:1.05"])
    with pytest.raises(DseError, match="kind nmp needs both an nmp"):
        load_platform("ci_cpu", ["kind=nmp"])


def test_dse_nmp_json_format():
    result = runner.invoke(app, ["nmp", "dlrm_rmc1", "--ranks", "2,8", "--cache-kb", "0,128", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["model"] == "dlrm_rmc1"
    assert len(payload["points"]) == 4
    for point in payload["points"]:
        assert {"ranks", "cache_kb", "locality", "sls_speedup", "latency_speedup", "hit_rate"} <= set(point)
    by = {(p["ranks"], p["cache_kb"]): p for p in payload["points"]}
    assert by[(8, 128.0)]["sls_speedup"] > by[(2, 128.0)]["sls_speedup"] > by[(2, 0.0)]["sls_speedup"] * 1.2
    assert by[(2, 0.0)]["hit_rate"] == 0.0 and by[(8, 128.0)]["hit_rate"] > 0.3
    assert by[(8, 128.0)]["dimms_per_channel"] == 4 and by[(8, 128.0)]["ranks_per_dimm"] == 2


def test_dse_nmp_locality_option_and_table():
    flat = runner.invoke(app, ["nmp", "dlrm_rmc1", "--ranks", "8", "--cache-kb", "128", "--locality", "uniform", "--json"])
    skew = runner.invoke(app, ["nmp", "dlrm_rmc1", "--ranks", "8", "--cache-kb", "128", "--locality", "zipf:1.05", "--json"])
    assert flat.exit_code == 0 and skew.exit_code == 0
    assert json.loads(skew.output)["points"][0]["hit_rate"] > json.loads(flat.output)["points"][0]["hit_rate"] + 0.3
    table = runner.invoke(app, ["nmp", "dlrm_rmc1", "--ranks", "4", "--cache-kb", "8"])
    assert table.exit_code == 0 and "SLS speedup" in table.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--ranks", "0"], "--ranks: 0 must be positive"),
        (["--ranks", "3"], "--ranks: 3 is not a multiple"),
        (["--cache-kb", "-8"], "--cache-kb: -8 must be"),
        (["--cache-kb", "1e12"], "larger than the 16 GB DIMM"),
        (["--locality", "pareto"], "--locality: locality 'pareto'"),
        (["--locality", "file:/nonexistent.csv"], "cannot read"),
        (["--batch", "0"], "--batch: 0 must be positive"),
    ],
)
def test_dse_nmp_errors_are_one_line(args, message):
    result = runner.invoke(app, ["nmp", "dlrm_rmc1", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_dse_predict_cli_on_the_nmp_platform():
    # the example: dse predict MODEL skylake_recnmp --set memory.ranks_per_dimm=2 works like
    # any platform
    result = runner.invoke(
        app, ["predict", "dlrm_rmc1", "skylake_recnmp", "--set", "memory.ranks_per_dimm=2", "--batch", "256", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert "embedding_bag" in result.output


def test_planned_chunk_curves_equal_each_configuration_alone():
    # a sweep's chunk announces its (platform, locality) pairs (plan_dense with localities): the
    # first total_curve then computes every RecNMP gather of the chunk at once; each curve must be
    # what costing its configuration alone gives, and what service_curve's operator sum gives
    from dse.cost import nmp as N
    from dse.cost.model import plan_dense, total_curve

    graph = load_graph("dlrm_rmc1")
    sets = [["memory.ranks_per_dimm=1", "nmp.rank_cache_kb=0"], ["memory.ranks_per_dimm=2", "nmp.rank_cache_kb=64"],
            ["memory.dimms_per_channel=3", "nmp.rank_cache_kb=256"], ["nmp.enabled=false"]]
    platforms = [load_platform("skylake_recnmp", s) for s in sets]
    localities = ["uniform", "zipf:1.05", "zipf:0.7", "zipf:1.05"]
    b = np.array([1.0, 8.0, 64.0, 256.0, 1024.0])
    alone = []
    for platform, loc in zip(platforms, localities):
        N._NMP_TIMES.clear()
        alone.append(total_curve(graph, platform, b, engines=ENGINES, locality=loc).seconds)
    N._NMP_TIMES.clear()
    plan_dense(graph, platforms, localities)
    for platform, loc, want in zip(platforms, localities, alone):
        got = total_curve(graph, platform, b, engines=ENGINES, locality=loc).seconds
        assert np.allclose(got, want, rtol=1e-12, atol=0.0)
        ref = service_curve(graph, platform, b, engines=ENGINES, locality=loc).seconds
        assert np.allclose(got, ref, rtol=1e-12, atol=0.0)
    assert len(N._NMP_TIMES) == 3  # the three RecNMP configurations' gathers, computed together


def test_a_failing_configuration_leaves_the_chunk_alone():
    # curves_together costs a chunk's configurations at once: one that fails its checks (here a
    # RankCache larger than its DIMM, which load_platform would refuse) gives None there and its
    # error when costed by itself, and the others' curves are those they get alone
    from dse.cost.model import curves_together, total_curve

    graph = load_graph("dlrm_rmc1")
    good = load_platform("skylake_recnmp")
    bad = good.model_copy(update={"nmp": good.nmp.model_copy(update={"rank_cache_kb": 10**9})})
    b = np.array([1.0, 8.0, 64.0])
    out = curves_together(graph, [(good, "zipf:1.05"), (bad, "zipf:1.05")], b, ENGINES, True)
    assert out[1] is None
    alone = total_curve(graph, good, b, engines=ENGINES, locality="zipf:1.05").seconds
    assert np.array_equal(out[0].seconds, alone)
    with pytest.raises(DseError, match="rank_cache_kb"):
        curves_together(graph, [(bad, "zipf:1.05")], b, ENGINES, True, strict=True)


def test_a_planned_chunk_reports_each_configuration_its_own_error():
    """One announced configuration whose index stream cannot be read must not fail another's
    curve: that one is computed alone, equal to the unplanned curve, and the bad one raises."""
    import numpy as np
    import pytest

    from dse.cost import model as M
    from dse.errors import DseError
    from dse.graph import load_graph
    from dse.specs.hardware import load_platform

    g = load_graph("dlrm_rmc1")
    good = load_platform("skylake_recnmp")
    bad = load_platform("skylake_recnmp", ["nmp.rank_cache_kb=64"])
    b = np.array([1.0, 8.0, 64.0])
    alone = M.total_curve(g, good, b, engines=4, locality="zipf:1.05").seconds
    M.plan_dense(g, [good, bad], ["zipf:1.05", "file:/nonexistent/profile.csv"])
    assert np.array_equal(M.total_curve(g, good, b, engines=4, locality="zipf:1.05").seconds, alone)
    with pytest.raises(DseError, match="nonexistent"):
        M.total_curve(g, bad, b, engines=4, locality="file:/nonexistent/profile.csv")
