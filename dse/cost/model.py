"""Per-operator time and the service curve: OpGraph × Platform -> t(b).

For each operator at batch b, on one engine while ``engines`` engines run at once::

    device   = max(compute, stream, gather)                 (roofline with an irregular term)
    device   = compute + stream + gather                    (a node that is a chain of framework ops)
    time     = dispatch + device + alloc                    (CPU: dispatch runs on the same core)
    time     = max(dispatch, device)                        (GPU, the operator alone)

``alloc`` (``dse/cost/alloc.py``, CPU only, off unless ``allocator.page_fault_ns_per_kib`` > 0):
page faults and zeroing of the per-call tensors above the allocator's fresh-mapping threshold.

Graph inputs on an accelerator cost their host-to-device copy; the outputs come back in one
device-to-host copy (the pseudo-operator ``output.d2h``); every forward pass pays a fixed
``(forward)`` cost. The latency of one inference is the sum over operators: frameworks run the
operators of one request one after another. On an asynchronous device (a stack with
``dispatch.overlap``: a GPU) the host issues launches ahead of the device, so the pass is costed
as a stream (:mod:`dse.cost.stream`: ``h_n = h_{n-1} + dispatch_n``, ``e_n = max(e_{n-1}, h_n) +
device_n``, end ``max(h, e)``): each operator keeps its time alone, and the pseudo-operator
``(issued ahead)`` (kind ``overlap``, usually negative: launches hidden behind earlier kernels)
makes the parts add up to the pass. ``bound`` names the largest term of each operator.

Everything is vectorised over an array of batch sizes, so a whole service curve is a few numpy
operations per operator.
"""

from __future__ import annotations

import json
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from dse.cost.alloc import alloc_time
from dse.cost.curve import DEFAULT_BATCH_GRID, ServiceCurve
from dse.cost.cycled import working_set_bytes
from dse.cost.gather import gather_time, remember_gather_times
from dse.cost.nmp import runs_in_memory  # RecNMP pools in the DIMMs: no host compute
from dse.cost.overhead import dispatch_time, inference_time, require_dispatch
from dse.cost.recurrent import PERSISTENT_KERNELS, persistent, persistent_compute, persistent_stream
from dse.cost.roofline import compute_time, stream_time
from dse.cost.share import cache_capacities
from dse.cost.stream import Step, critical_path
from dse.cost.threads import call_threads, fork_join_seconds, thread_speedup
from dse.cost.transfer import feed_time, host_index_copy_time, input_transfer_time, output_transfer_time
from dse.errors import DseError
from dse.settings import DEFAULT_LOCALITY
from dse.graph.lower import ordered_ops
from dse.graph.ops import Op, OpKind
from dse.specs.hardware import Platform
from dse.specs.stack import Dispatch

if TYPE_CHECKING:  # annotations only: networkx costs ~0.3 s to import and no cost formula needs it
    import networkx as nx

#: Operator kinds whose rows are gathered at data-dependent addresses.
GATHER_KINDS = {OpKind.EMBEDDING_BAG, OpKind.EMBEDDING}
#: The pseudo-operator that makes an asynchronous device's parts add up to its pass (:func:`issue_ahead`).
ISSUED_AHEAD = "(issued ahead)"
#: Names of the terms, in the order ties are broken when naming an operator's bound.
TERMS = ("overhead", "compute", "stream", "gather", "transfer", "alloc", "feed")


def single_term(term: str, seconds: np.ndarray) -> dict[str, np.ndarray]:
    """Terms of a pseudo-operator whose whole time is ``term`` (the others zero)."""
    zero = np.zeros_like(seconds)
    return {t: (seconds if t == term else zero) for t in TERMS}


@dataclass(frozen=True)
class OpTimes:
    """One operator's time on a grid of batch sizes, with every term (seconds, same shape)."""

    name: str
    kind: str
    time: np.ndarray
    terms: dict[str, np.ndarray]

    @property
    def bound(self) -> list[str]:
        """The largest term at each batch size ("overhead", "compute", "stream", "gather", "transfer", "alloc");
        "overlap" for the pseudo-operator of an asynchronous device's pass (:func:`issue_ahead`)."""
        if self.kind == "overlap":
            return ["overlap"] * int(np.size(self.time))
        stacked = np.stack([np.broadcast_to(self.terms[t], self.time.shape) for t in TERMS])
        return [TERMS[i] for i in np.argmax(stacked, axis=0)]


@dataclass(frozen=True)
class OpCost:
    """One operator at one batch size: seconds, limiting term and all terms."""

    name: str
    kind: str
    time_s: float
    bound: str
    terms: dict[str, float] = field(default_factory=dict)

    def as_dict(self, with_terms: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "time_s": self.time_s, "bound": self.bound}
        if with_terms:
            out["terms"] = dict(self.terms)
        return out


