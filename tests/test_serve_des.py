"""Discrete-event simulation against closed forms and an independent event-driven reference."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest

from dse.cost.curve import ServiceCurve
from dse.errors import DseError
from dse.serve import des
from dse.serve.des import fifo_finish_times, simulate, simulate_queries
from dse.serve.policy import Policy, ServerCosts
from dse.serve.workload import poisson_workload, trace_workload

#: t(b) = 1 ms per item (linear), so a sub-batch of m items takes m ms
LINEAR = ServiceCurve("toy", "toy", np.array([1.0, 1024.0]), np.array([1e-3, 1.024]))
#: 1 ms for any size: with fixed:1 sizes this is an M/M/c (exponential law) or M/D/c queue
UNIT = ServiceCurve("toy", "toy", np.array([1.0, 2.0]), np.array([1e-3, 2e-3]))


def erlang_c(c: int, a: float) -> float:
    top = a**c / math.factorial(c) / (1 - a / c)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def reference_fifo(arrive, service, servers):
    """Independent event-driven FIFO multi-server queue (arrival and departure events)."""
    events = [(a, 0, k) for k, a in enumerate(arrive)]  # kind 0 = arrival (before departures at ties)
    heapq.heapify(events)
    free, queue, finish, head = servers, [], np.empty(len(arrive)), 0
    while events:
        t, kind, k = heapq.heappop(events)
        if kind == 0:
            queue.append(k)
        else:
            free += 1
        while free and head < len(queue):
            job = queue[head]
            head += 1
            free -= 1
            finish[job] = t + service[job]
            heapq.heappush(events, (finish[job], 1, job))
    return finish


@pytest.mark.parametrize("servers", [1, 2, 5, 14])
@pytest.mark.parametrize("use_numba", [True, False])
def test_kernel_matches_event_driven_reference(servers, use_numba):
    if use_numba and not des.HAVE_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(servers)
    arrive = np.sort(rng.uniform(0, 1, 3000))
    arrive[100:110] = arrive[100]  # simultaneous arrivals, like the sub-batches of one query
    service = rng.exponential(servers / 3000 * 0.9, arrive.size)
    got = fifo_finish_times(arrive, service, servers, use_numba)
    assert np.allclose(got, reference_fifo(arrive, service, servers), rtol=0, atol=1e-12)


def test_mm1_mean_and_tail():
    lam, mu = 800.0, 1000.0
    res = simulate(poisson_workload(lam, 300_000, "fixed:1", seed=1), Policy(1, service="exponential"), UNIT, seed=1)
    # sojourn time of M/M/1 is Exp(mu - lam)
    assert res.mean_s == pytest.approx(1 / (mu - lam), rel=0.05)
    assert res.p95_s == pytest.approx(math.log(20) / (mu - lam), rel=0.05)
    assert res.p99_s == pytest.approx(math.log(100) / (mu - lam), rel=0.07)
    assert res.p95_ci[0] <= res.p95_s <= res.p95_ci[1]
    assert res.stable and res.utilization == pytest.approx(0.8)


@pytest.mark.parametrize("c, rho", [(4, 0.85), (14, 0.9)])
def test_mmc_wait_mean_and_erlang_c_tail(c, rho):
    mu = 1000.0
    lam = rho * c * mu
    wl = poisson_workload(lam, 400_000, "fixed:1", seed=2)
    traj = simulate_queries(wl, Policy(1, cpu_workers=c, service="exponential"), UNIT, seed=2)
    w = traj.wait[40_000:]
    pw = erlang_c(c, lam / mu)
    assert np.mean(w > 0) == pytest.approx(pw, rel=0.04)
    assert w.mean() == pytest.approx(pw / (c * mu - lam), rel=0.06)
    for t in (0.5e-3, 2e-3):  # P(W > t) = C(c, a) exp(-(c mu - lam) t)
        assert np.mean(w > t) == pytest.approx(pw * math.exp(-(c * mu - lam) * t), rel=0.08)


def test_md1_mean_wait_is_pollaczek_khinchine():
    lam, s = 700.0, 1e-3
    traj = simulate_queries(poisson_workload(lam, 300_000, "fixed:1", seed=3), Policy(1), UNIT)
    rho = lam * s
    assert traj.wait[30_000:].mean() == pytest.approx(rho * s / (2 * (1 - rho)), rel=0.05)


def test_single_subbatch_fork_join_is_the_plain_queue():
    wl = poisson_workload(30.0, 20_000, "lognormal:3,0.5", seed=4)
    pol = Policy(1024, cpu_workers=3, costs=ServerCosts(jitter=0.2))
    traj = simulate_queries(wl, pol, LINEAR, seed=4)
    factors = des.jitter_factors(np.random.default_rng([4, 1]), len(wl), 0.2)
    plain = fifo_finish_times(wl.arrivals, LINEAR(wl.sizes) * factors, 3) - wl.arrivals
    assert np.allclose(traj.latency, plain)


def test_one_engine_runs_a_querys_subbatches_back_to_back():
    # with one engine, fork-join over sub-batches equals a plain queue whose service is the sum
    wl = poisson_workload(20.0, 5000, "lognormal:4,0.6", seed=5)
    traj = simulate_queries(wl, Policy(16), LINEAR)
    k = np.ceil(wl.sizes / 16)
    r = wl.sizes - (k - 1) * 16
    total = (k - 1) * LINEAR(16) + LINEAR(r)
    assert np.allclose(traj.latency, fifo_finish_times(wl.arrivals, total, 1) - wl.arrivals)


def test_greedy_split_and_parallel_subbatches():
    # a lone query of 165 items with b=32 -> 32,32,32,32,32,5 in parallel on 6 engines
    wl = trace_workload(np.array([0.0]), np.array([165]))
    traj = simulate_queries(wl, Policy(32, cpu_workers=6), LINEAR)
    assert traj.latency[0] == pytest.approx(32e-3)
    traj = simulate_queries(wl, Policy(32, cpu_workers=2), LINEAR)
    assert traj.latency[0] == pytest.approx(3 * 32e-3)  # 2 engines: 32,32 | 32,32 | 32,5 (the 5 ends first)


def test_overheads_and_colocation():
    wl = trace_workload(np.array([0.0, 10.0]), np.array([100, 100]))
    costs = ServerCosts(query_overhead_s=2e-3, subbatch_overhead_s=1e-3)
    traj = simulate_queries(wl, Policy(50, cpu_workers=2, costs=costs), LINEAR)
    assert np.allclose(traj.latency, 2e-3 + 50e-3 + 1e-3)
    traj = simulate_queries(wl, Policy(50, cpu_workers=2), LINEAR, slowdown=1.5)
    assert np.allclose(traj.latency, 75e-3)


def test_colocation_slows_service_with_load():
    pol = Policy(64, cpu_workers=8, costs=ServerCosts(colocation=0.5))
    light = simulate(poisson_workload(10.0, 20_000, "fixed:64", seed=1), pol, LINEAR)
    heavy = simulate(poisson_workload(80.0, 20_000, "fixed:64", seed=1), pol, LINEAR)
    # u = lam s / (N - kappa lam s): 10 * 0.064 / (8 - 0.32) and 80 * 0.064 / (8 - 2.56)
    assert light.cpu_utilization == pytest.approx(0.64 / 7.68)
    assert heavy.cpu_utilization == pytest.approx(5.12 / 5.44)
    assert light.p50_s == pytest.approx(0.064 * (1 + 0.5 * 0.64 / 7.68))


def test_accelerator_routing():
    wl = poisson_workload(300.0, 50_000, "lognormal:5.1,0.2", seed=6)
    gpu = ServiceCurve("toy", "gpu", np.array([1.0, 1024.0]), np.array([1e-3, 1e-3]))
    pol = Policy(64, threshold=200, cpu_workers=8, accel_workers=1)
    traj = simulate_queries(wl, pol, LINEAR, gpu)
    assert np.array_equal(traj.accel, wl.sizes >= 200)
    a = wl.arrivals[traj.accel]
    assert np.allclose(traj.latency[traj.accel], fifo_finish_times(a, np.full(a.size, 1e-3), 1) - a)
    res = simulate(wl, pol, LINEAR, gpu)
    assert res.accel_fraction == pytest.approx(np.mean(wl.sizes >= 200))


def test_jitter_has_mean_one_and_requested_cv():
    f = des.jitter_factors(np.random.default_rng(0), 400_000, 0.4)
    assert f.mean() == pytest.approx(1.0, abs=0.005)
    assert f.std() / f.mean() == pytest.approx(0.4, rel=0.02)
    assert des.jitter_factors(np.random.default_rng(0), 10, 0.0) is None


def test_overload_is_reported_unstable():
    pol = Policy(1, cpu_workers=2)
    res = simulate(poisson_workload(2500.0, 50_000, "fixed:1", seed=0), pol, UNIT)
    assert not res.stable and res.utilization == pytest.approx(1.25)
    js = res.as_json()
    assert js["stable"] is False and js["p95_s"] is None and js["p50_s"] is None
    assert set(js) == {"qps", "p50_s", "p95_s", "p99_s", "mean_s", "utilization", "accel_fraction", "stable"}
    ok = simulate(poisson_workload(1000.0, 50_000, "fixed:1", seed=0), pol, UNIT)
    assert ok.stable and ok.as_json()["p95_s"] == pytest.approx(ok.p95_s)


def test_growing_backlog_of_a_trace_is_unstable():
    # a trace's utilisation is sampled; a burst at 2x capacity keeps the queue from emptying
    arrivals = np.arange(20_000) * 0.5e-3  # 2000/s on one 1 ms engine
    res = simulate(trace_workload(arrivals, np.ones(20_000)), Policy(1), UNIT)
    assert not res.stable


def test_warmup_by_count_and_by_time():
    wl = poisson_workload(500.0, 10_000, "fixed:1", seed=0)
    assert simulate(wl, Policy(1), UNIT, warmup=0.2).n_measured == 8000
    res = simulate(wl, Policy(1), UNIT, warmup_s=wl.arrivals[0] + 5.0)
    assert res.n_measured == np.sum(wl.arrivals >= wl.arrivals[0] + 5.0)
    with pytest.raises(DseError):
        simulate(wl, Policy(1), UNIT, warmup=1.0)


def test_confidence_interval_narrows_with_more_queries():
    pol = Policy(1, cpu_workers=4, service="exponential")
    small = simulate(poisson_workload(3000.0, 20_000, "fixed:1", seed=1), pol, UNIT)
    big = simulate(poisson_workload(3000.0, 320_000, "fixed:1", seed=1), pol, UNIT)
    w_small = small.p95_ci[1] - small.p95_ci[0]
    w_big = big.p95_ci[1] - big.p95_ci[0]
    assert 0 < w_big < w_small / 2


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(batch=0), "--batch"),
        (dict(batch=8, threshold=100), "needs an accelerator"),
        (dict(batch=8, cpu_workers=-1), "--workers"),
        (dict(batch=8, service="gamma"), "service"),
        (dict(batch=8, costs=ServerCosts(jitter=0.1), threshold=0), "--threshold"),
    ],
)
def test_bad_policies(kwargs, fragment):
    with pytest.raises(DseError, match=fragment):
        Policy(**kwargs)


def test_bad_costs():
    with pytest.raises(DseError, match="jitter"):
        ServerCosts(jitter=-0.1)
    with pytest.raises(DseError, match="query_overhead_s"):
        ServerCosts(query_overhead_s=float("inf"))


def test_threshold_without_accel_curve():
    wl = poisson_workload(10.0, 100, "fixed:500", seed=0)
    with pytest.raises(DseError, match="accelerator"):
        simulate(wl, Policy(8, threshold=100, accel_workers=1), LINEAR, None)
