"""Hostile inputs, fuzzed (issue #16): spec fields and CLI options drawn by hypothesis.

Whatever the value, a command either refuses it (exit 2, one ``error:`` line, no traceback; a
refused sweep leaves no files) or answers with finite numbers (exit 0; JSON has no NaN or
Infinity, and a null carries its reason). Example counts are bounded and the draws derandomised,
so the suite is fast and repeatable.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from dse.cli import app
from dse.paths import MODELSPECS_DIR
from dse.specs.fieldpath import numeric_leaves
from dse.specs.hardware import load_platform

runner = CliRunner()
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

HW_FIELDS = numeric_leaves({k: v for k, v in load_platform("skylake").model_dump(mode="python").items() if k != "sources"})

#: Numbers a hostile user types: special values, extremes, zero, negatives, and plain ones.
numbers = st.one_of(
    st.floats(1e-3, 1e4).map(lambda x: f"{x:.4g}"),
    st.integers(1, 4096).map(str),
    st.sampled_from([".inf", "-.inf", ".nan", "1e400", "-1e400", "1e-300", "0", "-0", "-1", "1e308", "1e15", "1e-9"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from(["abc", "true", "null", "[1, 2]", "{a: 1}", ""]),
)


def finite_json(value: Any, where: str = "") -> None:
    """Every number finite; a null sits beside a ``null_reasons`` entry that explains it."""
    if isinstance(value, float):
        assert math.isfinite(value), where
    elif isinstance(value, dict):
        reasons = value.get("null_reasons") or {}
        for key, item in value.items():
            if item is None and key not in reasons:
                continue  # a field that is optional by design (threshold: off)
            finite_json(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            finite_json(item, f"{where}[{i}]")


def check(result, argv: list[str]) -> Any:
    """Exit 0 with finite JSON, or exit 2 with one error line; never a traceback."""
    output = result.output
    assert "Traceback" not in output, output
    assert result.exit_code in (0, 2), f"{argv}: exit {result.exit_code}: {output[-800:]}\n{result.exception!r}"
    event(f"exit {result.exit_code}")  # --hypothesis-show-statistics: how many were answered
    if result.exit_code == 2:
        errors = [line for line in output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, output
        return None
    payload = json.loads(result.stdout)
    finite_json(payload)
    return payload


@FUZZ
@given(field=st.sampled_from(HW_FIELDS), value=numbers)
def test_fuzz_hardware_override_predict(field, value):
    argv = ["predict", "ncf", "skylake", "-b", "1,64", "--set", f"{field}={value}", "--json"]
    payload = check(runner.invoke(app, argv), argv)
    if payload is not None:
        for point in payload["points"]:
            assert point["latency_s"] > 0


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    qps=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(1e-3, 1e7), st.floats(1e-3, 1e7)),
    batch=st.one_of(st.integers(-10, 5000), st.integers(1, 1024)),
    workers=st.one_of(st.none(), st.integers(-5, 10**7), st.integers(1, 128)),
    seed=st.one_of(st.integers(0, 1000), st.integers(-(10**3), 10**30)),
    sizes=st.one_of(st.sampled_from(["lognormal:5.1,0.2", "fixed:1", "fixed:5000", "heavytail", "normal:100,1e6"]),
                    st.sampled_from(["normal:10,1e300", "lognormal:1e300,1", "lognormal:-1e300,1", "fixed:-3",
                                     "normal:nan,1", "x"])),
    jitter=st.one_of(st.none(), st.floats(0, 2), st.floats(allow_nan=True, allow_infinity=True)),
)
def test_fuzz_serve_options(qps, batch, workers, seed, sizes, jitter):
    argv = ["serve", "ncf", "skylake", "--method", "analytic", "--qps", repr(qps), "-b", str(batch),
            "--seed", str(seed), "--sizes", sizes, "--json"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    if jitter is not None:
        argv += ["--jitter", repr(jitter)]
    payload = check(runner.invoke(app, argv), argv)
    if payload is not None and payload["stable"]:
        assert 0 < payload["p50_s"] <= payload["p95_s"] <= payload["p99_s"]


#: Study axis paths a fuzzed study varies (platform, workload and optimiser fields).
STUDY_PATHS = ["compute.cores", "compute.clock_ghz", "dram.peak_bandwidth_gbs", "tdp_w", "caches[0].size_mib",
               "gather.row_overhead_ns", "memory.channels", "nmp.rank_cache_kb", "workload.workers",
               "workload.sla_ms", "workload.seed", "workload.locality", "optimizer.baseline_batch",
               "optimizer.stop_tol", "optimizer.queries"]


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(STUDY_PATHS), values=st.lists(numbers, min_size=1, max_size=2, unique=True))
def test_fuzz_study_axis(path, values):
    """A sweep over a fuzzed axis runs to finite rows or is refused before it writes anything."""
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "s.yaml"
        levels = ", ".join(v if v else "''" for v in values)
        study.write_text(
            "name: f\nmodels: [ncf]\nplatform: skylake\noptimizer: {method: analytic}\nobjectives: [max_qps]\n"
            f"axes:\n  - path: {path}\n    values: [{levels}]\nworkload: {{sla_ms: 5}}\n"
        )
        out = Path(tmp) / "out"
        argv = ["sweep", str(study), "--out", str(out), "--workers", "1", "--limit", "2", "--no-report"]
        result = runner.invoke(app, argv)
        assert "Traceback" not in result.output, result.output
        assert result.exit_code in (0, 2), f"{argv}: {result.output}\n{result.exception!r}"
        event(f"exit {result.exit_code}")
        if result.exit_code == 2:
            assert not out.exists(), f"a refused sweep left {sorted(p.name for p in out.iterdir())}"
            return
        for line in (out / "rows.jsonl").read_text().splitlines():
            record = json.loads(line, parse_constant=lambda name: (_ for _ in ()).throw(AssertionError(name)))
            finite_json(record)


MODEL_FIELDS = ["tables[0].rows", "tables[0].dim", "lookups[0].per_sample", "blocks[2].layers[0]", "precision_bytes",
                "lookups[0].irregularity", "dense_features"]


def _set(data: Any, path: str, value: Any) -> None:
    from dse.specs.fieldpath import set_value

    set_value(data, path, value, create=True)


@FUZZ
@given(field=st.sampled_from(MODEL_FIELDS), value=numbers)
def test_fuzz_model_field(field, value):
    """A model spec with one fuzzed number: ``dse predict`` refuses it or predicts finite times."""
    data = yaml.safe_load((MODELSPECS_DIR / "ncf.yaml").read_text())
    try:
        parsed = yaml.safe_load(value) if value else value
    except yaml.YAMLError:
        parsed = value
    _set(data, field, parsed)
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "m.yaml"
        spec.write_text(yaml.safe_dump(data))
        argv = ["predict", str(spec), "skylake", "-b", "1,256", "--json"]
        check(runner.invoke(app, argv), argv)
