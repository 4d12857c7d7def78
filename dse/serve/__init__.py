"""Serve stage: service curves x workload x policy -> latency distribution (docs/serving.md).

- :mod:`~dse.serve.workload`: Poisson arrivals, size distributions (``lognormal:MU,SIGMA`` ...),
  trace replay;
- :mod:`~dse.serve.policy`: batch size b, offload threshold Q (the routing decision), engines,
  real-server costs;
- :mod:`~dse.serve.queueing`: the serving model's formulas, each once (routing masks, sub-batch
  split, per-policy moments, M^X/M/c queue state, wait scaling, fork-join schedule, service law);
- :mod:`~dse.serve.load`: offered load, utilisation, the load-dependent CPU curve (:class:`LoadedCurve`)
  and the co-location fixed point;
- :mod:`~dse.serve.des`: exact fork-join discrete-event simulation (numba, imported by the first
  simulation from :mod:`~dse.serve.fifo_numba`, so that importing the model does not load it);
- :mod:`~dse.serve.analytic`: analytical approximation of the same quantities;
- :mod:`~dse.serve.sla_search`: the monotone SLA search over any ``evaluate(qps) -> p95``;
- :mod:`~dse.serve.api`: one load point or latency-bounded throughput, by either method.

The real H200 serving run and the fit of the real-server costs are calibration:
:mod:`dse.calibrate.realrun`.
"""

from dse.serve.api import METHODS, PointEvaluator, capacity, serve_point
from dse.serve.des import ServeResult, simulate
from dse.serve.load import LoadedCurve
from dse.serve.policy import Policy, ServerCosts
from dse.serve.workload import SizeDistribution, Workload, load_trace, parse_sizes, poisson_workload

__all__ = [
    "METHODS",
    "LoadedCurve",
    "Policy",
    "PointEvaluator",
    "ServeResult",
    "ServerCosts",
    "SizeDistribution",
    "Workload",
    "capacity",
    "load_trace",
    "parse_sizes",
    "poisson_workload",
    "serve_point",
    "simulate",
]
