"""DeepRecSys's qualitative findings, reproduced (or not) by the optimiser on the eight models.

Setting: Skylake (hwspecs/skylake.yaml, 40 single-threaded engines), with and without one
GTX 1080 Ti (hwspecs/gtx1080ti.yaml), DeepRecSys's sizes lognormal(5.1, 0.2), the published b and
Q lists, the static baseline b = 32 (run_DeepRecInfra.sh), method analytic.

SLA targets. The paper used per-model targets from production services, not in FACTS.md, and
the absolute latencies of this cost model are not those of the paper's Caffe2 runs, so the
targets here are expressed in the model's own time scale: ``k * t_cpu(167)``, ``k`` times the
time one loaded Skylake engine takes for a mean-size query (167 items) in one sub-batch.
``k <= 1.25`` is the range where the SLA binds the choice of b; at ``k = 3`` every model is
throughput-bound. docs/optimizer.md, "What the model reproduces", discusses the results.

Findings that the model does not reproduce are kept as strict xfails with the reason, so that a
change of the cost model that makes them pass is noticed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dse.graph import load_graph
from dse.sched.deeprecsched import DEFAULT_BATCHES, build_curves, optimize
from dse.specs.hardware import load_platform

MODELS = ["dlrm_rmc1", "dlrm_rmc2", "dlrm_rmc3", "ncf", "wnd", "mtwnd", "din", "dien"]
EMBEDDING = ["dlrm_rmc1", "dlrm_rmc2"]  # embedding-dominated (HPCA 2020; FACTS.md section 3)
MLP = ["dlrm_rmc3", "wnd"]  # MLP-dominated
FC_HEAVY = ["dlrm_rmc3", "wnd", "mtwnd"]
EMB_HEAVY = ["dlrm_rmc1", "dlrm_rmc2", "din"]
BINDING = (0.5, 0.75, 1.0, 1.25)
MEDIUM, LOOSE = 1.5, 3.0
LEVELS = (*BINDING, MEDIUM, LOOSE)
#: The hill climber's stated worst gap to the grid optimum over every case below.
MAX_GAP = 0.08


@pytest.fixture(scope="module")
def results():
    cpu, gpu = load_platform("skylake"), load_platform("gtx1080ti")
    n = cpu.compute.engine_slots
    out = {}
    for model in MODELS:
        g = load_graph(model)
        curves = build_curves(g, cpu, gpu, n, [*DEFAULT_BATCHES, 32], 1024)
        cpu_only = build_curves(g, cpu, None, n, [*DEFAULT_BATCHES, 32], 1024)
        t_mean = float(curves.cpu(np.array([167.0]))[0])
        for k in LEVELS:
            sla = k * t_mean
            out[model, k, False] = optimize(g, cpu, None, sla_s=sla, workers=n, curves=cpu_only)
            out[model, k, True] = optimize(g, cpu, gpu, sla_s=sla, workers=n, curves=curves)
    return out


def _geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def test_every_case_is_feasible(results):
    assert all(r.feasible for r in results.values())


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


def test_best_batch_size_differs_between_embedding_and_mlp_dominated_models(results):
    """Finding 1. While the SLA binds, the embedding-dominated models' best b (grid optimum, no
    offload) is never larger than the MLP-dominated models' and smaller on the whole (geometric
    mean over the binding levels); at a loose SLA all four take the largest b (throughput-bound:
    even the embedding-dominated models' few percent of batching efficiency wins)."""
    emb, mlp = [], []
    for k in BINDING:
        best = {m: results[m, k, False].grid_batch for m in EMBEDDING + MLP}
        assert max(best[m] for m in EMBEDDING) <= min(best[m] for m in MLP), (k, best)
        emb += [best[m] for m in EMBEDDING]
        mlp += [best[m] for m in MLP]
    assert _geomean(emb) < 0.8 * _geomean(mlp), (emb, mlp)
    assert {results[m, LOOSE, False].grid_batch for m in EMBEDDING + MLP} == {max(DEFAULT_BATCHES)}


def test_gain_over_static_baseline_is_about_2x_for_mlp_dominated_models(results):
    """Finding 3 (part the model reproduces): roughly 2x over the static b = 32 for the models
    whose per-item time falls with the batch; tolerance: 1.6x to 3x at the medium and loose SLA."""
    for k in (MEDIUM, LOOSE):
        for model in ("dlrm_rmc3", "wnd", "mtwnd", "ncf"):
            gain = results[model, k, False].gain
            assert 1.6 <= gain <= 3.0, (model, k, gain)
        gains = [results[m, k, False].gain for m in MODELS]
        assert 1.3 <= _geomean(gains) <= 2.6, gains


@pytest.mark.xfail(
    strict=True,
    reason="the embedding-dominated models (RMC1, RMC2, DIN) gain only 0.9-1.25x: their per-item "
    "time is nearly flat in b beyond 32 in the cost model (gathers do not amortise; dispatch is "
    "small next to them), so no static b of the list is far from their optimum",
)
def test_gain_over_static_baseline_is_about_2x_for_every_model(results):
    """Finding 3 as published: about 2x on server CPUs across all eight models."""
    for model in MODELS:
        assert results[model, MEDIUM, False].gain >= 1.5, model


def _gpu_gain(results, model, k):
    return results[model, k, True].grid_max_qps / results[model, k, False].grid_max_qps


def test_offloading_never_lowers_the_grid_optimum_and_helps_most_models(results):
    for k in LEVELS:
        gains = {m: _gpu_gain(results, m, k) for m in MODELS}
        assert all(g >= 1.0 - 1e-9 for g in gains.values()), (k, gains)
    gains = {m: _gpu_gain(results, m, MEDIUM) for m in MODELS}
    assert sum(g > 1.05 for g in gains.values()) >= 6, gains


@pytest.mark.xfail(
    strict=True,
    reason="with lognormal(5.1, 0.2) sizes only Q = 192 offloads a useful share (22% of queries), "
    "capping the gain near 1/(1 - offloaded work) ~ 1.4x for every model whose GPU keeps up; the "
    "GTX 1080 Ti spec is launch-bound for WnD/MT-WnD (27/43 embedding-bag launches at 20 us, "
    "80-85% of a 200-item query), so its GPU saturates first and FC-heavy models gain less "
    "(1.1-1.2x) than embedding-heavy ones (1.4x); see docs/optimizer.md",
)
def test_offloading_helps_fc_heavy_models_more(results):
    """Finding 2 as published: offloading large queries helps FC-heavy models more."""
    fc = min(_gpu_gain(results, m, MEDIUM) for m in FC_HEAVY)
    emb = max(_gpu_gain(results, m, MEDIUM) for m in EMB_HEAVY)
    assert fc > emb


def test_hill_climber_is_close_to_the_grid_optimum(results):
    """On every shipped model, with and without the GPU, at every SLA level: gap <= 8%."""
    gaps = {key: r.gap for key, r in results.items()}
    worst = max(gaps, key=gaps.get)
    assert gaps[worst] <= MAX_GAP, (worst, gaps[worst])
    # and it usually finds the optimum itself
    assert sum(g <= 1e-9 for g in gaps.values()) >= 0.8 * len(gaps)