@dataclass(frozen=True)
class Prediction:
    """Latency of one inference of ``batch`` items on one engine, with the per-operator breakdown."""

    model: str
    platform: str
    batch: int
    engines: int
    latency_s: float
    ops: list[OpCost]

    def time_by_kind(self) -> dict[str, float]:
        """Seconds per operator kind (``embedding_bag``, ``fc``, ...)."""
        out: dict[str, float] = {}
        for op in self.ops:
            out[op.kind] = out.get(op.kind, 0.0) + op.time_s
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "latency_s": self.latency_s, "ops": [op.as_dict() for op in self.ops]}


def _check(batches: np.ndarray, engines: int) -> None:
    if batches.ndim != 1 or batches.size == 0 or np.any(batches <= 0):
        raise DseError("batch sizes must be a non-empty list of positive numbers")
    if int(engines) < 1:
        raise DseError(f"engines: {engines} must be at least 1")


def composite(op: Op) -> bool:
    """True for an operator node that stands for a chain of framework ops (several launches, or
    one per time step): its parts run one after another, so its compute-bound and memory-bound
    parts do not overlap and its device time is their sum rather than their maximum."""
    return op.launches > 1 or op.sequential_steps > 1


def op_times(
    op: Op,
    platform: Platform,
    batches: ArrayLike,
    engines: int = 1,
    transfer: bool = True,
    table_footprint: float | None = None,
    locality: str = DEFAULT_LOCALITY,
    working_set: np.ndarray | None = None,
    capacities: list | None = None,
) -> OpTimes:
    """Time of ``op`` at every batch size in ``batches`` (seconds), with its terms.

    ``table_footprint``: bytes of all embedding tables competing for the caches (the model's
    table memory); default: the op's own table. ``locality``: the workload's embedding index
    stream (:class:`dse.settings.WorkloadSettings`; ``uniform`` by default). ``working_set``:
    with a stack that cycles pre-generated batches, the bytes the cycle reads again at each batch
    size (:func:`dse.cost.cycled.working_set_bytes`); it replaces ``table_footprint`` and
    ``locality`` for the gathers. ``capacities`` (not for gathers): the cache capacities of
    several platforms that differ only in their cache sizes, arrays of shape (platforms, 1)
    (:func:`dse.cost.share.cache_capacities`); the times are then (platforms, batch sizes).
    """
    b = np.asarray(batches, dtype=float)
    if op.kind is OpKind.INPUT:
        return _input_times(op, platform, b, transfer)
    terms, speedup = _host_terms(op, platform, b, engines, capacities)
    if runs_in_memory(op, platform):
        terms["compute"] = np.zeros_like(b)
    if op.kind in GATHER_KINDS:
        terms["gather"] = _gather(op, platform, b, engines, table_footprint, locality, working_set) / speedup
    return _combine(op, platform, terms)


def alone_seconds(op: Op, platform: Platform, batches: ArrayLike, call_s: float = 0.0) -> np.ndarray:
    """Seconds of one timed call of ``op`` by itself (a microbenchmark row) at each batch size;
    ``call_s``: the harness's own cost per timed call. On a CPU the operator's time plus that; on
    an asynchronous device the call is a pass of its own (:mod:`dse.cost.stream`): the launch,
    then the kernel against the final synchronisation, ``call + dispatch + max(device,
    inference)``."""
    t = op_times(op, platform, batches)
    if not require_dispatch(platform).overlap:
        return t.time + call_s
    zero = np.zeros_like(t.time)
    steps = [*op_steps(op, t.terms, require_dispatch(platform), call_s), Step(zero + inference_time(platform), zero)]
    return np.sum(critical_path(steps), axis=0)


def op_step(op: Op, terms: dict[str, np.ndarray], dispatch: Dispatch, call_s: float = 0.0) -> Step:
    """``op`` as a step of a pass on an asynchronous device (``dispatch``: the platform's): its
    dispatch (plus ``call_s`` of the caller's own) issued on the host, its device terms and
    first-touch on the device, in as many launches as it has kernels (a recurrent op: one per time
    step besides its own, or a persistent kernel's few: dse/cost/recurrent.py)."""
    if persistent(op, dispatch):
        chain = PERSISTENT_KERNELS
    else:
        chain = op.launches + (op.sequential_steps if op.sequential_steps > 1 else 0)
    return Step(terms["overhead"] + call_s, device_seconds(op, terms) + terms["alloc"], launches=chain)


