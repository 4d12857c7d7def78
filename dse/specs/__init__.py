"""Pydantic schemas for the YAML inputs, and loading with file + field in every error."""

from dse.specs.loading import load_yaml, validate_spec
from dse.specs.model import ModelSpec, load_model_spec

__all__ = ["ModelSpec", "load_model_spec", "load_yaml", "validate_spec"]
