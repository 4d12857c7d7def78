"""Resolving a study: every model, hwspec, override and workload value checked before any work.

:mod:`dse.specs.study` is the schema of a study file; this module does the checks that need the
files and the models behind it, so a bad study fails before the output folder is touched, with
one line naming the file and the field:

- every model and hwspec named (study, platform and accelerator axes, baseline) exists, and every
  model is a valid model spec (a model given as a path to a broken file fails here, not on every
  row);
- every hwspec is a valid platform (when the evaluator computes with platforms, which the default
  one does: a hwspec with an invalid value fails here, not on every row);
- every axis path exists in its target (platform, accelerator, workload or optimizer settings),
  and every level of the axis (or both ends of a continuous one) is a valid value there: overrides
  are applied to the complete dump of the platform and the result is re-validated by its schema
  (field ranges and :mod:`dse.specs.ranges`); a path below a section the platform lacks is refused;
- the query-size and index-locality specs of the workload and of its axes parse;
- the baseline's overrides are hardware overrides of hwspecs it has; costs cover every hwspec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dse.cost.locality import parse_locality
from dse.errors import DseError, SpecError
from dse.paths import HWSPECS_DIR, MODELSPECS_DIR, resolve_spec
from dse.serve.workload import parse_sizes
from dse.specs.fieldpath import exists
from dse.specs.hardware import Platform, check_used, load_platform, override_platform
from dse.specs.model import load_model_spec
from dse.specs.loading import load_yaml, validate_spec, validation_message
from dse.specs.stack import load_stack
from dse.specs.overrides import apply_overrides
from dse.specs.study import SPEC_AXES, Axis, OptimizerSpec, Study, WorkloadSpec, format_override, split_path


class HwspecData:
    """What an axis path is checked against: one hwspec's data.

    A file that validates as a :class:`Platform` has overrides applied to its complete dump (every
    defaulted field present) and the result re-validated, so an unknown path, a value of the wrong
    kind and an out-of-range value are all caught. With ``platforms`` (the default evaluator) a
    file that does not validate is an error here; without (an evaluator of its own that reads
    hwspecs as plain data) such a file is checked on its raw YAML for paths and kinds only, and
    the evaluator's ``check_configs`` decides the rest.
    """

    def __init__(self, path: Path, raw: dict[str, Any], platforms: bool):
        self.path = path
        self.data = raw
        self.schema: Any = None
        try:
            platform = load_platform(str(path))
        except DseError:
            if platforms:
                raise
            return  # a hand-written stand-in for an evaluator of its own
        self.data = platform.model_dump(mode="python")
        self.schema = Platform

    def has(self, path: str) -> bool:
        """Whether ``path`` names an existing field (a None section counts: it can be filled);
        ``stack.<field>`` paths are fields of the platform's software stack."""
        if self.schema is not None and path.startswith("stack."):
            # a field of the stack the platform names (a stack axis may swap the stack, but
            # every shipped stack has the same fields)
            try:
                stack = load_stack(self.data["stack"], relative_to=self.path.parent)
            except DseError:
                return False
            return exists(stack.model_dump(mode="python"), path[len("stack."):], null_is_open=True)
        return exists(self.data, path, null_is_open=True)

    def check(self, path: str, value: Any) -> None:
        override = format_override(path, value)
        if self.schema is not None and (path == "stack" or path.startswith("stack.")):
            # the stack's name or one of its fields: bind it as the evaluator will
            override_platform(self.data, [override], str(self.path))
            return
        if self.schema is not None:
            check_used(self.data, [override], self.path)
        data = apply_overrides(self.data, [override], str(self.path))
        if self.schema is not None:
            validate_spec(self.schema, data, f"{self.path} (with {path}={json.dumps(value)})")


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


def load_study(path: Path | str, platforms: bool = True) -> LoadedStudy:
    """Load, validate and cross-check a study; every problem is a one-line :class:`SpecError`.
    ``platforms``: the hwspecs must be valid platforms (see :class:`HwspecData`)."""
    path = Path(path)
    study = validate_spec(Study, load_yaml(path), path)
    return check_study(study, path, platforms)


def check_study(study: Study, path: Path | str, platforms: bool = True) -> LoadedStudy:
    """The checks that need files (module doc)."""
    return _StudyCheck(study, Path(path), platforms).run()