def op_steps(op: Op, terms: dict[str, np.ndarray], dispatch: Dispatch, call_s: float = 0.0) -> list[Step]:
    """``op``'s steps in a pass on an asynchronous device: :func:`op_step`, split around a
    blocking copy of index tensors it builds on the host (``terms["transfer"]``, the dot
    interaction under PyTorch: dse/cost/transfer.py ``host_index_copy_time``). The launches
    before the copy (``launches_before_index``) are issued first, with the kernel time they
    carry (all of the compute, ``stream_share_before_index`` of the bytes); the copy waits for
    the device to drain; the other launches and kernels follow."""
    one = op_step(op, terms, dispatch, call_s)
    sync = terms["transfer"]
    if not np.any(sync > 0):
        return [one]
    before = min(int(op.shape.get("launches_before_index", 0)), one.launches - 1)
    ahead = terms["compute"] + terms["gather"] + terms["stream"] * float(op.shape.get("stream_share_before_index", 0.0))
    issued = one.issue * before / one.launches
    zero = np.zeros_like(sync)
    steps = [Step(issued, ahead, launches=before)] if before > 0 else []
    return steps + [Step(zero, sync, blocking=True),
                    Step(one.issue - issued, one.device - ahead, launches=one.launches - before)]


def _host_terms(
    op: Op, platform: Platform, b: np.ndarray, engines: int, capacities: list | None = None
) -> tuple[dict[str, np.ndarray], float]:
    """The terms of :func:`op_times` but the gather (zero here), with ``compute`` as the host's
    cores would take it (:func:`op_times` zeroes it where RecNMP pools in the DIMMs), and the
    thread speedup that divides them. Reads neither ``platform.nmp`` nor ``platform.memory``."""
    zero = np.zeros_like(b)
    threads = call_threads(op, platform, engines)
    speedup = thread_speedup(platform, threads)
    overhead = np.full_like(b, dispatch_time(op, platform) + fork_join_seconds(platform, threads))
    terms = {
        "overhead": overhead,
        "compute": compute_time(op, platform, b, engines) / speedup,
        "stream": stream_time(op, platform, b, engines, capacities) / speedup,
        "gather": zero,
        "transfer": host_index_copy_time(op, platform, b),  # index tensors built on the host (GPU)
        "alloc": alloc_time(op, platform, b),
        "feed": zero,
    }
    if persistent(op, platform.dispatch):
        terms["compute"] = persistent_compute(op, platform, require_dispatch(platform), b, engines) / speedup
        terms["stream"] = persistent_stream(op, platform, b, engines, capacities) / speedup
    return terms, speedup


def _combine(op: Op, platform: Platform, terms: dict[str, np.ndarray]) -> OpTimes:
    """An operator's times and terms (:func:`op_seconds` on the platform's dispatch)."""
    return OpTimes(op.name, op.kind.value, op_seconds(op, require_dispatch(platform).overlap, terms), terms)


def device_seconds(op: Op, terms: dict[str, np.ndarray]) -> np.ndarray:
    """The device part of an operator's terms (seconds): the roofline terms overlap, or add up
    for a composite node."""
    if composite(op):
        return terms["compute"] + terms["stream"] + terms["gather"]
    return np.maximum(np.maximum(terms["compute"], terms["stream"]), terms["gather"])


def op_seconds(op: Op, overlap: bool, terms: dict[str, np.ndarray]) -> np.ndarray:
    """An operator's time from its terms (seconds, their shape): the device terms overlap (or add
    up, for a composite node), then the dispatch overlaps (``overlap``: the platform's
    ``dispatch.overlap``) or precedes them, then the first touch of fresh pages. On an
    asynchronous device this is the operator's time in isolation of its neighbours; a pass is
    costed by :func:`issue_ahead`."""
    device = device_seconds(op, terms)
    overhead = terms["overhead"]
    time = np.maximum(overhead, device) if overlap else overhead + device
    # first touch of fresh pages: on the core, after the allocation; a blocking copy of
    # host-built index tensors (GPU): after everything before it
    return time + terms["alloc"] + terms["transfer"]


def _gather(
    op: Op, platform: Platform, b: np.ndarray, engines: int, footprint: float | None, locality: str,
    working_set: np.ndarray | None,
) -> np.ndarray:
    """The gather term: fresh indices over the tables, or (a cycling harness) the rows' residency
    against the cycle's working set."""
    if working_set is None or _cycled_batches(platform) is None:
        return gather_time(op, platform, b, engines, footprint, locality)
    return gather_time(op, platform, b, engines, footprint, locality, working_set)


def _cycled_batches(platform: Platform) -> int | None:
    """Batches the platform's stack cycles (none: fresh indices every inference)."""
    cycles = platform.software.inputs.cycled_batches if platform.software is not None else 0
    return cycles or None


