"""Fixed per-operator costs: framework dispatch on a CPU, kernel launch on a GPU.

``dispatch = op_seconds(kind) × op.launches + step_us × steps`` (recurrent ops issue work per
time step). These costs do not depend on the batch, which is why a GPU is launch-bound at small
batch. A graph also pays ``inference_us`` once per forward pass (entry, final synchronisation).
"""

from __future__ import annotations

from dse.graph.ops import Op, OpKind
from dse.specs.hardware import Platform


def dispatch_time(op: Op, platform: Platform) -> float:
    """Seconds of fixed dispatch/launch cost for one call of ``op``."""
    if op.kind is OpKind.INPUT:
        return 0.0
    d = platform.dispatch
    steps = op.sequential_steps if op.sequential_steps > 1 else 0
    return d.op_seconds(op.kind) * op.launches + d.step_us * 1e-6 * steps


def inference_time(platform: Platform) -> float:
    """Seconds paid once per forward pass, whatever the graph."""
    return platform.dispatch.inference_us * 1e-6
