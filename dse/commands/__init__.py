"""CLI command groups; shared helpers for one-line errors and output."""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable, TypeVar

import typer

from dse.errors import DseError

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(fn: F) -> F:
    """Turn a :class:`DseError` into ``error: <one line>`` on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DseError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_json(payload: Any) -> None:
    """Write one JSON object to stdout."""
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


def parse_int_list(text: str, option: str) -> list[int]:
    """``"1,16,256"`` -> ``[1, 16, 256]``; non-positive or non-integer entries are a DseError."""
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise DseError(f"{option}: '{part}' is not an integer") from None
        if value <= 0:
            raise DseError(f"{option}: {value} must be positive")
        values.append(value)
    if not values:
        raise DseError(f"{option}: empty list")
    return values


S = TypeVar("S")


def build_settings(cls: type[S], options: dict[str, str], **values: Any) -> S:
    """``cls(**values)`` for a settings model of :mod:`dse.settings`; a value out of its range is
    a :class:`DseError` naming the CLI option (``options`` maps field -> option)."""
    from pydantic import ValidationError

    try:
        return cls(**values)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        raise DseError(f"{options.get(field, field)}: {error['msg']} (got {error.get('input')!r})") from None


def option_help(cls: Any, field: str) -> str:
    """The help text of a settings field (its description in :mod:`dse.settings`)."""
    return str(cls.model_fields[field].description or "")


def option_default(cls: Any, field: str) -> Any:
    """The default of a settings field, as a CLI option shows it (lists joined by commas)."""
    value = cls.model_fields[field].default
    return ",".join(map(str, value)) if isinstance(value, tuple) else value
