"""DeepRecSys's qualitative findings, reproduced (or not) by the optimiser on the eight models.

Setting (the paper's, as far as the public sources give it): Skylake (hwspecs/skylake.yaml, 40
single-threaded engines), with and without one GTX 1080 Ti (hwspecs/gtx1080ti.yaml), both running
the same software, the ``pytorch_eager`` stack (hwspecs/stacks/; the paper measured Caffe2, whose
Python-list feeding is modelled by ``caffe2_deeprecsys`` and discussed in docs/optimizer.md), the
published b and Q lists, the static baseline b = 32 (run_DeepRecInfra.sh),
method analytic, and two query-size distributions:

- ``heavytail`` (dse/serve/workload.py): the stand-in for the production distribution the paper's
  findings use (heavy-tailed; FACTS.md section 2), lognormal(4.65, 1.0), the same mean as
- ``lognormal:5.1,0.2``, the public scripts' default, which has no large queries.

SLA targets. The paper used per-model targets from production services, not in FACTS.md, and
the absolute latencies of this cost model are not those of the paper's Caffe2 runs, so the
targets here are expressed in the model's own time scale: ``k * t_cpu(167)``, ``k`` times the
time one loaded Skylake engine takes for a mean-size query (167 items) in one sub-batch.
``k <= 1.25`` is the range where the SLA binds the choice of b; ``k = 3`` is loose.
docs/optimizer.md, "What the model reproduces", discusses the results and their sensitivity.

Reference numbers: the findings are qualitative (issue 6; FACTS.md section 2: "about 2x
throughput on server CPUs across the eight models"); each test states its tolerance. Findings
that the model does not reproduce are kept as strict xfails with the reason, so that a change of
the cost model that makes them pass is noticed.
"""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest

from dse.cost.model import predict_latency
from dse.graph import load_graph
from dse.sched.deeprecsched import build_curves, optimize
from dse.settings import DEFAULT_BATCHES, WorkloadSettings
from dse.specs.hardware import load_platform

MODELS = ["dlrm_rmc1", "dlrm_rmc2", "dlrm_rmc3", "ncf", "wnd", "mtwnd", "din", "dien"]
EMBEDDING = ["dlrm_rmc1", "dlrm_rmc2"]  # embedding-dominated (HPCA 2020; FACTS.md section 3)
MLP = ["dlrm_rmc3", "wnd"]  # MLP-dominated
FC_HEAVY = ["dlrm_rmc3", "wnd", "mtwnd"]
EMB_HEAVY = EMBEDDING
CLASSES = EMB_HEAVY + FC_HEAVY
BINDING = (0.5, 0.75, 1.0, 1.25)
MEDIUM, LOOSE = 1.5, 3.0
LEVELS = (*BINDING, MEDIUM, LOOSE)
HEAVY = "heavytail"
PUBLIC = "lognormal:5.1,0.2"
#: heavier and lighter tails with the same mean (166.9 after clipping), for robustness
TAILS = ("lognormal:4.805,0.8", "lognormal:4.485,1.2")
#: The hill climber's stated worst gap to the grid optimum over every case below.
MAX_GAP = 0.08
#: The software both devices run (held fixed: a hardware comparison under two stacks compares stacks).
SOFTWARE = "pytorch_eager"


@pytest.fixture(scope="module")
def results():
    """(sizes, model, k, with GPU) -> OptimizeResult, for every case the tests read."""
    cpu = load_platform("skylake", stack=SOFTWARE)
    gpu = load_platform("gtx1080ti", stack=SOFTWARE)
    n = cpu.compute.engine_slots
    out = {}
    for model in MODELS:
        g = load_graph(model)
        curves = build_curves(g, cpu, gpu, n, [*DEFAULT_BATCHES, 32], 1024)
        cpu_only = build_curves(g, cpu, None, n, [*DEFAULT_BATCHES, 32], 1024)
        t_mean = float(curves.cpu(np.array([167.0]))[0])

        def run(spec, k, accel):
            out[spec, model, k, accel] = optimize(
                g, cpu, gpu if accel else None, workload=WorkloadSettings(sizes=spec), sla_s=k * t_mean, workers=n,
                curves=curves if accel else cpu_only,
            )

        for spec in (HEAVY, PUBLIC):
            for k in LEVELS:
                run(spec, k, False)
                run(spec, k, True)
        if model in CLASSES:
            for spec in TAILS:
                run(spec, MEDIUM, False)
                run(spec, MEDIUM, True)
    return out


