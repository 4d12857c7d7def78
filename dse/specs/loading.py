"""YAML loading and pydantic validation that fail with one line naming the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from dse.errors import SpecError

M = TypeVar("M", bound=BaseModel)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error becomes a :class:`SpecError` with the line number."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read file ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise SpecError(f"{path}: malformed YAML{where}: {problem}") from None
    if data is None:
        raise SpecError(f"{path}: file is empty")
    return data


def format_location(loc: tuple[Any, ...]) -> str:
    """``('tables', 0, 'rows')`` -> ``tables[0].rows``; pydantic's union tags are dropped."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and (part.startswith("function-") or "[" in part):
            continue  # discriminated-union and validator tags, not user-facing field names
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def validation_message(path: Path | str, exc: ValidationError) -> str:
    """One line for the first validation error, with a count of the others."""
    errors = exc.errors()
    first = errors[0]
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    location = format_location(tuple(first["loc"]))
    if location == "(top level)" and first["type"] == "value_error":
        return f"{path}: {msg}{more}"  # cross-field checks put the field path in the message
    return f"{path}: {location}: {msg}{more}"


def validate_spec(schema: type[M], data: Any, path: Path | str) -> M:
    """Validate ``data`` against ``schema``; errors become one-line :class:`SpecError`."""
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise SpecError(validation_message(path, exc)) from None
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
