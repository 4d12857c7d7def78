"""YAML loading and pydantic validation that fail with one line naming the file and the field.

Every problem becomes a :class:`~dse.errors.SpecError` whose message is a single line
``FILE: FIELD: what is wrong (got VALUE)``, e.g.
``modelspecs/x.yaml: tables[0].rows: should be greater than 0 (got 0)``.

Pydantic's error locations contain internal tags that are not field names: the tag of a
discriminated union (``blocks.0.mlp.layers``), the member of a plain union
(``rows.constrained-int``, ``rows.list[constrained-int].0``) and validator wrappers
(``function-after[...]``). :func:`format_location` walks the location along the input data and
drops every part that is not a key or an index of that data, so the user sees
``blocks[0].layers`` and ``tables[0].rows[0]``. A union that fails in every member reports one
error per member; only the member that got furthest into the data is shown.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from dse.errors import SpecError

M = TypeVar("M", bound=BaseModel)

_MISSING = object()


def _unique_mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> Any:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            continue  # an unhashable key: construct_mapping names it
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}' (first at line {seen[key].line + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=deep)


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader that refuses a mapping with the same key twice (PyYAML keeps the last one),
    on libyaml's C parser where PyYAML has it (5-10x faster: start-up of dse hardware, sweeps)."""


class _UniqueKeyPyLoader(yaml.SafeLoader):
    """The same on the pure-Python parser, which words the errors (the same messages everywhere)."""


for _loader in (_UniqueKeyLoader, _UniqueKeyPyLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (every spec, study and ``study.yaml`` read)."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return yaml.load(text, Loader=_UniqueKeyPyLoader)  # noqa: S506 - the error, worded by the Python parser


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error or a duplicate key becomes a :class:`SpecError` with the
    line number."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text file (invalid UTF-8)") from None
    try:
        data = parse_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SpecError(f"{path}: malformed YAML{where}: {problem}") from None
    if data is None:
        raise SpecError(f"{path}: file is empty")
    return data


#: Names pydantic gives the members of a plain union (``x: float | dict[str, float]``).
_TYPE_TAGS = {"int", "float", "str", "bool", "bytes", "none", "dict", "list", "set", "tuple", "decimal", "any"}


def _is_internal_tag(part: Any) -> bool:
    """Whether a location part is one of pydantic's own tags rather than a field name."""
    return isinstance(part, str) and (
        part.startswith(("function-", "constrained-", "tagged-union", "nullable", "lax-", "json-", "literal"))
        or "[" in part
        or part in _TYPE_TAGS
    )


def _walk(loc: tuple[Any, ...], data: Any, err_type: str = "") -> tuple[list[tuple[Any, bool]], int, int | None]:
    """Split ``loc`` into user-facing parts.

    Returns ``(parts, depth, first_tag)``: ``parts`` as ``(part, is_index)`` pairs, ``depth`` the
    number of parts found in ``data``, and the position in ``loc`` of the first dropped tag (or
    None).
    """
    parts: list[tuple[Any, bool]] = []
    depth = 0
    first_tag: int | None = None
    cur: Any = data
    present = data is not _MISSING
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        is_tag = False
        if not present:
            is_tag = _is_internal_tag(part)  # past the input data (a before-validator reshaped it)
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            parts.append((part, True))
            cur = cur[part]
            depth += 1
            continue
        elif isinstance(cur, dict) and part in cur:
            parts.append((part, False))
            cur = cur[part]
            depth += 1
            continue
        elif isinstance(cur, dict) and last and err_type == "missing":
            pass  # a required field that the input lacks
        elif _is_internal_tag(part):
            is_tag = True
        elif isinstance(cur, dict):
            # a discriminated union's tag is the value of the discriminator field ({kind: mlp} -> 'mlp');
            # any other name is a field that a before-validator made up from the input
            is_tag = isinstance(part, str) and part in {v for v in cur.values() if isinstance(v, str)}
        else:
            is_tag = isinstance(part, str)  # a union member's tag ('int', 'str') under a scalar or list
        if is_tag:
            if first_tag is None:
                first_tag = i
            continue
        parts.append((part, isinstance(part, int) and (not present or not isinstance(cur, dict))))
        present = False
    return parts, depth, first_tag


def _render(parts: list[tuple[Any, bool]]) -> str:
    out = ""
    for part, is_index in parts:
        if is_index:
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def format_location(loc: tuple[Any, ...], data: Any = _MISSING, err_type: str = "") -> str:
    """``('tables', 0, 'rows')`` -> ``tables[0].rows``, without pydantic's union and validator tags.

    With ``data`` (the validated input) every part that is not a key or index of the data is
    dropped; without it, parts that look like pydantic's internal tags are.
    """
    return _render(_walk(tuple(loc), data, err_type)[0])


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return [_unwrap(a) for a in typing.get_args(tp)]
    return []


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _literal_values(model: type[BaseModel]) -> set[Any]:
    values: set[Any] = set()
    for info in model.model_fields.values():
        ann = _unwrap(info.annotation)
        if typing.get_origin(ann) is typing.Literal:
            values.update(typing.get_args(ann))
    return values


