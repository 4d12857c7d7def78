"""The optimiser's engine against the serving model it accelerates (dse.serve.analytic / api) and
against the simulator (dse.serve.des)."""

from __future__ import annotations

import numpy as np
import pytest

from dse.cost import service_curve
from dse.graph import load_graph
from dse.cost.model import total_curve
from dse.sched.curves import curve_batches
from dse.sched.fastcap import PolicySet
from dse.settings import CurveGrid
from dse.serve import Policy, ServerCosts, capacity
from dse.serve.analytic import analytic
from dse.serve.queueing import batch_queue, queue_state
from dse.serve.workload import parse_sizes
from dse.specs.hardware import load_platform

PMF = parse_sizes("lognormal:5.1,0.2").pmf()
N = 40


@pytest.fixture(scope="module")
def wnd():
    g = load_graph("wnd")
    grid = np.arange(1, 1025)
    cpu = service_curve(g, load_platform("skylake"), grid, engines=N)
    acc = service_curve(g, load_platform("gtx1080ti"), grid, engines=1)
    return cpu, acc


@pytest.mark.parametrize(
    "servers,kpmf",
    [(40, [0, 0.1, 0.5, 0.3, 0.1]), (1, [0, 1.0]), (14, [0] + [1 / 11] * 11), (3, [0, 0.2, 0.8])],
)
@pytest.mark.parametrize("u", [0.05, 0.5, 0.9, 0.99])
def test_queue_state_closed_form_matches_batch_queue(servers, kpmf, u):
    kpmf = np.array(kpmf, dtype=float)
    ek = float(kpmf @ np.arange(kpmf.size))
    lam = u * servers / ek
    busy, pw, ahead = batch_queue(servers, lam, 1.0, kpmf)
    tail = np.clip(1 - np.cumsum(kpmf)[: kpmf.size - 1], 0, 1)
    b2, pw2, ahead2, u2 = queue_state(servers, np.array([lam]), tail[None, :])
    assert u2[0] == pytest.approx(u)
    np.testing.assert_allclose(b2[0], busy, rtol=1e-9, atol=1e-15)
    assert pw2[0] == pytest.approx(pw, rel=1e-9, abs=1e-15)
    if pw > 1e-12:
        assert ahead2[0] == pytest.approx(ahead, rel=1e-6)


def test_queue_state_is_nan_when_unstable():
    _, pw, _, u = queue_state(4, np.array([3.0, 4.0, 5.0]), np.ones((3, 1)))
    assert np.isfinite(pw[0]) and not np.isfinite(pw[1]) and not np.isfinite(pw[2])
    assert u[1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "batch,threshold,costs,sla_ms",
    [
        (512, None, ServerCosts(), 15),
        (64, None, ServerCosts(), 15),
        (32, None, ServerCosts(), 8),
        (128, 192, ServerCosts(), 15),
        (64, None, ServerCosts(jitter=0.3), 15),
        (64, None, ServerCosts(query_overhead_s=2e-3, subbatch_overhead_s=5e-5), 15),
        (128, 256, ServerCosts(jitter=0.3, accel_overhead_s=1e-4), 15),
        (64, None, ServerCosts(colocation=0.2), 15),
    ],
)
def test_capacity_matches_the_analytic_search(wnd, batch, threshold, costs, sla_ms):
    cpu, acc = wnd
    pol = Policy(batch, threshold, N, 1 if threshold else 0, costs)
    fast = PolicySet(PMF, cpu, acc).capacities([pol], sla_ms / 1e3)[0]
    ref = capacity(sla_ms / 1e3, pol, cpu, acc, method="analytic", rel_tol=1e-3)
    assert fast.met and ref.met
    assert fast.max_qps == pytest.approx(ref.max_qps, rel=5e-3)
    # and the p95 the engine reports at that load is the analytical model's
    p95 = PolicySet(PMF, cpu, acc).p95(pol, fast.max_qps, sla_ms / 1e3)
    assert p95 <= sla_ms / 1e3 * (1 + 1e-9)
    assert p95 == pytest.approx(analytic(fast.max_qps, PMF, pol, cpu, acc).p95_s, rel=5e-3)


#: SLA and simulated queries per load point of the check against the simulator.
DES_SLA_S = 0.015
DES_QUERIES = 40_000
DES_SEEDS = 4


