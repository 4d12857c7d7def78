"""Dotted field paths into nested dicts and lists: ``"caches[1].size_mib"``, ``"a.b[0].c"``.

The one walker behind ``--set`` overrides, the ``sources`` of hardware specs, study axis paths and
writing calibrated specs. A path walks mappings by key and lists by index (negative indices count
from the end). A step that cannot be taken raises :class:`FieldPathError`, whose message says why
in words a user can act on (``index [5] out of range (caches has 3 entries)``, ``unknown field
'clock' (did you mean 'clock_ghz'? known: ...)``); callers prefix it with the file and the field.
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import Any, Literal

Part = str | int
#: What :func:`locate` may create on its way (see there).
Fill = Literal["none", "null", "any"]

_SEGMENT = re.compile(r"^(?P<key>[^\[\]]+)?(?P<idx>(\[-?\d+\])*)$")


class FieldPathError(ValueError):
    """A path that is malformed, or that cannot be followed through the data."""


def parse_path(path: str) -> list[Part]:
    """``"a.b[0].c"`` -> ``["a", "b", 0, "c"]``; raises :class:`FieldPathError` (a ``ValueError``)."""
    return list(_parsed(path))


@functools.lru_cache(maxsize=4096)
def _parsed(path: str) -> tuple[Part, ...]:
    """:func:`parse_path` memoised (a sweep applies the same few paths to every configuration)."""
    if not path or path.strip() != path:
        raise FieldPathError("empty path or stray spaces")
    parts: list[Part] = []
    for chunk in path.split("."):
        match = _SEGMENT.match(chunk)
        if not chunk or match is None or (match["key"] is None and not parts):
            raise FieldPathError(f"malformed path segment '{chunk}'")
        if match["key"] is not None:
            parts.append(match["key"])
        parts.extend(int(i) for i in re.findall(r"\[(-?\d+)\]", match["idx"]))
    return tuple(parts)


def render_path(parts: list[Part]) -> str:
    """``["a", "b", 0, "c"]`` -> ``"a.b[0].c"`` (the inverse of :func:`parse_path`)."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def is_within(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or a field below it (``compute.gemm.m_half`` is within ``compute``)."""
    return path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")


def _check_step(container: Any, part: Part, here: str, allow_absent: bool = False) -> None:
    """Raise :class:`FieldPathError` unless ``part`` can be taken from ``container`` (at ``here``)."""
    if isinstance(part, int):
        if not isinstance(container, list):
            raise FieldPathError(f"{here} is not a list, cannot index [{part}]")
        if not -len(container) <= part < len(container):
            raise FieldPathError(f"index [{part}] out of range ({here} has {len(container)} entries)")
        return
    if not isinstance(container, dict):
        raise FieldPathError(f"{here} is a single value, it has no field '{part}'")
    if part not in container and not allow_absent:
        known = [str(k) for k in container]
        close = difflib.get_close_matches(part, known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise FieldPathError(f"unknown field '{part}' ({hint}known: {', '.join(known) or 'none'})")


def locate(data: Any, parts: list[Part], *, fill: Fill = "none") -> tuple[Any, Part]:
    """The container that holds the field at ``parts``, and the field's key or index in it.

    ``fill`` says what may be missing on the way (a section is created as ``{}`` when the next
    part is a key):

    - ``"none"``: nothing; every part must exist;
    - ``"null"``: a null section may be filled, and inside a filled section any field may be new
      (overrides of a complete dump, where a null section is an absent optional part);
    - ``"any"``: absent or null sections and fields may be created (a raw YAML file, where fields
      left to their defaults are not written).
    """
    if not parts:
        raise FieldPathError("empty path")
    cur = data
    open_section = fill == "any"  # below a created section every field is new
    for depth, part in enumerate(parts):
        _check_step(cur, part, render_path(parts[:depth]) or "(top level)", allow_absent=open_section)
        if depth == len(parts) - 1:
            break
        if fill != "none" and isinstance(cur, dict) and cur.get(part) is None and not isinstance(parts[depth + 1], int):
            cur[part] = {}
            open_section = True
        cur = cur.get(part) if isinstance(cur, dict) else cur[part]
    return cur, parts[-1]


def _parts(path: str | list[Part]) -> list[Part]:
    return parse_path(path) if isinstance(path, str) else list(path)


def get(data: Any, path: str | list[Part]) -> Any:
    """The value at ``path``; raises :class:`FieldPathError` when it does not exist."""
    container, key = locate(data, _parts(path))
    return container[key]


def get_number(data: Any, path: str | list[Part]) -> float:
    """The number at ``path`` as a float."""
    return float(get(data, path))


def set_value(data: Any, path: str | list[Part], value: Any, *, create: bool = False) -> None:
    """Set the field at ``path`` in place. It must exist unless ``create`` (then absent or null
    sections on the way, and the field itself, are created: see ``fill="any"`` of :func:`locate`)."""
    container, key = locate(data, _parts(path), fill="any" if create else "none")
    container[key] = value


def exists(data: Any, path: str, *, null_is_open: bool = False) -> bool:
    """Whether ``path`` is well formed and names a field of ``data``.

    With ``null_is_open`` a path that runs into a null section counts as existing (an absent
    optional section that an override may fill).
    """
    try:
        parts = parse_path(path)
    except FieldPathError:
        return False
    cur = data
    for part in parts:
        if cur is None and null_is_open:
            return True
        try:
            _check_step(cur, part, "")
        except FieldPathError:
            return False
        cur = cur[part]
    return True


def source_of(sources: dict[str, str], path: str) -> str:
    """The provenance of the number at ``path`` in a spec's ``sources`` map: the entry of the
    longest path that covers it (``compute`` covers ``compute.clock_ghz``), else "schema default"."""
    best, best_len = "schema default", -1
    for key, text in sources.items():
        if is_within(path, key) and len(key) > best_len:
            best, best_len = text, len(key)
    return best


def null_section(data: Any, path: str) -> str | None:
    """The first section on ``path`` above its last field that is null in ``data`` (an optional
    part the spec leaves out), as a path; None when there is none or the path leaves the data
    before reaching one (malformed or unknown: the override code names that)."""
    try:
        parts = parse_path(path)
    except FieldPathError:
        return None
    cur = data
    for i, part in enumerate(parts[:-1]):
        try:
            _check_step(cur, part, "")
        except FieldPathError:
            return None
        cur = cur[part]
        if cur is None:
            return render_path(parts[: i + 1])
    return None


def leaves(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(path, value)`` of every scalar in ``data`` (anything that is not a dict or a list), in order."""
    out: list[tuple[str, Any]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            out += leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += leaves(value, f"{prefix}[{i}]")
    else:
        out.append((prefix, data))
    return out


def is_number(value: Any) -> bool:
    """Whether ``value`` is a number (booleans are flags, not numbers)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numeric_leaves(data: Any) -> list[str]:
    """Paths of every number in ``data``, in order."""
    return [path for path, value in leaves(data) if is_number(value)]
