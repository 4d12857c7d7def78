"""The batch grid of the optimiser's service curves.

:func:`curve_batches` is the grid the serving model reads: every size up to ``dense`` (small
remainders, where t(b) bends most), then geometric steps of ``ratio`` up to the largest size
needed, plus every batch size of the search list exactly (:class:`dse.settings.CurveGrid` holds
the defaults). Sizes in between are interpolated linearly by :class:`~dse.cost.curve.ServiceCurve`.
``ratio=1`` (or ``dense`` >= the largest size) gives every integer size. The curves themselves
come from :func:`dse.cost.model.total_curve` (the total of :func:`dse.cost.service_curve` without
the per-operator breakdown; on a CPU each distinct operator evaluated once, on a GPU the pass in
order, as the host issues it).
"""

from __future__ import annotations

import functools
from typing import Iterable

import numpy as np

from dse.errors import DseError
from dse.settings import CurveGrid


def curve_batches(upto: int, exact: Iterable[int] = (), grid: CurveGrid = CurveGrid()) -> np.ndarray:
    """Batch sizes 1..``grid.dense``, then geometric steps of ``grid.ratio`` to ``upto``, plus ``exact``."""
    upto = int(upto)
    if upto < 1:
        raise DseError(f"largest batch size {upto} must be >= 1")
    extra = tuple(float(x) for x in exact if 1 <= x <= upto)
    return _grid(upto, extra, int(grid.dense), float(grid.ratio)).copy()


@functools.lru_cache(maxsize=256)
def _grid(upto: int, extra: tuple[float, ...], dense: int, ratio: float) -> np.ndarray:
    """:func:`curve_batches`, memoised (a sweep's configurations share a few grids). Read-only."""
    if ratio <= 1.0 or dense >= upto:
        pts = np.arange(1, upto + 1, dtype=float)
    else:
        geo = np.geomspace(dense, upto, max(2, int(np.ceil(np.log(upto / dense) / np.log(ratio))) + 1))
        pts = np.concatenate([np.arange(1, dense + 1), np.round(geo), [upto]])
    return np.unique(np.concatenate([pts, extra])).astype(float)
