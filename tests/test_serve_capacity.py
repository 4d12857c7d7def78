"""Latency-bounded throughput search."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dse.cost.curve import ServiceCurve
from dse.errors import DseError
from dse.serve.sla_search import max_qps_under_sla
from dse.serve.api import PointEvaluator, capacity
from dse.serve.policy import Policy

UNIT = ServiceCurve("toy", "toy", np.array([1.0, 2.0]), np.array([1e-3, 2e-3]))


def test_finds_the_crossing_of_a_monotone_function():
    # p95(q) = 1 / (100 - q): crosses 0.1 at q = 90; infinite from 100 on
    f = lambda q: 1 / (100 - q) if q < 100 else math.inf  # noqa: E731
    res = max_qps_under_sla(f, 0.1, start=1.0, rel_tol=1e-4)
    assert res.met and res.max_qps == pytest.approx(90, rel=2e-4) and res.max_qps <= 90
    assert res.p95_s == pytest.approx(f(res.max_qps)) and res.p95_s <= 0.1
    assert res.as_json() == {"max_qps": res.max_qps, "p95_s": res.p95_s, "sla_s": 0.1}


def test_steps_down_when_the_start_is_too_high():
    f = lambda q: 0.001 * q  # noqa: E731
    res = max_qps_under_sla(f, 0.05, start=1e4, rel_tol=1e-3)
    assert res.met and res.max_qps == pytest.approx(50, rel=2e-3)


def test_never_evaluates_at_or_above_the_known_saturation():
    seen = []

    def f(q):
        seen.append(q)
        return 0.0 if q < 100 else math.inf

    res = max_qps_under_sla(f, 1.0, start=50.0, hi=100.0, rel_tol=1e-3)
    assert max(seen) < 100 and res.max_qps == pytest.approx(100, rel=2e-3)


def test_reports_when_no_load_meets_the_sla():
    f = lambda q: 0.02 + 1e-6 * q  # noqa: E731 - zero-load latency 20 ms
    res = max_qps_under_sla(f, 0.01, start=100.0)
    assert not res.met and res.max_qps == 0.0
    lowest = min(q for q, _ in res.evaluations)
    assert res.p95_s == pytest.approx(f(lowest))
    assert res.as_json()["max_qps"] == 0.0


def test_nan_counts_as_unstable():
    f = lambda q: float("nan") if q > 10 else 0.0  # noqa: E731
    assert max_qps_under_sla(f, 1.0, start=1.0, rel_tol=1e-3).max_qps == pytest.approx(10, rel=2e-3)


def test_bad_sla():
    with pytest.raises(DseError, match="--sla-ms"):
        max_qps_under_sla(lambda q: 0.0, 0.0)


def test_mm1_capacity_matches_the_closed_form():
    # M/M/1 sojourn is Exp(mu - lam): p95 = ln 20 / (mu - lam) <= SLA  <=>  lam <= mu - ln 20 / SLA
    sla = 0.02
    pol = Policy(1, service="exponential")
    res = capacity(sla, pol, UNIT, sizes="fixed:1", method="analytic", rel_tol=1e-4)
    assert res.max_qps == pytest.approx(1000 - math.log(20) / sla, rel=1e-3)
    des = capacity(sla, pol, UNIT, sizes="fixed:1", method="des", n_queries=200_000, seed=1, rel_tol=1e-3)
    assert des.max_qps == pytest.approx(1000 - math.log(20) / sla, rel=0.03)


def test_des_capacity_is_consistent_with_point_evaluations():
    pol = Policy(32, cpu_workers=4)
    curve = ServiceCurve("toy", "toy", np.array([1.0, 64.0]), np.array([0.5e-3, 2e-3]))
    res = capacity(0.01, pol, curve, sizes="lognormal:4.5,0.3", n_queries=20_000, seed=2)
    ev = PointEvaluator(pol, curve, None, "lognormal:4.5,0.3", "des", 20_000, 2)
    assert ev.p95(res.max_qps) <= 0.01 < ev.p95(res.max_qps * 1.02)
