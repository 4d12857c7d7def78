"""DeepRecSched: the per-core batch size ``b`` and offload threshold ``Q`` that maximise
latency-bounded throughput (the highest Poisson arrival rate whose p95 latency meets an SLA).

As published (FACTS.md section 2; the public ``scheduler.py``):

1. **Batch size**, offload disabled: walk the batch list in its order (default
   512, 384, 256, 192, 128, 96, 64, 48, 32), measuring the latency-bounded throughput of each,
   and stop at the first ``b`` whose throughput is lower than the previous one's; keep the best.
   Ties go on (as the public code does), so a run of infeasible sizes (0 queries/s) does not stop
   the walk before a feasible one.
2. **Offload threshold** (only with an accelerator), with that ``b``: walk the threshold list in
   its order (default 96, 128, 192, 256, 384, 512) the same way and use the best ``Q`` walked,
   as the published scheduler does (it always offloads once it tunes Q; with the default list
   ``Q = 512`` sends almost nothing, so it is close to no offload). A one-entry list pins ``Q``.

The exhaustive **grid** over every ``(b, Q)`` of the lists (Q = off included) is the reference:
``gap = 1 - max_qps / grid_max_qps``. Capacities are memoised per ``(b, Q)``, so the grid reuses
the climber's points, and with ``method="analytic"`` many policies are solved in one vectorised
search (:mod:`dse.sched.fastcap`).

**Baseline**: the static policy of the public DeepRecInfra run without the scheduler
(``run_DeepRecInfra.sh``: ``sub_task_batch_size=32``, no offload; ``run_Scheduler.sh`` uses 64):
``gain = max_qps / baseline_qps``.

**Unreachable SLA**: when no ``(b, Q)`` meets the SLA at any load, the result is ``feasible =
False``, ``max_qps = 0``, and ``batch``, ``threshold``, ``p95_s`` name the policy with the best
p95 achievable (its p95 as the load goes to zero, every engine free): an answer, not an error.

**Power** (:mod:`dse.sched.power`): linear between idle and TDP in the engines' utilisation at
``max_qps``; ``qps_per_watt = max_qps / power_w``, ``energy_per_query_j = power_w / max_qps``.

Service curves are computed once per call (or passed in, see :func:`build_curves`) on the batch
grid the policies read (:func:`dse.sched.curves.curve_batches`), with the CPU curve at
``engines = workers`` (the contention of all engines busy is in the cost model) and the
accelerator curve at one engine with host-device copies, as ``dse serve`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from dse.cost.curve import ServiceCurve
from dse.errors import DseError
from dse.cost.model import total_curve
from dse.sched.curves import curve_batches
from dse.sched.fastcap import PolicySet, joint_capacities, joint_p95
from dse.sched.power import serving_power
from dse.serve.api import PointEvaluator
from dse.serve.load import utilisations
from dse.serve.sla_search import max_qps_under_sla
from dse.serve.policy import Policy, ServerCosts
from dse.serve.workload import SizeDistribution, parse_sizes
from dse.settings import DEFAULT_LOCALITY, CurveGrid, OptimizerSettings, WorkloadSettings
from dse.specs.hardware import Platform, load_platform

if TYPE_CHECKING:  # annotations only: networkx costs ~0.3 s to import and no cost formula needs it
    import networkx as nx

Key = tuple[int, int | None]


@dataclass
class Curves:
    """The service curves one optimisation reads."""

    cpu: ServiceCurve
    accel: ServiceCurve | None
    workers: int


def cpu_curve(
    graph: nx.DiGraph, platform: Platform, workers: int, batches: Iterable[int], max_size: int,
    grid: CurveGrid = CurveGrid(), locality: str = DEFAULT_LOCALITY,
) -> ServiceCurve:
    """The CPU engines' curve at ``engines=workers`` on sizes 1..max(batches) (capped at the
    largest query size); see :func:`dse.sched.curves.curve_batches` for the grid."""
    b = sorted({int(x) for x in batches})
    top = max(1, min(max(b), int(max_size)))
    return total_curve(graph, platform, curve_batches(top, b, grid), engines=int(workers), locality=locality)


def accel_curve(
    graph: nx.DiGraph, accel: Platform, max_size: int, grid: CurveGrid = CurveGrid(), locality: str = DEFAULT_LOCALITY
) -> ServiceCurve:
    """The accelerator's curve (one engine, host-device copies included) on sizes 1..max_size."""
    return total_curve(graph, accel, curve_batches(int(max_size), (), grid), engines=1, locality=locality)