def _working_set(graph: nx.DiGraph, platform: Platform, b: np.ndarray) -> np.ndarray | None:
    """Bytes a cycling harness reads again at each batch size (none without one)."""
    cycles = _cycled_batches(platform)
    return None if cycles is None else working_set_bytes(list(ordered_ops(graph)), b, cycles)


def _input_times(op: Op, platform: Platform, b: np.ndarray, transfer: bool) -> OpTimes:
    """A graph input: the stack's feeding on the host, then (accelerator, ``transfer``) the copy."""
    zero = np.zeros_like(b)
    fed = feed_time(op, platform, b)
    moved = input_transfer_time(op, platform, b) if transfer else zero
    terms = {t: zero for t in TERMS} | {"feed": fed, "transfer": moved}
    return OpTimes(op.name, op.kind.value, fed + moved, terms)


def graph_op_times(
    graph: nx.DiGraph, platform: Platform, batches: ArrayLike, engines: int = 1, transfer: bool = True,
    locality: str = DEFAULT_LOCALITY,
) -> list[OpTimes]:
    """Every operator of ``graph`` in execution order, plus the fixed forward cost and, on an
    accelerator with ``transfer``, the copy of the outputs back to the host."""
    b = np.asarray(batches, dtype=float).reshape(-1)
    _check(b, engines)
    footprint = float(graph.graph.get("table_bytes", 0.0)) or None
    ws = _working_set(graph, platform, b)
    ops = ordered_ops(graph)
    out = [op_times(op, platform, b, int(engines), transfer, footprint, locality, ws) for op in ops]
    out += _per_inference(graph, platform, b, transfer)
    dispatch = require_dispatch(platform)
    return issue_ahead(ops, out, dispatch) if dispatch.overlap else out


def issue_ahead(ops: list[Op], parts: list[OpTimes], dispatch: Dispatch) -> list[OpTimes]:
    """``parts`` (``ops``' times in execution order, then the per-inference ones) on an
    asynchronous device, plus the pseudo-operator ``(issued ahead)``: the pass's time when the
    host issues ahead of the device (:func:`dse.cost.stream.critical_path`) minus the parts' sum,
    so that the parts add up to the pass. Each operator keeps its own time as before
    (``max(dispatch, device)``, the per-operator figure the published operator breakdown is
    checked against); the pseudo-operator is usually negative (launches hidden behind earlier
    kernels), and positive where a launch cannot overlap anything (a pass of few, long-launching
    operators: each kernel waits for its own launch). Graph inputs and the output copy block
    (copies from pageable memory; an input with no copy is skipped); the fixed ``(forward)`` cost
    is the host's last step before the output copy (entry and final synchronisation), so the
    device's work overlaps it. ``dispatch``: the platform's (how many kernels an operator is)."""
    steps = [s for i, part in enumerate(parts) for s in _pass_steps(part, ops[i] if i < len(ops) else None, dispatch)]
    ahead = np.sum(critical_path(steps), axis=0) - np.sum([p.time for p in parts], axis=0)
    zero = np.zeros_like(ahead)
    return parts + [OpTimes(ISSUED_AHEAD, "overlap", ahead, {t: zero for t in TERMS})]


def _pass_steps(part: OpTimes, op: Op | None, dispatch: Dispatch, count: int = 1) -> list[Step]:
    """``count`` consecutive identical parts as steps of a pass on an asynchronous device
    (:mod:`dse.cost.stream`): a graph input or the output copy blocks (no step where it copies
    nothing), an operator is its launches and kernels (:func:`op_steps`; a run of identical
    operators is one step of ``count`` times the launches, unless a blocking copy splits each), a
    per-inference part (``op`` None: ``(forward)``) is host time."""
    t = part.terms
    if part.kind in (OpKind.INPUT.value, "transfer"):
        return [Step(count * t["feed"], count * t["transfer"], blocking=True)] if np.any(part.time > 0) else []
    if op is None:
        return [Step(count * part.time, np.zeros_like(part.time))]
    steps = op_steps(op, t, dispatch)
    if len(steps) > 1:
        return steps * count
    one = steps[0]
    return [Step(count * one.issue, count * one.device, launches=count * one.launches)]


def _per_inference(graph: nx.DiGraph, platform: Platform, b: np.ndarray, transfer: bool) -> list[OpTimes]:
    """The costs that belong to the inference rather than an operator: the fixed forward cost
    and, on an accelerator with ``transfer``, the copy of the outputs back to the host."""
    fixed = np.full_like(b, inference_time(platform))
    out = [OpTimes("(forward)", "overhead", fixed, single_term("overhead", fixed))]
    if transfer and platform.is_accelerator:
        back = output_transfer_time(
            float(graph.graph.get("output_bytes_per_item", 0.0)), platform, b, int(graph.graph.get("output_tensors", 1))
        )
        out.append(OpTimes("output.d2h", "transfer", back, single_term("transfer", back)))
    return out


