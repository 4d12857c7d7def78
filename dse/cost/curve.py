"""The service curve: the seam between the cost model and the queueing model.

A :class:`ServiceCurve` holds t(b), seconds for one engine to serve a sub-batch of b items, on a
grid of batch sizes, computed once per (model, platform, engines) and interpolated downstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

#: Default batch grid: every size up to 64, then geometric steps to 4096 (items).
DEFAULT_BATCH_GRID = np.unique(np.concatenate([np.arange(1, 65), np.round(np.geomspace(64, 4096, 40))])).astype(int)


@dataclass(frozen=True)
class ServiceCurve:
    """Seconds per sub-batch on one engine.

    ``batches`` (items, ascending) and ``seconds`` have the same length. ``engines`` is how many
    engines were assumed busy at once (shared-resource contention is folded into ``seconds``).
    ``breakdown`` maps operator name -> seconds on the same grid; ``bounds`` maps operator name ->
    the limiting resource at each grid point ("compute", "stream", "gather", "overhead", ...).
    """

    model: str
    platform: str
    batches: np.ndarray
    seconds: np.ndarray
    engines: int = 1
    breakdown: dict[str, np.ndarray] = field(default_factory=dict)
    bounds: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        b = np.asarray(self.batches, dtype=float)
        s = np.asarray(self.seconds, dtype=float)
        if b.ndim != 1 or b.shape != s.shape or b.size == 0:
            raise ValueError("batches and seconds must be 1-D arrays of the same, non-zero length")
        if (b[1:] <= b[:-1]).any():  # np.diff's wrappers cost more than the comparison
            raise ValueError("batches must be strictly increasing")
        object.__setattr__(self, "batches", b)
        object.__setattr__(self, "seconds", s)

    def __call__(self, batch: ArrayLike) -> np.ndarray:
        """t(b) in seconds: linear interpolation on the grid, linear extrapolation beyond it."""
        b = np.asarray(batch, dtype=float)
        out = np.interp(b, self.batches, self.seconds)
        if self.batches.size >= 2:
            hi_slope = (self.seconds[-1] - self.seconds[-2]) / (self.batches[-1] - self.batches[-2])
            out = np.where(b > self.batches[-1], self.seconds[-1] + hi_slope * (b - self.batches[-1]), out)
        return out

    def per_item(self, batch: ArrayLike) -> np.ndarray:
        """Seconds per item at batch b (t(b)/b)."""
        b = np.asarray(batch, dtype=float)
        return self(b) / b
