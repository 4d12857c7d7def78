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