def service_curve(
    graph: nx.DiGraph,
    platform: Platform,
    batches: ArrayLike | None = None,
    engines: int = 1,
    transfer: bool = True,
    locality: str = DEFAULT_LOCALITY,
) -> ServiceCurve:
    """t(b): seconds for one engine to serve a sub-batch of b items while ``engines`` engines
    run concurrently, on ``batches`` (default :data:`DEFAULT_BATCH_GRID`), with the per-operator
    breakdown and bound. ``transfer=False`` leaves out the copies of the inputs and outputs
    (inputs already on the device; copies an operator makes inside the pass stay);
    ``locality``: the workload's embedding index stream."""
    b = np.asarray(DEFAULT_BATCH_GRID if batches is None else batches, dtype=float).reshape(-1)
    b = np.unique(b)
    parts = graph_op_times(graph, platform, b, engines, transfer, locality)
    seconds = np.sum([p.time for p in parts], axis=0)
    return ServiceCurve(
        model=str(graph.graph.get("model", "?")),
        platform=platform.name,
        batches=b,
        seconds=seconds,
        engines=int(engines),
        breakdown={p.name: p.time for p in parts},
        bounds={p.name: p.bound for p in parts},
    )


def predict_latency(
    graph: nx.DiGraph, platform: Platform, batch: int, engines: int = 1, transfer: bool = True,
    locality: str = DEFAULT_LOCALITY,
) -> Prediction:
    """Latency of one inference of ``batch`` items, per operator, while ``engines`` engines run
    and the embedding indices follow ``locality``."""
    parts = graph_op_times(graph, platform, [batch], engines, transfer, locality)
    ops = [
        OpCost(p.name, p.kind, float(p.time[0]), p.bound[0], {t: float(v[0]) for t, v in p.terms.items()})
        for p in parts
    ]
    return Prediction(
        model=str(graph.graph.get("model", "?")),
        platform=platform.name,
        batch=int(batch),
        engines=int(engines),
        latency_s=float(sum(op.time_s for op in ops)),
        ops=ops,
    )


# -- the total alone, each distinct operator once (the optimiser's curves) ---------------------


def _op_key(op: Op) -> str:
    fields = {k: v for k, v in op.__dict__.items() if k not in ("name", "table")}
    fields["kind"] = op.kind.value
    return json.dumps(fields, sort_keys=True, default=str)


_GROUPS: "weakref.WeakKeyDictionary[nx.DiGraph, list[tuple[Op, int]]]" = weakref.WeakKeyDictionary()


def op_groups(graph: nx.DiGraph) -> list[tuple[Op, int]]:
    """The graph's operators in execution order, identical ones merged: [(op, count)] (cached
    per graph object)."""
    hit = _GROUPS.get(graph)
    if hit is not None:
        return hit
    groups: OrderedDict[str, list] = OrderedDict()
    for op in ordered_ops(graph):
        key = _op_key(op)
        if key in groups:
            groups[key][1] += 1
        else:
            groups[key] = [op, 1]
    out = [(op, count) for op, count in groups.values()]
    _GROUPS[graph] = out
    return out


_RUNS: "weakref.WeakKeyDictionary[nx.DiGraph, list[tuple[Op, int]]]" = weakref.WeakKeyDictionary()


def op_runs(graph: nx.DiGraph) -> list[tuple[Op, int]]:
    """The graph's operators in execution order, each run of consecutive identical ones merged:
    [(op, count)] (cached per graph object). Unlike :func:`op_groups` it keeps the order, which
    a pass on an asynchronous device depends on."""
    hit = _RUNS.get(graph)
    if hit is not None:
        return hit
    out: list[list] = []
    last = None
    for op in ordered_ops(graph):
        key = _op_key(op)
        if key == last:
            out[-1][1] += 1
        else:
            out.append([op, 1])
            last = key
    runs = [(op, count) for op, count in out]
    _RUNS[graph] = runs
    return runs


