"""Schema of a study file (``studies/*.yaml``): which configurations a sweep evaluates.

A study crosses a list of models with hypothetical hardware built from a base platform (and an
optional accelerator) by *axes*. Every axis overrides one field with the same path syntax as
``--set`` (``memory.ranks_per_dimm``) and lists its levels as ``values``, a linear ``range`` or a
geometric ``logrange``. ``combine`` says how axes are crossed: the full ``grid``, ``zip``-ped lists,
or ``n`` ``random`` / ``latin_hypercube`` samples drawn with a seed.

What an axis path targets is read from its first component:

==========================  ===========================================================
``memory.ranks_per_dimm``   a field of the base platform's hwspec (``platform.`` prefix optional)
``accel.tdp_w``             a field of the accelerator's hwspec (the study needs an accelerator)
``workload.sla_ms``         a field of ``workload`` (sizes, locality, seed, sla_ms, workers)
``optimizer.thresholds``    a field of ``optimizer`` (batches, thresholds, baseline_batch, method,
                            queries, stop_tol)
``platform``                the base hwspec itself: values are hwspec names or paths
``accelerator``             the accelerator hwspec itself: names, paths or ``null`` for none
==========================  ===========================================================

This module is the schema (what a study file may say, checked field by field when it is parsed);
:mod:`dse.sweep.resolve` does the checks that need the files behind it (models and hwspecs exist,
axis paths and values fit the platform, size and locality specs parse), before any work starts.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from pydantic import (
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from dse.settings import MAX_ENGINES, MAX_STUDY_POINTS, OptimizerSettings, StrictModel, WorkloadSettings

#: Axis paths that select a whole hwspec rather than a field in one.
SPEC_AXES = ("platform", "accelerator")
#: Metric names a study may ask for (columns of the results table).
OBJECTIVES = ("max_qps", "p95_ms", "qps_per_watt", "energy_per_query_j", "gain", "speedup", "qps_per_dollar")

Scalar = int | float | str | bool | None
#: Most levels of one axis: each level is checked against every platform before a sweep starts
#: (about 0.3 ms each), and a study crosses the levels of its axes.
MAX_AXIS_LEVELS = 10_000


_Strict = StrictModel


def canonical_number(x: float) -> float:
    """Round a computed float to 12 significant digits so that levels are stable across machines."""
    return float(f"{x:.12g}")


class RangeSpec(_Strict):
    """Linear levels ``start, start+step, ...`` up to and including ``stop``.

    Without ``step`` the range is continuous: only ``random`` and ``latin_hypercube`` can sample it.
    """

    start: int | float
    stop: int | float
    step: PositiveFloat | PositiveInt | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "RangeSpec":
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop}) is below start ({self.start})")
        return self


class LogRangeSpec(_Strict):
    """``num`` geometrically spaced levels from ``start`` to ``stop`` (both included).

    Without ``num`` the range is continuous (log-uniform) for ``random`` / ``latin_hypercube``.
    """

    start: PositiveFloat
    stop: PositiveFloat
    num: PositiveInt | None = None

    @model_validator(mode="after")
    def _ordered(self) -> "LogRangeSpec":
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop}) is below start ({self.start})")
        return self


#: A number in exponent notation without a dot or sign, which YAML 1.1 reads as text (``1e9``).
_EXPONENT_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)[eE][-+]?\d+$")


def _check_value(value: Any) -> Any:
    """Axis values are JSON scalars or (nested) lists of them, e.g. ``[128, 256]`` for a list field.
    ``1e9``, which YAML 1.1 reads as text, is the number it looks like (as in ``--set``)."""
    if isinstance(value, str) and _EXPONENT_NUMBER.match(value.strip()):
        value = float(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"value {value} is not finite")
        return value
    if isinstance(value, list):
        return [_check_value(v) for v in value]
    raise ValueError(f"value {value!r} is a {type(value).__name__}; expected a number, string, bool or list")


class Axis(_Strict):
    """One swept field: a path and its levels (exactly one of values, range, logrange)."""

    path: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+|\[[0-9]+\])*$")
    name: str | None = Field(None, min_length=1, description="Column name in the results (default: the path).")
    values: list[Any] | None = None
    range: RangeSpec | None = None
    logrange: LogRangeSpec | None = None
    integer: bool = Field(False, description="Round computed levels (range, logrange) to integers.")

    @field_validator("values")
    @classmethod
    def _values_ok(cls, values: list[Any] | None) -> list[Any] | None:
        if values is None:
            return None
        if not values:
            raise ValueError("values is empty; an axis needs at least one value")
        checked = [_check_value(v) for v in values]
        seen: list[str] = []
        for v in checked:
            key = json.dumps(v, sort_keys=True)
            if key in seen:
                raise ValueError(f"duplicate value {key}")
            seen.append(key)
        return checked

    @model_validator(mode="after")
    def _one_source(self) -> "Axis":
        given = [k for k in ("values", "range", "logrange") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"axis '{self.path}': give exactly one of values, range, logrange"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.path in SPEC_AXES and self.values is None:
            raise ValueError(f"axis '{self.path}': list hwspec names under values")
        count = self.level_count()
        if count is not None and count > MAX_AXIS_LEVELS:
            raise ValueError(f"axis '{self.path}': {count:.3g} levels exceed the limit of {MAX_AXIS_LEVELS} "
                             "levels per axis (a larger step, or combine: random with n samples)")
        levels = self.levels()
        if levels is not None and not levels:
            raise ValueError(f"axis '{self.path}': the range is empty")
        return self

    @property
    def column(self) -> str:
        return self.name or self.path

    @property
    def continuous(self) -> bool:
        return (self.range is not None and self.range.step is None) or (
            self.logrange is not None and self.logrange.num is None
        )

    def _finish(self, x: float) -> int | float:
        return int(round(x)) if self.integer else canonical_number(x)

    def level_count(self) -> float | None:
        """How many levels :meth:`levels` gives before de-duplication (``None``: continuous), computed
        without building them."""
        if self.values is not None:
            return len(self.values)
        if self.continuous:
            return None
        if self.range is not None:
            assert self.range.step is not None
            steps = (self.range.stop - self.range.start) / self.range.step * (1 + 1e-12) + 1e-9
            return math.floor(steps) + 1 if steps < 1e18 else math.inf
        assert self.logrange is not None and self.logrange.num is not None
        return self.logrange.num

    def levels(self) -> list[Any] | None:
        """The discrete levels of this axis, in order; ``None`` for a continuous axis."""
        if self.values is not None:
            return list(self.values)
        if self.continuous:
            return None
        out: list[Any] = []
        if self.range is not None:
            r = self.range
            assert r.step is not None
            count = int(self.level_count() or 0)
            exact = all(isinstance(v, int) for v in (r.start, r.stop, r.step))
            for i in range(count):
                x = r.start + i * r.step
                out.append(x if exact and not self.integer else self._finish(x))
        else:
            lr = self.logrange
            assert lr is not None and lr.num is not None
            if lr.num == 1:
                xs = [lr.start]
            else:
                ratio = math.log(lr.stop / lr.start)
                xs = [lr.start * math.exp(ratio * i / (lr.num - 1)) for i in range(lr.num)]
                xs[-1] = lr.stop
            out = [self._finish(x) for x in xs]
        deduped: list[Any] = []
        for v in out:  # integer rounding can merge neighbouring log levels
            if v not in deduped:
                deduped.append(v)
        return deduped

    def sample(self, u: float) -> Any:
        """Map ``u`` in [0, 1) to a level: a stratum of the discrete levels or a point of the interval."""
        levels = self.levels()
        if levels is not None:
            return levels[min(int(u * len(levels)), len(levels) - 1)]
        if self.range is not None:
            return self._finish(self.range.start + u * (self.range.stop - self.range.start))
        lr = self.logrange
        assert lr is not None
        return self._finish(lr.start * math.exp(u * math.log(lr.stop / lr.start)))


class Combine(_Strict):
    """How axes are crossed: ``grid``, ``zip``, or ``n`` samples (``random``, ``latin_hypercube``)."""

    method: Literal["grid", "zip", "random", "latin_hypercube"] = "grid"
    n: PositiveInt | None = Field(None, le=MAX_STUDY_POINTS)
    seed: NonNegativeInt = 0

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # "grid" / "zip" as a plain string; {random: {n: 100, seed: 1}} as a one-key mapping
        if isinstance(data, str):
            return {"method": data}
        if isinstance(data, dict) and len(data) == 1:
            (key, value), = data.items()
            if key in ("random", "latin_hypercube", "grid", "zip"):
                return {"method": key, **(value if isinstance(value, dict) else {})}
        return data

    @model_validator(mode="after")
    def _n_given(self) -> "Combine":
        if self.method in ("random", "latin_hypercube") and self.n is None:
            raise ValueError(f"{self.method} needs n (the number of samples)")
        if self.method in ("grid", "zip") and self.n is not None:
            raise ValueError(f"{self.method} takes no n; use random or latin_hypercube to sample")
        return self


class WorkloadSpec(WorkloadSettings):
    """The served load (:class:`dse.settings.WorkloadSettings`: sizes, locality, seed) with the
    study's p95 target and CPU engines."""

    sla_ms: PositiveFloat | dict[str, PositiveFloat] = Field(
        ..., description="p95 latency target in ms, one number or one per model."
    )
    workers: PositiveInt | None = Field(None, le=MAX_ENGINES, description="CPU engines (default: what the platform has).")

    def settings(self) -> WorkloadSettings:
        """The workload settings alone (without the SLA and the engine count)."""
        return WorkloadSettings(**{k: getattr(self, k) for k in WorkloadSettings.model_fields})


