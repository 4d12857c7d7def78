"""sched stage of the dse data flow: latency-bounded throughput and DeepRecSched.

- :mod:`~dse.sched.capacity`: the monotone SLA search over any ``evaluate(qps) -> p95``;
- :mod:`~dse.sched.fastcap`: the same search for the analytical model, vectorised over loads and
  policies (the optimiser's engine);
- :mod:`~dse.sched.curves`: service curves on the batch grid the optimiser reads;
- :mod:`~dse.sched.deeprecsched`: hill climbing over (b, Q), the grid reference, the static
  baseline, power efficiency (:mod:`~dse.sched.power`). See docs/optimizer.md.

The optimiser's names are loaded lazily: :mod:`dse.serve.api` imports
:mod:`dse.sched.capacity`, and the optimiser imports :mod:`dse.serve`.
"""

from __future__ import annotations

import importlib
from typing import Any

from dse.sched.capacity import CapacityResult, max_qps_under_sla

_LAZY = {
    "CapacityTable": "dse.sched.deeprecsched",
    "Curves": "dse.sched.deeprecsched",
    "OptimizeResult": "dse.sched.deeprecsched",
    "build_curves": "dse.sched.deeprecsched",
    "hill_climb": "dse.sched.deeprecsched",
    "optimize": "dse.sched.deeprecsched",
    "PolicySet": "dse.sched.fastcap",
    "serving_power": "dse.sched.power",
}

__all__ = ["CapacityResult", "max_qps_under_sla", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dse.sched' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
