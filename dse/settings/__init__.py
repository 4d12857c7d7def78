"""Settings: every default, range and help text of the serving model, the optimiser and the curve
grid, once.

This package is the single home of the defaults and ranges that the study schema
(:mod:`dse.specs.study`), the CLI options (:mod:`dse.commands`) and the library calls
(:func:`dse.sched.optimize`, :class:`dse.serve.api.PointEvaluator`) share. Each field is a plain
:class:`Setting` (default, range, help) in one of the tables below; the typed pydantic models of
:mod:`dse.settings.models` build their fields from these tables. A study's ``workload:`` and
``optimizer:`` sections *are* those models (plus the SLA and engine count), a CLI option takes its
default and help text from the table, and a library call takes the model object.

The tables are plain Python so that the CLI can show its options without importing pydantic
(about 0.2 s of start-up, issue #17); the models (and pydantic) load on first use of one of their
names (``from dse.settings import WorkloadSettings`` still works).

Layer: just above :mod:`dse.paths`; it imports nothing of ``dse`` but :mod:`dse.errors`, so every
package can use it.

- :class:`WorkloadSettings` (:data:`WORKLOAD`): what is served, the query-size distribution and the
  locality of the embedding index stream (a property of the workload, not of the hardware).
- :class:`SimulationSettings` (:data:`SIMULATION`): how one load point is simulated (method,
  simulated queries, warm-up).
- :class:`OptimizerSettings` (:data:`OPTIMIZER`): DeepRecSched's search lists, its baseline and how
  it evaluates a policy.
- :class:`CurveGrid` (:data:`CURVE_GRID`): the batch sizes on which the optimiser's service curves
  are computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

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


@dataclass(frozen=True)
class Setting:
    """One field of a settings model: its default, its range and its help text. ``ge``/``gt``/
    ``le``/``lt`` bound a number, ``min_length``/``max_length`` a text or a list (None: no bound)."""

    default: Any
    help: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_length: int | None = None
    max_length: int | None = None

    def bounds(self) -> dict[str, float]:
        """The bounds that are set, by name (what :func:`pydantic.Field` takes)."""
        names = ("ge", "gt", "le", "lt", "min_length", "max_length")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


#: :class:`WorkloadSettings`: the served load.
WORKLOAD: dict[str, Setting] = {
    "sizes": Setting(DEFAULT_SIZES, "Query sizes: lognormal:MU,SIGMA | normal:MEAN,SD | fixed:N | file:PATH | heavytail.",
                     min_length=1),
    "locality": Setting(DEFAULT_LOCALITY, "Embedding index stream: uniform | zipf:ALPHA | file:PATH (one index per line).",
                        min_length=1),
    "seed": Setting(0, "Seed of the simulated arrivals, sizes and jitter.", ge=0),
}

#: :class:`SimulationSettings`: how one load point is evaluated (``dse serve``, ``dse capacity``).
SIMULATION: dict[str, Setting] = {
    "method": Setting("des", "des (exact simulation) or analytic (approximation)."),
    "queries": Setting(100_000, "Simulated queries per load point (des).", ge=MIN_QUERIES, le=MAX_QUERIES),
    "warmup": Setting(0.1, "Fraction of the simulated queries dropped as warm-up.", ge=0.0, lt=1.0),
}

#: :class:`OptimizerSettings`: DeepRecSched's lists, its static baseline, how a policy is evaluated.
#: The entries of ``batches`` and ``thresholds`` and ``baseline_batch`` are query sizes
#: (1..MAX_QUERY_SIZE: a larger sub-batch or threshold means the same as MAX_QUERY_SIZE).
OPTIMIZER: dict[str, Setting] = {
    "batches": Setting(DEFAULT_BATCHES, "Batch sizes b to walk, in order.", min_length=1, max_length=MAX_QUERY_SIZE),
    "thresholds": Setting(DEFAULT_THRESHOLDS, "Offload thresholds Q to walk, in order.",
                          min_length=1, max_length=MAX_QUERY_SIZE),
    "baseline_batch": Setting(DEFAULT_BASELINE_BATCH, "b of the static baseline (no offload)."),
    "method": Setting("analytic", "analytic (vectorised search) or des (simulator per capacity)."),
    "queries": Setting(20_000, "Simulated queries per load point when method is des.", ge=MIN_QUERIES, le=MAX_QUERIES),
    "stop_tol": Setting(0.0, "A walk stops only on a throughput drop larger than this fraction (0: any drop).",
                        ge=0.0, lt=1.0),
}

#: :class:`CurveGrid`: every batch size up to ``dense``, then geometric steps of ``ratio``.
CURVE_GRID: dict[str, Setting] = {
    "dense": Setting(16, "Every batch size up to this one is computed exactly."),
    "ratio": Setting(2 ** 0.25, "Geometric step of the grid above dense.", ge=1.0, le=16.0),
}

#: The pydantic side (:mod:`dse.settings.models`), loaded on first use of one of these names:
#: importing pydantic costs about 0.2 s, which every CLI command would otherwise pay before it
#: parses its options.
_MODELS = frozenset({"StrictModel", "refuse_bool", "WorkloadSettings", "SimulationSettings", "OptimizerSettings",
                     "CurveGrid", "QuerySize", "EngineCount"})

if TYPE_CHECKING:
    from dse.settings.models import (CurveGrid, EngineCount, OptimizerSettings, QuerySize, SimulationSettings,
                                     StrictModel, WorkloadSettings, refuse_bool)


def __getattr__(name: str) -> Any:
    """``dse.settings.WorkloadSettings`` and the other pydantic names: from :mod:`dse.settings.models`."""
    if name in _MODELS:
        from dse.settings import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
