"""The typed settings models (pydantic), built from the plain tables of :mod:`dse.settings`.

Every default, range and help text comes from a :class:`dse.settings.Setting` of those tables (one
home); what lives here is the type of each field, the checks that are more than a range (distinct
list entries, booleans refused, the Zipf shorthand) and :class:`StrictModel`, the base of every
input schema. Loaded on first use (pydantic costs about 0.2 s to import): ``dse.settings`` hands
these names out lazily.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from dse.settings import CURVE_GRID, MAX_ENGINES, MAX_QUERY_SIZE, OPTIMIZER, SIMULATION, WORKLOAD, Method, Setting

#: A batch size or offload threshold: a query holds at most MAX_QUERY_SIZE items, so a larger
#: sub-batch or threshold means the same as MAX_QUERY_SIZE.
QuerySize = Annotated[int, Field(ge=1, le=MAX_QUERY_SIZE)]
#: An engine count (CPU workers, co-located engines).
EngineCount = Annotated[int, Field(ge=1, le=MAX_ENGINES)]


def _field(table: dict[str, Setting], name: str) -> Any:
    """The pydantic field of ``table[name]``: its default, range and help text."""
    setting = table[name]
    return Field(setting.default, description=setting.help, **setting.bounds())


def refuse_bool(model: type[BaseModel], value: Any, field: str | None) -> Any:
    """A ``before`` check for every field of a model: YAML reads ``yes``/``true`` as booleans,
    which pydantic's lax mode would take as the number 1 (``workers: true``); only a field that is
    a flag may hold one."""
    if isinstance(value, bool) and field is not None:
        annotation = model.model_fields[field].annotation
        if annotation is not bool and bool not in typing.get_args(annotation):
            raise ValueError(f"should be a number or text, not {str(value).lower()}")
    return value


class StrictModel(BaseModel):
    """The base of every input schema (settings, studies, spec sections): unknown fields, NaN,
    infinity and booleans given for numbers are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool(cls, value: Any, info: ValidationInfo) -> Any:
        return refuse_bool(cls, value, info.field_name)


class _Settings(StrictModel):
    # defer_build: the validators are built on first use, not when a module that names the model
    # is imported (a study that never builds a CurveGrid does not pay for its schema)
    model_config = ConfigDict(frozen=True, defer_build=True)


class WorkloadSettings(_Settings):
    """The served load: query sizes and the locality of the embedding indices (:data:`dse.settings.WORKLOAD`)."""

    sizes: str = _field(WORKLOAD, "sizes")
    locality: str = _field(WORKLOAD, "locality")
    seed: int = _field(WORKLOAD, "seed")

    @field_validator("locality", mode="before")
    @classmethod
    def _alpha_shorthand(cls, value: object) -> object:
        """A bare number is a Zipf exponent (sweep axes vary numbers): 1.05 -> ``zipf:1.05``."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"zipf:{value:g}"
        return value


class SimulationSettings(_Settings):
    """How one load point is evaluated (``dse serve``, ``dse capacity``; :data:`dse.settings.SIMULATION`)."""

    method: Method = _field(SIMULATION, "method")
    queries: int = _field(SIMULATION, "queries")
    warmup: float = _field(SIMULATION, "warmup")


class OptimizerSettings(_Settings):
    """DeepRecSched: the lists it walks, its static baseline, and how a policy is evaluated
    (:data:`dse.settings.OPTIMIZER`)."""

    batches: tuple[QuerySize, ...] = _field(OPTIMIZER, "batches")
    thresholds: tuple[QuerySize, ...] = _field(OPTIMIZER, "thresholds")
    baseline_batch: QuerySize = _field(OPTIMIZER, "baseline_batch")
    method: Method = _field(OPTIMIZER, "method")
    queries: int = _field(OPTIMIZER, "queries")
    stop_tol: float = _field(OPTIMIZER, "stop_tol")

    @field_validator("batches", "thresholds")
    @classmethod
    def _distinct(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(values)) != len(values):
            raise ValueError("duplicate entries")
        return values


class CurveGrid(_Settings):
    """Batch sizes of the optimiser's service curves: every size up to ``dense``, then geometric
    steps of ``ratio`` up to the largest size needed (``ratio = 1``: every integer size;
    :data:`dse.settings.CURVE_GRID`)."""

    dense: QuerySize = _field(CURVE_GRID, "dense")
    ratio: float = _field(CURVE_GRID, "ratio")


#: Each model and the table its fields come from (every field has an entry, every entry a field).
TABLES: dict[type[BaseModel], dict[str, Setting]] = {
    WorkloadSettings: WORKLOAD, SimulationSettings: SIMULATION, OptimizerSettings: OPTIMIZER, CurveGrid: CURVE_GRID,
}