def _model_at(schema: Any, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model that validates the object at ``loc`` (raw pydantic location), if known."""
    tp = _unwrap(schema)
    for part in loc:
        members = _union_members(tp)
        if members:
            chosen = None
            if isinstance(part, str):
                chosen = next((m for m in members if _is_model(m) and part in _literal_values(m)), None)
                if chosen is not None:
                    tp = chosen
                    continue  # the part was the union's tag
            lists = [m for m in members if typing.get_origin(m) is list]
            models = [m for m in members if _is_model(m)]
            if isinstance(part, int) and len(lists) == 1:
                tp = lists[0]
            elif isinstance(part, str) and len(models) == 1:
                tp = models[0]
            elif isinstance(part, str) and _is_internal_tag(part):
                continue
            else:
                return None
        if _is_model(tp):
            if isinstance(part, str) and part in tp.model_fields:
                tp = _unwrap(tp.model_fields[part].annotation)
                continue
            if _is_internal_tag(part):
                continue
            return None
        if typing.get_origin(tp) is list and isinstance(part, int):
            tp = _unwrap(typing.get_args(tp)[0])
            continue
        if _is_internal_tag(part):
            continue
        return None
    members = [m for m in _union_members(tp) if _is_model(m)]
    if len(members) == 1:
        tp = members[0]
    return tp if _is_model(tp) else None


def _shown(value: Any) -> str | None:
    """A short rendering of an offending scalar input, or None for containers and long values."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = repr(value)
        return text if len(text) <= 40 else None
    return None


def _describe(error: dict[str, Any], schema: Any) -> tuple[str, str | None]:
    """(message, extra location part) for one pydantic error, in plain words."""
    kind = error["type"]
    msg = error["msg"]
    ctx = error.get("ctx") or {}
    loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        model = _model_at(schema, loc[:-1]) if schema is not None else None
        if model is None:
            return "unknown field", None
        allowed = list(model.model_fields)
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown field ({hint}allowed: {', '.join(allowed)})", None
    if kind == "missing":
        return "required field is missing", None
    if kind == "union_tag_invalid":
        field = str(ctx.get("discriminator", "kind")).strip("'")
        expected = str(ctx.get("expected_tags", "")).replace("'", "")
        return f"unknown {field} '{ctx.get('tag')}' (expected one of: {expected})", field
    if kind == "union_tag_not_found":
        field = str(ctx.get("discriminator", "kind")).strip("'")
        return "required field is missing (it selects which kind of entry this is)", field
    if kind == "string_pattern_mismatch":
        msg = "should be a name made of letters, digits and underscores, not starting with a digit"
    elif kind in ("value_error", "assertion_error"):
        msg = re.sub(r"^(Value error|Assertion failed), ", "", msg)
        return msg, None
    else:
        # "Input should be ...", "List should have ...", "String should ...": the location already
        # says what the input is
        msg = re.sub(r"^(Input|List|String|Dictionary|Tuple|Set|Value|Float|Integer|Decimal) should ", "should ", msg)
        msg = msg.replace(" after validation", "")
    shown = _shown(error.get("input"))
    if shown is not None:
        msg += f" (got {shown})"
    return msg, None


def validation_message(
    path: Path | str, exc: ValidationError, data: Any = _MISSING, schema: Any = None
) -> str:
    """One line for the first problem, with a count of the others.

    ``data`` (the validated input) lets union and validator tags be told from field names;
    ``schema`` (the model class) lets an unknown field be answered with the allowed ones.
    """
    errors = exc.errors(include_url=False)
    # Errors from the members of one failing union share a location prefix up to the first tag;
    # they describe one problem, so group them and show the member that got deepest into the data.
    groups: dict[tuple[Any, ...], list[tuple[int, dict[str, Any]]]] = {}
    for i, error in enumerate(errors):
        loc = tuple(error["loc"])
        parts, depth, first_tag = _walk(loc, data, error["type"])
        key = ("union", *loc[:first_tag]) if first_tag is not None else ("error", i)
        groups.setdefault(key, []).append((depth, error))
    first_group = next(iter(groups.values()))
    best = max(first_group, key=lambda item: item[0])[1]  # max keeps the first of equal depths
    msg, extra = _describe(best, schema)
    parts, _, _ = _walk(tuple(best["loc"]), data, best["type"])
    if extra:
        parts.append((extra, False))
    location = _render(parts)
    others = len(groups) - 1
    more = f" (and {others} more error{'s' if others > 1 else ''})" if others else ""
    if location == "(top level)" and best["type"] == "value_error":
        return f"{path}: {msg}{more}"  # cross-field checks put the field path in the message
    return f"{path}: {location}: {msg}{more}"


def validate_spec(schema: type[M], data: Any, path: Path | str) -> M:
    """Validate ``data`` against ``schema``; errors become one-line :class:`SpecError`."""
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of fields at the top level, got a {_type_name(data)}")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise SpecError(validation_message(path, exc, data, schema)) from None
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def _type_name(value: Any) -> str:
    names = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}
    return names.get(type(value), type(value).__name__)
