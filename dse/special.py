"""Special functions of the cost and serving models, without importing ``scipy.special``.

Importing ``scipy.special`` costs about 0.45 s of CPU on this project's 2-core machine (scipy
1.17: its array-API layer imports ``numpy.f2py``, which imports ``charset_normalizer``). Every
command that evaluates a model paid it, and a sweep paid it before forking its workers, although
the sweep path needs only a Poisson tail, log-factorials, one normal quantile per run and the
normal CDF of one size distribution. Those are computed here from the standard library and numpy;
the tests compare each with scipy's to 1e-13 or better (``tests/test_special.py``).

The one exception: the normal CDF of a large array (a lognormal service-time law evaluated on a
grid, in the optimiser and the serving models) still uses scipy's vectorised ``ndtr``, imported
then: elementwise ``math.erfc`` would cost about 0.15 µs per element there.
"""

from __future__ import annotations

import math
import statistics
from typing import Callable

import numpy as np

#: Arrays up to this many elements get the normal CDF from ``math.erfc`` element by element
#: (about 0.15 µs each); larger ones from scipy's ``ndtr`` (about 10 ns each, after a 0.45 s import).
ELEMENTWISE_MAX = 4096

_erfc = np.frompyfunc(math.erfc, 1, 1)


def normal_cdf(z: np.ndarray | float) -> np.ndarray:
    """Φ(z), the standard normal CDF, element by element: ``erfc(-z / sqrt(2)) / 2``."""
    z = np.asarray(z, dtype=float)
    if z.size > ELEMENTWISE_MAX:
        from scipy.special import ndtr

        return ndtr(z)
    return 0.5 * np.asarray(_erfc(z * -math.sqrt(0.5)), dtype=float)


def normal_quantile(p: float) -> float:
    """Φ⁻¹(p) for 0 < p < 1 (the standard library's ``NormalDist.inv_cdf``)."""
    return statistics.NormalDist().inv_cdf(float(p))


def log_factorials(n: int) -> np.ndarray:
    """ln k! for k = 0 .. n-1 (``math.lgamma(k + 1)``)."""
    return np.array([math.lgamma(k + 1.0) for k in range(int(n))], dtype=float)


def poisson_at_least(t: int, lam: np.ndarray | float) -> np.ndarray:
    """P(K ≥ t) for K ~ Poisson(lam) and an integer ``t``, element by element (1 for t ≤ 0).

    Each side is summed where it is not tiny, so that no result is a difference of two nearly
    equal numbers (split at ``lam = t - sqrt(t)``, where P(K ≥ t) is about 0.16):

    - below: the upper tail itself, ``pmf(t) · Σ_{j≥0} Π_{i=1..j} lam / (t + i)``;
    - above: ``1 - pmf(t-1) · Σ_{j=0..t-1} Π_{i=0..j-1} (t - 1 - i) / lam`` (the lower tail);

    with ``pmf(k) = exp(k ln lam - lam - ln k!)``, each sum by Horner's rule over as many terms as
    its largest element needs for its last term to be below 1e-17 of the first. Relative error: a
    few 1e-16 for small ``t`` (the sweeps ask for t = 2); the exponent of ``pmf`` is a difference
    of terms of size ``t``, so it grows to about ``t`` · 1e-15 for large ``t``.
    """
    lam = np.asarray(lam, dtype=float)
    t = int(t)
    if t <= 0:
        return np.ones_like(lam)
    if t == 1:
        return -np.expm1(-lam)
    out = np.ones_like(lam)  # lam = inf: certain
    low = lam < t - math.sqrt(t)
    high = ~low & (lam != np.inf)
    out[low] = _upper_tail(t, lam[low])
    out[high] = 1.0 - _lower_tail(t, lam[high])
    return out


def _pmf(k: int, lam: np.ndarray) -> np.ndarray:
    """P(K = k) for K ~ Poisson(lam) >= 0."""
    with np.errstate(divide="ignore"):
        return np.exp(k * np.log(lam) - lam - math.lgamma(k + 1.0))


def _terms_needed(log_ratios: np.ndarray) -> int:
    """How many terms of ``1 + r_1 + r_1 r_2 + ...`` (``log_ratios``: ln r_i, the ratios of the
    element with the largest ones) it takes until a term is below 1e-17 (all of them if never)."""
    small = np.flatnonzero(np.cumsum(log_ratios) < math.log(1e-17))
    return int(small[0]) + 1 if small.size else log_ratios.size + 1


def _horner(ratios: np.ndarray, lam: np.ndarray, scale_by_lam: bool) -> np.ndarray:
    """``1 + c_1 x (1 + c_2 x (1 + ...))`` with ``x = lam`` (or ``1 / lam``) and ``c_i = ratios[i-1]``."""
    x = lam if scale_by_lam else 1.0 / lam
    total = np.ones_like(lam)
    for c in ratios[::-1].tolist():
        total *= x
        total *= c
        total += 1.0
    return total


def _upper_tail(t: int, lam: np.ndarray) -> np.ndarray:
    """P(K ≥ t) for lam < t - sqrt(t): ratios lam / (t + i) < 1."""
    top = float(np.max(lam, initial=0.0))
    if not top > 0:  # empty, or all zero: pmf(t) = 0
        return _pmf(t, lam)
    cap = int(40 + math.sqrt(1600 + 80 * t))  # Π t / (t + i) < exp(-j² / (2 (t + j))): enough however close
    coef = 1.0 / (t + np.arange(1.0, cap + 1.0))
    n = _terms_needed(np.log(top * coef))
    return _pmf(t, lam) * _horner(coef[: n - 1], lam, True)


def _lower_tail(t: int, lam: np.ndarray) -> np.ndarray:
    """P(K < t) = P(K ≤ t - 1) for lam ≥ t - sqrt(t) (t terms at most)."""
    if lam.size == 0:
        return lam.copy()
    bottom = float(np.min(lam))
    coef = t - 1.0 - np.arange(0.0, t - 1.0)  # (t-1), (t-2), ..., 1
    n = _terms_needed(np.log(coef / bottom))
    return _pmf(t - 1, lam) * _horner(coef[: n - 1], lam, False)
