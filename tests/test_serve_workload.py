"""Workload: size specs, sampling, Poisson arrivals, trace replay, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from dse.errors import DseError
from dse.serve.workload import load_trace, parse_sizes, poisson_workload


@pytest.mark.parametrize(
    "spec, kind, params",
    [
        ("lognormal:5.1,0.2", "lognormal", (5.1, 0.2)),
        ("normal:165,16", "normal", (165.0, 16.0)),
        ("fixed:32", "fixed", (32.0,)),
        (" Normal: 256 , 32 ", "normal", (256.0, 32.0)),
    ],
)
def test_parse_sizes(spec, kind, params):
    d = parse_sizes(spec)
    assert d.kind == kind and d.params == params and d.max_size == 1024


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("lognormal:5", "takes 2 parameters"),
        ("lognormal", "expected lognormal"),
        ("gamma:1,2", "unknown distribution 'gamma'"),
        ("fixed:0", "positive integer"),
        ("fixed:1.5", "positive integer"),
        ("normal:100,-3", "must be > 0"),
        ("normal:-500,1", "clipped to size 1"),
        ("lognormal:a,b", "must be numbers"),
        ("lognormal:nan,1", "finite"),
        ("file:/nonexistent/sizes.txt", "cannot read"),
    ],
)
def test_bad_size_specs_are_one_line_errors(spec, fragment):
    with pytest.raises(DseError) as err:
        parse_sizes(spec)
    msg = str(err.value)
    assert fragment in msg and "\n" not in msg


def test_file_sizes(tmp_path):
    f = tmp_path / "sizes.txt"
    f.write_text("10\n20\n20\n2000\n")
    d = parse_sizes(f"file:{f}")
    s = d.sample(np.random.default_rng(0), 20_000)
    assert set(np.unique(s)) == {10, 20, 1024}  # 2000 clipped to max_size
    assert abs(np.mean(s == 20) - 0.5) < 0.02
    pmf = d.pmf()
    assert pmf[20] == pytest.approx(0.5) and pmf[1024] == pytest.approx(0.25)
    bad = tmp_path / "bad.txt"
    bad.write_text("10\nx\n")
    with pytest.raises(DseError, match="entry 2 'x'"):
        parse_sizes(f"file:{bad}")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(DseError, match="no sizes"):
        parse_sizes(f"file:{empty}")


@pytest.mark.parametrize("spec", ["lognormal:5.1,0.2", "normal:165,16", "lognormal:6.5,1.0", "normal:10,20"])
def test_pmf_matches_samples_and_clipping(spec):
    d = parse_sizes(spec)
    pmf = d.pmf()
    assert pmf.size == 1025 and pmf[0] == 0 and pmf.sum() == pytest.approx(1.0)
    s = d.sample(np.random.default_rng(1), 200_000)
    assert s.min() >= 1 and s.max() <= 1024 and s.dtype == np.int64
    assert s.mean() == pytest.approx(d.mean(), rel=0.01)
    # the clipped tails carry the right mass
    assert np.mean(s == 1) == pytest.approx(pmf[1], abs=0.003)
    assert np.mean(s == 1024) == pytest.approx(pmf[1024], abs=0.003)


def test_lognormal_default_mean_is_about_167():
    assert parse_sizes("lognormal:5.1,0.2").mean() == pytest.approx(166.9, abs=0.5)


def test_poisson_arrivals_are_exponential_and_seeded():
    wl = poisson_workload(500.0, 100_000, "fixed:7", seed=3)
    gaps = np.diff(wl.arrivals)
    assert gaps.mean() == pytest.approx(1 / 500, rel=0.01)
    assert stats.kstest(gaps * 500, "expon").pvalue > 1e-3
    assert np.all(wl.sizes == 7)
    again = poisson_workload(500.0, 100_000, "fixed:7", seed=3)
    assert np.array_equal(wl.arrivals, again.arrivals)
    other = poisson_workload(500.0, 100_000, "fixed:7", seed=4)
    assert not np.array_equal(wl.arrivals, other.arrivals)


def test_at_rate_keeps_queries_and_scales_time():
    wl = poisson_workload(100.0, 1000, "lognormal:5.1,0.2", seed=0)
    fast = wl.at_rate(400.0)
    assert np.array_equal(fast.sizes, wl.sizes)
    assert np.allclose(fast.arrivals * 4, wl.arrivals)
    assert fast.offered_qps == 400.0


@pytest.mark.parametrize("qps, n", [(0, 10), (-1, 10), (float("nan"), 10), (10, 0)])
def test_bad_workload_arguments(qps, n):
    with pytest.raises(DseError):
        poisson_workload(qps, n)


def test_trace_replay(tmp_path):
    f = tmp_path / "trace.csv"
    f.write_text("arrival_s,size,other\n0.5,10,x\n0.2,3000,y\n0.3,0,z\n")
    wl = load_trace(f)
    assert np.allclose(wl.arrivals, [0.0, 0.1, 0.3])  # sorted, shifted to 0
    assert list(wl.sizes) == [1024, 1, 10]  # clipped to [1, 1024]
    with pytest.raises(DseError, match="cannot be run at another rate"):
        wl.at_rate(10)
    bad = tmp_path / "bad.csv"
    bad.write_text("time,size\n0,1\n")
    with pytest.raises(DseError, match="missing: arrival_s"):
        load_trace(bad)
    with pytest.raises(DseError, match="cannot read"):
        load_trace(tmp_path / "none.csv")


def test_named_heavytail_spec():
    """``heavytail`` (docs/serving.md): lognormal(4.65, 1.0), the public default's mean, a long tail."""
    d = parse_sizes("heavytail")
    assert (d.kind, d.params, d.spec) == ("lognormal", (4.65, 1.0), "heavytail")
    assert parse_sizes(" HeavyTail ").params == d.params
    p = d.pmf()
    sizes = np.arange(p.size)
    assert d.mean() == pytest.approx(parse_sizes("lognormal:5.1,0.2").mean(), rel=0.01)
    cdf = np.cumsum(p)
    assert int(np.searchsorted(cdf, 0.5)) == 105 and int(np.searchsorted(cdf, 0.9)) == 377
    assert p[1024] == pytest.approx(0.0113, abs=5e-4)
    big = sizes >= 256
    assert p[big].sum() == pytest.approx(0.186, abs=0.002)
    assert (sizes * p)[big].sum() / d.mean() == pytest.approx(0.53, abs=0.01)
    with pytest.raises(DseError, match="heavytail"):
        parse_sizes("heavy")