def build_curves(
    graph: nx.DiGraph,
    platform: Platform,
    accel: Platform | None,
    workers: int,
    batches: Iterable[int],
    max_size: int,
    grid: CurveGrid = CurveGrid(),
    locality: str = DEFAULT_LOCALITY,
) -> Curves:
    """Both curves an optimisation reads (``CurveGrid(ratio=1)``: every integer size, no
    interpolation), for the index stream ``locality``."""
    cpu = cpu_curve(graph, platform, workers, batches, max_size, grid, locality)
    acc = accel_curve(graph, accel, max_size, grid, locality) if accel is not None else None
    return Curves(cpu, acc, int(workers))


@dataclass
class OptimizeResult:
    """What DeepRecSched chose, what it achieves, and the references (see the module doc)."""

    model: str
    platform: str
    accelerator: str | None
    sla_s: float
    method: str
    workers: int
    sizes: str
    feasible: bool
    batch: int
    threshold: int | None
    max_qps: float
    p95_s: float
    baseline_batch: int
    baseline_qps: float
    gain: float | None
    power_w: float
    cpu_power_w: float
    accel_power_w: float
    memory_power_w: float
    qps_per_watt: float
    energy_per_query_j: float | None
    cpu_utilization: float
    accel_utilization: float
    accel_fraction: float
    grid_max_qps: float | None = None
    grid_batch: int | None = None
    grid_threshold: int | None = None
    #: best p95 achievable over the lists (zero load) and where; filled when infeasible
    best_p95_s: float | None = None
    best_p95_batch: int | None = None
    best_p95_threshold: int | None = None
    #: the hill climber's walk: (b, Q, max_qps) in the order evaluated
    climb: list[tuple[int, int | None, float]] = field(default_factory=list)
    #: every (b, Q) -> max_qps evaluated (climb, baseline, grid)
    table: dict[Key, float] = field(default_factory=dict)

    @property
    def gap(self) -> float | None:
        """Relative shortfall of the hill climber against the grid optimum (0 = found it)."""
        if self.grid_max_qps is None:
            return None
        if self.grid_max_qps <= 0:
            return 0.0
        return max(0.0, 1.0 - self.max_qps / self.grid_max_qps)

    def as_json(self) -> dict[str, Any]:
        """The ``dse optimize --json`` object (the issue's keys first)."""

        def num(x: float | None) -> float | None:
            return float(x) if x is not None and math.isfinite(x) else None

        return {
            "batch": self.batch,
            "threshold": self.threshold,
            "max_qps": float(self.max_qps),
            "p95_s": num(self.p95_s),
            "baseline_qps": float(self.baseline_qps),
            "gain": num(self.gain),
            "qps_per_watt": float(self.qps_per_watt),
            "grid_max_qps": num(self.grid_max_qps),
            "feasible": bool(self.feasible),
            "sla_s": float(self.sla_s),
            "baseline_batch": self.baseline_batch,
            "grid_batch": self.grid_batch,
            "grid_threshold": self.grid_threshold,
            "gap": num(self.gap),
            "power_w": float(self.power_w),
            "energy_per_query_j": num(self.energy_per_query_j),
            "cpu_utilization": float(self.cpu_utilization),
            "accel_utilization": float(self.accel_utilization),
            "accel_fraction": float(self.accel_fraction),
            "best_p95_s": num(self.best_p95_s),
            "best_p95_batch": self.best_p95_batch,
            "best_p95_threshold": self.best_p95_threshold,
            "workers": self.workers,
            "method": self.method,
            "climb": [[b, q, float(v)] for b, q, v in self.climb],
        }


