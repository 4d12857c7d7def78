"""``path.to.field=value`` overrides on nested dicts (``dse predict --set``, study sweeps).

The path walks mappings by key and lists by index (``caches[1].size_mib=64``, ``a.b[0].c=1``;
:mod:`dse.specs.fieldpath` does the walking).
The value is parsed as a YAML scalar (``true``, ``null``, ``2.5``, ``1e9``, ``[1, 2]``); a value
that YAML reads as a string but Python reads as a number (``1e9``, which YAML 1.1 keeps as a
string) becomes that number.

Only fields that already exist can be set, so a typo fails instead of being silently ignored.
Apply overrides to a *complete* dump of a validated spec (``model.model_dump()``), where every
field with a default is present; a ``null`` section (an optional part that is absent) may be
filled field by field, and the schema then supplies its other defaults (a hardware platform
refuses this: :func:`dse.specs.hardware.check_used`, since no part of the model reads a section
the platform does not have). Types are checked
against the value being replaced; ranges (``> 0``) are left to the schema's re-validation.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

from dse.errors import SpecError
from dse.specs.fieldpath import FieldPathError, locate, parse_path, render_path
from dse.specs.loading import parse_yaml

__all__ = ["apply_override", "apply_overrides", "parse_value"]


#: A plain decimal integer (no leading zero: YAML 1.1 reads ``010`` as octal) and a plain decimal
#: number with a point or an exponent: YAML (then the float fallback below) and Python read these
#: alike, so they skip the YAML parser (a sweep parses one value per override per configuration;
#: tests/test_hardware_overrides.py checks the two agree).
_PLAIN_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_PLAIN_FLOAT = re.compile(r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?")


def parse_value(text: str) -> Any:
    """Parse an override value as YAML; ``1e9`` and ``.5`` become floats."""
    if _PLAIN_INT.fullmatch(text):
        return int(text)
    if _PLAIN_FLOAT.fullmatch(text) and any(c in text for c in ".eE"):
        return float(text)
    try:
        value = parse_yaml(text)
    except yaml.YAMLError:
        return text  # not valid YAML: keep it as a plain string and let the schema judge it
    if isinstance(value, str):
        try:
            return float(value) if value.strip() and not value.strip().isalpha() else value
        except ValueError:
            return value
    return value


def _type_error(new: Any, old: Any) -> str | None:
    """Why ``new`` cannot replace ``old``, or None when the kinds agree (numbers, text, flags)."""
    if old is None:
        return None  # an unset optional field: the schema decides
    if isinstance(old, bool):
        return None if isinstance(new, bool) else f"expected true or false, got {new!r}"
    if isinstance(old, (int, float)):
        ok = isinstance(new, (int, float)) and not isinstance(new, bool)
        return None if ok else f"expected a number, got {new!r}"
    if isinstance(old, str):
        return None if isinstance(new, (str, int, float)) and not isinstance(new, bool) else f"expected text, got {new!r}"
    if isinstance(old, dict):
        return None if isinstance(new, dict) else "is a section, not a single value (set one of its fields)"
    if isinstance(old, list):
        return None if isinstance(new, list) else "is a list (set one entry, e.g. [0], or give a [..] list)"
    return None


def apply_override(data: dict[str, Any], assignment: str, source: str) -> dict[str, Any]:
    """Apply one ``path=value`` to ``data`` in place and return it (see :func:`apply_overrides`)."""
    where = f"{source}: --set {assignment}"
    if "=" not in assignment:
        raise SpecError(f"{where}: expected path.to.field=value")
    path_text, value_text = assignment.split("=", 1)
    path_text = path_text.strip()
    try:
        parts = parse_path(path_text)
    except FieldPathError as exc:
        raise SpecError(f"{source}: --set {path_text}: {exc}") from None
    value = parse_value(value_text.strip())
    field = render_path(parts)
    try:
        container, key = locate(data, parts, fill="null")
    except FieldPathError as exc:
        raise SpecError(f"{source}: {field}: {exc}") from None
    problem = _type_error(value, container.get(key) if isinstance(container, dict) else container[key])
    if problem:
        raise SpecError(f"{source}: {field}: {problem}")
    container[key] = value
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str] | None, source: str) -> dict[str, Any]:
    """Return a deep copy of ``data`` with every ``path.to.field=value`` in ``overrides`` applied.

    ``source`` names the spec file in error messages. An unknown path, an out-of-range index or
    a value of the wrong kind raises a one-line :class:`~dse.errors.SpecError` naming the file
    and the field; applying the overrides in order means a later one wins.
    """
    out = _copy(data)
    for assignment in overrides or []:
        apply_override(out, assignment, source)
    return out


def _copy(value: Any) -> Any:
    """A deep copy of a spec dump (dicts, lists and immutable scalars; anything else through
    :func:`copy.deepcopy`), several times faster than ``copy.deepcopy`` on the whole tree."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    return copy.deepcopy(value)
