"""The batched evaluator (``evaluate_batch``: one vectorised capacity search for a whole chunk of
configurations) against the per-configuration reference ``evaluate`` (issue #17).

Tolerance: 1e-9 relative on every float of the row, exact on the rest (each row's capacity
bracket is refined on its own probes; only the order of vectorised sums may differ).
"""

from __future__ import annotations

from pathlib import Path

from dse.errors import DseError
from dse.sweep import evaluate as E
from dse.sweep.expand import expand
from dse.sweep.resolve import load_study

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-9


def _sample() -> list[dict]:
    configs = expand(load_study(ROOT / "studies" / "nmp.yaml"), "test", None).tasks
    # both ends of the grid and every model (the expansion keeps a model's points together)
    step = max(1, len(configs) // 9)
    return configs[::step][:9]


def _close(a: dict, b: dict) -> bool:
    for key, value in a.items():
        other = b[key]
        if isinstance(value, float) and isinstance(other, float):
            if abs(value - other) > TOLERANCE * max(abs(value), 1e-300):
                return False
        elif value != other:
            return False
    return set(a) == set(b)


def test_batch_rows_equal_the_per_configuration_rows() -> None:
    sample = _sample()
    batched = E.evaluate_batch(sample)
    assert len(batched) == len(sample)
    assert all(_close(E.evaluate(c), r) for c, r in zip(sample, batched))
    assert len({c["model"] for c in sample}) == 3


def test_a_bad_configuration_fails_alone() -> None:
    sample = _sample()[:3]
    bad = {**sample[1], "workload": {**sample[1]["workload"], "sla_ms": -1.0}}
    out = E.evaluate_batch([sample[0], bad, sample[2]])
    assert isinstance(out[1], DseError)
    assert _close(E.evaluate(sample[0]), out[0]) and _close(E.evaluate(sample[2]), out[2])
