"""The one range every number of a hardware spec obeys, on top of its field's own range.

A field's schema says what is physical for it (``clock_ghz > 0``, ``peak_fraction <= 1``); this
module bounds the magnitude of every number, so that no value drives the cost model out of
floating point: a number is 0 or its absolute value lies in ``[MIN_MAGNITUDE, MAX_MAGNITUDE]``
in the unit its field name gives (``_ns``, ``_gbs``, ``_mib``...). The shipped hwspecs span
0.002 (a cache line in ns) to 7.2e8 (a GEMM's half-efficiency FLOPs); ``1e-300`` or ``1e400``
is a typo of units, not a machine, and times computed from it would overflow to infinity or
come out as 1e296 s. Infinity and NaN are refused by every spec schema (``allow_inf_nan``).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, field_validator

from dse.settings import StrictModel

#: Smallest non-zero magnitude of a hardware number, in its field's unit.
MIN_MAGNITUDE = 1e-9
#: Largest magnitude of a hardware number, in its field's unit.
MAX_MAGNITUDE = 1e15


def _numbers(name: str, value: Any) -> list[tuple[str, float]]:
    """``(field, number)`` of a field's value: itself, list entries, mapping values."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [(name, value)]
    if isinstance(value, (list, tuple)):
        return [item for i, v in enumerate(value) for item in _numbers(f"{name}[{i}]", v)]
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _numbers(f"{name}.{k}", v)]
    return []


def magnitude_problem(value: float) -> str | None:
    """Why ``value`` is out of the magnitude range, or None."""
    if value != 0 and not MIN_MAGNITUDE <= abs(value) <= MAX_MAGNITUDE:
        return (f"{value!r} is out of range: a number here is 0 or between {MIN_MAGNITUDE:g} and "
                f"{MAX_MAGNITUDE:g} in the field's unit")
    return None


class Bounded(StrictModel):
    """A strict spec section whose numbers are finite and within the magnitude range. Frozen: the
    cost model memoises results per section object (and platforms built by overrides share the
    sections they do not change), so a section edited in place would give stale answers."""

    model_config = ConfigDict(frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _magnitude(cls, value: Any) -> Any:
        for where, number in _numbers("", value):
            problem = magnitude_problem(number)
            if problem:
                raise ValueError(f"{where.lstrip('.')}: {problem}" if where else problem)
        return value