def total_curve(
    graph: nx.DiGraph, platform: Platform, batches: np.ndarray, engines: int = 1, transfer: bool = True,
    locality: str = DEFAULT_LOCALITY,
) -> ServiceCurve:
    """t(b) of ``graph`` on ``platform``: :func:`service_curve`'s total without the per-operator
    breakdown, each *distinct* operator evaluated once and multiplied (RMC2 has 32 identical
    embedding tables; an operator's time depends on its kind, sizes and shape, never on its name
    or table name); on an asynchronous device every operator in order instead (the order decides
    what the device hides: :func:`_issued_curve`). Equal to ``service_curve(...).seconds``
    (tested); the optimiser's curves.
    For a (platform, locality) announced by :func:`plan_dense`, the first call computes the
    curves of all of them that gather in RecNMP DIMMs together (:func:`curves_together`) and
    the calls for those find theirs."""
    asked = np.asarray(batches, dtype=float).reshape(-1)
    key = (id(platform), locality, asked.tobytes(), engines, transfer)
    hit = _CURVES.get(graph, {}).get(key)
    if hit is not None and hit[0] is platform:
        return hit[1]
    b = np.unique(asked)
    _check(b, engines)
    if require_dispatch(platform).overlap:
        return _issued_curve(graph, platform, b, int(engines), transfer, locality)
    if _plan_curves(graph, b, key):
        hit = _CURVES[graph].get(key)
        if hit is not None and hit[0] is platform:
            return hit[1]
    curve = curves_together(graph, [(platform, locality)], b, int(engines), transfer, strict=True)[0]
    assert curve is not None  # strict: a failing configuration raised its error
    return curve


def _issued_curve(
    graph: nx.DiGraph, platform: Platform, b: np.ndarray, engines: int, transfer: bool, locality: str
) -> ServiceCurve:
    """t(b) on an asynchronous device: the pass as the host issues it (:func:`issue_ahead`), every
    operator in order (the order decides which launches the device hides), a run of identical
    operators (RMC2's 32 lookups) evaluated once as that many interleaved launches: the same
    recurrence unrolled (:class:`dse.cost.stream.Step`), equal to the sum of
    :func:`graph_op_times` (tested)."""
    footprint = float(graph.graph.get("table_bytes", 0.0)) or None
    ws = _working_set(graph, platform, b)
    dispatch = require_dispatch(platform)
    steps = [s for op, count in op_runs(graph)
             for s in _pass_steps(op_times(op, platform, b, engines, transfer, footprint, locality, ws), op, dispatch, count)]
    steps += [s for part in _per_inference(graph, platform, b, transfer) for s in _pass_steps(part, None, dispatch)]
    seconds = np.sum(critical_path(steps), axis=0)
    return ServiceCurve(model=str(graph.graph.get("model", "?")), platform=platform.name, batches=b,
                        seconds=seconds, engines=engines)


def curves_together(
    graph: nx.DiGraph, cases: list[tuple[Platform, str]], b: np.ndarray, engines: int, transfer: bool,
    strict: bool = False,
) -> list[ServiceCurve | None]:
    """:func:`total_curve` of ``graph`` for each (platform, locality) of ``cases`` at the batch
    sizes ``b`` (ascending, checked), as (cases, batch sizes) arrays of seconds: the non-gather
    totals (:func:`_dense_total`), then per gathering operator its terms stacked over the cases
    with the RecNMP gathers computed together (:func:`dse.cost.gather.remember_gather_times`);
    element by element the operations of one configuration alone. A case on an asynchronous
    device is a pass of its own (:func:`_issued_curve`). A case that fails gives None, or
    (``strict``) raises its error."""
    rows, parts, good = [], [], []
    issued: dict[int, ServiceCurve] = {}
    for i, (platform, locality) in enumerate(cases):
        try:
            if require_dispatch(platform).overlap:  # a pass of its own (:func:`issue_ahead`)
                issued[i] = _issued_curve(graph, platform, b, engines, transfer, locality)
                continue
            row, part = _dense_total(graph, platform, b, engines, transfer)
        except DseError:
            if strict:
                raise
            continue
        rows.append(row)
        parts.append(part)
        good.append(i)
    total = np.array(rows).reshape(len(rows), b.size)
    for g, (op, count) in enumerate(_gather_groups(graph)):
        gathers = _gathers(graph, op, [cases[i] for i in good], b, engines, strict)
        keep = [j for j, row in enumerate(gathers) if row is not None]
        if len(keep) < len(good):  # cases that fail leave the chunk
            total, parts, good, gathers = total[keep], [parts[j] for j in keep], [good[j] for j in keep], [
                gathers[j] for j in keep]
        if good:
            total += count * _group_seconds(op, [cases[i][0] for i in good], [p[g] for p in parts], np.array(gathers))
    out: list[ServiceCurve | None] = [issued.get(i) for i in range(len(cases))]
    model = str(graph.graph.get("model", "?"))
    for i, seconds in zip(good, total):
        out[i] = ServiceCurve(model=model, platform=cases[i][0].name, batches=b, seconds=seconds, engines=engines)
    return out


def _gathers(
    graph: nx.DiGraph, op: Op, cases: list[tuple[Platform, str]], b: np.ndarray, engines: int, strict: bool
) -> list[np.ndarray | None]:
    """The gather term of ``op`` (seconds per call at each batch size, before the thread
    speedup) for each (platform, locality) of ``cases``: those in RecNMP DIMMs together, the
    others one by one (:func:`_gather`); None for a case that fails (``strict``: its error)."""
    footprint = float(graph.graph.get("table_bytes", 0.0)) or None
    out = remember_gather_times(op, cases, b, engines)
    for i, (platform, locality) in enumerate(cases):
        if out[i] is None:
            try:
                out[i] = _gather(op, platform, b, engines, footprint, locality, _working_set(graph, platform, b))
            except DseError:
                if strict:
                    raise
    return out