def size_distribution(spec: str) -> SizeDistribution:
    """``parse_sizes(spec)``, memoised except for size files (which may change on disk): a
    sweep's configurations and the optimiser's calls share a few size laws."""
    if str(spec).strip().lower().startswith("file:"):
        return parse_sizes(spec)
    return _parsed_sizes(spec)


@lru_cache(maxsize=64)
def _parsed_sizes(spec: str) -> SizeDistribution:
    return parse_sizes(spec)


@lru_cache(maxsize=64)
def size_pmf(dist: SizeDistribution) -> np.ndarray:
    """``dist.pmf()``, read-only and memoised per distribution (the configurations of a sweep
    share one, and the capacity table and the power both read it)."""
    pmf = dist.pmf()
    pmf.setflags(write=False)
    return pmf


#: One object per distinct policy across the tables of a process (:func:`_interned`).
_POLICIES: dict[Policy, Policy] = {}


def _interned(policy: Policy) -> Policy:
    """The first object equal to ``policy`` met in this process: a sweep chunk's configurations
    share their policies, and the memos of :mod:`dse.sched.fastcap`, keyed by policy, then find
    one object where they would compare the fields of two."""
    if len(_POLICIES) > 4096:
        _POLICIES.clear()
    return _POLICIES.setdefault(policy, policy)


class CapacityTable:
    """Latency-bounded throughput per ``(b, Q)``, memoised; ``prefetch`` solves many at once."""

    def __init__(
        self,
        dist: SizeDistribution,
        curves: Curves,
        sla_s: float,
        has_accel: bool,
        method: str,
        costs: ServerCosts | None,
        n_queries: int,
        seed: int,
        rel_tol: float | None = None,
    ) -> None:
        self.dist = dist
        self.curves = curves
        self.sla_s = float(sla_s)
        self.has_accel = has_accel
        self.method = method
        self.costs = costs or ServerCosts()
        self.n_queries = int(n_queries)
        self.seed = int(seed)
        self.rel_tol = rel_tol if rel_tol is not None else (1e-3 if method == "analytic" else 5e-3)
        self.fast = PolicySet(size_pmf(dist), curves.cpu, curves.accel)
        self.values: dict[Key, float] = {}
        self.p95_at: dict[Key, float] = {}
        self._policies: dict[Key, Policy] = {}

    def policy(self, key: Key) -> Policy:
        """The policy of ``key`` (memoised: the walks, the searches and the record ask for the
        same few keys again and again, and the sets' memos compare the same object fastest)."""
        pol = self._policies.get(key)
        if pol is None:
            b, q = key
            pol = _interned(Policy(int(b), q, self.curves.workers, 1 if self.has_accel else 0, self.costs))
            self._policies[key] = pol
        return pol

    def prefetch(self, keys: Iterable[Key]) -> None:
        todo = [k for k in dict.fromkeys(keys) if k not in self.values]
        if not todo:
            return
        policies = [self.policy(k) for k in todo]
        fast = self.fast.capacities(policies, self.sla_s, self.rel_tol if self.method == "analytic" else 1e-3)
        if self.method == "analytic":
            for k, r in zip(todo, fast):
                self.values[k] = r.max_qps
            return
        for k, pol, r in zip(todo, policies, fast):  # des: the analytic answer starts the search
            ev = PointEvaluator(pol, self.curves.cpu, self.curves.accel, self.dist, "des", self.n_queries, self.seed)
            start = r.max_qps if r.met and r.max_qps > 0 else r.saturation_qps / 2
            res = max_qps_under_sla(ev.p95, self.sla_s, start=start, hi=r.saturation_qps, rel_tol=self.rel_tol)
            self.values[k] = res.max_qps
            self.p95_at[k] = res.p95_s

    def get(self, key: Key) -> float:
        if key not in self.values:
            self.prefetch([key])
        return self.values[key]

    def zero_load_p95(self, key: Key) -> float:
        """p95 as the load goes to 0: the best the policy reaches (analytical model; exact there when
        no query has more sub-batches than there are engines: they all start at once)."""
        return self.fast.zero_load_p95(self.policy(key), self.sla_s)

    def p95(self, key: Key) -> float:
        """p95 at the key's max_qps (or, when infeasible, its best p95: zero load)."""
        if key in self.p95_at:
            return self.p95_at[key]
        qps = self.get(key)
        pol = self.policy(key)
        if qps <= 0:
            value = self.fast.zero_load_p95(pol, self.sla_s)
        else:
            value = self.fast.p95(pol, qps, self.sla_s, known=True)
        self.p95_at[key] = value
        return value


