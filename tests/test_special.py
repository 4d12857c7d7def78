"""dse.special against scipy.special, the outside reference (scipy stays a dependency; the model
only avoids importing scipy.special on the sweep path, see the module's doc)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special as sp

from dse.special import ELEMENTWISE_MAX, log_factorials, normal_cdf, normal_quantile, poisson_at_least

LAMBDAS = np.concatenate([[0.0], np.logspace(-9, 5, 2000)])


@pytest.mark.parametrize("t", [2, 3, 4, 8, 16, 33])
def test_poisson_tail_equals_the_regularised_incomplete_gamma(t: int) -> None:
    """P(K >= t) = P(t, lam) (scipy's gammainc) to 2e-13 relative wherever it is representable,
    including the far tails where 1 - (lower sum) would have lost every digit."""
    ref = sp.gammainc(t, LAMBDAS)
    got = poisson_at_least(t, LAMBDAS)
    seen = ref > 1e-290
    assert np.all(np.abs(got[seen] - ref[seen]) <= 2e-13 * ref[seen])
    assert np.all(got[~seen] < 1e-280)
    assert got[1] == pytest.approx(1e-9**t / math.factorial(t), rel=1e-8)  # the first term at tiny lam


@pytest.mark.parametrize("t", [300, 3000])
def test_poisson_tail_for_large_thresholds(t: int) -> None:
    """Large t keeps about t * 1e-15 relative (the pmf's exponent is a difference of size t)."""
    ref = sp.gammainc(t, LAMBDAS)
    got = poisson_at_least(t, LAMBDAS)
    seen = ref > 1e-290
    assert np.all(np.abs(got[seen] - ref[seen]) <= t * 1e-14 * ref[seen])


def test_poisson_tail_edges() -> None:
    lam = np.array([0.0, 1.0, np.inf, np.nan])
    got = poisson_at_least(2, lam)
    assert got[0] == 0.0 and got[1] == pytest.approx(1 - 2 / math.e, rel=1e-15) and got[2] == 1.0
    assert np.isnan(got[3])
    assert np.all(poisson_at_least(0, lam[:3]) == 1.0)
    assert np.allclose(poisson_at_least(1, np.array([0.5])), -math.expm1(-0.5), rtol=1e-15)
    assert poisson_at_least(3, np.array([])).shape == (0,)


@pytest.mark.parametrize("size", [1000, ELEMENTWISE_MAX + 1])
def test_normal_cdf_equals_ndtr(size: int) -> None:
    """Both paths (elementwise math.erfc, scipy's ndtr for large arrays) agree with ndtr to 2e-14
    relative down to 1e-100 and to 3e-13 in the far tail (there both are 1e-13 from the exact
    value: the rounding of the argument, magnified by z²)."""
    z = np.linspace(-37.0, 9.0, size)
    ref = sp.ndtr(z)
    got = normal_cdf(z)
    assert got.shape == z.shape
    assert np.all(np.abs(got - ref) <= np.where(ref > 1e-100, 2e-14, 3e-13) * ref)
    assert normal_cdf(np.array([[0.0]])).shape == (1, 1) and normal_cdf(0.0) == 0.5


def test_normal_quantile_equals_ndtri() -> None:
    for p in [1e-300, 1e-12, 0.01, 0.1, 0.3, 0.5, 0.7, 0.975, 1 - 1e-12]:
        assert normal_quantile(p) == pytest.approx(float(sp.ndtri(p)), rel=1e-14, abs=1e-300)


def test_log_factorials_equal_gammaln() -> None:
    got = log_factorials(3000)
    assert got[0] == 0.0 and got[1] == 0.0 and got[5] == pytest.approx(math.log(120), rel=1e-15)
    assert np.allclose(got, sp.gammaln(np.arange(1.0, 3001.0)), rtol=1e-15, atol=0)