def _group_seconds(op: Op, platforms: list[Platform], parts: GatherParts, gathers: np.ndarray) -> np.ndarray:
    """Seconds of one gathering operator on each platform (rows) at each batch size: its other
    terms (``parts``, :func:`_host_terms`) stacked, ``compute`` zero where RecNMP pools in the
    DIMMs, the gathers (``gathers``, one row per platform) over the thread speedup
    (:func:`op_seconds`; these platforms are synchronous: an asynchronous device's pass is costed
    by :func:`_issued_curve` and never comes here)."""
    shape = gathers.shape[1:]
    terms = {t: np.array([host[t] if host[t].shape == shape else np.broadcast_to(host[t], shape) for host, _ in parts])
             for t in ("overhead", "compute", "stream", "alloc", "transfer")}
    in_memory = np.array([[runs_in_memory(op, platform)] for platform in platforms])
    if in_memory.any():
        terms["compute"] = np.where(in_memory, 0.0, terms["compute"])  # RecNMP pools in the DIMMs
    terms["gather"] = gathers / np.array([[speedup] for _, speedup in parts])
    return op_seconds(op, False, terms)


_DENSE: "weakref.WeakKeyDictionary[nx.DiGraph, dict[tuple, tuple[np.ndarray, GatherParts]]]" = weakref.WeakKeyDictionary()
#: Platforms expected soon per graph (:func:`plan_dense`), grouped by :func:`_dense_keys`.
_PLANNED: "weakref.WeakKeyDictionary[nx.DiGraph, dict[str, dict[str, Platform]]]" = weakref.WeakKeyDictionary()
#: What the dense operators never read: NMP runs gathers only and the DDR topology serves the
#: gathers (dse/cost/gather.py, nmp.py); names and sources change no number.
_NOT_DENSE = {"nmp", "memory", "sources", "description"}


_KEYS: dict[int, tuple[Platform, str, str]] = {}


def _dense_keys(platform: Platform) -> tuple[str, str]:
    """The platform's dense memo key (its dump without ``_NOT_DENSE``) and group (that without
    the cache sizes: platforms alike in it are evaluated together), remembered per platform
    object (platforms are not changed once built; the entry holds the object, so its id stays its own)."""
    hit = _KEYS.get(id(platform))
    if hit is not None and hit[0] is platform:
        return hit[1], hit[2]
    key = platform.model_dump_json(exclude=_NOT_DENSE)
    group = platform.model_dump_json(exclude={**dict.fromkeys(_NOT_DENSE, True), "caches": {"__all__": {"size_mib"}}})
    if len(_KEYS) >= 1024:
        _KEYS.clear()
    _KEYS[id(platform)] = (platform, key, group)
    return key, group


def plan_dense(graph: nx.DiGraph, platforms: list[Platform], localities: list[str] | None = None) -> None:
    """Announce the platforms ``graph`` will be costed on next (a sweep's chunk): the first
    :func:`total_curve` that needs one of them computes the non-gather total of all those alike
    but for their cache sizes at once, as arrays over the platforms (:func:`dense_totals`).
    With ``localities`` (one per platform: each configuration's index stream), the first
    :func:`total_curve` of one of the announced (platform, locality) pairs computes the curves of
    all of them that gather in RecNMP DIMMs at once (:func:`curves_together`: their gathers
    together too), and the calls for the others find theirs."""
    groups: dict[str, dict[str, Platform]] = {}
    for platform in platforms:
        key, group = _dense_keys(platform)
        groups.setdefault(group, {})[key] = platform
    _PLANNED[graph] = groups
    cases = list({(id(p), loc): (p, loc) for p, loc in zip(platforms, localities)}.values()) if localities else []
    _PLANNED_CURVES[graph] = cases
    _CURVES[graph] = {}


#: The (platform, locality) pairs announced per graph (:func:`plan_dense`) whose curves have not
#: been computed together yet (:func:`_plan_curves` takes them out when it does).
_PLANNED_CURVES: "weakref.WeakKeyDictionary[nx.DiGraph, list[tuple[Platform, str]]]" = weakref.WeakKeyDictionary()
#: Their curves, per graph: (id(platform), locality, batch sizes asked for, engines, transfer) ->
#: (platform, curve); the entry holds the platform, so its id stays its own.
_CURVES: "weakref.WeakKeyDictionary[nx.DiGraph, dict[tuple, tuple[Platform, ServiceCurve]]]" = (
    weakref.WeakKeyDictionary())