#: The optimiser section of a study: :class:`dse.settings.OptimizerSettings` as it is.
OptimizerSpec = OptimizerSettings


class BaselineSpec(_Strict):
    """The configuration every row's ``speedup`` is relative to, per model.

    By default the study's base platform and accelerator as written, with no overrides. ``set``
    gives hardware overrides (``platform``/``accel.`` paths, like axes); ``accelerator: null`` makes
    the baseline CPU-only. Workload and optimizer values are always those of the row itself.
    """

    platform: str | None = None
    accelerator: str | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    metric: Literal["max_qps", "qps_per_watt", "p95_ms", "energy_per_query_j"] = "max_qps"

    @field_validator("set")
    @classmethod
    def _set_ok(cls, values: dict[str, Any]) -> dict[str, Any]:
        return {k: _check_value(v) for k, v in values.items()}


class Study(_Strict):
    """A design-space study: models × hardware configurations from axes."""

    name: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
    description: str = ""
    models: list[str] = Field(min_length=1)
    platform: str = Field(min_length=1)
    accelerator: str | None = None
    axes: list[Axis] = Field(default_factory=list)
    combine: Combine = Field(default_factory=Combine)
    workload: WorkloadSpec
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    objectives: list[Literal[OBJECTIVES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["max_qps", "p95_ms", "qps_per_watt", "energy_per_query_j", "speedup"], min_length=1
    )
    baseline: BaselineSpec = Field(default_factory=BaselineSpec)
    cost: dict[str, PositiveFloat] | None = Field(
        None, description="USD per hwspec name (platforms and accelerators) for qps_per_dollar."
    )

    @model_validator(mode="after")
    def _consistent(self) -> "Study":
        seen: dict[str, int] = {}
        for i, model in enumerate(self.models):
            if model in seen:
                raise ValueError(f"models[{i}]: duplicate model '{model}'")
            seen[model] = i
        paths: dict[str, int] = {}
        columns: dict[str, int] = {}
        for i, axis in enumerate(self.axes):
            key = _normalise_path(axis.path)
            if key in paths:
                raise ValueError(f"axes[{i}].path: '{axis.path}' is already swept by axes[{paths[key]}]")
            paths[key] = i
            if axis.path in SPEC_AXES and axis.name is None:
                continue  # its values are the table's platform / accelerator column
            if axis.column in columns or axis.column in RESERVED_COLUMNS:
                raise ValueError(f"axes[{i}].name: column '{axis.column}' is already used")
            columns[axis.column] = i
        if self.combine.method in ("grid", "zip"):
            for i, axis in enumerate(self.axes):
                if axis.continuous:
                    raise ValueError(
                        f"axes[{i}]: '{axis.path}' is continuous (no step/num); {self.combine.method} needs "
                        "discrete levels (give step or num, or use combine: random / latin_hypercube)"
                    )
        size = self.size()
        if size > MAX_STUDY_POINTS:
            raise ValueError(f"the study has {size:.3g} configurations (models x combined axis levels), over the "
                             f"limit of {MAX_STUDY_POINTS}: fewer levels, or combine: random with n samples")
        if self.combine.method == "zip" and self.axes:
            lengths = {len(a.levels() or []) for a in self.axes}
            if len(lengths) > 1:
                desc = ", ".join(f"{a.path}: {len(a.levels() or [])}" for a in self.axes)
                raise ValueError(f"combine: zip needs axes of equal length ({desc})")
        if isinstance(self.workload.sla_ms, dict):
            missing = [m for m in self.models if m not in self.workload.sla_ms]
            if missing:
                raise ValueError(f"workload.sla_ms: no target for model '{missing[0]}'")
            extra = [m for m in self.workload.sla_ms if m not in self.models]
            if extra:
                raise ValueError(f"workload.sla_ms: '{extra[0]}' is not one of the study's models")
        if "qps_per_dollar" in self.objectives and not self.cost:
            raise ValueError("objectives: qps_per_dollar needs a cost mapping (cost: {hwspec: USD})")
        return self

    # -- derived views ----------------------------------------------------------------------

    def size(self) -> float:
        """Configurations the study expands to (models x combined levels), without expanding it."""
        counts = [a.level_count() or 0 for a in self.axes]
        if self.combine.method == "grid":
            combos = math.prod(counts)
        elif self.combine.method == "zip":
            combos = max(counts, default=1)
        else:
            combos = self.combine.n or 0
        return len(self.models) * combos

    def sla_ms_for(self, model: str) -> float:
        sla = self.workload.sla_ms
        return float(sla[model]) if isinstance(sla, dict) else float(sla)

    def baseline_platform(self) -> str:
        return self.baseline.platform or self.platform

    def baseline_accelerator(self) -> str | None:
        if "accelerator" in self.baseline.model_fields_set:
            return self.baseline.accelerator
        return self.accelerator

    def platforms(self) -> list[str]:
        """Every base hwspec a configuration can use (study, platform axis, baseline)."""
        names = [self.platform]
        for axis in self.axes:
            if axis.path == "platform":
                names += [str(v) for v in axis.values or []]
        names.append(self.baseline_platform())
        return list(dict.fromkeys(names))

    def point_platforms(self) -> list[str]:
        """The base hwspecs of the study's points (the platform axis, else the study's platform)."""
        for axis in self.axes:
            if axis.path == "platform":
                return [str(v) for v in axis.values or []]
        return [self.platform]

    def accelerators(self) -> list[str | None]:
        """The accelerators of the study's points (the accelerator axis, else the study's one)."""
        names: list[str | None] = [self.accelerator]
        for axis in self.axes:
            if axis.path == "accelerator":
                names = list(axis.values or [])
        return list(dict.fromkeys(names))


#: Columns of the results table that an axis name may not shadow.
RESERVED_COLUMNS = frozenset(
    {"model", "platform", "accelerator", "config_hash", "error", "speedup", "cost_usd", "qps_per_dollar"}
)


def _normalise_path(path: str) -> str:
    """``platform.memory.channels`` -> ``memory.channels``."""
    if path.startswith("platform."):
        path = path[len("platform.") :]
    return path


def split_path(path: str) -> tuple[str, str]:
    """``(namespace, path within it)``: namespace is platform, accel, workload, optimizer or spec."""
    norm = _normalise_path(path)
    if norm in SPEC_AXES:
        return "spec", norm
    head, _, rest = norm.partition(".")
    if head in ("accel", "workload", "optimizer") and rest:
        return head, rest
    return "platform", norm


def format_override(path: str, value: Any) -> str:
    """``path=value`` in the ``--set`` syntax (the value as JSON, which YAML reads back unchanged)."""
    kind = type(value)
    if kind is int or (kind is float and math.isfinite(value)):
        return f"{path}={kind.__repr__(value)}"  # what json.dumps writes, without its per-call set-up
    return f"{path}={json.dumps(value)}"
