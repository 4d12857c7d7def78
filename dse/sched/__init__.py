"""sched stage of the dse data flow: latency-bounded throughput and DeepRecSched.

- :mod:`~dse.sched.fastcap`: the SLA search of :mod:`dse.serve.sla_search` for the analytical
  model, vectorised over loads and policies (the optimiser's engine);
- :mod:`~dse.sched.curves`: service curves on the batch grid the optimiser reads;
- :mod:`~dse.sched.deeprecsched`: hill climbing over (b, Q), the grid reference, the static
  baseline, power efficiency (:mod:`~dse.sched.power`). See docs/optimizer.md.
"""

from dse.sched.deeprecsched import (
    CapacityTable,
    Curves,
    OptimizeResult,
    build_curves,
    hill_climb,
    optimize,
)
from dse.sched.fastcap import PolicySet
from dse.sched.power import serving_power

__all__ = [
    "CapacityTable",
    "Curves",
    "OptimizeResult",
    "PolicySet",
    "build_curves",
    "hill_climb",
    "optimize",
    "serving_power",
]