@pytest.mark.parametrize(
    "batch,threshold,costs",
    [
        (64, None, ServerCosts(jitter=0.3)),
        (128, 192, ServerCosts()),  # 22% of queries offloaded
        (32, 256, ServerCosts(jitter=0.2, accel_overhead_s=1e-4)),
    ],
)
def test_capacity_matches_the_simulator(wnd, batch, threshold, costs):
    """The vectorised search against ``capacity(method="des")``, the exact system it approximates.

    Tolerance: the simulator's capacity is a random variable (its p95 is a sample quantile). Over
    8 seeds of 40 000 queries its relative standard deviation was 0.65-1.0% for these policies, so
    the mean of ``DES_SEEDS`` seeds has a standard error of about 0.5%, computed below from the
    seeds themselves; 3 standard errors bound the statistical error. The analytical model is an
    approximation of the simulated system: its SLA crossings are within 1.5% of the simulator's
    (docs/serving.md, "Measured errors"; 0.3-0.5% low here). Bound: 1.5% + 3 standard errors.
    """
    cpu, acc = wnd
    pol = Policy(batch, threshold, N, 1 if threshold else 0, costs)
    fast = PolicySet(PMF, cpu, acc).capacities([pol], DES_SLA_S)[0]
    des = np.array(
        [capacity(DES_SLA_S, pol, cpu, acc, method="des", n_queries=DES_QUERIES, seed=s).max_qps for s in range(DES_SEEDS)]
    )
    mean = float(des.mean())
    stderr = float(des.std(ddof=1)) / np.sqrt(DES_SEEDS)
    assert fast.met and stderr < 0.01 * mean  # the simulator resolves the capacity finely enough
    assert abs(fast.max_qps - mean) <= 0.015 * mean + 3 * stderr


def test_many_policies_at_once_equal_one_at_a_time(wnd):
    cpu, acc = wnd
    # engine counts differ between rows too: each count gets its own vectorised queue
    pols = [Policy(b, q, N, 1) for b in (512, 96, 32) for q in (None, 192)] + [Policy(64, None, 14), Policy(64, 192, 14, 2)]
    together = PolicySet(PMF, cpu, acc).capacities(pols, 0.012)
    for pol, res in zip(pols, together):
        alone = PolicySet(PMF, cpu, acc).capacities([pol], 0.012)[0]
        assert res.max_qps == pytest.approx(alone.max_qps, rel=1e-12)


def test_unreachable_sla_and_zero_load_p95(wnd):
    cpu, _ = wnd
    pol = Policy(512, None, N)
    ps = PolicySet(PMF, cpu)
    zero = ps.zero_load_p95(pol, 0.01)
    # the analytical model at a vanishing load agrees
    assert zero == pytest.approx(analytic(ps.saturation(pol) * 1e-6, PMF, pol, cpu).p95_s, rel=5e-3)
    res = ps.capacities([pol], 0.9 * zero)[0]
    assert not res.met and res.max_qps == 0.0
    assert ps.capacities([pol], 1.1 * zero)[0].met


@pytest.mark.parametrize("model", ["dlrm_rmc2", "din", "wnd"])
@pytest.mark.parametrize("hw,engines", [("skylake", 40), ("gtx1080ti", 1), ("skylake_recnmp", 18)])
def test_total_curve_equals_service_curve(model, hw, engines):
    g, p = load_graph(model), load_platform(hw)
    b = curve_batches(512, [512, 384, 32])
    ref = service_curve(g, p, b, engines=engines)
    got = total_curve(g, p, b, engines=engines)
    np.testing.assert_allclose(got.seconds, ref.seconds, rtol=1e-12)


def test_curve_batches():
    b = curve_batches(512, [384, 48, 1000])
    assert b[0] == 1 and b[-1] == 512 and {384.0, 48.0} <= set(b) and 1000.0 not in b
    assert np.all(np.diff(b) > 0)
    assert np.array_equal(curve_batches(20, [], CurveGrid(ratio=1.0)), np.arange(1, 21))


def test_joint_p95_equals_each_policy_alone(wnd):
    """The joint quantile search of a sweep chunk (many policy sets at once) against
    :meth:`PolicySet.p95` row by row: deterministic and jittered service, CPU-only and offloading
    policies, two engine counts (each path of the vectorised CDF)."""
    from dse.sched.fastcap import joint_p95

    cpu, acc = wnd
    jitter = ServerCosts(jitter=0.3)
    pols = [Policy(128, None, N), Policy(64, 192, N, 1), Policy(64, None, 14, 0, jitter), Policy(96, 192, N, 1, jitter)]
    sets = [PolicySet(PMF, cpu, acc) for _ in pols]
    caps = [ps.capacities([pol], 0.012)[0] for ps, pol in zip(sets, pols)]
    assert all(c.met for c in caps)
    qps = np.array([0.8 * c.max_qps for c in caps])
    together = joint_p95(list(zip(sets, pols)), qps, np.full(len(pols), 0.012))
    for ps, pol, q, value in zip(sets, pols, qps, together):
        alone = PolicySet(PMF, cpu, acc).p95(pol, float(q), 0.012, known=True)
        assert value == pytest.approx(alone, rel=1e-12) and 0 < value <= 0.012


