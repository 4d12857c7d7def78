"""Pydantic schemas for the YAML inputs, and loading with file + field in every error.

The package imports none of its modules itself: ``dse hardware`` needs the platform schemas but not
the model schemas (each costs tens of milliseconds to define), so ``dse.specs.ModelSpec`` and the
other names below load their module on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dse.specs.loading import load_yaml, validate_spec
    from dse.specs.model import ModelSpec, load_model_spec

__all__ = ["ModelSpec", "load_model_spec", "load_yaml", "validate_spec"]

#: Where each name of ``__all__`` lives.
_HOMES = {"ModelSpec": "model", "load_model_spec": "model", "load_yaml": "loading", "validate_spec": "loading"}


def __getattr__(name: str) -> Any:
    """``dse.specs.ModelSpec`` and the other names of ``__all__``, from their module."""
    if name in _HOMES:
        from dse.specs import loading, model

        return getattr(model if _HOMES[name] == "model" else loading, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
