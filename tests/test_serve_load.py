"""The load-dependent CPU curve (dse/serve/load.py): the co-location fixed point against hand
computations on toy curves, its limits (no load: the isolated curve; saturation: the all-busy
curve), the former scalar factor as a special case, and the simulator and the analytical model
seeing the same curve at the load."""

from __future__ import annotations

import numpy as np
import pytest

from dse.errors import DseError
from dse.serve.analytic import analytic
from dse.serve.des import simulate
from dse.serve.load import LoadedCurve, curve_at, engine_counts, offered_load, saturation_qps
from dse.serve.policy import Policy, ServerCosts
from dse.serve.workload import parse_sizes, poisson_workload


def flat(ms: float):
    """A curve of ``ms`` milliseconds per 10 items (linear in the size)."""
    return lambda m: np.asarray(m, dtype=float) * ms * 1e-4


PMF = parse_sizes("fixed:10").pmf()  # every query: one sub-batch of 10 items


def test_two_engines_hand_fixed_point():
    # t_1 = 10 ms, t_2 = 20 ms; u = lam (10 + 10 u) ms / 2 -> at 50/s, u = 0.25 (1 + u) = 1/3
    lc = LoadedCurve((1, 2), (flat(10), flat(20)))
    pol = Policy(10, cpu_workers=2)
    load = offered_load(50.0, PMF, pol, lc)
    assert load.cpu_utilization == pytest.approx(1 / 3)
    assert load.slowdown == pytest.approx(4 / 3)
    assert float(load.cpu_curve(10)) == pytest.approx(10e-3 * 4 / 3)
    assert saturation_qps(PMF, pol, lc) == pytest.approx(2 / 20e-3)


def test_threshold_contention_hand_fixed_point():
    # t_k = 10, 16, 30 ms at k = 1, 2, 3 (knots u = 0, 1/2, 1): at 95/s the root is on the second
    # segment, A(u) = 16 + 28 (u - 1/2) ms, u = (95/3) (2 + 28 u) ms -> u = 0.19/3 / (1 - 2.66/3)
    lc = LoadedCurve((1, 2, 3), (flat(10), flat(16), flat(30)))
    pol = Policy(10, cpu_workers=3, costs=ServerCosts(subbatch_overhead_s=0.0))
    load = offered_load(95.0, PMF, pol, lc)
    assert load.cpu_utilization == pytest.approx((95 / 3 * 2e-3) / (1 - 95 / 3 * 28e-3))
    # at 60/s the root is on the first segment, A(u) = 10 + 12 u ms: u = 20 (10 + 12 u) ms
    assert offered_load(60.0, PMF, pol, lc).cpu_utilization == pytest.approx(0.2 / (1 - 0.24))
    assert saturation_qps(PMF, pol, lc) == pytest.approx(100.0)
    over = offered_load(120.0, PMF, pol, lc)
    assert not over.stable and over.cpu_utilization == pytest.approx(120 * 30e-3 / 3)


def test_limits_isolated_and_all_busy():
    lc = LoadedCurve((1, 2, 3), (flat(10), flat(16), flat(30)))
    pol = Policy(10, cpu_workers=3, costs=ServerCosts(subbatch_overhead_s=1e-3))
    light = offered_load(1e-9, PMF, pol, lc)
    assert float(light.cpu_curve(7)) == pytest.approx(7e-3)  # t_1
    assert float(curve_at(lc, 1.0)(7)) == pytest.approx(21e-3)  # t_N
    sat = saturation_qps(PMF, pol, lc)
    assert sat == pytest.approx(3 / (30e-3 + 1e-3))
    assert offered_load(sat * (1 - 1e-9), PMF, pol, lc).slowdown == pytest.approx(3.0, rel=1e-6)


def test_scalar_factor_is_the_plain_curve_case():
    # a plain curve with colocation kappa: u = lam (A + D) / (N - kappa lam A) (the former model)
    kappa, lam, a, d = 0.3, 120.0, 10e-3, 1e-3
    pol = Policy(10, cpu_workers=2, costs=ServerCosts(subbatch_overhead_s=d, colocation=kappa))
    load = offered_load(lam, PMF, pol, flat(10))
    u = lam * (a + d) / (2 - kappa * lam * a)
    assert load.cpu_utilization == pytest.approx(u)
    assert load.slowdown == pytest.approx(1 + kappa * u)
    assert saturation_qps(PMF, pol, flat(10)) == pytest.approx(2 / (a * (1 + kappa) + d))


def test_simulator_and_analytic_see_the_curve_at_the_load():
    # the curve at the fixed point, given as a plain curve, has the same fixed point: both methods
    # must give identical results for the loaded curve and for its value at the load
    sizes = "lognormal:5.1,0.2"
    lc = LoadedCurve((1, 8, 14), (flat(2), flat(2.2), flat(3.5)))
    pol = Policy(64, cpu_workers=14, costs=ServerCosts(jitter=0.3, query_overhead_s=1e-3))
    pmf = parse_sizes(sizes).pmf()
    qps = 0.8 * saturation_qps(pmf, pol, lc)
    at = offered_load(qps, pmf, pol, lc)
    plain = curve_at(lc, at.cpu_utilization)
    assert offered_load(qps, pmf, pol, plain).cpu_utilization == pytest.approx(at.cpu_utilization)
    a1, a2 = analytic(qps, pmf, pol, lc), analytic(qps, pmf, pol, plain)
    assert a1.p95_s == pytest.approx(a2.p95_s, rel=1e-9)
    wl = poisson_workload(qps, 20_000, sizes, seed=3)
    d1, d2 = simulate(wl, pol, lc, seed=3), simulate(wl, pol, plain, seed=3)
    assert d1.p95_s == pytest.approx(d2.p95_s, rel=1e-9)
    assert d1.p95_s == pytest.approx(a1.p95_s, rel=0.1)


def test_engine_counts_and_bad_curves():
    assert engine_counts(14) == list(range(1, 15))
    big = engine_counts(100)
    assert big[0] == 1 and big[-1] == 100 and len(big) <= 32
    with pytest.raises(DseError):
        LoadedCurve((2, 3), (flat(1), flat(2)))
    with pytest.raises(DseError):
        LoadedCurve((1, 1), (flat(1), flat(2)))
