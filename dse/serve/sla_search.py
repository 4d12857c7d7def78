"""Latency-bounded throughput: the highest arrival rate whose p95 latency meets an SLA.

``max_qps_under_sla(evaluate, sla_s)`` treats ``evaluate(qps) -> p95 seconds`` as a monotone
non-decreasing function of the rate (true for the simulator with common random numbers, see
:mod:`dse.serve.workload`, and for the analytical model); NaN or infinity means "unstable", i.e.
above the SLA. It brackets the crossing by doubling or halving from a start rate (never past an
optional known saturation rate ``hi``), then bisects geometrically until the bracket is narrower
than ``rel_tol``. When even the lowest load probed misses the SLA (the zero-load latency is above
it), the result says so (``met`` False, ``max_qps`` 0) and carries the p95 at that lowest load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from dse.errors import DseError


@dataclass
class CapacityResult:
    max_qps: float
    p95_s: float
    sla_s: float
    met: bool
    #: every (qps, p95) evaluated, in order
    evaluations: list[tuple[float, float]] = field(default_factory=list)

    def as_json(self) -> dict[str, float | None]:
        """The ``dse capacity --json`` object."""
        return {
            "max_qps": float(self.max_qps),
            "p95_s": float(self.p95_s) if math.isfinite(self.p95_s) else None,
            "sla_s": float(self.sla_s),
        }


def max_qps_under_sla(
    evaluate: Callable[[float], float],
    sla_s: float,
    start: float | None = None,
    hi: float | None = None,
    lo: float | None = None,
    rel_tol: float = 0.005,
    max_evals: int = 80,
) -> CapacityResult:
    """Search the largest rate with ``evaluate(rate) <= sla_s`` (see the module doc).

    ``start``: first rate probed (default ``hi / 2`` or 1). ``hi``: a rate known to miss the SLA
    or to be unstable (e.g. the saturation rate); never evaluated. ``lo``: lowest rate probed when
    stepping down (default ``start * 1e-6``).
    """
    if not (sla_s > 0 and math.isfinite(sla_s)):
        raise DseError(f"--sla-ms: {sla_s * 1e3:g} must be a positive number")
    if hi is not None and not hi > 0:
        raise DseError("the system has no capacity (saturation rate 0)")
    if not 0 < rel_tol < 1:
        raise DseError(f"rel_tol: {rel_tol} must be in (0, 1)")
    evals: list[tuple[float, float]] = []

    def ok(q: float) -> bool:
        if len(evals) >= max_evals:
            raise DseError(f"capacity search did not converge in {max_evals} evaluations")
        p = float(evaluate(q))
        if math.isnan(p):
            p = math.inf
        evals.append((q, p))
        return p <= sla_s

    q = start if start is not None else (hi / 2 if hi is not None and math.isfinite(hi) else 1.0)
    if not q > 0:
        raise DseError(f"start rate {q} must be positive")
    floor = lo if lo is not None else q * 1e-6
    good = bad = None
    if ok(q):
        good = q
        while bad is None:
            nxt = good * 2
            if hi is not None and nxt >= hi:
                nxt = math.sqrt(good * hi) if hi / good - 1 > rel_tol else None
                if nxt is None:
                    bad = hi
                    break
            if ok(nxt):
                good = nxt
            else:
                bad = nxt
    else:
        bad = q
        while good is None:
            nxt = bad / 4
            if nxt < floor:
                break
            prev = evals[-1][1]
            if ok(nxt):
                good = nxt
            else:
                bad = nxt
                # the latency stopped falling with the load: the SLA is below the zero-load latency
                if math.isfinite(prev) and evals[-1][1] >= 0.995 * prev:
                    break
        if good is None:
            q_low, p_low = min(evals)
            return CapacityResult(0.0, p_low, sla_s, False, evals)
    while bad / good - 1 > rel_tol:
        mid = math.sqrt(good * bad)
        if ok(mid):
            good = mid
        else:
            bad = mid
    p_good = next(p for q_, p in reversed(evals) if q_ == good)
    return CapacityResult(good, p_good, sla_s, True, evals)
