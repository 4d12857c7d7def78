"""Fixed per-operator costs: framework dispatch on a CPU, kernel launch on a GPU.

``dispatch = op_seconds(kind) × op.launches + step_us × steps`` (recurrent ops issue work per
time step, unless their recurrence is one persistent kernel: dse/cost/recurrent.py). These costs
do not depend on the batch, which is why a GPU is launch-bound at small batch. A graph also pays
``inference_us`` once per forward pass (entry, final synchronisation).
"""

from __future__ import annotations

from dse.cost.recurrent import persistent
from dse.errors import DseError
from dse.graph.ops import Op, OpKind
from dse.specs.hardware import Platform
from dse.specs.stack import Dispatch


def require_dispatch(platform: Platform) -> Dispatch:
    """The platform's framework costs, bound from its software stack by ``load_platform``."""
    if platform.dispatch is None:
        raise DseError(f"{platform.name}: no dispatch costs: load the platform with load_platform (binds its stack)")
    return platform.dispatch


def dispatch_time(op: Op, platform: Platform) -> float:
    """Seconds of fixed dispatch/launch cost for one call of ``op``."""
    if op.kind is OpKind.INPUT:
        return 0.0
    d = require_dispatch(platform)
    steps = op.sequential_steps if op.sequential_steps > 1 and not persistent(op, d) else 0
    return d.op_seconds(op.kind) * op.launches + d.step_us * 1e-6 * steps


def inference_time(platform: Platform) -> float:
    """Seconds paid once per forward pass, whatever the graph."""
    return require_dispatch(platform).inference_us * 1e-6