def _geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def _gpu_gain(results, spec, model, k):
    return results[spec, model, k, True].grid_max_qps / results[spec, model, k, False].grid_max_qps


def test_every_case_is_feasible(results):
    assert all(r.feasible for r in results.values())


def test_model_classes_follow_the_cost_breakdown():
    """The classes the findings compare, from the cost model's own breakdown on the loaded server
    (b = 128, 40 engines): embedding-dominated = gathers >= 85% of the time; FC-heavy = FC layers
    >= 80%. DIN (attention units, 85%) and DIEN (GRUs, 94%) are neither, so they are in no class."""
    sky = load_platform("skylake")
    share = {}
    for model in MODELS:
        kinds = collections.Counter()
        for op in predict_latency(load_graph(model), sky, 128, engines=40).ops:
            kinds[op.kind] += op.time_s
        total = sum(kinds.values())
        share[model] = {k: v / total for k, v in kinds.items()}
    gather = {m: share[m].get("embedding_bag", 0) + share[m].get("embedding", 0) for m in MODELS}
    assert all(gather[m] >= 0.85 for m in EMB_HEAVY), gather
    assert all(share[m]["fc"] >= 0.80 for m in FC_HEAVY), share
    assert share["din"]["attention"] > 0.8 and share["dien"]["gru"] > 0.9
    assert gather["din"] < 0.5 and gather["dien"] < 0.5


def test_batching_efficiency_separates_the_two_classes():
    """The mechanism: per-item time at b = 32 over that at b = 512 (gathers barely amortise: RMC1
    1.35, RMC2 1.11; RMC3 1.97, WnD 2.06)."""
    sky = load_platform("skylake")
    ratio = {}
    for model in EMBEDDING + MLP:
        c = build_curves(load_graph(model), sky, None, 40, [512, 32], 1024).cpu
        t32, t512 = c(np.array([32.0, 512.0]))
        ratio[model] = (t32 / 32) / (t512 / 512)
    assert all(ratio[m] < 1.45 for m in EMBEDDING), ratio
    assert all(ratio[m] > 1.8 for m in MLP), ratio


@pytest.mark.parametrize("spec", [HEAVY, PUBLIC])
def test_best_batch_size_differs_between_embedding_and_mlp_dominated_models(results, spec):
    """Finding 1. While the SLA binds, the embedding-dominated models' best b (grid optimum, no
    offload) is never larger than the MLP-dominated models' and smaller on the whole (geometric
    mean over the binding levels below 0.8x). At a loose SLA all four take large batches
    (throughput-bound: even the embedding-dominated models' few percent of batching efficiency
    wins): the largest b with the public sizes, at least 256 with the heavy tail (a 1024-item
    query in sub-batches of 512 would wait for two slow ones)."""
    emb, mlp = [], []
    for k in BINDING:
        best = {m: results[spec, m, k, False].grid_batch for m in EMBEDDING + MLP}
        assert max(best[m] for m in EMBEDDING) <= min(best[m] for m in MLP), (k, best)
        emb += [best[m] for m in EMBEDDING]
        mlp += [best[m] for m in MLP]
    assert _geomean(emb) < 0.8 * _geomean(mlp), (emb, mlp)
    loose = {results[spec, m, LOOSE, False].grid_batch for m in EMBEDDING + MLP}
    if spec == PUBLIC:
        assert loose == {max(DEFAULT_BATCHES)}
    else:
        assert min(loose) >= 256, loose


@pytest.mark.parametrize("spec", [HEAVY, PUBLIC])
def test_gain_over_static_baseline_is_about_2x_for_mlp_dominated_models(results, spec):
    """Finding 3 (part the model reproduces): roughly 2x over the static b = 32 (FACTS.md
    section 2: "about 2x") for the models whose per-item time falls with the batch; tolerance:
    1.6x to 3x at the medium and loose SLA; geometric mean over the eight 1.3x to 2.6x."""
    for k in (MEDIUM, LOOSE):
        for model in ("dlrm_rmc3", "wnd", "mtwnd", "ncf"):
            gain = results[spec, model, k, False].gain
            assert 1.6 <= gain <= 3.0, (model, k, gain)
        gains = [results[spec, m, k, False].gain for m in MODELS]
        assert 1.3 <= _geomean(gains) <= 2.6, gains


