"""DeepRecSys's qualitative findings, reproduced (or not) by the optimiser on the eight models.

Setting (the paper's, as far as the public sources give it): Skylake (hwspecs/skylake.yaml, 40
single-threaded engines), with and without one GTX 1080 Ti (hwspecs/gtx1080ti.yaml: the paper's
Caffe2 GPU path), the published b and Q lists, the static baseline b = 32 (run_DeepRecInfra.sh),
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
from dse.sched.deeprecsched import DEFAULT_BATCHES, build_curves, optimize
from dse.serve.workload import parse_sizes
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


@pytest.fixture(scope="module")
def results():
    """(sizes, model, k, with GPU) -> OptimizeResult, for every case the tests read."""
    cpu, gpu = load_platform("skylake"), load_platform("gtx1080ti")
    n = cpu.compute.engine_slots
    out = {}
    for model in MODELS:
        g = load_graph(model)
        curves = build_curves(g, cpu, gpu, n, [*DEFAULT_BATCHES, 32], 1024)
        cpu_only = build_curves(g, cpu, None, n, [*DEFAULT_BATCHES, 32], 1024)
        t_mean = float(curves.cpu(np.array([167.0]))[0])

        def run(spec, k, accel):
            out[spec, model, k, accel] = optimize(
                g, cpu, gpu if accel else None, sizes=parse_sizes(spec), sla_s=k * t_mean, workers=n,
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
    """The mechanism: per-item time at b = 32 over that at b = 512 (gathers do not amortise)."""
    sky = load_platform("skylake")
    ratio = {}
    for model in EMBEDDING + MLP:
        c = build_curves(load_graph(model), sky, None, 40, [512, 32], 1024).cpu
        t32, t512 = c(np.array([32.0, 512.0]))
        ratio[model] = (t32 / 32) / (t512 / 512)
    assert all(ratio[m] < 1.35 for m in EMBEDDING), ratio
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
    reason="the embedding-dominated models gain only 1.0-1.25x (heavytail, k = 1.5: RMC1 1.20, RMC2 "
    "1.05, DIN 1.00, DIEN 1.19): on the loaded 40-engine server their gathers are bound by the "
    "sockets' random-access DRAM bandwidth (RMC2 at b = 512 draws 120 of the 128 GB/s), so their "
    "per-item time is nearly flat in b beyond 32 (t(32)/32 over t(512)/512: RMC1 1.26, RMC2 1.06, "
    "DIN 1.01) and no batch size of the list can double their throughput over b = 32; "
    "see docs/optimizer.md",
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


def test_offloading_helps_fc_heavy_models_more(results):
    """Finding 2: with the heavy-tailed sizes, offloading large queries to the GTX 1080 Ti raises
    the latency-bounded throughput (grid optimum with the GPU over that without) of every
    FC-heavy model (RMC3, WnD, MT-WnD) more than that of any embedding-dominated one (RMC1,
    RMC2), at every SLA level that binds and at the medium one (k <= 1.5). Tolerance: strict
    (the smallest margin, MT-WnD against RMC2 at k = 1.5, is 3%; RMC3 and WnD clear it by 9% or
    more). At the loose level (k = 3) all five gain 1.5-1.7x and MT-WnD falls 2.5% below RMC2
    (docs/optimizer.md)."""
    for k in (*BINDING, MEDIUM):
        fc = {m: _gpu_gain(results, HEAVY, m, k) for m in FC_HEAVY}
        emb = {m: _gpu_gain(results, HEAVY, m, k) for m in EMB_HEAVY}
        assert min(fc.values()) > max(emb.values()), (k, fc, emb)
    # the model's mechanism: the embedding-dominated models' GPU saturates at a higher threshold
    # (less of the work offloaded) than the FC-heavy models'
    for k in (*BINDING, MEDIUM):
        q_fc = [results[HEAVY, m, k, True].grid_threshold for m in FC_HEAVY]
        q_emb = [results[HEAVY, m, k, True].grid_threshold for m in EMB_HEAVY]
        assert max(q_fc) < min(q_emb), (k, q_fc, q_emb)


@pytest.mark.parametrize("spec", TAILS)
def test_offload_finding_does_not_depend_on_the_tail_weight(results, spec):
    """Finding 2 with a lighter (sigma 0.8) and a heavier (sigma 1.2) lognormal tail of the same
    mean, at the medium SLA: same statement, strict."""
    fc = min(_gpu_gain(results, spec, m, MEDIUM) for m in FC_HEAVY)
    emb = max(_gpu_gain(results, spec, m, MEDIUM) for m in EMB_HEAVY)
    assert fc > emb, (spec, fc, emb)


def test_narrow_public_sizes_cannot_separate_the_classes(results):
    """Why the setting matters: with lognormal(5.1, 0.2) (no query above about 300 items) only
    Q = 192 offloads a useful share (28% of the items; Q = 128 sends 93% and saturates the GPU,
    Q = 256 2%), so every model of the five gains the same 1.4-1.5x, within 5% of each other."""
    gains = {m: _gpu_gain(results, PUBLIC, m, MEDIUM) for m in CLASSES}
    assert max(gains.values()) < 1.05 * min(gains.values()), gains
    assert all(1.3 < g < 1.55 for g in gains.values()), gains
    assert {results[PUBLIC, m, MEDIUM, True].grid_threshold for m in CLASSES} == {192}


def test_hill_climber_is_close_to_the_grid_optimum(results):
    """On every shipped model, with and without the GPU, at every SLA level: gap <= 8%."""
    gaps = {key: r.gap for key, r in results.items()}
    worst = max(gaps, key=gaps.get)
    assert gaps[worst] <= MAX_GAP, (worst, gaps[worst])
    # and it usually finds the optimum itself
    assert sum(g <= 1e-9 for g in gaps.values()) >= 0.8 * len(gaps)


def _variant(platform, section, **values):
    data = platform.model_dump(mode="python")
    data[section].update(values)
    return type(platform).model_validate(data)


def _cpu_gain(platform, model, k=MEDIUM, spec=HEAVY):
    g = load_graph(model)
    n = platform.compute.engine_slots
    curves = build_curves(g, platform, None, n, [*DEFAULT_BATCHES, 32], 1024)
    sla = k * float(curves.cpu(np.array([167.0]))[0])
    r = optimize(g, platform, None, sizes=parse_sizes(spec), sla_s=sla, workers=n, curves=curves)
    return r.grid_max_qps / r.baseline_qps


def test_what_finding_3_would_take_for_the_embedding_dominated_models():
    """The sensitivity of docs/optimizer.md (finding 3; benchmarks/bench_findings.py), heavy tail,
    k = 1.5: neither a slower gather ramp (6,000 rows per call to half the misses in flight, which
    fits RMC1's measured batching gain) nor random DRAM fetches at 80% of peak alone lifts RMC2 above
    1.15x over b = 32; together they lift RMC1 to about 2x (>= 1.8) and RMC2 to >= 1.5x, because
    b = 32 is then latency-bound and large batches are no longer capped by the sockets' random-fetch
    bandwidth. DIN stays below 1.1x in every case (its attention streams spilled intermediates)."""
    sky = load_platform("skylake")
    ramp = _variant(sky, "gather", ramp_rows=6000.0)
    dram = _variant(sky, "dram", random_efficiency=0.8)
    both = _variant(ramp, "dram", random_efficiency=0.8)
    for platform in (sky, ramp, dram):
        assert _cpu_gain(platform, "dlrm_rmc2") < 1.15
        assert _cpu_gain(platform, "dlrm_rmc1") < 1.5
    assert _cpu_gain(both, "dlrm_rmc1") >= 1.8
    assert _cpu_gain(both, "dlrm_rmc2") >= 1.5
    for platform in (sky, ramp, dram, both):
        assert _cpu_gain(platform, "din") < 1.1
