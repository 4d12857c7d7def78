"""Writing a calibrated hardware spec: the base YAML with the fitted numbers and their sources.

The base file's structure is kept (its leading comment, its field order, the numbers that were
not fitted and their sources, e.g. core counts read from lscpu). Each fitted number is rounded to
4 significant digits and gets its own ``sources`` entry ``fitted: <data files>, <framework
version>`` (a section-wide entry that no longer covers any number is dropped). The result is
checked with the same loader as every shipped spec before it is written. Fitted dispatch costs
belong to the software stack: they go to ``<stem>_stack.yaml`` beside the spec, which names it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import yaml

from dse.calibrate.fit import FitResult
from dse.errors import DseError
from dse.paths import HWSPECS_DIR, resolve_spec
from dse.specs import fieldpath
from dse.specs.hardware import Platform, check_sources, load_platform
from dse.specs.loading import load_yaml, validate_spec
from dse.specs.stack import stack_path

CALIBRATED_MARK = "# calibrated:"


def _round(value: float) -> float | int:
    out = float(f"{value:.4g}")
    return out


def source_text(result: FitResult) -> str:
    """``fitted: <data files>, <framework versions>`` for the fitted numbers of ``result``."""
    files = ", ".join(result.origins) or "no data"
    fw = "; ".join(result.frameworks) or "framework unknown"
    fit = result.rows[(result.rows["set"] == "model") & (result.rows["role"] == "fit")]
    models = sorted(set(fit["model"]))
    runs = " and ".join(name for flag, name in ((1, "cold=1"), (0, "cold=0")) if (fit["cold"] == flag).any())
    scope = f" ({runs} runs of {', '.join(models)})" if models else ""
    return f"fitted: {files}{scope}, {fw} (dse calibrate)"


def _header(base_path: Path) -> list[str]:
    lines = []
    for line in base_path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith(CALIBRATED_MARK):
            lines.append(line)
    return lines


class _Dumper(yaml.SafeDumper):
    pass


def _repr_float(dumper: yaml.SafeDumper, value: float) -> yaml.Node:
    text = f"{value:.6g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        text = f"{mantissa}e{int(exp):+d}"
    elif "." not in text and "inf" not in text and "nan" not in text:
        text += ".0"
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


_Dumper.add_representer(float, _repr_float)


class _Flow(dict):
    """A small mapping of plain values, written on one line like the shipped specs do."""


class _Block(dict):
    """A mapping written one entry per line."""


_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(), flow_style=True))
_Dumper.add_representer(_Block, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(), flow_style=False))


def _styled(value: Any, top: bool = False) -> Any:
    if isinstance(value, dict):
        plain = all(not isinstance(v, (dict, list)) for v in value.values())
        short = all(not isinstance(v, str) or len(v) < 40 for v in value.values())
        inner = {k: _styled(v) for k, v in value.items()}
        return _Flow(inner) if plain and short and not top and len(value) <= 8 else _Block(inner)
    if isinstance(value, list):
        return [_styled(v) for v in value]
    return value


def calibrated_spec(result: FitResult, base: str | Path, name: str | None = None) -> tuple[str, dict[str, Any]]:
    """YAML text (and the data) of ``base`` with ``result``'s fitted numbers and sources."""
    base_path = resolve_spec(str(base), HWSPECS_DIR, "hardware")
    raw = load_yaml(base_path)
    data: dict[str, Any] = dict(raw)
    data.setdefault("sources", {})
    fitted_dump = result.fitted.model_dump(mode="python")
    text = source_text(result)
    sources: dict[str, str] = dict(data.get("sources") or {})
    all_paths = [p["path"] for p in result.params]
    # fitted framework costs belong to the software stack: written to a stack file beside the spec
    paths = [p for p in all_paths if not fieldpath.is_within(p, "dispatch")]
    for path in paths:
        # the base file omits fields left to their defaults: create them (and their sections)
        fieldpath.set_value(data, path, _round(fieldpath.get_number(fitted_dump, path)), create=True)
        sources[path] = text
    if name:
        data["name"] = name
    # a section-wide source that covers no unfitted number any more is stale: drop it
    body = {k: v for k, v in data.items() if k != "sources"}
    leaves = fieldpath.numeric_leaves(body)
    for key in list(sources):
        if key in paths:
            continue
        covered = [leaf for leaf in leaves if fieldpath.is_within(leaf, key)]
        if covered and all(any(leaf == p for p in paths) for leaf in covered):
            del sources[key]
    data["sources"] = sources
    ordered = {k: data[k] for k in ("name", "kind", "description", "sources") if k in data}
    ordered.update({k: v for k, v in data.items() if k not in ordered})
    check_sources(ordered, base_path)
    validate_spec(Platform, ordered, base_path)
    buf = io.StringIO()
    header = _header(base_path)
    models = sorted(set(result.rows.loc[(result.rows["set"] == "model") & (result.rows["role"] == "fit"), "model"]))
    header.append(
        f"{CALIBRATED_MARK} {len(all_paths)} number(s) fitted by `dse calibrate` to {', '.join(result.origins)}"
        + (f" (models: {', '.join(models)})" if models else "")
        + (f"; held out: {', '.join(result.holdout)}" if result.holdout else "")
    )
    buf.write("\n".join(header) + "\n")
    styled = _Block({k: (_Block(v) if k == "sources" else _styled(v)) for k, v in ordered.items()})
    yaml.dump(styled, buf, Dumper=_Dumper, sort_keys=False, width=200, allow_unicode=True)
    return buf.getvalue(), ordered