def _plan_curves(graph: nx.DiGraph, b: np.ndarray, key: tuple) -> bool:
    """Once per announced chunk (``key``: that of :func:`total_curve`'s memo): the curves of
    every announced (platform, locality) whose gathers run in RecNMP DIMMs at once, at the batch
    sizes, engines and transfer of the first call for one of them (which a sweep's configurations
    of one study share), into the memo. False when nothing is announced, the call is not for an
    announced configuration (an accelerator's curve), this was done already (a chunk whose
    configurations differ in engines or batch sizes: the others compute theirs alone rather than
    the whole chunk again per setting), or a configuration fails (each then reports its own
    error)."""
    cases = _PLANNED_CURVES.get(graph)
    if not cases or not any(id(platform) == key[0] and locality == key[1] for platform, locality in cases):
        return False
    del _PLANNED_CURVES[graph]  # one pass per announced chunk
    memo = _CURVES.setdefault(graph, {})
    if len(memo) >= 4096:
        memo.clear()
    # only the configurations whose gathers all run in RecNMP DIMMs: computing the others' here
    # would save no work, and costs some where the chunk's configurations differ in engines
    groups = _gather_groups(graph)
    cases = [case for case in cases if all(runs_in_memory(op, case[0]) for op, _ in groups)]
    try:
        curves = curves_together(graph, cases, b, int(key[3]), key[4])
    except DseError:
        return False
    for (platform, locality), curve in zip(cases, curves):
        if curve is not None:
            memo[(id(platform), locality, *key[2:])] = (platform, curve)
    return True


def _gather_groups(graph: nx.DiGraph) -> list[tuple[Op, int]]:
    """The gathering groups of :func:`op_groups`, in order."""
    return [(op, count) for op, count in op_groups(graph) if op.kind in GATHER_KINDS]


#: Per gathering operator of a graph: its terms but the gather (``compute`` as on the host), and
#: its thread speedup (:func:`_host_terms`).
GatherParts = list[tuple[dict[str, np.ndarray], float]]


def dense_totals(
    graph: nx.DiGraph, platforms: list[Platform], b: np.ndarray, engines: int, transfer: bool
) -> tuple[np.ndarray, list[GatherParts]]:
    """Seconds of everything but the gathers, shape (platforms, batch sizes), for platforms that
    differ at most in their cache sizes and the fields in ``_NOT_DENSE``: :func:`op_times` with
    the cache capacities as arrays over the platforms (the same operations, element by element,
    as one platform at a time); and per platform the gathering operators' other terms
    (:func:`_host_terms`, which read no field of ``_NOT_DENSE`` either)."""
    first = platforms[0]
    sizes = [np.array([[p.caches[i].size_mib] for p in platforms]) for i in range(len(first.caches))]
    caps = cache_capacities(first, engines, sizes)
    total = np.zeros((len(platforms), b.size))
    for op, count in op_groups(graph):
        if op.kind not in GATHER_KINDS:
            total += count * op_times(op, first, b, engines, transfer, capacities=caps).time
    for part in _per_inference(graph, first, b, transfer):
        total += part.time
    hosts = [_host_terms(op, first, b, engines, caps) for op, _ in _gather_groups(graph)]
    parts = [[({t: (v[i] if v.ndim == 2 else v) for t, v in terms.items()}, speedup) for terms, speedup in hosts]
             for i in range(len(platforms))]
    return total, parts


def _dense_total(
    graph: nx.DiGraph, platform: Platform, b: np.ndarray, engines: int, transfer: bool
) -> tuple[np.ndarray, GatherParts]:
    """Seconds at each batch size of everything but the gathers (the other operators, the inputs,
    the per-inference costs) and the gathering operators' other terms, memoised per graph on the
    platform without the fields those never read (``_NOT_DENSE``), so a sweep over RankCache
    sizes, DIMMs and localities computes these once; platforms announced by :func:`plan_dense`
    are computed together. Read-only."""
    dense_key, dense_group = _dense_keys(platform)
    key = (dense_key, b.tobytes(), engines, transfer)
    memo = _DENSE.setdefault(graph, {})
    hit = memo.get(key)
    if hit is not None:
        return hit
    if len(memo) >= 1024:
        memo.clear()
    group = _PLANNED.get(graph, {}).get(dense_group, {})
    todo = {k: p for k, p in group.items() if (k, *key[1:]) not in memo}
    todo[key[0]] = platform
    totals, parts = dense_totals(graph, list(todo.values()), b, engines, transfer)
    for k, row, part in zip(todo, totals, parts):
        memo[(k, *key[1:])] = (row, part)
    return memo[key]
