"""The serving model's two linear recursions, written with numpy alone so that importing the model
does not load scipy.signal (issue #17), against ``scipy.signal.lfilter`` (imported here only):

- :func:`dse.serve.queueing.first_order_recursion`, the exponential convolution of
  :func:`~dse.serve.queueing.exp_convolve` (grids of 512 points in the vectorised SLA search and
  4,000 in the analytical CDF);
- :func:`dse.serve.queueing.level_recursion`, the M^X/M/c state of
  :func:`~dse.serve.queueing.batch_queue` (which ran it as an FIR filter and its inverse IIR filter).

Tolerance 1e-12 relative to the largest value (the differences are rounding: a few 1e-15).
"""

from __future__ import annotations

import numpy as np
import pytest

from dse.serve.queueing import (
    RECURSION_BLOCK,
    _normalised_state,
    batch_queue,
    exp_convolve,
    first_order_recursion,
    level_recursion,
    tail_probabilities,
)
from dse.serve.workload import parse_sizes

TOL = 1e-12


def _lfilter():
    return pytest.importorskip("scipy.signal").lfilter


def _close(got: np.ndarray, ref: np.ndarray) -> bool:
    return got.shape == ref.shape and float(np.max(np.abs(got - ref), initial=0.0)) <= TOL * max(float(np.max(np.abs(ref), initial=0.0)), 1e-300)


@pytest.mark.parametrize("n", [1, RECURSION_BLOCK - 1, RECURSION_BLOCK, RECURSION_BLOCK + 1, 511, 3999])
@pytest.mark.parametrize("alpha", [0.0, 1e-200, 1e-3, 0.5, 0.97, 0.99999, 1.0])
def test_first_order_recursion_is_lfilter(n: int, alpha: float) -> None:
    lfilter = _lfilter()
    drive = np.random.default_rng(n).random(n)
    assert _close(first_order_recursion(drive, alpha), lfilter([1.0], [1.0, -alpha], drive))


@pytest.mark.parametrize("theta", [1e3, 5e4, 1e6])
def test_exp_convolve_is_the_old_filter(theta: float) -> None:
    # a lognormal-like CDF on the analytical method's grid
    lfilter = _lfilter()
    t = np.linspace(0.0, 0.02, 4000)
    with np.errstate(divide="ignore"):
        cdf = 0.5 * (1 + np.tanh(4 * (np.log(t) - np.log(4e-3))))
    h = t[1] - t[0]
    x = theta * h
    alpha = np.exp(-x)
    c2 = (1 - alpha) - (1 - alpha - alpha * x) / x
    drive = cdf[:-1] * (1 - alpha - c2) + cdf[1:] * c2
    ref = np.concatenate([[0.0], lfilter([1.0], [1.0, -alpha], drive)])
    assert _close(exp_convolve(cdf, h, theta), ref)


def _head(servers: int, rate: float, mu: float, tail: np.ndarray) -> np.ndarray:
    """The first ``servers + 1`` state weights as :func:`batch_queue` computes them."""
    kmax = tail.size
    head = np.zeros(servers + 1)
    head[0] = 1.0
    rev = tail[::-1]
    for j in range(servers):
        lo = max(0, j - kmax + 1)
        head[j + 1] = rate * float(np.dot(head[lo : j + 1], rev[kmax - 1 - (j - lo) :])) / (mu * (j + 1))
    return head


def _kpmfs() -> list[np.ndarray]:
    """Sub-batch counts per query: M/M/c, a small batch mix, and those of lognormal query sizes
    cut into sub-batches of 32 and 8 items (the sweeps' DeepRecSys size law)."""
    out = [np.array([0.0, 1.0]), np.array([0, 0.2, 0.5, 0.3])]
    sizes = parse_sizes("lognormal:5.1,0.2").pmf()
    n = np.arange(sizes.size)
    for b in (32, 8):
        out.append(np.bincount(-(-n // b), weights=sizes))
    return out


def _old_batch_queue(servers: int, rate: float, mu: float, kpmf: np.ndarray, lfilter) -> tuple:  # noqa: ANN001
    """:func:`batch_queue` as it was, with the state weights from scipy's filters."""
    tail = tail_probabilities(kpmf)
    head = _head(servers, rate, mu, tail)
    coef = np.concatenate([[1.0], -(rate / (mu * servers)) * tail])
    length = servers + 1 + 64 * tail.size
    while True:
        x = np.zeros(length)
        x[: servers + 1] = lfilter(coef, [1.0], head)
        pi = lfilter([1.0], coef, x)
        if pi[-1] < 1e-14 * pi.sum() or length >= 200_000:
            return pi, _normalised_state(pi, servers)
        length = min(4 * length, 200_000)


@pytest.mark.parametrize("servers", [1, 4, 20])
@pytest.mark.parametrize("rho", [0.2, 0.8, 0.995])
@pytest.mark.parametrize("which", range(4))
def test_level_recursion_is_the_filter_pair(servers: int, rho: float, which: int) -> None:
    lfilter = _lfilter()
    kpmf = _kpmfs()[which]
    tail = tail_probabilities(kpmf)
    mu = 1.0
    rate = rho * servers * mu / float(np.arange(kpmf.size) @ kpmf)
    ref, (ref_busy, ref_pw, ref_ahead) = _old_batch_queue(servers, rate, mu, kpmf, lfilter)
    got = level_recursion(_head(servers, rate, mu, tail), (rate / (mu * servers)) * tail, ref.size)
    assert _close(got, ref)
    busy, pw, ahead = batch_queue(servers, rate, 1.0 / mu, kpmf)
    assert _close(busy, ref_busy)
    assert pw == pytest.approx(ref_pw, rel=TOL) and ahead == pytest.approx(ref_ahead, rel=TOL)


def test_the_comparison_can_fail() -> None:
    """A recursion off by one rounding-scale step per block would be caught at this tolerance."""
    lfilter = _lfilter()
    drive = np.random.default_rng(0).random(500)
    ref = lfilter([1.0], [1.0, -0.9], drive)
    assert not _close(ref * (1 + 1e-10), ref)
    assert not _close(first_order_recursion(drive, 0.9 + 1e-9), ref)