def calibrated_stack(result: FitResult, base: str | Path, name: str) -> dict[str, Any] | None:
    """The base platform's stack with the fitted dispatch costs as its ``platforms.NAME`` entry
    (None when no dispatch cost was fitted)."""
    fitted = [p["path"] for p in result.params if fieldpath.is_within(p["path"], "dispatch")]
    if not fitted:
        return None
    base_path = resolve_spec(str(base), HWSPECS_DIR, "hardware")
    stack_file = stack_path(result.fitted.stack, base_path.parent)
    data: dict[str, Any] = dict(load_yaml(stack_file))
    data["name"] = f"{name}_stack"
    dispatch = result.fitted.dispatch.model_dump(mode="python")
    for path in fitted:
        fieldpath.set_value(dispatch, path[len("dispatch."):], _round(fieldpath.get_number(dispatch, path[len("dispatch."):])))
    data.setdefault("platforms", {})[name] = {"dispatch": dispatch}
    sources = {k: v for k, v in (data.get("sources") or {}).items() if not fieldpath.is_within(k, f"platforms.{name}")}
    sources[f"platforms.{name}.dispatch"] = f"as {stack_file.stem} on {result.fitted.name} (not fitted)"
    for path in fitted:
        sources[f"platforms.{name}.{path}"] = source_text(result)
    data["sources"] = sources
    return data


def write_calibrated_spec(result: FitResult, base: str | Path, out: str | Path) -> Path:
    """Write the calibrated spec to ``out`` (its ``name`` becomes the file's stem) and return the
    path. Fitted dispatch costs go to a stack ``<stem>_stack.yaml`` beside it, which the spec names."""
    out = Path(out)
    if out.suffix not in (".yaml", ".yml"):
        raise DseError(f"--out: {out}: the calibrated spec must be a .yaml file")
    text, _ = calibrated_spec(result, base, name=out.stem)
    out.parent.mkdir(parents=True, exist_ok=True)
    stack = calibrated_stack(result, base, out.stem)
    if stack is not None:
        stack_out = out.with_name(f"{out.stem}_stack.yaml")
        stack_out.write_text(yaml.dump(stack, Dumper=_Dumper, sort_keys=False, width=200, allow_unicode=True))
        text = "\n".join(
            f"stack: {stack_out.name}" if line.startswith("stack:") else line for line in text.splitlines()
        ) + "\n"
    out.write_text(text)
    load_platform(str(out))  # the written file must load like any shipped spec
    return out