@pytest.mark.xfail(
    strict=True,
    reason="the embedding-dominated models and DIN/DIEN gain only 1.0-1.3x (heavytail, k = 1.5: RMC1 1.27, "
    "RMC2 1.08, DIN 1.00, DIEN 1.19): on the loaded 40-engine server RMC2's gathers are bound by the sockets' "
    "random-row bandwidth (at b = 512 it draws 100 of the derived 112 GB/s per socket), so per-item times are "
    "nearly flat in b beyond 32 (t(32)/32 over t(512)/512: RMC1 1.35, RMC2 1.11, DIN 1.00, DIEN 1.24); measured "
    "on one engine of the CI machine (data/measured/ci_cpu_batchlist.csv) the best batch of the list beats b = 32 "
    "by only 1.17x (DIN) to 1.58x (RMC2) for these four, geomean 1.73x over all eight; see docs/optimizer.md",
)
def test_gain_over_static_baseline_is_about_2x_for_every_model(results):
    """Finding 3 as published: about 2x on server CPUs across all eight models."""
    for model in MODELS:
        assert results[HEAVY, model, MEDIUM, False].gain >= 1.5, model


def test_offloading_never_lowers_the_grid_optimum_and_helps_most_models(results):
    for spec in (HEAVY, PUBLIC):
        for k in LEVELS:
            gains = {m: _gpu_gain(results, spec, m, k) for m in MODELS}
            assert all(g >= 1.0 - 1e-9 for g in gains.values()), (spec, k, gains)
    gains = {m: _gpu_gain(results, HEAVY, m, MEDIUM) for m in MODELS}
    assert sum(g > 1.2 for g in gains.values()) >= 7, gains


#: SLA levels at which WnD's and MT-WnD's GPU gain no longer exceeds RMC1's and RMC2's (finding 2)
_COPIES_NARROW = "the card's path copies every index tensor and output (PyTorch: 29 and 48 copies per query for WnD and MT-WnD, 10 us each on the 1080 Ti's link), which takes MT-WnD's lead at k >= 1 and WnD's at k >= 1.25 (0.7-1.6% below RMC1/RMC2; at k = 1 only with the card's assumed 10 us per copy: with the H200 host's fitted link costs MT-WnD still leads there); docs/optimizer.md, finding 2"


def test_offloading_helps_rmc3_more_than_the_embedding_dominated_models(results):
    """Finding 2, for the FC-heavy model with few tables: with the heavy-tailed sizes, offloading
    large queries to the GTX 1080 Ti raises RMC3's latency-bounded throughput (grid optimum with
    the GPU over that without) more than that of RMC1 or RMC2 at every SLA level (1.54-2.25x
    against 1.34-1.51x)."""
    for k in LEVELS:
        emb = {m: _gpu_gain(results, HEAVY, m, k) for m in EMB_HEAVY}
        assert _gpu_gain(results, HEAVY, "dlrm_rmc3", k) > 1.1 * max(emb.values()), (k, emb)


@pytest.mark.parametrize("k", [
    *BINDING[:2],
    *(pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=_COPIES_NARROW)) for k in (*BINDING[2:], MEDIUM, LOOSE)),
])
def test_offloading_helps_fc_heavy_models_more(results, k):
    """Finding 2: with the heavy-tailed sizes, offloading raises the throughput of every FC-heavy
    model (RMC3, WnD, MT-WnD) more than that of any embedding-dominated one (RMC1, RMC2). Holds
    at the tight SLAs (k = 0.5, 0.75: WnD and MT-WnD 1.65-1.67x / 1.49-1.52x against 1.51x /
    1.41x), where the CPU must use small, inefficient batches for them. At k >= 1 it does not
    (strict xfails; WnD alone still leads at k = 1, 1.40x against 1.38x): the
    margin was 2-11% while a pass's copies were costed as one per graph input; the measured copies
    (one per tensor, docs/cost_model.md, "Host-device copies") take it. RMC3 keeps it (above)."""
    fc = {m: _gpu_gain(results, HEAVY, m, k) for m in FC_HEAVY}
    emb = {m: _gpu_gain(results, HEAVY, m, k) for m in EMB_HEAVY}
    assert min(fc.values()) > max(emb.values()), (k, fc, emb)


