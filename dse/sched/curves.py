"""Service curves for the optimiser: only the batch sizes it uses, each distinct operator once.

:func:`dse.cost.service_curve` returns t(b) with a per-operator breakdown and the limiting
resource of every operator at every batch size; the optimiser needs only the total. Here:

- :func:`curve_batches` is the grid the serving model reads: every size up to ``dense`` (small
  remainders, where t(b) bends most), then geometric steps of ``ratio`` up to the largest size
  needed, plus every batch size of the search list exactly. Sizes in between are interpolated
  linearly by :class:`~dse.cost.curve.ServiceCurve`. ``ratio=1`` (or ``dense`` >= the largest
  size) gives every integer size (exact, what the brief asks by default for CPU platforms, where
  a whole curve is a few numpy operations per operator whatever its length).
- :func:`total_curve` sums :func:`dse.cost.model.op_times` over the graph's operators like
  ``service_curve`` does, but evaluates each *distinct* operator once and multiplies (RMC2 has 32
  identical embedding tables): an operator's time depends on its kind, sizes and shape, never
  on its name or table name. The result equals ``service_curve(...).seconds`` (tested).
"""

from __future__ import annotations

import json
import weakref
from collections import OrderedDict
from typing import Iterable

import networkx as nx
import numpy as np

from dse.cost.curve import ServiceCurve
from dse.cost.model import _check, op_times
from dse.cost.overhead import inference_time
from dse.cost.transfer import output_transfer_time
from dse.errors import DseError
from dse.graph.lower import ordered_ops
from dse.graph.ops import Op
from dse.specs.hardware import Platform


def curve_batches(upto: int, exact: Iterable[int] = (), dense: int = 16, ratio: float = 2 ** 0.25) -> np.ndarray:
    """Batch sizes 1..``dense``, then geometric steps of ``ratio`` to ``upto``, plus ``exact``."""
    upto = int(upto)
    if upto < 1:
        raise DseError(f"largest batch size {upto} must be >= 1")
    if ratio <= 1.0 or dense >= upto:
        pts = np.arange(1, upto + 1, dtype=float)
    else:
        geo = np.geomspace(dense, upto, max(2, int(np.ceil(np.log(upto / dense) / np.log(ratio))) + 1))
        pts = np.concatenate([np.arange(1, dense + 1), np.round(geo), [upto]])
    extra = [float(x) for x in exact if 1 <= x <= upto]
    return np.unique(np.concatenate([pts, extra])).astype(float)


def _op_key(op: Op) -> str:
    fields = {k: v for k, v in op.__dict__.items() if k not in ("name", "table")}
    fields["kind"] = op.kind.value
    return json.dumps(fields, sort_keys=True, default=str)


_GROUPS: "weakref.WeakKeyDictionary[nx.DiGraph, list[tuple[Op, int]]]" = weakref.WeakKeyDictionary()


def op_groups(graph: nx.DiGraph) -> list[tuple[Op, int]]:
    """The graph's operators in execution order, identical ones merged: [(op, count)] (cached
    per graph object)."""
    hit = _GROUPS.get(graph)
    if hit is not None:
        return hit
    groups: OrderedDict[str, list] = OrderedDict()
    for op in ordered_ops(graph):
        key = _op_key(op)
        if key in groups:
            groups[key][1] += 1
        else:
            groups[key] = [op, 1]
    out = [(op, count) for op, count in groups.values()]
    _GROUPS[graph] = out
    return out


def total_curve(
    graph: nx.DiGraph, platform: Platform, batches: np.ndarray, engines: int = 1, transfer: bool = True
) -> ServiceCurve:
    """t(b) of ``graph`` on ``platform`` (see the module doc); no per-operator breakdown."""
    b = np.unique(np.asarray(batches, dtype=float).reshape(-1))
    _check(b, engines)
    footprint = float(graph.graph.get("table_bytes", 0.0)) or None
    total = np.zeros_like(b)
    for op, count in op_groups(graph):
        total += count * op_times(op, platform, b, int(engines), transfer, footprint).time
    total += inference_time(platform)
    if transfer and platform.is_accelerator:
        total += output_transfer_time(float(graph.graph.get("output_bytes_per_item", 0.0)), platform, b)
    return ServiceCurve(
        model=str(graph.graph.get("model", "?")), platform=platform.name, batches=b, seconds=total, engines=int(engines)
    )
