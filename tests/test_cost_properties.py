"""Properties of the cost model: more bandwidth or FLOP/s never slows a prediction down, and
latency never falls as the batch grows (nor as more engines share the machine)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.cost import predict_latency, service_curve
from dse.graph import load_graph
from dse.paths import MODELSPECS_DIR, list_specs
from dse.specs.hardware import Platform, list_platforms, load_platform

MODELS = list_specs(MODELSPECS_DIR)
PLATFORMS = list_platforms()
SETTINGS = settings(max_examples=40, deadline=None)


@lru_cache(maxsize=None)
def graph(name):
    return load_graph(name)


@lru_cache(maxsize=None)
def platform(name):
    return load_platform(name)


def scaled(p: Platform, bandwidth: float = 1.0, flops: float = 1.0) -> Platform:
    """``p`` with every bandwidth multiplied by ``bandwidth`` and the clock by ``flops``."""
    d = p.model_dump()
    d["compute"]["clock_ghz"] *= flops
    d["dram"]["peak_bandwidth_gbs"] *= bandwidth
    d["dram"]["engine_bandwidth_gbs"] *= bandwidth
    for level in d["caches"]:
        level["bandwidth_gbs"] *= bandwidth
    if d.get("host_link"):
        d["host_link"]["h2d_gbs"] *= bandwidth
        d["host_link"]["d2h_gbs"] *= bandwidth
    return Platform.model_validate(d)


case = dict(
    model=st.sampled_from(MODELS),
    hw=st.sampled_from(PLATFORMS),
    batch=st.integers(1, 4096),
    engines=st.integers(1, 64),
)


@SETTINGS
@given(**case, factor=st.floats(1.0, 16.0))
def test_more_bandwidth_is_never_slower(model, hw, batch, engines, factor):
    base = predict_latency(graph(model), platform(hw), batch, engines=engines).latency_s
    fast = predict_latency(graph(model), scaled(platform(hw), bandwidth=factor), batch, engines=engines).latency_s
    assert fast <= base * (1 + 1e-9)


@SETTINGS
@given(**case, factor=st.floats(1.0, 16.0))
def test_more_flops_is_never_slower(model, hw, batch, engines, factor):
    base = predict_latency(graph(model), platform(hw), batch, engines=engines).latency_s
    fast = predict_latency(graph(model), scaled(platform(hw), flops=factor), batch, engines=engines).latency_s
    assert fast <= base * (1 + 1e-9)


@SETTINGS
@given(**case, more=st.integers(1, 4096))
def test_latency_never_falls_as_the_batch_grows(model, hw, batch, engines, more):
    small = predict_latency(graph(model), platform(hw), batch, engines=engines).latency_s
    large = predict_latency(graph(model), platform(hw), batch + more, engines=engines).latency_s
    assert large >= small * (1 - 1e-12)


@SETTINGS
@given(**case, more=st.integers(1, 64))
def test_more_engines_never_speed_one_up(model, hw, batch, engines, more):
    few = predict_latency(graph(model), platform(hw), batch, engines=engines).latency_s
    many = predict_latency(graph(model), platform(hw), batch, engines=engines + more).latency_s
    assert many >= few * (1 - 1e-12)


@settings(max_examples=15, deadline=None)
@given(model=st.sampled_from(MODELS), hw=st.sampled_from(PLATFORMS), engines=st.integers(1, 64))
def test_service_curves_are_non_decreasing_on_the_default_grid(model, hw, engines):
    curve = service_curve(graph(model), platform(hw), engines=engines)
    assert np.all(np.diff(curve.seconds) >= -1e-12 * curve.seconds[1:])
    assert np.all(curve.seconds > 0)