def hill_climb(
    table: CapacityTable, batches: Sequence[int], thresholds: Sequence[int], stop_tol: float = 0.0
) -> tuple[Key, list[tuple[int, int | None, float]]]:
    """DeepRecSched's two walks (module doc); returns the chosen ``(b, Q)`` and the path.

    A walk stops at the first point whose throughput is below the previous point's by more than
    the fraction ``stop_tol``, and never on a drop within the capacity search's own tolerance
    (``table.rel_tol``: such a drop is numerical noise, a tie, and ties go on)."""
    path: list[tuple[int, int | None, float]] = []
    tol = max(float(stop_tol), float(getattr(table, "rel_tol", 0.0)))

    def walk(keys: list[Key]) -> Key:
        best: Key | None = None
        best_q = prev = -math.inf
        for key in keys:
            q = table.get(key)
            path.append((key[0], key[1], q))
            if q < prev * (1.0 - tol):
                break
            if q > best_q:
                best, best_q = key, q
            prev = q
        assert best is not None
        return best

    b, _ = walk([(int(b), None) for b in batches])
    chosen: Key = (b, None)
    if table.has_accel and thresholds:
        chosen = walk([(b, int(q)) for q in thresholds])
    return chosen, path


def _load_inputs(graph: nx.DiGraph | str, platform: Platform | str, accel: Platform | str | None):
    from dse.graph import load_graph

    g = load_graph(graph) if isinstance(graph, str) else graph
    p = load_platform(platform) if isinstance(platform, str) else platform
    # the accelerator runs the host's software stack: a comparison holds the software fixed
    a = load_platform(accel, stack=p.stack) if isinstance(accel, str) else accel
    if p.is_accelerator:
        raise DseError(f"{p.name}: the CPU engines' platform must be a host (kind cpu or nmp), not a {p.kind}")
    if a is not None and not a.is_accelerator:
        raise DseError(f"--accel {a.name}: an accelerator platform (kind gpu) is needed, not kind {a.kind}")
    return g, p, a


def _check_sla(sla_s: float) -> None:
    if not (isinstance(sla_s, (int, float)) and sla_s > 0 and math.isfinite(sla_s)):
        raise DseError(f"--sla-ms: {sla_s * 1e3 if isinstance(sla_s, (int, float)) else sla_s} must be a positive number")


def optimize(
    graph: nx.DiGraph | str,
    platform: Platform | str,
    accel: Platform | str | None = None,
    *,
    sla_s: float,
    workload: WorkloadSettings = WorkloadSettings(),
    search: OptimizerSettings = OptimizerSettings(),
    workers: int | None = None,
    costs: ServerCosts | None = None,
    grid: bool = True,
    curves: Curves | None = None,
    rel_tol: float | None = None,
) -> OptimizeResult:
    """Run DeepRecSched for ``graph`` on ``platform`` (+ ``accel``) under a p95 SLA of ``sla_s``.

    ``graph``/``platform``/``accel`` may be names or loaded objects. ``workload``: query sizes and
    seed; ``search``: the lists walked, the baseline, the evaluation method (``analytic``, fast,
    :mod:`dse.sched.fastcap`; or ``des``, each capacity searched with the simulator from the
    analytic answer) and the walk's stop tolerance (see :func:`hill_climb`). ``workers``: CPU
    engines (default: the platform's engine slots). ``costs``: the serving software's costs
    (default: those of the platform's software stack; ``ServerCosts()`` is an ideal server). ``grid=False`` skips the exhaustive reference
    (the sweep's setting). ``curves``: precomputed :func:`build_curves` (for callers that cache
    them).
    """
    return _finish(_prepare(graph, platform, accel, sla_s=sla_s, workload=workload, search=search, workers=workers,
                            costs=costs, grid=grid, curves=curves, rel_tol=rel_tol))


