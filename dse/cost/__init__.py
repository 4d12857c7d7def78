"""Cost model: OpGraph × Platform -> per-operator time and the service curve t(b).

Modules by resource: :mod:`~dse.cost.roofline` (compute, streamed bytes),
:mod:`~dse.cost.gather` (irregular embedding gathers; the near-memory hook),
:mod:`~dse.cost.overhead` (dispatch / launch), :mod:`~dse.cost.transfer` (host<->device),
:mod:`~dse.cost.share` (what co-located engines share); :mod:`~dse.cost.model` assembles them.
"""

from dse.cost.curve import DEFAULT_BATCH_GRID, ServiceCurve
from dse.cost.model import OpCost, OpTimes, Prediction, graph_op_times, op_times, predict_latency, service_curve

__all__ = [
    "DEFAULT_BATCH_GRID",
    "OpCost",
    "OpTimes",
    "Prediction",
    "ServiceCurve",
    "graph_op_times",
    "op_times",
    "predict_latency",
    "service_curve",
]
