"""Schema of a study file (``studies/*.yaml``): which configurations a sweep evaluates.

A study crosses a list of models with hypothetical hardware built from a base platform (and an
optional accelerator) by *axes*. Every axis overrides one field with the same path syntax as
``--set`` (``memory.ranks_per_dimm``) and lists its levels as ``values``, a linear ``range`` or a
geometric ``logrange``. ``combine`` says how axes are crossed: the full ``grid``, ``zip``-ped lists,
or ``n`` ``random`` / ``latin_hypercube`` samples drawn with a seed.

What an axis path targets is read from its first component:

==========================  ===========================================================
``memory.ranks_per_dimm``   a field of the base platform's hwspec (``platform.`` prefix optional)
``accel.link.bandwidth``    a field of the accelerator's hwspec (the study needs an accelerator)
``workload.sla_ms``         a field of ``workload`` (sizes, locality, seed, sla_ms, workers)
``optimizer.thresholds``    a field of ``optimizer`` (batches, thresholds, baseline_batch, method,
                            queries, stop_tol)
``platform``                the base hwspec itself: values are hwspec names or paths
``accelerator``             the accelerator hwspec itself: names, paths or ``null`` for none
==========================  ===========================================================

Everything that can be checked without evaluating is checked when the study is loaded, so a bad
study fails before any work starts with one line naming the file and the field: unknown keys,
wrong types, unknown or duplicate models, empty or inverted axes, paths that do not exist in the
hwspec (or values of the wrong type for them), zipped axes of different lengths.

Paths are checked with :func:`dse.specs.overrides.apply_overrides`, the code behind ``--set``, on
the complete dump of the loaded platform (so fields left to their defaults count), and every axis
value is re-validated by the platform schema (see :class:`HwspecData`).
"""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from dse.errors import DseError, SpecError
from dse.paths import HWSPECS_DIR, MODELSPECS_DIR, resolve_spec
from dse.settings import OptimizerSettings, WorkloadSettings
from dse.specs.fieldpath import exists
from dse.specs.loading import load_yaml, validate_spec, validation_message

#: Axis paths that select a whole hwspec rather than a field in one.
SPEC_AXES = ("platform", "accelerator")
#: Metric names a study may ask for (columns of the results table).
OBJECTIVES = ("max_qps", "p95_ms", "qps_per_watt", "energy_per_query_j", "gain", "speedup", "qps_per_dollar")

Scalar = int | float | str | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


def _check_value(value: Any) -> Any:
    """Axis values are JSON scalars or (nested) lists of them, e.g. ``[128, 256]`` for a list field."""
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
            count = int(math.floor((r.stop - r.start) / r.step * (1 + 1e-12) + 1e-9)) + 1
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
    n: PositiveInt | None = None
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
    workers: PositiveInt | None = Field(None, description="CPU engines (default: what the platform has).")

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


# -- checking override paths against hwspec data ----------------------------------------------


def format_override(path: str, value: Any) -> str:
    """``path=value`` in the ``--set`` syntax (the value as JSON, which YAML reads back unchanged)."""
    return f"{path}={json.dumps(value)}"


def _size_parser() -> Any:
    """The serving model's parser of query-size specs, when it is there."""
    try:
        module = importlib.import_module("dse.serve.workload")
    except ImportError:
        return None
    return getattr(module, "parse_sizes", None)


class HwspecData:
    """What an axis path is checked against: one hwspec's data, complete when it is a valid platform.

    When the file validates as a :class:`dse.specs.hardware.Platform`, overrides are applied to the
    complete dump (every defaulted field present) and the result is re-validated, so an unknown
    path, a value of the wrong kind and an out-of-range value are all caught. A file that is not a
    platform (a hand-written stand-in) is checked on its raw YAML data, paths and kinds only; the
    evaluator's own ``check_configs`` then decides whether it can use it.
    """

    def __init__(self, path: Path, raw: dict[str, Any]):
        self.path = path
        self.data = raw
        self.schema: Any = None
        try:
            hardware = importlib.import_module("dse.specs.hardware")
            platform = hardware.load_platform(str(path))
        except (ImportError, AttributeError, DseError):
            return
        self.data = platform.model_dump(mode="python")
        self.schema = type(platform)

    def has(self, path: str) -> bool:
        """Whether ``path`` names an existing field (a None section counts: it can be filled)."""
        return exists(self.data, path, null_is_open=True)

    def check(self, path: str, value: Any) -> None:
        from dse.specs.overrides import apply_overrides

        data = apply_overrides(self.data, [format_override(path, value)], str(self.path))
        if self.schema is not None:
            validate_spec(self.schema, data, f"{self.path} (with {path}={json.dumps(value)})")


# -- loading --------------------------------------------------------------------------------


def _resolve(name: str, directory: Path, what: str, base: Path) -> Path:
    """A shipped name, or a path relative to the study file (then the working directory)."""
    candidate = Path(name)
    if (candidate.suffix in (".yaml", ".yml") or "/" in name) and not candidate.is_absolute():
        beside = base / candidate
        if beside.is_file():
            return beside
    return resolve_spec(name, directory, what)


class LoadedStudy:
    """A validated study with its models and hwspecs resolved to files."""

    def __init__(self, study: Study, path: Path, models: dict[str, Path], specs: dict[str, Path]):
        self.study = study
        self.path = path
        self.model_files = models
        self.spec_files = specs  # hwspec name as written in the study -> file

    def __repr__(self) -> str:  # pragma: no cover
        return f"LoadedStudy({self.study.name!r}, {self.path})"


