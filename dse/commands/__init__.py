"""CLI command groups; shared helpers for one-line errors and output."""

from __future__ import annotations

import functools
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import typer

from dse.errors import DseError
from dse.settings import Setting

if TYPE_CHECKING:  # rich loads on first output, not at start-up (about 0.07 s)
    from rich.console import Console
    from rich.table import Table

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


def _reason(value: Any) -> str | None:
    """Why a number cannot be JSON: ``not a number``, ``infinite``, ``-infinite``; None if it can."""
    if isinstance(value, float) and not math.isfinite(value):
        return "not a number" if math.isnan(value) else ("infinite" if value > 0 else "-infinite")
    return None


def finite_json(payload: Any) -> Any:
    """``payload`` with every NaN or infinity replaced by ``null``; a mapping that held one gains
    ``null_reasons: {field: "not a number" | "infinite" | "-infinite"}`` (JSON has no NaN).
    numpy scalars and arrays become plain numbers and lists first."""
    if hasattr(payload, "tolist"):
        payload = payload.tolist()
    if isinstance(payload, dict):
        out = {key: finite_json(value) for key, value in payload.items()}
        reasons = {str(key): r for key, value in payload.items() if (r := _reason(_plain(value))) is not None}
        if reasons:
            out["null_reasons"] = {**(payload.get("null_reasons") or {}), **reasons}
        return out
    if isinstance(payload, (list, tuple)):
        return [finite_json(value) for value in payload]
    return None if _reason(payload) is not None else payload


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def rich_console(width: int) -> Console:
    """A rich console of ``width`` columns for a command's tables."""
    from rich.console import Console

    return Console(width=width)


def rich_table(*columns: str, **options: Any) -> Table:
    """A rich table with ``columns`` (``options``: title, ...)."""
    from rich.table import Table

    return Table(*columns, **options)


def print_json(payload: Any) -> None:
    """Write one JSON object to stdout; NaN and infinities become null (:func:`finite_json`)."""
    sys.stdout.write(json.dumps(finite_json(payload), indent=2, allow_nan=False) + "\n")


def check_range(value: Any, option: str, low: float, high: float, why: str = "") -> None:
    """Refuse an option's number outside ``[low, high]`` (or not finite) with the limit named;
    ``why`` says where the upper limit comes from."""
    if value is None:
        return
    if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
        reason = f" ({why})" if why else ""
        raise DseError(f"{option}: {value} must be between {low:g} and {high:g}{reason}")


#: Largest batch ``dse predict`` and ``dse graph`` cost (items): the per-operator arrays scale with it.
MAX_PREDICT_BATCH = 1_000_000


def parse_int_list(text: str, option: str, maximum: int | None = None) -> list[int]:
    """``"1,16,256"`` -> ``[1, 16, 256]``; non-positive or non-integer entries (or entries above
    ``maximum``) are a DseError."""
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise DseError(f"{option}: '{part}' is not an integer") from None
        if value <= 0:
            raise DseError(f"{option}: {value} must be positive")
        if maximum is not None and value > maximum:
            raise DseError(f"{option}: {value} is above the limit of {maximum}")
        values.append(value)
    if not values:
        raise DseError(f"{option}: empty list")
    return values


def read_json(path: Any, option: str) -> Any:
    """Parse a JSON file given to ``option``: unreadable, undecodable or malformed text, a
    duplicate key, NaN or Infinity are one-line errors naming the option and the file."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise DseError(f"{option}: {path}: duplicate key '{key}'")
            out[key] = value
        return out

    def no_constant(name: str) -> Any:
        raise DseError(f"{option}: {path}: {name} is not a number JSON allows")

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DseError(f"{option}: cannot read {path} ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise DseError(f"{option}: {path} is not a text file (invalid UTF-8)") from None
    try:
        return json.loads(text, object_pairs_hook=unique, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise DseError(f"{option}: {path} is not JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise DseError(f"{option}: {path} is nested too deeply") from None


S = TypeVar("S")


def build_settings(cls: type[S], options: dict[str, str], **values: Any) -> S:
    """``cls(**values)`` for a settings model of :mod:`dse.settings.models`; a value out of its range is
    a :class:`DseError` naming the CLI option (``options`` maps field -> option)."""
    from pydantic import ValidationError

    try:
        return cls(**values)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        msg = str(error["msg"]).replace("Input should", "should").replace("Value error, ", "")
        raise DseError(f"{options.get(field, field)}: {msg} (got {error.get('input')!r})") from None


def option_help(table: dict[str, Setting], field: str) -> str:
    """The help text of a settings field (its :class:`dse.settings.Setting` in ``table``)."""
    return table[field].help


def option_default(table: dict[str, Setting], field: str) -> Any:
    """The default of a settings field, as a CLI option shows it (lists joined by commas)."""
    value = table[field].default
    return ",".join(map(str, value)) if isinstance(value, tuple) else value