@pytest.mark.parametrize("spec", [
    pytest.param(TAILS[0], marks=pytest.mark.xfail(
        strict=True,
        reason="with the lighter tail (sigma 0.8) at k = 1.5 the FC-heavy models' smallest GPU gain (MT-WnD "
        "1.36x) is 1% below RMC1's (1.37x): with PyTorch's measured launch costs on the card (40.7 us per "
        "embedding bag) MT-WnD's 43 bags make its GPU path launch-bound; see docs/optimizer.md, finding 2")),
    TAILS[1],
])
def test_offload_finding_does_not_depend_on_the_tail_weight(results, spec):
    """Finding 2 with a lighter (sigma 0.8) and a heavier (sigma 1.2) lognormal tail of the same
    mean, at the medium SLA: same statement, strict (the heavier tail's margin is 8%: MT-WnD 1.49x
    against RMC1 1.38x)."""
    fc = min(_gpu_gain(results, spec, m, MEDIUM) for m in FC_HEAVY)
    emb = max(_gpu_gain(results, spec, m, MEDIUM) for m in EMB_HEAVY)
    assert fc > emb, (spec, fc, emb)


def test_regression_guard_narrow_public_sizes_do_not_separate_the_classes(results):
    """Regression guard (pins the model's own output, not a measurement or a published figure).
    Why the setting matters: with lognormal(5.1, 0.2) (no query above about 300 items) only
    Q = 192-256 offloads anything, and which model gains depends on the GPU's per-item speed at
    those sizes, not on the class: RMC2 and RMC3 gain 1.3-1.45x, while WnD, MT-WnD and RMC1 gain
    at most 1.03x at k >= 1 (1.05 is asserted at k = 1.5) (their GPU path at 200-300 items is launch-bound: 27, 43 and 8
    embedding bags at 40.7 us each under PyTorch), so finding 2 does not hold there."""
    gains = {m: _gpu_gain(results, PUBLIC, m, MEDIUM) for m in CLASSES}
    assert all(1.3 < gains[m] < 1.55 for m in ("dlrm_rmc2", "dlrm_rmc3")), gains
    assert all(gains[m] < 1.05 for m in ("wnd", "mtwnd", "dlrm_rmc1")), gains
    for k in (1.0, MEDIUM, LOOSE):
        fc = min(_gpu_gain(results, PUBLIC, m, k) for m in FC_HEAVY)
        emb = max(_gpu_gain(results, PUBLIC, m, k) for m in EMB_HEAVY)
        assert fc < emb, (k, fc, emb)


def test_hill_climber_is_close_to_the_grid_optimum(results):
    """On every shipped model, with and without the GPU, at every SLA level: gap <= 8%."""
    gaps = {key: r.gap for key, r in results.items()}
    worst = max(gaps, key=gaps.get)
    assert gaps[worst] <= MAX_GAP, (worst, gaps[worst])
    # and it usually finds the optimum itself
    assert sum(g <= 1e-9 for g in gaps.values()) >= 0.8 * len(gaps)


def _cpu_gain(platform, model, k=MEDIUM, spec=HEAVY):
    g = load_graph(model)
    n = platform.compute.engine_slots
    curves = build_curves(g, platform, None, n, [*DEFAULT_BATCHES, 32], 1024)
    sla = k * float(curves.cpu(np.array([167.0]))[0])
    r = optimize(g, platform, None, workload=WorkloadSettings(sizes=spec), sla_s=sla, workers=n, curves=curves)
    return r.grid_max_qps / r.baseline_qps