def load_study(path: Path | str) -> LoadedStudy:
    """Load, validate and cross-check a study; every problem is a one-line :class:`SpecError`."""
    path = Path(path)
    study = validate_spec(Study, load_yaml(path), path)
    return check_study(study, path)


def check_study(study: Study, path: Path | str) -> LoadedStudy:
    """The checks that need files: models and hwspecs exist, axis paths and value types are right."""
    path = Path(path)
    base = path.parent

    def fail(field: str, message: str) -> SpecError:
        return SpecError(f"{path}: {field}: {message}")

    models: dict[str, Path] = {}
    for i, model in enumerate(study.models):
        try:
            models[model] = _resolve(model, MODELSPECS_DIR, "model", base)
        except DseError as exc:
            raise fail(f"models[{i}]", str(exc)) from None

    specs: dict[str, Path] = {}
    data: dict[str, HwspecData] = {}

    def hwspec(name: str, field: str) -> HwspecData:
        if name not in specs:
            try:
                specs[name] = _resolve(name, HWSPECS_DIR, "hwspec", base)
            except DseError as exc:
                raise fail(field, str(exc)) from None
            loaded = load_yaml(specs[name])
            if not isinstance(loaded, dict):
                raise fail(field, f"{specs[name]}: expected a mapping at the top level")
            data[name] = HwspecData(specs[name], loaded)
        return data[name]

    hwspec(study.platform, "platform")
    if study.accelerator is not None:
        hwspec(study.accelerator, "accelerator")
    for i, axis in enumerate(study.axes):
        if axis.path in SPEC_AXES:
            for j, name in enumerate(axis.values or []):
                if name is None and axis.path == "accelerator":
                    continue
                if not isinstance(name, str):
                    raise fail(f"axes[{i}].values[{j}]", f"expected a hwspec name, got {json.dumps(name)}")
                hwspec(name, f"axes[{i}].values[{j}]")
    baseline_platform = study.baseline_platform()
    hwspec(baseline_platform, "baseline.platform")
    if study.baseline_accelerator() is not None:
        hwspec(study.baseline_accelerator(), "baseline.accelerator")  # type: ignore[arg-type]

    platforms = study.point_platforms()
    accelerators = study.accelerators()

    def check_hw(namespace: str, sub: str, value: Any, field: str, targets: list[str], value_field: str = "") -> None:
        for name in targets:
            try:
                data[name].check(sub, value)
            except DseError as exc:
                # a path that exists with a value that does not fit: point at the value
                raise fail(value_field if value_field and data[name].has(sub) else field, str(exc)) from None

    for i, axis in enumerate(study.axes):
        namespace, sub = split_path(axis.path)
        field = f"axes[{i}].path"
        levels = axis.levels()
        probe = levels if levels is not None else [axis.sample(0.0), axis.sample(0.999999)]
        value_fields = [f"axes[{i}].{'values' if axis.values is not None else 'range' if axis.range else 'logrange'}"
                        + (f"[{j}]" if axis.values is not None else "") for j in range(len(probe))]
        if namespace == "platform":
            for v, vf in zip(probe, value_fields):
                check_hw(namespace, sub, v, field, platforms, vf)
        elif namespace == "accel":
            if None in accelerators:
                raise fail(field, f"'{axis.path}' targets the accelerator, but some configurations have none "
                                  "(set accelerator, and no null in an accelerator axis)")
            for v, vf in zip(probe, value_fields):
                check_hw(namespace, sub, v, field, [a for a in accelerators if a is not None], vf)
        elif namespace in ("workload", "optimizer"):
            schema = WorkloadSpec if namespace == "workload" else OptimizerSpec
            if "." in sub or sub not in schema.model_fields:
                raise fail(field, f"unknown path '{axis.path}': {namespace} has fields {', '.join(schema.model_fields)}")
            current = getattr(study, namespace).model_dump()
            for v in probe:
                try:
                    schema.model_validate({**current, sub: v})
                except ValidationError as exc:
                    raise fail(f"axes[{i}].values", validation_message(axis.path, exc)) from None

    for key, value in study.baseline.set.items():
        namespace, sub = split_path(key)
        field = f"baseline.set.{key}"
        if namespace == "platform":
            check_hw(namespace, sub, value, field, [baseline_platform])
        elif namespace == "accel":
            acc = study.baseline_accelerator()
            if acc is None:
                raise fail(field, "the baseline has no accelerator to override")
            check_hw(namespace, sub, value, field, [acc])
        else:
            raise fail(field, "the baseline overrides hardware only (platform or accel. paths)")

    parse_sizes = _size_parser()
    if parse_sizes is not None:
        sizes = [("workload.sizes", study.workload.sizes)]
        for i, axis in enumerate(study.axes):
            if split_path(axis.path) == ("workload", "sizes"):
                sizes += [(f"axes[{i}].values[{j}]", v) for j, v in enumerate(axis.values or [])]
        for field, spec in sizes:
            try:
                parse_sizes(spec)
            except DseError as exc:
                raise fail(field, str(exc)) from None

    if study.cost is not None:
        needed = [p for p in study.platforms()] + [a for a in study.accelerators() if a is not None]
        if study.baseline_accelerator() is not None:
            needed.append(study.baseline_accelerator())  # type: ignore[arg-type]
        for name in needed:
            if name not in study.cost:
                raise fail("cost", f"no cost for hwspec '{name}' (costs given: {', '.join(study.cost)})")
    return LoadedStudy(study, path, models, specs)