class _StudyCheck:
    """One pass of :func:`check_study`; ``fail`` names the study file and the field."""

    def __init__(self, study: Study, path: Path, platforms: bool) -> None:
        self.study = study
        self.path = path
        self.base = path.parent
        self.platforms = platforms
        self.specs: dict[str, Path] = {}
        self.data: dict[str, HwspecData] = {}

    def fail(self, field: str, message: str) -> SpecError:
        return SpecError(f"{self.path}: {field}: {message}")

    def run(self) -> LoadedStudy:
        models = self.models()
        self.hwspecs()
        for i, axis in enumerate(self.study.axes):
            self.axis(i, axis)
        self.baseline()
        self.workload_specs()
        self.costs()
        return LoadedStudy(self.study, self.path, models, self.specs)

    def models(self) -> dict[str, Path]:
        models: dict[str, Path] = {}
        for i, model in enumerate(self.study.models):
            try:
                models[model] = _resolve(model, MODELSPECS_DIR, "model", self.base)
                load_model_spec(models[model])
            except DseError as exc:
                raise self.fail(f"models[{i}]", str(exc)) from None
        return models

    def hwspec(self, name: str, field: str) -> HwspecData:
        if name not in self.specs:
            try:
                self.specs[name] = _resolve(name, HWSPECS_DIR, "hwspec", self.base)
                loaded = load_yaml(self.specs[name])
                if not isinstance(loaded, dict):
                    raise DseError(f"{self.specs[name]}: expected a mapping at the top level")
                self.data[name] = HwspecData(self.specs[name], loaded, self.platforms)
            except DseError as exc:
                raise self.fail(field, str(exc)) from None
        return self.data[name]

    def hwspecs(self) -> None:
        study = self.study
        self.hwspec(study.platform, "platform")
        if study.accelerator is not None:
            self.hwspec(study.accelerator, "accelerator")
        for i, axis in enumerate(study.axes):
            if axis.path not in SPEC_AXES:
                continue
            for j, name in enumerate(axis.values or []):
                if name is None and axis.path == "accelerator":
                    continue
                if not isinstance(name, str):
                    raise self.fail(f"axes[{i}].values[{j}]", f"expected a hwspec name, got {json.dumps(name)}")
                self.hwspec(name, f"axes[{i}].values[{j}]")
        self.hwspec(study.baseline_platform(), "baseline.platform")
        if study.baseline_accelerator() is not None:
            self.hwspec(study.baseline_accelerator(), "baseline.accelerator")  # type: ignore[arg-type]

    def check_hw(self, sub: str, value: Any, field: str, targets: list[str], value_field: str = "") -> None:
        for name in targets:
            try:
                self.data[name].check(sub, value)
            except DseError as exc:
                # a path that exists with a value that does not fit: point at the value
                raise self.fail(value_field if value_field and self.data[name].has(sub) else field, str(exc)) from None

    def axis(self, i: int, axis: Axis) -> None:
        namespace, sub = split_path(axis.path)
        field = f"axes[{i}].path"
        levels = axis.levels()
        probe = levels if levels is not None else [axis.sample(0.0), axis.sample(0.999999)]
        source = "values" if axis.values is not None else "range" if axis.range else "logrange"
        value_fields = [f"axes[{i}].{source}" + (f"[{j}]" if axis.values is not None else "") for j in range(len(probe))]
        if namespace == "platform":
            for v, vf in zip(probe, value_fields):
                self.check_hw(sub, v, field, self.study.point_platforms(), vf)
        elif namespace == "accel":
            accelerators = self.study.accelerators()
            if None in accelerators:
                raise self.fail(field, f"'{axis.path}' targets the accelerator, but some configurations have none "
                                       "(set accelerator, and no null in an accelerator axis)")
            for v, vf in zip(probe, value_fields):
                self.check_hw(sub, v, field, [a for a in accelerators if a is not None], vf)
        elif namespace in ("workload", "optimizer"):
            self.settings_axis(i, axis, namespace, sub, probe)

    def settings_axis(self, i: int, axis: Axis, namespace: str, sub: str, probe: list[Any]) -> None:
        schema = WorkloadSpec if namespace == "workload" else OptimizerSpec
        if "." in sub or sub not in schema.model_fields:
            raise self.fail(f"axes[{i}].path",
                            f"unknown path '{axis.path}': {namespace} has fields {', '.join(schema.model_fields)}")
        current = getattr(self.study, namespace).model_dump()
        for v in probe:
            try:
                schema.model_validate({**current, sub: v})
            except ValidationError as exc:
                raise self.fail(f"axes[{i}].values", validation_message(axis.path, exc)) from None

    def baseline(self) -> None:
        study = self.study
        for key, value in study.baseline.set.items():
            namespace, sub = split_path(key)
            field = f"baseline.set.{key}"
            if namespace == "platform":
                self.check_hw(sub, value, field, [study.baseline_platform()])
            elif namespace == "accel":
                acc = study.baseline_accelerator()
                if acc is None:
                    raise self.fail(field, "the baseline has no accelerator to override")
                self.check_hw(sub, value, field, [acc])
            else:
                raise self.fail(field, "the baseline overrides hardware only (platform or accel. paths)")

    def workload_specs(self) -> None:
        """The size and locality specs of the workload and of its axes parse (files are read)."""
        study = self.study
        checks = [("workload.sizes", study.workload.sizes, parse_sizes),
                  ("workload.locality", study.workload.locality, parse_locality)]
        for i, axis in enumerate(study.axes):
            target = split_path(axis.path)
            parser = {("workload", "sizes"): parse_sizes, ("workload", "locality"): parse_locality}.get(target)
            if parser is not None:
                # the schema turns a bare number into zipf:ALPHA, as the configuration will
                values = [WorkloadSpec.model_validate({**study.workload.model_dump(), target[1]: v}).model_dump()[target[1]]
                          for v in axis.levels() or []]
                checks += [(f"axes[{i}].values[{j}]", v, parser) for j, v in enumerate(values)]
        for field, spec, parser in checks:
            try:
                parser(spec)
            except DseError as exc:
                raise self.fail(field, str(exc)) from None

    def costs(self) -> None:
        study = self.study
        if study.cost is None:
            return
        needed = list(study.platforms()) + [a for a in study.accelerators() if a is not None]
        if study.baseline_accelerator() is not None:
            needed.append(study.baseline_accelerator())  # type: ignore[arg-type]
        for name in needed:
            if name not in study.cost:
                raise self.fail("cost", f"no cost for hwspec '{name}' (costs given: {', '.join(study.cost)})")
