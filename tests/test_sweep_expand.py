"""Study expansion: counts for grid / zip / random / Latin hypercube, levels, and stable hashes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from dse.errors import DseError
from dse.sweep.resolve import load_study
from dse.sweep.expand import HASHED_KEYS, config_hash, expand
from sweep_stub import write_study


def _expand(tmp_path, limit=None, **changes):
    return expand(load_study(write_study(tmp_path, **changes), platforms=False), "stub-1", limit)


def test_grid_counts_and_order(tmp_path):
    exp = _expand(tmp_path)
    # 2 models x 4 ranks x 8 cache sizes x 5 localities; one baseline (no overrides) per model
    assert len(exp.points) == 2 * 4 * 8 * 5
    assert len(exp.baselines) == 2
    assert len(exp.tasks) == 2 * 4 * 8 * 5 + 2
    assert len({c["hash"] for c in exp.points}) == len(exp.points)
    first, second = exp.points[0], exp.points[1]
    assert first["model"] == "dlrm_rmc1" and exp.points[-1]["model"] == "dlrm_rmc2"
    # the last axis varies fastest
    assert first["axes"] == {"memory.ranks_per_dimm": 1, "nmp.rank_cache_kb": 8, "nmp.locality": 0.1}
    assert second["axes"] == {"memory.ranks_per_dimm": 1, "nmp.rank_cache_kb": 8, "nmp.locality": 0.3}
    assert first["platform_overrides"] == ["memory.ranks_per_dimm=1", "nmp.locality=0.1", "nmp.rank_cache_kb=8"]
    assert all(c["baseline_hash"] in {b["hash"] for b in exp.baselines} for c in exp.points)


def test_levels(tmp_path):
    exp = _expand(tmp_path)
    axes = exp.study.axes
    assert axes[1].levels() == [8, 16, 32, 64, 128, 256, 512, 1024]
    assert axes[2].levels() == [0.1, 0.3, 0.5, 0.7, 0.9]  # stop included, no float noise


def test_zip_counts(tmp_path):
    axes = [
        {"path": "memory.ranks_per_dimm", "values": [1, 2, 4]},
        {"path": "memory.channels", "range": {"start": 2, "stop": 6, "step": 2}},
    ]
    exp = _expand(tmp_path, axes=axes, combine="zip")
    assert len(exp.points) == 2 * 3
    assert [c["axes"]["memory.channels"] for c in exp.points[:3]] == [2, 4, 6]
    assert [c["axes"]["memory.ranks_per_dimm"] for c in exp.points[:3]] == [1, 2, 4]


def test_random_discrete_draws_distinct_grid_points(tmp_path):
    exp = _expand(tmp_path, combine={"random": {"n": 25, "seed": 3}})
    assert len(exp.points) == 2 * 25
    combos = [json.dumps(c["axes"], sort_keys=True) for c in exp.points[:25]]
    assert len(set(combos)) == 25
    # same seed, same sample; another seed, another sample
    again = _expand(tmp_path, combine={"random": {"n": 25, "seed": 3}})
    assert [c["hash"] for c in again.points] == [c["hash"] for c in exp.points]
    other = _expand(tmp_path, combine={"random": {"n": 25, "seed": 4}})
    assert [c["hash"] for c in other.points] != [c["hash"] for c in exp.points]
    # asking for more than the grid has gives the whole grid
    whole = _expand(tmp_path, combine={"method": "random", "n": 1000})
    assert len(whole.points) == 2 * 160


def test_random_continuous(tmp_path):
    axes = [
        {"path": "cpu.freq_ghz", "range": {"start": 1.5, "stop": 3.5}},
        {"path": "nmp.rank_cache_kb", "logrange": {"start": 8, "stop": 1024}, "integer": True},
    ]
    exp = _expand(tmp_path, axes=axes, combine={"random": {"n": 40, "seed": 1}}, models=["dlrm_rmc1"])
    assert len(exp.points) == 40
    freqs = [c["axes"]["cpu.freq_ghz"] for c in exp.points]
    caches = [c["axes"]["nmp.rank_cache_kb"] for c in exp.points]
    assert all(1.5 <= f <= 3.5 for f in freqs)
    assert all(isinstance(k, int) and 8 <= k <= 1024 for k in caches)
    # log-uniform: about as many samples below the geometric midpoint (90.5) as above
    assert 10 <= sum(k < 90.5 for k in caches) <= 30


def test_latin_hypercube_strata(tmp_path):
    n = 16
    axes = [
        {"path": "cpu.freq_ghz", "range": {"start": 1.0, "stop": 3.0}},
        {"path": "memory.channels", "range": {"start": 1, "stop": 16, "step": 1}},
    ]
    exp = _expand(tmp_path, axes=axes, combine={"latin_hypercube": {"n": n, "seed": 7}}, models=["dlrm_rmc1"])
    assert len(exp.points) == n
    freqs = [c["axes"]["cpu.freq_ghz"] for c in exp.points]
    strata = sorted(min(int((f - 1.0) / 2.0 * n), n - 1) for f in freqs)
    assert strata == list(range(n))  # every stratum of the continuous axis exactly once
    channels = sorted(c["axes"]["memory.channels"] for c in exp.points)
    assert channels == list(range(1, 17))  # 16 levels, 16 samples: each level once


def test_limit(tmp_path):
    exp = _expand(tmp_path, limit=7)
    assert len(exp.points) == 7
    assert len(exp.baselines) == 1  # all seven are dlrm_rmc1 points


def test_hash_is_stable_and_covers_the_physics(tmp_path):
    a = _expand(tmp_path)
    b = _expand(tmp_path)
    assert [c["hash"] for c in a.tasks] == [c["hash"] for c in b.tasks]
    # axis order and names do not matter, values do
    study_axes = [
        {"path": "nmp.locality", "range": {"start": 0.1, "stop": 0.9, "step": 0.2}, "name": "loc"},
        {"path": "memory.ranks_per_dimm", "values": [1, 2, 4, 8]},
        {"path": "nmp.rank_cache_kb", "logrange": {"start": 8, "stop": 1024, "num": 8}, "integer": True},
    ]
    c = _expand(tmp_path, axes=study_axes)
    assert {x["hash"] for x in c.tasks} == {x["hash"] for x in a.tasks}
    d = _expand(tmp_path, workload={"sla_ms": 21})
    assert not {x["hash"] for x in d.points} & {x["hash"] for x in a.points}
    # another evaluator version: every hash changes
    e = expand(load_study(write_study(tmp_path), platforms=False), "stub-2")
    assert not {x["hash"] for x in e.tasks} & {x["hash"] for x in a.tasks}
    # editing the platform file changes every hash
    (tmp_path / "toy.yaml").write_text((tmp_path / "toy.yaml").read_text() + "# edited\n")
    f = expand(load_study(tmp_path / "study.yaml", platforms=False), "stub-1")
    assert not {x["hash"] for x in f.tasks} & {x["hash"] for x in a.tasks}


def test_config_hash_golden_and_process_independent():
    config = {k: None for k in HASHED_KEYS}
    config.update(
        platform_overrides=["memory.ranks_per_dimm=4"],
        accel_overrides=[],
        workload={"sla_ms": 20.0, "sizes": "lognormal:5.1,0.2"},
        optimizer={"batches": [64, 32], "method": "analytic"},
        specs={"model": "m", "platform": "p", "accelerator": None},
        version="v",
    )
    h = config_hash(config)
    assert len(h) == 64 and int(h, 16) >= 0
    # key order of the dicts does not matter
    shuffled = {k: config[k] for k in reversed(HASHED_KEYS)}
    shuffled["workload"] = {"sizes": "lognormal:5.1,0.2", "sla_ms": 20.0}
    assert config_hash(shuffled) == h
    # nor the interpreter's hash seed
    code = (
        "import json,sys; from dse.sweep.expand import config_hash; "
        "print(config_hash(json.loads(sys.argv[1])))"
    )
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code, json.dumps(config)],
            capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert out.stdout.strip() == h


def test_hash_golden_value():
    # pins the canonical form (sorted keys, no spaces, floats by repr): changing it orphans stored rows
    config = {
        "platform_overrides": ["memory.ranks_per_dimm=4"],
        "accel_overrides": [],
        "workload": {"sla_ms": 20.0},
        "optimizer": {"batches": [64, 32]},
        "specs": {"model": "m", "platform": "p", "accelerator": None},
        "version": "v",
    }
    canonical = (
        '{"accel_overrides":[],"optimizer":{"batches":[64,32]},"platform_overrides":["memory.ranks_per_dimm=4"],'
        '"specs":{"accelerator":null,"model":"m","platform":"p"},"version":"v","workload":{"sla_ms":20.0}}'
    )
    assert config_hash(config) == hashlib.sha256(canonical.encode()).hexdigest()
    assert config_hash(config) == "d09d76ad1d527b5613d4780857a272e24931a327c1d7b26dde7535b6a4d37256"


def test_nan_is_refused():
    config = {k: [] for k in HASHED_KEYS}
    config["workload"] = {"sla_ms": float("nan")}
    with pytest.raises(DseError, match="canonical JSON"):
        config_hash(config)


def test_format_override_writes_values_as_json_does():
    # numbers skip json.dumps; the text must be what json.dumps writes
    from dse.specs.study import format_override

    for value in [0, 7, -3, 10**20, 0.1, 1e-300, 2.5e17, -0.0, 1.0, True, False, None, "zipf:1.05", [1, 2], 3 ** 0.5]:
        assert format_override("a.b", value) == f"a.b={json.dumps(value)}"


@pytest.mark.parametrize("study", ["nmp.yaml", "gpu_offload.yaml", "cpu_generations.yaml"])
def test_expanded_hashes_equal_config_hash(study):
    # the expansion renders shared parts once (expand._hash_of); the hash must be config_hash's
    from dse.paths import PROJECT_ROOT

    configs = expand(load_study(PROJECT_ROOT / "studies" / study), "test", None).tasks
    sample = configs[:: max(1, len(configs) // 50)]
    assert sample and all(c["hash"] == config_hash(c) for c in sample)