def optimize_many(calls: Sequence[dict[str, Any]]) -> list[OptimizeResult | DseError]:
    """:func:`optimize` for many problems (keyword arguments each), e.g. the configurations of a
    sweep chunk: the capacities every walk may read (analytic method) are solved in ONE
    vectorised search over all problems (:func:`dse.sched.fastcap.joint_capacities`), then each
    walk reads its table. Each answer equals ``optimize(**call)`` (same probes per policy; the
    vectorised arithmetic may differ in the last bits). A problem that fails gives its
    :class:`DseError` in its place."""
    jobs: list[_Job | DseError] = []
    for call in calls:
        try:
            jobs.append(_prepare(**call))
        except DseError as exc:
            jobs.append(exc)
    solve_walks([j for j in jobs if isinstance(j, _Job)])
    walks: list[_Walked | DseError] = []
    for job in jobs:
        try:
            walks.append(job if isinstance(job, DseError) else _walk(job.table, job.search, job.grid))
        except DseError as exc:
            walks.append(exc)
    _p95_together([(j, w) for j, w in zip(jobs, walks) if isinstance(j, _Job) and isinstance(w, _Walked)])
    out: list[OptimizeResult | DseError] = []
    for job, w in zip(jobs, walks):
        try:
            out.append(w if isinstance(w, DseError) else _result(job.g, job.p, job.a, job.dist, job.table, job.search, w))
        except DseError as exc:
            out.append(exc)
    return out


def _p95_together(walked: Sequence[tuple["_Job", "_Walked"]]) -> None:
    """The p95 at each feasible choice's max_qps (what :meth:`CapacityTable.p95` computes), for
    many analytic tables in one search (:func:`dse.sched.fastcap.joint_p95`); a search that fails
    leaves each table to compute its own."""
    todo = [(j.table, w.chosen, w.max_qps) for j, w in walked
            if j.table.method == "analytic" and w.best_p95 is None and w.max_qps > 0 and w.chosen not in j.table.p95_at]
    if not todo:
        return
    try:
        p95 = joint_p95([(t.fast, t.policy(k)) for t, k, _ in todo], np.array([q for _, _, q in todo]),
                        np.array([t.sla_s for t, _, _ in todo]))
    except DseError:
        return
    for (table, key, _), value in zip(todo, p95):
        table.p95_at[key] = float(value)


def prefetch_together(tables: Sequence[CapacityTable], keys: Sequence[Iterable[Key]]) -> bool:
    """Solve the missing capacities of many analytic tables in one search; a search that fails
    (e.g. a platform with no capacity) leaves its tables to solve their keys one by one (False)."""
    rows: list[tuple[CapacityTable, Key]] = []
    for table, ks in zip(tables, keys):
        if table.method == "analytic":
            rows.extend((table, k) for k in dict.fromkeys(ks) if k not in table.values)
    if not rows:
        return True
    try:
        res = joint_capacities([(t.fast, t.policy(k)) for t, k in rows], np.array([t.sla_s for t, _ in rows]),
                               _joint_tol([t for t, _ in rows]))
    except DseError:
        return False
    for (table, key), r in zip(rows, res):
        table.values[key] = r.max_qps
    return True


#: Capacities of a walk's list solved in the first round of :func:`solve_walks` and in each later
#: one (the one the walk reads next and those after it). With narrow query sizes the first two
#: batch sizes of the default list tie (no query is larger than 384 items), and most walks stop
#: at the third; a walk that goes on mostly stops at the next one (studies/nmp.yaml).
WALK_AHEAD = (3, 1)


class _Unknown(Exception):
    """A capacity a walk reads that is not solved yet."""

    def __init__(self, key: Key) -> None:
        super().__init__(key)
        self.key = key


class _Solved:
    """A capacity table that answers only from the capacities already solved (else
    :class:`_Unknown`), to find where a walk would read next."""

    def __init__(self, table: CapacityTable) -> None:
        self.values, self.rel_tol, self.has_accel = table.values, table.rel_tol, table.has_accel

    def get(self, key: Key) -> float:
        value = self.values.get(key)
        if value is None:
            raise _Unknown(key)
        return value