@pytest.mark.parametrize("width", [1, 2, 3])
def test_first_true_equals_a_scan_of_every_index(width):
    """The capacity search's k-ary search with (possibly wrong) predictions finds the index a
    linear scan finds, for every monotone predicate, and probes fewer indices than the scan."""
    from dse.sched.fastcap import first_true

    rng = np.random.default_rng(7)
    for length in (1, 2, 15, 23):
        answer = rng.integers(0, length + 1, size=400)
        table = np.arange(length)[None, :] >= answer[:, None]
        for predict in (None, lambda act, lo, hi: rng.integers(-1, length + 1, size=act.size)):
            evals = np.zeros(answer.size, dtype=int)
            got = first_true(lambda r, j: table[r, j], answer.size, length, evals, width=width, predict=predict)
            np.testing.assert_array_equal(got, answer)
            if length >= 15:
                assert evals.mean() < length / 2


@pytest.mark.parametrize(
    "pol",
    [Policy(512, None, N), Policy(32, None, N), Policy(128, None, 14, 0, ServerCosts(query_overhead_s=1e-3)),
     Policy(64, 192, N, 1), Policy(64, None, N, 0, ServerCosts(jitter=0.3)),
     Policy(64, None, N, 0, ServerCosts(colocation=0.2))],
)
def test_time_cdf_equals_the_direct_cdf(wnd, pol):
    """The p95 search's look-up tables (sorted completion times, the wait's sum accumulated in
    logarithms) against the CDF summed directly, at loads from vanishing to near saturation and
    times across the whole distribution (deterministic CPU-only policies take the tables, the
    others the direct path)."""
    from dse.sched.fastcap import TimeCdf

    cpu, acc = wnd
    alone, searched = PolicySet(PMF, cpu, acc), PolicySet(PMF, cpu, acc)
    searched.capacities([pol], 0.012)  # keeps bulk models where it can (read from their arrays)
    t = np.linspace(0.0, 0.05, 1001)
    for ps in (alone, searched):
        for u in (1e-6, 0.3, 0.9, 0.999):
            q = ps.saturation(pol) * u
            got = TimeCdf([(ps, pol)], np.array([q]))(np.zeros(t.size, dtype=int), t)
            ref = ps.cdf([pol] * t.size, np.full(t.size, q), t)
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13)


def test_policy_split_memo_is_bounded_in_bytes(monkeypatch):
    """The memo of splits empties itself before it holds more than its byte bound (a heavy-tailed
    split at b = 32 is about 0.9 MB, so a bound on the count of entries alone was not enough), and
    a split computed after it emptied equals the one before."""
    from dse.sched import fastcap
    from dse.serve.policy import Policy
    from dse.serve.workload import parse_sizes
    from dse.sched.deeprecsched import size_pmf

    pmf = size_pmf(parse_sizes("heavytail"))
    first = fastcap.policy_split(pmf, Policy(32, cpu_workers=8))
    one = fastcap._nbytes(first)
    assert one > 100_000
    monkeypatch.setattr(fastcap, "SPLITS_MAX_BYTES", 3 * one)
    monkeypatch.setattr(fastcap, "_SPLITS", {})
    monkeypatch.setattr(fastcap, "_SPLITS_BYTES", [0])
    for b in (32, 48, 64, 96, 128, 32):
        fastcap.policy_split(pmf, Policy(b, cpu_workers=8))
        assert 0 < fastcap._SPLITS_BYTES[0] <= 3 * one
    again = fastcap.policy_split(pmf, Policy(32, cpu_workers=8))
    np.testing.assert_array_equal(again.cpu.weights, first.cpu.weights)
    np.testing.assert_array_equal(again.later, first.later)


@pytest.mark.parametrize("pol", [Policy(512, None, N), Policy(32, None, N), Policy(64, 192, N, 1)])
def test_rough_waits_stay_within_their_bound_and_decide_as_double_precision(wnd, pol):
    """The capacity search's single-precision wait sums (SlaCdf, ``rough``) against double
    precision, at loads across the whole range and SLAs across the distribution: within the 2e-7
    that ROUGH_ERROR's comment derives, and ``meets`` says what double precision says about 0.95."""
    from dse.sched.fastcap import MEETS, SlaCdf

    cpu, acc = wnd
    for keep_bulk in (False, True):
        ps = PolicySet(PMF, cpu, acc)
        if keep_bulk:
            ps.capacities([pol], 0.012)  # CPU-only deterministic policies keep bulk models
        sla = np.linspace(0.004, 0.03, 27)
        cdf = SlaCdf([ps.source(pol)] * sla.size, sla)
        for u in (1e-3, 0.3, 0.7, 0.9, 0.97, 0.995):
            idx = np.arange(sla.size)
            q = np.full(sla.size, ps.saturation(pol) * u)
            exact, rough = cdf(idx, q), cdf(idx, q, rough=True)
            assert np.abs(rough - exact).max() < 2e-7
            assert ((cdf.meets(idx, q) >= MEETS) == (exact >= MEETS)).all()
