"""Serving policy (what DeepRecSched tunes) and the costs of a real server beyond the ideal queue.

:class:`Policy` is the scheduling decision: per-core batch size ``b``, offload threshold ``Q`` and
the number of CPU and accelerator engines. :class:`ServerCosts` holds what an ideal queue fed with
isolated inference times misses on a real server (docs/serving.md says which are fitted and which
derived):

``query_overhead_s``     fixed delay added to every query (dispatch: splitting, enqueueing, the
                         response path); it does not occupy an engine.
``subbatch_overhead_s``  fixed cost per CPU sub-batch, paid on the engine (dequeue, tensor set-up).
``accel_overhead_s``     fixed cost per accelerator query, paid on the accelerator engine.
``jitter``               coefficient of variation of a mean-one lognormal factor multiplying every
                         service time (cache, frequency and OS noise).
``colocation``           co-location slowdown at full load (kappa): CPU curve times are multiplied
                         by ``1 + kappa * u``, with ``u`` the CPU engines' utilisation (mean field,
                         solved as a fixed point, see :mod:`dse.serve.load`). Keep 0 when the CPU
                         curve was computed with ``engines=N`` (the cost model already includes
                         the contention of N busy engines); fit it when the curve holds isolated
                         single-engine measurements.
"""

from __future__ import annotations

from typing import Any
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from dse.errors import DseError

SERVICE_DISTRIBUTIONS = ("deterministic", "exponential")
#: Upper limit of each cost: overheads up to an hour (seconds); a jitter CV up to 10 (the lognormal's
#: sigma^2 = ln(1 + CV^2) stays below 5, so its draws stay finite); a co-location slowdown up to
#: 100x at full load.
COST_LIMITS = {"query_overhead_s": 3600.0, "subbatch_overhead_s": 3600.0, "accel_overhead_s": 3600.0,
               "jitter": 10.0, "colocation": 100.0}


@dataclass(frozen=True)
class ServerCosts:
    query_overhead_s: float = 0.0
    subbatch_overhead_s: float = 0.0
    accel_overhead_s: float = 0.0
    jitter: float = 0.0
    colocation: float = 0.0

    def __post_init__(self) -> None:
        for name, high in COST_LIMITS.items():
            value = getattr(self, name)
            if not (value >= 0 and value < float("inf")):
                raise DseError(f"{name}: {value} must be a finite number >= 0")
            if value > high:
                raise DseError(f"{name}: {value:g} is above the limit of {high:g}")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def of_platform(cls, platform: Any) -> "ServerCosts":
        """The serving costs of ``platform``'s software stack (``serving:`` of its stack, or the
        stack's entry for this machine; ms in the stack, seconds here); an ideal server when the
        platform has no stack bound."""
        software = getattr(platform, "software", None)
        if software is None:
            return cls()
        s = software.serving
        return cls(
            query_overhead_s=s.query_overhead_ms * 1e-3,
            subbatch_overhead_s=s.subbatch_overhead_ms * 1e-3,
            accel_overhead_s=s.accel_overhead_ms * 1e-3,
            jitter=s.jitter,
            colocation=s.colocation,
        )


@dataclass(frozen=True)
class Policy:
    """How queries are served.

    ``batch`` (b): CPU sub-batch size. ``threshold`` (Q): queries with ``n >= Q`` go whole to the
    accelerator; ``None`` disables offload. ``cpu_workers`` (N) single-threaded CPU engines share
    one FIFO of sub-batches; ``accel_workers`` engines share the accelerator FIFO (one in
    DeepRecSys). ``service`` selects the service-time law: ``deterministic`` (the curve's value,
    times the jitter factor) or ``exponential`` with the curve's value as mean (for validating the
    simulator against M/M/c closed forms).
    """

    batch: int
    threshold: int | None = None
    cpu_workers: int = 1
    accel_workers: int = 0
    costs: ServerCosts = field(default_factory=ServerCosts)
    service: str = "deterministic"

    def __post_init__(self) -> None:
        if int(self.batch) != self.batch or self.batch < 1:
            raise DseError(f"--batch: {self.batch} must be a positive integer")
        if self.threshold is not None and (int(self.threshold) != self.threshold or self.threshold < 1):
            raise DseError(f"--threshold: {self.threshold} must be a positive integer")
        if int(self.cpu_workers) != self.cpu_workers or self.cpu_workers < 0:
            raise DseError(f"--workers: {self.cpu_workers} must be an integer >= 0")
        if int(self.accel_workers) != self.accel_workers or self.accel_workers < 0:
            raise DseError(f"accel_workers: {self.accel_workers} must be an integer >= 0")
        if self.threshold is not None and self.accel_workers == 0:
            raise DseError("--threshold needs an accelerator (--accel)")
        if self.cpu_workers == 0 and (self.threshold is None or self.threshold > 1):
            raise DseError("--workers: 0 CPU engines can serve nothing below the threshold")
        if self.service not in SERVICE_DISTRIBUTIONS:
            raise DseError(f"service: '{self.service}' is not one of {', '.join(SERVICE_DISTRIBUTIONS)}")

    def to_accelerator(self, sizes: np.ndarray) -> np.ndarray:
        """Whether queries of ``sizes`` items go whole to the accelerator (``n >= Q``), elementwise:
        the one place that decides offload (the simulator and the analytical model both ask)."""
        sizes = np.asarray(sizes)
        if self.threshold is None:
            return np.zeros(sizes.shape, dtype=bool)
        return sizes >= self.threshold

    def replace(self, **changes: object) -> "Policy":
        return replace(self, **changes)