def _next_keys(table: CapacityTable, search: OptimizerSettings, ahead: int) -> list[Key]:
    """The first capacity the walks read that is not solved yet and the ``ahead - 1`` after it on
    its list; none when the walks are done."""
    try:
        hill_climb(_Solved(table), search.batches, search.thresholds, search.stop_tol)  # type: ignore[arg-type]
    except _Unknown as miss:
        b, q = miss.key
        keys = [(int(x), None) for x in search.batches] if q is None else [(b, int(x)) for x in search.thresholds]
        at = keys.index(miss.key)
        return keys[at : at + ahead]
    return []


def solve_walks(jobs: Sequence["_Job"]) -> None:
    """Solve the capacities the analytic walks of ``jobs`` read, in rounds of one joint search
    each (:func:`prefetch_together`): the first round the baseline, the grid (when asked) and the
    first keys of each walk, then each round the next keys of the walks still going
    (:data:`WALK_AHEAD`). A walk reads only what it reaches (it stops at the first decrease), so
    most configurations of a sweep solve 4 of the 10 capacities; the walks' choices and paths are
    those of solving everything (each capacity's search is its own). A round whose search fails
    leaves its walks to solve their keys one by one."""
    live = [j for j in jobs if j.search.method == "analytic"]
    first = True
    while live:
        keys = []
        for j in live:
            ks = _next_keys(j.table, j.search, WALK_AHEAD[0] if first else WALK_AHEAD[1])
            if first:
                ks = [*(_grid_keys(j.table, j.search) if j.grid else []), *ks, (j.search.baseline_batch, None)]
            keys.append([k for k in ks if k not in j.table.values])
        todo = [(j, ks) for j, ks in zip(live, keys) if ks]
        if not todo or not prefetch_together([j.table for j, _ in todo], [ks for _, ks in todo]):
            return
        live, first = [j for j, _ in todo], False


def _joint_tol(tables: list[CapacityTable]) -> float:
    tols = {t.rel_tol for t in tables}
    if len(tols) != 1:
        raise DseError("tables of one joint search need one tolerance")
    return tols.pop()


@dataclass
class _Job:
    """One optimisation, ready to walk (see :func:`optimize`)."""

    g: nx.DiGraph
    p: Platform
    a: Platform | None
    dist: SizeDistribution
    table: CapacityTable
    search: OptimizerSettings
    grid: bool


def _prepare(graph: nx.DiGraph | str, platform: Platform | str, accel: Platform | str | None = None, *, sla_s: float,
             workload: WorkloadSettings = WorkloadSettings(), search: OptimizerSettings = OptimizerSettings(),
             workers: int | None = None, costs: ServerCosts | None = None, grid: bool = True,
             curves: Curves | None = None, rel_tol: float | None = None) -> _Job:
    """Inputs loaded and checked, curves built, an empty capacity table."""
    _check_sla(sla_s)
    g, p, a = _load_inputs(graph, platform, accel)
    dist = size_distribution(workload.sizes)
    n = p.compute.engine_slots if workers is None else int(workers)
    if n < 1:
        raise DseError(f"--workers: {n} must be >= 1")
    if curves is None:
        curves = build_curves(g, p, a, n, [*search.batches, search.baseline_batch], dist.max_size,
                              locality=workload.locality)
    elif curves.workers != n:
        raise DseError(f"curves were built for {curves.workers} engines, not {n}")
    costs = ServerCosts.of_platform(p) if costs is None else costs  # default: the stack's serving costs
    table = CapacityTable(dist, curves, sla_s, a is not None, search.method, costs, search.queries, workload.seed, rel_tol)
    return _Job(g, p, a, dist, table, search, grid)


def _finish(job: _Job) -> OptimizeResult:
    solve_walks([job])
    return _result(job.g, job.p, job.a, job.dist, job.table, job.search, _walk(job.table, job.search, job.grid))


@dataclass
class _Walked:
    """What the walks and the grid found (see :func:`optimize`)."""

    chosen: Key
    path: list[tuple[int, int | None, float]]
    baseline_qps: float
    grid_best: Key | None
    grid_max: float | None
    max_qps: float
    best_p95: float | None
    best_key: Key | None