def test_regression_guard_what_finding_3_would_take_for_the_embedding_dominated_models():
    """Regression guard (pins the model's own sensitivity, not a measurement). The sensitivity of docs/optimizer.md (finding 3; benchmarks/bench_findings.py), heavy tail,
    k = 1.5: RMC1 and RMC2 reach about 2x (>= 1.8x, >= 1.6x) only if the gather model's misses in
    flight ramped up over 6,000 rows per call instead of the fitted 302; half-peak random fetches
    instead of the DDR4 channels' derived rate lower them. DIN stays below 1.1x in every case (its
    attention streams spilled intermediates, which no batch amortises)."""
    sky = load_platform("skylake")
    ramp = load_platform("skylake", ["gather.ramp_rows=6000"])
    data = sky.model_dump(mode="python")
    data["memory"] = None
    half_dram = type(sky).model_validate(data)
    shipped = {m: _cpu_gain(sky, m) for m in ("dlrm_rmc1", "dlrm_rmc2")}
    assert shipped["dlrm_rmc1"] < 1.4 and shipped["dlrm_rmc2"] < 1.15, shipped
    assert _cpu_gain(ramp, "dlrm_rmc1") >= 1.8
    assert _cpu_gain(ramp, "dlrm_rmc2") >= 1.6
    assert _cpu_gain(half_dram, "dlrm_rmc1") < shipped["dlrm_rmc1"]
    for platform in (sky, ramp, half_dram):
        assert _cpu_gain(platform, "din") < 1.1


def test_the_gather_ramp_is_short_as_measured():
    """Why the slow ramp above is not the answer: on one engine of the CI machine a single 512 MiB
    table's per-row gather time falls by only 1.1x from 2,560 to 40,960 rows per call
    (data/measured/ci_cpu_gather_ramp.csv), and the calibrated model agrees within 15%; a
    6,000-row ramp would make it fall by more than 1.5x."""
    import pandas as pd

    from dse.calibrate.fit import micro_op
    from dse.cost.model import op_times
    from dse.paths import BUNDLED_MEASURED_DIR

    d = pd.read_csv(BUNDLED_MEASURED_DIR / "ci_cpu_gather_ramp.csv")
    d = d[(d["kind"] == "gather_cold") & (d["rows"] == 4_000_000) & (d["n"] == 32)]
    calls = {int(r.m): r for r in d.itertuples() if int(r.m) in (32, 512)}
    ci = load_platform("ci_cpu")

    def per_row_ratio(seconds):
        return (seconds(calls[32]) / (32 * 80)) / (seconds(calls[512]) / (512 * 80))

    def model(platform):
        def seconds(row):
            op, batch = micro_op(row)
            return float(op_times(op, platform, [batch]).time[0])

        return seconds

    measured = per_row_ratio(lambda row: float(row.seconds))
    assert 1.0 < measured < 1.35
    assert per_row_ratio(model(ci)) == pytest.approx(measured, rel=0.15)
    assert per_row_ratio(model(load_platform("ci_cpu", ["gather.ramp_rows=6000"]))) > 1.5


def test_measured_batching_efficiency_bounds_the_cpu_gain():
    """The ceiling on finding 3, measured: on one engine of the CI machine (PyTorch eager,
    data/measured/ci_cpu_batchlist.csv, the published batch list), the per-item time at b = 32
    over the best of the list is what any batch choice can gain over the static b = 32 once the
    SLA no longer binds. Measured: 1.17x (DIN) to 2.80x (NCF), geometric mean 1.73x, under 2x.
    The calibrated model (ci_cpu) gives the same ceiling: each model within 35%, the geometric
    mean within 10%, and DIN below 1.3x in both."""
    import pandas as pd

    from dse.paths import BUNDLED_MEASURED_DIR

    d = pd.read_csv(BUNDLED_MEASURED_DIR / "ci_cpu_batchlist.csv")
    ci = load_platform("ci_cpu")
    measured, modelled = {}, {}
    for model, rows in d.groupby("model"):
        rows = rows.set_index("batch")["median_ms"].sort_index()
        b = rows.index.to_numpy(dtype=float)
        assert sorted(b) == sorted(DEFAULT_BATCHES)
        per_item = rows.to_numpy() / b
        measured[model] = per_item[0] / per_item.min()
        t = np.array([predict_latency(load_graph(model), ci, int(x), 1).latency_s for x in b]) / b
        modelled[model] = t[0] / t.min()
    assert set(measured) == set(MODELS)
    for model in MODELS:
        assert modelled[model] == pytest.approx(measured[model], rel=0.35), (model, measured[model], modelled[model])
    assert _geomean(modelled.values()) == pytest.approx(_geomean(measured.values()), rel=0.10)
    assert _geomean(measured.values()) < 2.0 and _geomean(modelled.values()) < 2.0
    assert measured["din"] < 1.3 and modelled["din"] < 1.3
