"""Typed settings: every default of the serving model, the optimiser and the curve grid, once.

These objects are the single home of the defaults and ranges that the study schema
(:mod:`dse.specs.study`), the CLI options (:mod:`dse.commands`) and the library calls
(:func:`dse.sched.optimize`, :class:`dse.serve.api.PointEvaluator`) share. A study's ``workload:``
and ``optimizer:`` sections *are* these models (plus the SLA and engine count), a CLI option takes
its default and help text from the field, and a library call takes the object.

Layer: just above :mod:`dse.paths`; it imports nothing of ``dse`` but :mod:`dse.errors`, so every
package can use it.

- :class:`WorkloadSettings`: what is served, the query-size distribution and the locality of the
  embedding index stream (a property of the workload, not of the hardware).
- :class:`SimulationSettings`: how one load point is simulated (method, simulated queries, seed,
  warm-up).
- :class:`OptimizerSettings`: DeepRecSched's search lists, its baseline and how it evaluates a
  policy.
- :class:`CurveGrid`: the batch sizes on which the optimiser's service curves are computed.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, ValidationInfo, field_validator

#: How a load point is evaluated: the exact simulator or the analytical model (docs/serving.md).
METHODS: tuple[str, ...] = ("des", "analytic")
Method = Literal["des", "analytic"]

#: The size distribution of the public DeepRecSys scripts (mean about 167 items per query).
DEFAULT_SIZES = "lognormal:5.1,0.2"
#: Largest query size of the DeepRecSys scripts (items); sizes are clipped to it.
MAX_QUERY_SIZE = 1024
#: Embedding index stream by default: uniform random indices, what DeepRecSys's synthetic inputs
#: and every measured run of data/measured (dse measure) use.
DEFAULT_LOCALITY = "uniform"
#: The index stream of RecNMP's production traces: Zipf 1.05 reproduces the paper's 24.9% hit
#: rate of an 8 KB RankCache (docs/nmp.md); ``dse nmp`` and studies/nmp.yaml use it.
RECNMP_LOCALITY = "zipf:1.05"
#: Fewest simulated queries per load point: the p95 confidence interval needs 20 batches of 50.
MIN_QUERIES = 1000
#: Most simulated queries per load point: the simulator holds about 300 bytes per query at its
#: peak (measured: 1e6 queries add 0.3 GB), so 1e7 queries need about 3 GB of memory.
MAX_QUERIES = 10_000_000
#: Most engines (CPU workers, co-located engines) of one configuration: the serving model keeps
#: per-engine state and the analytic queue sums over engines, so 1e6 engines exhaust memory or
#: time; 4096 covers every machine of a study (the largest shipped one, skylake, runs 40 engines).
MAX_ENGINES = 4096
#: Most configurations a study may expand to (models x axis levels), checked before expansion:
#: each configuration costs about a kilobyte in memory and tens of milliseconds to evaluate.
MAX_STUDY_POINTS = 1_000_000
#: DeepRecSched's published search lists (FACTS.md section 2).
DEFAULT_BATCHES: tuple[int, ...] = (512, 384, 256, 192, 128, 96, 64, 48, 32)
DEFAULT_THRESHOLDS: tuple[int, ...] = (96, 128, 192, 256, 384, 512)
#: The static policy of the public DeepRecInfra run without the scheduler
#: (run_DeepRecInfra.sh: sub_task_batch_size=32, no offload).
DEFAULT_BASELINE_BATCH = 32


#: A batch size or offload threshold: a query holds at most MAX_QUERY_SIZE items, so a larger
#: sub-batch or threshold means the same as MAX_QUERY_SIZE.
QuerySize = Annotated[int, Field(ge=1, le=MAX_QUERY_SIZE)]
#: An engine count (CPU workers, co-located engines).
EngineCount = Annotated[int, Field(ge=1, le=MAX_ENGINES)]


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
    # defer_build: the validators are built on first use, not when the CLI imports this module for
    # the options' defaults and help (start-up time)
    model_config = ConfigDict(frozen=True, defer_build=True)


class WorkloadSettings(_Settings):
    """The served load: query sizes and the locality of the embedding indices."""

    sizes: str = Field(DEFAULT_SIZES, min_length=1,
                       description="Query sizes: lognormal:MU,SIGMA | normal:MEAN,SD | fixed:N | file:PATH | heavytail.")
    locality: str = Field(DEFAULT_LOCALITY, min_length=1,
                          description="Embedding index stream: uniform | zipf:ALPHA | file:PATH (one index per line).")
    seed: NonNegativeInt = Field(0, description="Seed of the simulated arrivals, sizes and jitter.")

    @field_validator("locality", mode="before")
    @classmethod
    def _alpha_shorthand(cls, value: object) -> object:
        """A bare number is a Zipf exponent (sweep axes vary numbers): 1.05 -> ``zipf:1.05``."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"zipf:{value:g}"
        return value


class SimulationSettings(_Settings):
    """How one load point is evaluated (``dse serve``, ``dse capacity``)."""

    method: Method = Field("des", description="des (exact simulation) or analytic (approximation).")
    queries: int = Field(100_000, ge=MIN_QUERIES, le=MAX_QUERIES, description="Simulated queries per load point (des).")
    warmup: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction of the simulated queries dropped as warm-up.")


class OptimizerSettings(_Settings):
    """DeepRecSched: the lists it walks, its static baseline, and how a policy is evaluated."""

    batches: tuple[QuerySize, ...] = Field(DEFAULT_BATCHES, min_length=1, max_length=MAX_QUERY_SIZE,
                                           description="Batch sizes b to walk, in order.")
    thresholds: tuple[QuerySize, ...] = Field(DEFAULT_THRESHOLDS, min_length=1, max_length=MAX_QUERY_SIZE,
                                              description="Offload thresholds Q to walk, in order.")
    baseline_batch: QuerySize = Field(DEFAULT_BASELINE_BATCH, description="b of the static baseline (no offload).")
    method: Method = Field("analytic", description="analytic (vectorised search) or des (simulator per capacity).")
    queries: int = Field(20_000, ge=MIN_QUERIES, le=MAX_QUERIES,
                         description="Simulated queries per load point when method is des.")
    stop_tol: float = Field(0.0, ge=0.0, lt=1.0,
                            description="A walk stops only on a throughput drop larger than this fraction (0: any drop).")

    @field_validator("batches", "thresholds")
    @classmethod
    def _distinct(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(values)) != len(values):
            raise ValueError("duplicate entries")
        return values


class CurveGrid(_Settings):
    """Batch sizes of the optimiser's service curves: every size up to ``dense``, then geometric
    steps of ``ratio`` up to the largest size needed (``ratio = 1``: every integer size)."""

    dense: QuerySize = Field(16, description="Every batch size up to this one is computed exactly.")
    ratio: float = Field(2 ** 0.25, ge=1.0, le=16.0, description="Geometric step of the grid above dense.")