def _grid_keys(table: CapacityTable, search: OptimizerSettings) -> list[Key]:
    qs: list[int | None] = [None, *search.thresholds] if table.has_accel else [None]
    return [(int(b), q) for b in search.batches for q in qs]


def _walk(table: CapacityTable, search: OptimizerSettings, grid: bool) -> _Walked:
    """DeepRecSched's walks, the static baseline, the grid reference, and the best p95 when
    nothing meets the SLA."""
    batches, thresholds = list(search.batches), list(search.thresholds)
    grid_keys = _grid_keys(table, search)
    # analytic: what the walk reads was solved in vectorised rounds (solve_walks); des: each
    # capacity is a search of its own, so the walk asks for them one at a time
    chosen, path = hill_climb(table, batches, thresholds, search.stop_tol)
    baseline_qps = table.get((search.baseline_batch, None))
    grid_best: Key | None = None
    grid_max: float | None = None
    if grid:
        table.prefetch(grid_keys)
        grid_best = max(grid_keys, key=lambda k: table.values[k])  # first of equals, list order
        grid_max = table.values[grid_best]
        if grid_max <= 0:
            grid_best, grid_max = None, 0.0
    max_qps = table.get(chosen)
    best_p95 = best_key = None
    if max_qps <= 0:
        # unreachable SLA: report the policy of the lists with the lowest p95, which is its p95
        # at vanishing load (every engine free; the analytical model, whatever the method)
        p95s = {k: table.zero_load_p95(k) for k in grid_keys}
        best_key = min(grid_keys, key=lambda k: p95s[k])
        best_p95 = p95s[best_key]
        chosen = best_key
    return _Walked(chosen, path, baseline_qps, grid_best, grid_max, max_qps, best_p95, best_key)


def _result(g: nx.DiGraph, p: Platform, a: Platform | None, dist: SizeDistribution, table: CapacityTable,
            search: OptimizerSettings, w: _Walked) -> OptimizeResult:
    """The result record: the choice, its p95 and load, power, the baseline and the grid."""
    pol = table.policy(w.chosen)
    p95 = w.best_p95 if w.best_p95 is not None else table.p95(w.chosen)
    parts = table.fast.load_parts(pol)
    cpu_u, acc_u = utilisations(w.max_qps, pol, parts) if w.max_qps > 0 else (0.0, 0.0)
    draw = serving_power(p, a, table.curves.workers, cpu_u, acc_u)
    power = draw.total_w
    return OptimizeResult(
        model=str(g.graph.get("model", "?")),
        platform=p.name,
        accelerator=a.name if a is not None else None,
        sla_s=float(table.sla_s),
        method=search.method,
        workers=table.curves.workers,
        sizes=dist.spec or dist.kind,
        feasible=bool(w.max_qps > 0),
        batch=int(w.chosen[0]),
        threshold=w.chosen[1],
        max_qps=float(w.max_qps),
        p95_s=float(p95),
        baseline_batch=int(search.baseline_batch),
        baseline_qps=float(w.baseline_qps),
        gain=float(w.max_qps / w.baseline_qps) if w.baseline_qps > 0 else None,
        power_w=power,
        cpu_power_w=draw.cpu_w,
        accel_power_w=draw.accel_w,
        memory_power_w=draw.memory_w,
        qps_per_watt=float(w.max_qps / power) if power > 0 else 0.0,
        energy_per_query_j=float(power / w.max_qps) if w.max_qps > 0 else None,
        cpu_utilization=float(cpu_u),
        accel_utilization=float(acc_u),
        accel_fraction=float(parts.accel_fraction),
        grid_max_qps=w.grid_max,
        grid_batch=int(w.grid_best[0]) if w.grid_best is not None else None,
        grid_threshold=w.grid_best[1] if w.grid_best is not None else None,
        best_p95_s=w.best_p95,
        best_p95_batch=int(w.best_key[0]) if w.best_key is not None else None,
        best_p95_threshold=w.best_key[1] if w.best_key is not None else None,
        climb=w.path,
        table=dict(table.values),
    )
