"""The sweep's default ``evaluate(config) -> row``: DeepRecSched on one hypothetical platform.

Phase 1 placeholder: the optimiser (:mod:`dse.sched`) is not there yet, so :func:`check_configs`
refuses to start a sweep with a one-line error instead of failing on every configuration. The real
function will load the model graph and the platform with the configuration's overrides (cached per
worker process), run the optimiser with the workload and optimiser settings, and return::

    {"batch": b, "threshold": Q or None, "max_qps": ..., "p95_ms": ..., "qps_per_watt": ...,
     "energy_per_query_j": ..., "power_w": ..., "baseline_qps": ..., "gain": ...}
"""

from __future__ import annotations

import importlib
from typing import Any

from dse.errors import DseError

#: Goes into every configuration hash: bump it when the numbers this function returns change.
EVALUATOR_VERSION = "0"


def _optimizer() -> Any:
    try:
        sched = importlib.import_module("dse.sched")
    except ImportError:
        return None
    return getattr(sched, "optimize", None)


def check_configs(configs: list[dict[str, Any]]) -> None:
    """Refuse before any work when the pieces the evaluation needs are missing."""
    if _optimizer() is None:
        raise DseError("dse sweep needs the DeepRecSched optimiser (dse.sched.optimize), which is not available yet")


def evaluate(config: dict[str, Any]) -> dict[str, Any]:
    """One optimised point; see the module docstring."""
    check_configs([config])
    raise DseError("the sweep evaluator is not wired to the optimiser yet")
