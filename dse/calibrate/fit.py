"""Fit a platform's efficiency parameters to measured runs (``dse calibrate``).

Every measured row is costed with the *same* functions that predict models (:mod:`dse.cost`):

- a microbenchmark row becomes the operator it timed (:func:`micro_op`): ``gemm`` a Linear(k→n)
  at batch m; ``gather_cold`` an EmbeddingBag of k lookups of dim n over a table of ``rows`` rows
  for m samples; ``gather`` the same over the rows it really touches (the same indices every call
  keep only ``R·(1 − e^(−m·k/R))`` distinct rows in play); ``tiny_op`` a one-element add;
  ``copy`` a stream of the bytes read and written; ``h2d_pinned``/``d2h`` a host-link copy timed
  alone (the link's set-up, a copy's latency and its bytes; ``h2d_pageable`` rows are not used: on
  the H200 host they copied a never-written buffer at 15 GB/s where a model's freshly drawn inputs,
  pageable too, copied at the pinned rows' ~50 GB/s, docs/calibration.md); ``alloc_fresh`` (allocate and
  fill m bytes) the measured ``alloc_reuse`` time of the same size (fill a preallocated tensor)
  plus the allocator term (:mod:`dse.cost.alloc`) of one m-byte tensor, so those rows see
  ``allocator.page_fault_ns_per_kib`` alone. ``allocator.fresh_threshold_mib`` is a step, not a
  smooth parameter: it is chosen by a scan over the measured sizes (:func:`alloc_threshold`). On
  a GPU a timed call is a pass of its own (:func:`dse.cost.model.alone_seconds`): the launch, then
  the kernel against the final synchronisation (``dispatch.inference_us``), which overlap.
- a model row becomes the model's service curve at its batch (``transfer=1`` rows include the
  host↔device copies). ``cold=1`` rows (fresh uniform-random indices every repetition, as in
  serving and as the cost model assumes) are costed on the platform fed fresh indices, ``cold=0``
  rows (the same inputs every repetition) on the platform fed one repeated batch
  (:func:`dse.cost.cycled.with_cycled_batches`, 0 or 1 batch in the cycle, whatever the
  platform's stack cycles). Which rows a fit takes (:func:`row_temperatures`):
  by default both kinds, unless most of the platform's runs measured both ways have the cold
  run faster, which only different conditions can cause.

The free parameters (:data:`CPU_PARAMS`, :data:`GPU_PARAMS`, each with bounds and the class of
operator it governs) are fitted by :func:`scipy.optimize.least_squares` (``soft_l1`` loss, box
bounds, positive parameters in log space) on the residuals ``w · log(predicted / measured)``.
Weights balance the data: each microbenchmark kind and each model counts as one block of equal
total weight, and ``model_weight`` of the total goes to the model rows. A weak prior (``prior``,
per parameter, in log space) pulls parameters the data hardly constrains towards the spec's
values; parameters no row is sensitive to are left out of the fit (they keep their value and
source). Errors are reported as fractions (0.12 = 12%).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError
from scipy.optimize import least_squares

from dse.calibrate.data import Measurements
from dse.cost.alloc import alloc_time
from dse.cost.cycled import distinct_rows, with_cycled_batches  # the rows a warm run keeps in play (one home)
from dse.cost.model import alone_seconds, total_curve
from dse.cost.transfer import copy_time
from dse.errors import DseError
from dse.graph import ops
from dse.graph.lower import load_graph
from dse.graph.ops import Op, OpKind
from dse.paths import MODELSPECS_DIR, list_specs
from dse.specs.hardware import Platform
from dse.specs.ranges import MIN_MAGNITUDE
from dse.specs import fieldpath


@dataclass(frozen=True)
class Param:
    """One free parameter: a spec field path, bounds, the operator class it governs."""

    path: str
    lo: float
    hi: float
    what: str  # gemm | stream | gather | overhead | host_link | alloc
    start: float | None = None  # where to start when the spec leaves the term switched off

    @property
    def logged(self) -> bool:
        return self.lo > 0


#: The harness's own cost per timed microbenchmark call (Python loop, timer): a nuisance
#: parameter of the fit, added to every microbenchmark row and never written to a spec. Without
#: it a one-element add would pin the per-operator dispatch cost of a model's ops to the cost of a
#: whole timed call.
HARNESS_CALL = "harness.call_us"

#: Free parameters of a CPU platform (one single-threaded engine).
CPU_PARAMS: tuple[Param, ...] = (
    Param("compute.gemm.peak_fraction", 0.2, 1.0, "gemm"),
    Param("compute.gemm.m_half", 0.05, 500.0, "gemm"),
    Param("compute.gemm.pack_passes", 0.0, 6.0, "gemm"),
    Param("compute.gemm.pack_rows", 1.0, 64.0, "gemm"),
    Param("compute.vector_efficiency", 0.02, 1.0, "gemm"),
    Param("caches[1].bandwidth_gbs", 5.0, 400.0, "stream"),
    Param("caches[2].bandwidth_gbs", 2.0, 200.0, "stream"),
    Param("dram.engine_bandwidth_gbs", 1.0, 100.0, "stream"),
    Param("caches[1].line_ns", 0.05, 20.0, "gather"),
    Param("caches[2].line_ns", 0.2, 60.0, "gather"),
    Param("caches[2].size_mib", 2.0, 512.0, "gather"),
    Param("dram.latency_ns", 40.0, 500.0, "gather"),
    Param("dram.outstanding_misses", 1.0, 48.0, "gather"),
    Param("gather.row_overhead_ns", 0.0, 30.0, "gather"),
    Param("gather.ramp_rows", 1.0, 50000.0, "gather"),
    Param("gather.tlb_miss_ns", 0.0, 200.0, "gather"),
    Param("gather.tlb_reach_mib", 8.0, 16384.0, "gather"),
    Param("gather.walk_line_ns", 0.0, 1000.0, "gather", start=20.0),
    Param("dispatch.op_us", 0.3, 50.0, "overhead"),
    Param("dispatch.per_kind_us.fc", 0.5, 50.0, "overhead"),
    Param("dispatch.per_kind_us.embedding_bag", 0.5, 60.0, "overhead"),
    Param("dispatch.per_kind_us.embedding", 0.5, 60.0, "overhead"),
    Param("dispatch.step_us", 0.3, 80.0, "overhead"),
    Param("dispatch.inference_us", 0.0, 1000.0, "overhead"),
    # fault + zeroing per KiB of freshly mapped memory: 4 KiB pages at ~0.2-8 us each
    Param("allocator.page_fault_ns_per_kib", 50.0, 2000.0, "alloc", start=300.0),
    Param(HARNESS_CALL, 0.0, 100.0, "overhead"),
)

#: Free parameters of a GPU platform (one query at a time on the whole device).
GPU_PARAMS: tuple[Param, ...] = (
    Param("compute.gemm.peak_fraction", 0.2, 1.0, "gemm"),
    Param("compute.gemm.flops_half", 1e4, 2e9, "gemm"),
    Param("compute.gemm.m_half", 0.05, 2048.0, "gemm"),
    Param("dram.engine_bandwidth_gbs", 100.0, 20000.0, "stream"),
    Param("dram.random_efficiency", 0.02, 1.0, "gather"),
    Param("dram.latency_ns", 100.0, 5000.0, "gather"),
    Param("dram.outstanding_misses", 16.0, 1e7, "gather"),
    Param("gather.ramp_rows", 1.0, 1e7, "gather"),
    Param("gather.tlb_call_us", 0.0, 500.0, "gather", start=10.0),
    Param("gather.tlb_reach_mib", 1.0, 1e6, "gather", start=64.0),
    Param("dispatch.op_us", 0.5, 80.0, "overhead"),
    Param("dispatch.per_kind_us.embedding_bag", 0.5, 150.0, "overhead"),
    Param("dispatch.inference_us", 0.0, 200.0, "overhead"),
    Param("host_link.h2d_gbs", 0.5, 200.0, "host_link"),
    Param("host_link.d2h_gbs", 0.5, 200.0, "host_link"),
    Param("host_link.latency_us", 0.5, 200.0, "host_link"),
    Param("host_link.setup_us", 0.0, 200.0, "host_link"),
    Param(HARNESS_CALL, 0.0, 100.0, "overhead"),
)

#: Microbenchmark kinds the fit uses (``h2d_pageable`` is left out: see the module docstring).
FIT_MICRO_KINDS = ("gemm", "gather", "gather_cold", "tiny_op", "copy", "h2d_pinned", "d2h", "alloc_fresh")
#: The allocator's threshold, the one allocator parameter that is scanned rather than fitted.
ALLOC_THRESHOLD = "allocator.fresh_threshold_mib"
ALLOC_RATE = "allocator.page_fault_ns_per_kib"


def default_params(platform: Platform) -> tuple[Param, ...]:
    """The parameter catalogue for ``platform``'s kind (fields it lacks are left out)."""
    catalogue = GPU_PARAMS if platform.kind == "gpu" else CPU_PARAMS
    data = platform.model_dump(mode="python")
    out = []
    for p in catalogue:
        if p.path.startswith("dispatch.per_kind_us.") or p.path == HARNESS_CALL:
            out.append(p)
        elif fieldpath.exists(data, p.path) and fieldpath.get(data, p.path) is not None:
            out.append(p)
    return tuple(out)


def get_value(data: dict, path: str) -> float:
    """The number at a dotted spec path (:func:`dse.specs.fieldpath.get_number`)."""
    return fieldpath.get_number(data, path)


def set_value(data: dict, path: str, value: float) -> None:
    """Set an existing field at a dotted spec path (:func:`dse.specs.fieldpath.set_value`)."""
    fieldpath.set_value(data, path, value)


# --------------------------------------------------------------------------------------------
# selecting and costing rows


def micro_op(row: Any) -> tuple[Op, int] | None:
    """The operator a microbenchmark row timed and the batch it ran at (None for host copies)."""
    kind = row.kind
    if kind == "gemm":
        return ops.fc("gemm", int(row.k), int(row.n), 4), int(row.m)
    if kind in ("gather", "gather_cold"):
        rows = int(row.rows)
        if kind == "gather":  # same indices every call: only the rows touched are in play
            rows = max(1, int(round(float(distinct_rows(rows, row.m * row.k)))))
        op = ops.embedding_bag("gather", table="t", rows=rows, dim=int(row.n), lookups=int(row.k), precision=4, index_bytes=8)
        return op, int(row.m)
    if kind == "tiny_op":
        return ops.elementwise("tiny", "add", 1, 2, 4), 1
    if kind == "copy":
        # one element of the copy reads and writes its bytes: bytes / 2 per "item", 2 passes
        return Op("copy", OpKind.ELEMENTWISE, activation_bytes_per_item=2.0), int(round(row.bytes / 2.0))
    return None


def micro_rows(meas: Measurements, platform: Platform, warm_gathers: bool | None = None) -> pd.DataFrame:
    """The microbenchmark rows that describe one engine of ``platform``; warm ``gather`` rows
    only where there are no ``gather_cold`` ones (unless ``warm_gathers`` says otherwise)."""
    df = meas.micro
    if df.empty:
        return df
    if platform.kind == "gpu":
        keep = df["tag"] == "gpu"
    else:
        keep = (df["tag"] != "gpu") & (df["threads"] == platform.compute.engine_cores)
        keep &= ~df["kind"].isin(["h2d_pinned", "h2d_pageable", "d2h"])
    keep &= df["kind"].isin(FIT_MICRO_KINDS)
    if warm_gathers is None:
        warm_gathers = not (keep & (df["kind"] == "gather_cold")).any()
    if not warm_gathers:
        keep &= df["kind"] != "gather"  # cold gathers describe what the cost model assumes
    out = df[keep].reset_index(drop=True)
    fresh = out["kind"] == "alloc_fresh"
    if fresh.any():
        # an alloc_fresh row is costed on top of the alloc_reuse row of the same size and file
        reuse = df[(df["kind"] == "alloc_reuse") & (df["threads"] == platform.compute.engine_cores)]
        base = {(r.origin, float(r.m)): float(r.seconds) for r in reuse.itertuples()}
        out["baseline_s"] = [base.get((r.origin, float(r.m)), np.nan) if r.kind == "alloc_fresh" else np.nan for r in out.itertuples()]
        missing = fresh & out["baseline_s"].isna()
        if missing.any():
            r = out[missing].iloc[0]
            raise DseError(f"{r['origin']}: alloc_fresh m={int(r['m'])} has no alloc_reuse row of the same size to compare with")
    return out


def alloc_op() -> Op:
    """The tensor an ``alloc_fresh`` row allocates: one byte per item, batch = its size in bytes."""
    return Op("alloc", OpKind.ELEMENTWISE, allocations=((1.0, 1),))


def fit_alloc_rate(rows: pd.DataFrame, threshold_mib: float, param: Param, prior: float) -> float:
    """``allocator.page_fault_ns_per_kib`` fitted to ``alloc_fresh`` rows (their ``baseline_s``
    plus the term) with the main fit's loss, bounds and log residuals."""
    m = rows["m"].to_numpy(dtype=float)
    fresh_kib = np.where(m > threshold_mib * 2**20, m / 1024.0, 0.0)
    meas = rows["seconds"].to_numpy(dtype=float)
    base = rows["baseline_s"].to_numpy(dtype=float)
    if not fresh_kib.any():
        raise DseError(f"alloc_fresh rows: none above the {threshold_mib:g} MiB threshold, so no page-fault rate can be fitted")
    z0 = math.log(param.start or 300.0)

    def res(z: np.ndarray) -> np.ndarray:
        return np.r_[np.log((base + math.exp(z[0]) * fresh_kib * 1e-9) / meas), prior * (z[0] - z0)]

    out = least_squares(res, [z0], bounds=([math.log(param.lo)], [math.log(param.hi)]), loss="soft_l1", f_scale=0.1)
    return float(math.exp(out.x[0]))


def alloc_threshold(micro: pd.DataFrame) -> tuple[float, float, float] | None:
    """The allocator threshold (MiB) the ``alloc_fresh`` rows support, and the bracket of measured
    sizes it lies in: for every split of the sorted sizes, the rows above it pay the median excess
    per KiB over their ``alloc_reuse`` time and the rows below pay none; the split with the least
    squared log error wins, placed at the largest size below it (``size > threshold`` is fresh).
    None when no split has measured sizes on both sides."""
    rows = micro[micro["kind"] == "alloc_fresh"]
    if rows.empty:
        return None
    sizes = np.sort(np.unique(rows["m"].to_numpy(dtype=float)))
    meas = rows["seconds"].to_numpy(dtype=float)
    base = rows["baseline_s"].to_numpy(dtype=float)
    m = rows["m"].to_numpy(dtype=float)
    best: tuple[float, int] | None = None
    for i in range(len(sizes) - 1):
        above = m > sizes[i]
        rate = float(np.median((meas[above] - base[above]) / (m[above] / 1024.0)))
        pred = base + np.where(above, max(rate, 0.0) * m / 1024.0, 0.0)
        err = float(np.sum(np.log(pred / meas) ** 2))
        if best is None or err < best[0]:
            best = (err, i)
    if best is None:
        return None
    i = best[1]
    return sizes[i] / 2**20, sizes[i] / 2**20, sizes[i + 1] / 2**20


def known_models() -> set[str]:
    return set(list_specs(MODELSPECS_DIR))


#: ``dse calibrate --rows``: which model rows a fit takes (:func:`row_temperatures`).
ROW_CHOICES = ("auto", "cold", "warm", "both")
#: A cold=1 median below this fraction of the cold=0 median of the same model, batch and copy
#: setting contradicts the mechanism (fresh indices can only add misses) by more than the spread
#: of repeated medians ...
FASTER_COLD = 0.9
#: ... and when more than this share of a platform's pairs do, its warm and cold runs were taken
#: under different conditions (docs/calibration.md, "Warm rows").
MAX_CONTRADICTING = 0.5


def contradicting_pairs(models: pd.DataFrame) -> tuple[int, int]:
    """(pairs of runs whose cold=1 median is below :data:`FASTER_COLD` × the cold=0 median,
    pairs measured both ways), pairing rows of one model, batch and ``transfer``."""
    if models.empty or models["cold"].nunique() < 2:
        return 0, 0
    piv = models.pivot_table(index=["model", "batch", "transfer"], columns="cold", values="median_ms").dropna()
    return int((piv[1] < FASTER_COLD * piv[0]).sum()), int(len(piv))


def check_rows(rows: str) -> None:
    """``--rows``: one of :data:`ROW_CHOICES`."""
    if rows not in ROW_CHOICES:
        raise DseError(f"--rows: '{rows}' is not one of {', '.join(ROW_CHOICES)}")


def row_temperatures(rows: str, models: pd.DataFrame) -> tuple[tuple[int, ...], str | None]:
    """The ``cold`` values of the model rows a fit takes, given the platform's model rows of
    both kinds, and a note when ``auto`` leaves the warm ones out. ``auto``: cold and warm rows
    (each costed under its own condition: the warm runs pay the fixed costs without the
    per-call waits of fresh indices), unless more than :data:`MAX_CONTRADICTING` of the pairs
    measured both ways have the cold run faster (:func:`contradicting_pairs`). ``models``: the
    fitted models' rows (a held-out model's runs do not decide how the others are fitted)."""
    check_rows(rows)
    if rows != "auto":
        return {"cold": (1,), "warm": (0,), "both": (1, 0)}[rows], None
    bad, pairs = contradicting_pairs(models)
    if pairs and bad > MAX_CONTRADICTING * pairs:
        return (1,), (
            f"warm (cold=0) runs left out: in {bad} of {pairs} pairs the cold run is more than "
            f"{1 - FASTER_COLD:.0%} faster, which fresh indices cannot cause (other conditions; --rows both takes them)"
        )
    return (1, 0), None


def model_rows(meas: Measurements, platform: Platform, cold: int | tuple[int, ...] = 1) -> tuple[pd.DataFrame, list[str]]:
    """Model rows of ``platform``'s engine with ``cold`` among the given index temperatures;
    unknown models are skipped and named."""
    df = meas.models
    if df.empty:
        return df, []
    if platform.kind == "gpu":
        keep = df["tag"] == "gpu"
    else:
        keep = (df["tag"] != "gpu") & (df["threads"] == platform.compute.engine_cores) & (df["transfer"] == 0)
    keep &= df["cold"].isin((cold,) if isinstance(cold, int) else cold)
    rows = df[keep]
    known = known_models()
    unknown = sorted(set(rows["model"]) - known)
    return rows[rows["model"].isin(known)].reset_index(drop=True), unknown


class Predictor:
    """Predicts every selected row for a given platform.

    Everything that does not depend on the platform's numbers is built once: the model graphs,
    the microbenchmark rows grouped by the operator they timed (rows of one operator at several
    batch sizes are one vectorised :func:`alone_seconds` call), the host-copy and allocation rows'
    sizes. The fit calls :meth:`predict_micro` and :meth:`predict_models` a few hundred times."""

    def __init__(self, micro: pd.DataFrame, models: pd.DataFrame) -> None:
        self.micro = micro
        self.models = models
        self._op_groups, self._link_rows, self._alloc_rows = _micro_groups(micro)
        self._graphs = {m: load_graph(m) for m in sorted(set(models["model"]))} if len(models) else {}
        self._groups = []
        if len(models):
            for (model, transfer, cold), g in models.groupby(["model", "transfer", "cold"]):
                self._groups.append((model, bool(transfer), bool(cold), g.index.to_numpy(), g["batch"].to_numpy(dtype=float)))

    def predict_micro(self, platform: Platform, call_us: float = 0.0) -> np.ndarray:
        """Seconds of every microbenchmark row; ``call_us``: the harness's cost per timed call."""
        out = np.empty(len(self.micro))
        for op, idx, batches in self._op_groups:
            out[idx] = alone_seconds(op, platform, batches, call_us * 1e-6)
        if self._alloc_rows is not None:
            idx, baseline, size = self._alloc_rows
            out[idx] = baseline + alloc_time(alloc_op(), platform, size)
        if self._link_rows:
            link = platform.host_link
            if link is None:
                raise DseError(f"{platform.name}: host-link rows need a host_link section")
            for to_host, idx, nbytes in self._link_rows:
                bw = link.d2h_gbs if to_host else link.h2d_gbs
                out[idx] = copy_time(nbytes, bw, link.latency_us + link.setup_us) + call_us * 1e-6
        return out

    def predict_models(self, platform: Platform, skip: frozenset[str] = frozenset()) -> np.ndarray:
        """Seconds of every model row; the rows of the models in ``skip`` are left NaN (the fit
        never looks at its held-out rows, so it need not cost them at every step). The curve is
        :func:`total_curve` (each distinct operator once, no per-operator breakdown), which
        equals :func:`service_curve`'s total; cold rows on the platform fed fresh indices, warm
        rows on it fed one repeated batch."""
        out = np.full(len(self.models), np.nan)
        fed: dict[bool, Platform] = {}
        for model, transfer, cold, idx, batches in self._groups:
            if model in skip:
                continue
            if cold not in fed:
                fed[cold] = with_cycled_batches(platform, 0 if cold else 1)
            curve = total_curve(self._graphs[model], fed[cold], batches, transfer=transfer)
            out[idx] = curve(batches)
        return out


def _micro_groups(
    micro: pd.DataFrame,
) -> tuple[list[tuple[Op, np.ndarray, np.ndarray]], list[tuple[bool, np.ndarray, np.ndarray]], tuple[np.ndarray, ...] | None]:
    """The parameter-free part of costing microbenchmark rows: [(operator, row indices, batches)]
    with identical operators merged, [(to host?, row indices, bytes)] of host-link copies, and
    (row indices, measured ``alloc_reuse`` seconds, bytes) of ``alloc_fresh`` rows (or None)."""
    groups: dict[str, tuple[Op, list[int], list[float]]] = {}
    links: dict[bool, tuple[list[int], list[float]]] = {}
    alloc: tuple[list[int], list[float], list[float]] = ([], [], [])
    for i, row in enumerate(micro.itertuples()):
        if row.kind == "alloc_fresh":
            for part, v in zip(alloc, (i, row.baseline_s, row.m)):
                part.append(v)
            continue
        made = micro_op(row)
        if made is None:
            part = links.setdefault(row.kind == "d2h", ([], []))
            part[0].append(i)
            part[1].append(float(row.m))
            continue
        op, batch = made
        entry = groups.setdefault(repr(op), (op, [], []))
        entry[1].append(i)
        entry[2].append(float(batch))
    op_groups = [(op, np.array(idx), np.array(b)) for op, idx, b in groups.values()]
    link_rows = [(to_host, np.array(idx), np.array(n)) for to_host, (idx, n) in links.items()]
    alloc_rows = tuple(np.array(a, dtype=float if k else int) for k, a in enumerate(alloc)) if alloc[0] else None
    return op_groups, link_rows, alloc_rows


# --------------------------------------------------------------------------------------------
# the fit


@dataclass
class FitResult:
    """What :func:`calibrate` found: the fitted platform, the parameters, and every row's error."""

    base: Platform
    fitted: Platform
    params: list[dict[str, Any]]
    rows: pd.DataFrame  # set, cls, model, batch, cold (model rows), role, measured_s, before_s, after_s
    holdout: list[str]
    skipped_models: list[str]
    frameworks: list[str]
    origins: list[str]
    cost: float = 0.0
    nfev: int = 0
    notes: list[str] = field(default_factory=list)

    @staticmethod
    def _mape(df: pd.DataFrame, col: str) -> float | None:
        if df.empty:
            return None
        return float(np.mean(np.abs(df[col] / df["measured_s"] - 1.0)))

    @staticmethod
    def _split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(the model rows a figure is over, the warm rows besides them): the cold=1 rows where
        there are any (the condition of serving and of the leave-one-model-out figures), else
        the warm ones."""
        cold = df["cold"] == 1
        return (df[cold], df[~cold]) if cold.any() else (df, df.iloc[0:0])

    def mape(self, col: str, role: str = "fit", which: str | None = None) -> float | None:
        df = self.rows[self.rows["role"] == role]
        if which is not None:
            df = df[df["set"] == which]
        return self._mape(df, col)

    def _held_out(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """:meth:`_split` of each held-out model's rows, joined: (the rows the held-out figure is
        over, the warm rows besides them)."""
        held = self.rows[(self.rows["role"] == "holdout") & (self.rows["set"] == "model")]
        pairs = [self._split(g) for _, g in held.groupby("model", sort=False)] or [(held, held)]
        return pd.concat([h for h, _ in pairs]), pd.concat([r for _, r in pairs])

    def holdout_mape(self, col: str = "after_s", warm: bool = False) -> float | None:
        """MAPE of the held-out model rows: each model's cold ones (its warm ones where it has no
        cold ones); ``warm``: the warm rows besides those."""
        head, rest = self._held_out()
        return self._mape(rest if warm else head, col)

    def per_model(self) -> list[dict[str, Any]]:
        out = []
        df = self.rows[self.rows["set"] == "model"]
        for (model, role), g in df.groupby(["model", "role"], sort=False):
            head, warm = self._split(g)
            out.append(
                {
                    "model": model,
                    "role": role,
                    "runs": "cold" if (head["cold"] == 1).all() else "warm",
                    "rows": int(len(head)),
                    "before_mape": self._mape(head, "before_s"),
                    "after_mape": self._mape(head, "after_s"),
                    "warm_rows": int(len(warm)),
                    "warm_after_mape": self._mape(warm, "after_s"),
                }
            )
        return sorted(out, key=lambda d: (d["role"] != "fit", d["model"]))

    def per_class(self) -> list[dict[str, Any]]:
        out = []
        df = self.rows[self.rows["set"] == "micro"]
        for cls, g in df.groupby("cls", sort=True):
            out.append(
                {"class": cls, "rows": int(len(g)), "before_mape": self._mape(g, "before_s"), "after_mape": self._mape(g, "after_s")}
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        def block(col: str) -> dict[str, Any]:
            return {
                "mape": self.mape(col),
                "models_mape": self.mape(col, which="model"),
                "micro_mape": self.mape(col, which="micro"),
            }

        held, held_warm = self._held_out()
        return {
            "hardware": self.fitted.name,
            "base": self.base.name,
            "parameters": {p["path"]: p["after"] for p in self.params},
            "parameter_details": self.params,
            "before": block("before_s"),
            "after": block("after_s"),
            "holdout": {
                "models": list(self.holdout),
                "mape": self._mape(held, "after_s"),
                "before_mape": self._mape(held, "before_s"),
                "rows": int(len(held)),
                "warm_mape": self._mape(held_warm, "after_s"),
            },
            "per_model": self.per_model(),
            "per_class": self.per_class(),
            "rows": {"fit": int((self.rows["role"] == "fit").sum()), "holdout": int((self.rows["role"] == "holdout").sum())},
            "skipped_models": list(self.skipped_models),
            "frameworks": list(self.frameworks),
            "data": list(self.origins),
            "notes": list(self.notes),
        }


def _block_weights(
    labels: list[str], is_model: np.ndarray, model_weight: float, parts: np.ndarray | None = None
) -> np.ndarray:
    """Per-row weights: each label (micro kind or model) is one block of equal total weight;
    ``model_weight`` of the total goes to model blocks (all of it when there are no micro rows).
    ``parts`` (per row): the block's weight is shared equally by its parts (a model's cold and
    warm runs), then by the rows of each part."""
    labels_arr = np.asarray(labels, dtype=object)
    parts_arr = np.zeros(len(labels), dtype=int) if parts is None else np.asarray(parts)
    n = len(labels)
    w = np.zeros(n)
    groups = {False: sorted(set(labels_arr[~is_model])), True: sorted(set(labels_arr[is_model]))}
    share = {True: model_weight, False: 1.0 - model_weight}
    if not groups[True]:
        share = {True: 0.0, False: 1.0}
    if not groups[False]:
        share = {True: 1.0, False: 0.0}
    for flag, blocks in groups.items():
        for label in blocks:
            mask = (labels_arr == label) & (is_model == flag)
            kinds = np.unique(parts_arr[mask])
            for kind in kinds:
                rows = mask & (parts_arr == kind)
                # squared weights of a block sum to share / blocks; scaled so the mean squared weight is 1
                w[rows] = np.sqrt(n * share[flag] / len(blocks) / len(kinds) / rows.sum())
    return w


def _select_rows(
    meas: Measurements, platform: Platform, holdout: list[str], rows: str, warm_gathers: bool | None
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], str | None]:
    """The microbenchmark and model rows the fit of ``platform`` uses, the measured models
    that have no spec and the note of :func:`row_temperatures`; a one-line :class:`DseError`
    when ``holdout`` or the data do not fit."""
    known = known_models()
    bad = [h for h in holdout if h not in known]
    if bad:
        raise DseError(f"--holdout: unknown model(s) {', '.join(bad)} (known: {', '.join(sorted(known))})")
    micro = micro_rows(meas, platform, warm_gathers)
    models, unknown = model_rows(meas, platform, (1, 0))
    temps, rows_note = row_temperatures(rows, models[~models["model"].isin(holdout)])
    models = models[models["cold"].isin(temps)].reset_index(drop=True)
    if len(meas.models) and models.empty and unknown:
        raise DseError(
            f"model rows name no known model: {', '.join(unknown)} (known: {', '.join(sorted(known))}; "
            "add a spec to modelspecs/)"
        )
    missing = [h for h in holdout if h not in set(models["model"])] if len(models) else list(holdout)
    if missing:
        kinds = " or ".join("cold" if t else "warm" for t in temps)
        raise DseError(f"--holdout: no {kinds} rows of {', '.join(missing)} for {platform.name} in the data")
    if micro.empty and models.empty:
        raise DseError(
            f"no measurement applies to {platform.name} ({platform.kind}): need tag "
            f"{'gpu' if platform.kind == 'gpu' else 'cpu'} rows"
            + ("" if platform.kind == "gpu" else f" with threads={platform.compute.engine_cores}")
            + (" and cold=1 model rows" if 1 in temps else "")
        )
    return micro, models, unknown, rows_note


def _split_alloc(micro: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the ``alloc_fresh`` rows, every other microbenchmark row)."""
    if not len(micro):
        return micro, micro
    fresh = micro["kind"] == "alloc_fresh"
    return micro[fresh].reset_index(drop=True), micro[~fresh].reset_index(drop=True)


def _start_data(platform: Platform, params: tuple[Param, ...]) -> dict[str, Any]:
    """``platform`` as plain data, with every per-kind dispatch entry of ``params`` present
    (at ``dispatch.op_us``, the value it has while absent) so that it can be fitted."""
    data = platform.model_dump(mode="python")
    for p in params:
        if p.path.startswith("dispatch.per_kind_us."):
            data["dispatch"]["per_kind_us"].setdefault(p.path.rsplit(".", 1)[1], data["dispatch"]["op_us"])
    return data


def _fit_allocator(
    data: dict[str, Any], alloc_micro: pd.DataFrame, params: tuple[Param, ...], platform: Platform, prior: float
) -> tuple[list[dict[str, Any]], tuple[float, float, float] | None]:
    """Fit the allocator term on its own rows (they see nothing else: their baseline is measured)
    and write it into ``data``, where the main fit holds it fixed; so the main fit is the same
    with or without these rows. Returns the two parameters' details (none when the term is not
    fitted) and the threshold bracket of :func:`alloc_threshold`."""
    rate_param = next((p for p in params if p.path == ALLOC_RATE), None)
    threshold = alloc_threshold(alloc_micro) if platform.kind != "gpu" and len(alloc_micro) else None
    if rate_param is None or threshold is None:
        return [], threshold
    threshold_before = get_value(data, ALLOC_THRESHOLD)
    rate_before = get_value(data, ALLOC_RATE)
    set_value(data, ALLOC_THRESHOLD, threshold[0])
    rate = fit_alloc_rate(alloc_micro, threshold[0], rate_param, prior)
    set_value(data, ALLOC_RATE, rate)
    at_bound = bool(np.isclose(rate, rate_param.lo, rtol=1e-4) or np.isclose(rate, rate_param.hi, rtol=1e-4))
    detail = [
        {"path": ALLOC_RATE, "class": "alloc", "before": rate_before, "after": rate, "lo": rate_param.lo,
         "hi": rate_param.hi, "at_bound": at_bound},
        {"path": ALLOC_THRESHOLD, "class": "alloc", "before": threshold_before, "after": float(threshold[0]),
         "lo": float(threshold[1]), "hi": float(threshold[2]), "at_bound": False},
    ]
    return detail, threshold


def _switch_on(data: dict[str, Any], params: tuple[Param, ...]) -> dict[str, float]:
    """Where the spec leaves the term of the parameters with a ``start`` off (the first of them
    is 0), start every one of them where the term is active; returns their spec values (empty
    when nothing was switched on)."""
    switch = [p for p in params if p.start is not None]
    switched: dict[str, float] = {}
    if switch and get_value(data, switch[0].path) == 0:
        for p in switch:
            switched[p.path] = get_value(data, p.path)
            set_value(data, p.path, min(get_value(data, p.path), p.start) if p is not switch[0] else p.start)
    return switched


#: Nuisance parameters (not platform fields) and where they start.
NUISANCE_START = {HARNESS_CALL: 0.0}


class FitProblem:
    """The log residuals of the fitted rows for any values of some parameters.

    ``data`` is the platform (plain data) every trial starts from; each trial copies it, so the
    only changes to it are the explicit ones of :meth:`restore`."""

    def __init__(self, data: dict[str, Any], micro: pd.DataFrame, models: pd.DataFrame, is_hold: np.ndarray) -> None:
        self.data = data
        self.predictor = Predictor(micro, models)
        self.has_models = bool(len(models))
        self.is_hold = is_hold
        self.held_models = frozenset(models["model"][is_hold]) if len(models) else frozenset()
        self.meas_micro = micro["seconds"].to_numpy(dtype=float)
        self.meas_models = models["median_ms"].to_numpy(dtype=float) * 1e-3 if len(models) else np.zeros(0)

    def value(self, path: str) -> float:
        """The starting value of ``path`` (a spec field or a nuisance parameter)."""
        return NUISANCE_START[path] if path in NUISANCE_START else get_value(self.data, path)

    def restore(self, values: dict[str, float]) -> None:
        """Set spec fields of the starting point (path -> value)."""
        for path, v in values.items():
            set_value(self.data, path, v)

    def build(self, values: np.ndarray, plist: tuple[Param, ...]) -> tuple[Platform, dict[str, float]]:
        """The platform with ``plist`` at ``values``, and the nuisance parameters' values.
        Raises pydantic's ``ValidationError`` for a value the schema rejects."""
        data = copy.deepcopy(self.data)
        extra = dict(NUISANCE_START)
        for p, v in zip(plist, values):
            if p.path in extra:
                extra[p.path] = float(v)
            else:
                # a parameter that may be 0 can land below the smallest non-zero magnitude a
                # spec number may have (dse/specs/ranges.py): that is zero
                set_value(data, p.path, 0.0 if abs(v) < MIN_MAGNITUDE else float(v))
        return Platform.model_validate(data), extra

    def residuals(self, built: tuple[Platform, dict[str, float]]) -> np.ndarray:
        """``log(predicted / measured)`` of the micro rows, then of the fitted (not held-out) model rows."""
        plat, extra = built
        parts = [np.log(self.predictor.predict_micro(plat, extra[HARNESS_CALL]) / self.meas_micro)]
        if self.has_models:
            pm = self.predictor.predict_models(plat, self.held_models)
            parts.append(np.log(pm[~self.is_hold] / self.meas_models[~self.is_hold]))
        return np.concatenate(parts)

    def start_residuals(self, name: str) -> np.ndarray:
        """:meth:`residuals` at the starting point; a :class:`DseError` when some are not finite."""
        r0 = self.residuals((Platform.model_validate(self.data), dict(NUISANCE_START)))
        if not np.all(np.isfinite(r0)):
            raise DseError(f"{name}: the spec predicts a non-finite time for some measured row")
        return r0


def _sensitive(problem: FitProblem, params: tuple[Param, ...], r0: np.ndarray) -> list[Param]:
    """The parameters some fitted row is sensitive to: moving one alone (30% in log space, else a
    tenth of its range, inside its bounds) changes a residual by more than 1e-6."""
    x_start = np.array([problem.value(p.path) for p in params])
    free: list[Param] = []
    for p, x in zip(params, x_start):
        trial = x * 1.3 if p.logged and x > 0 else (x + 0.1 * (p.hi - p.lo))
        trial = min(max(trial, p.lo), p.hi)
        if trial == x:
            trial = x * 0.7 if p.logged else x - 0.1 * (p.hi - p.lo)
        try:
            r1 = problem.residuals(problem.build(np.array([trial]), (p,)))
        except ValidationError:  # bounds wider than the schema allows: no trial there, so not fitted
            continue
        if np.max(np.abs(r1 - r0)) > 1e-6:
            free.append(p)
    return free


def _free_params(problem: FitProblem, params: tuple[Param, ...], switched: dict[str, float], name: str) -> list[Param]:
    """:func:`_sensitive` at the starting point; a switched-on term no fitted row sees is put
    back as the spec has it (off) and none of its parameters is fitted."""
    free = _sensitive(problem, params, problem.start_residuals(name))
    first_switched = next(iter(switched), None)
    if first_switched is not None and not any(p.path == first_switched for p in free):
        problem.restore(switched)
        free = [p for p in free if p.path not in switched]
    return free


def _row_weights(micro: pd.DataFrame, models: pd.DataFrame, is_hold: np.ndarray, model_weight: float) -> np.ndarray:
    """:func:`_block_weights` of the fitted rows: micro rows by kind, then model rows by model,
    a model's cold and warm runs half each."""
    labels = list(micro["kind"]) + list(models["model"][~is_hold]) if len(models) else list(micro["kind"])
    is_model = np.r_[np.zeros(len(micro), dtype=bool), np.ones(int((~is_hold).sum()), dtype=bool)]
    temps = models["cold"].to_numpy(dtype=int)[~is_hold] if len(models) else np.zeros(0, dtype=int)
    return _block_weights(labels, is_model, model_weight, np.r_[np.zeros(len(micro), dtype=int), temps])


def _pack(x: np.ndarray, logged: np.ndarray) -> np.ndarray:
    """Parameter values -> the solver's variables (log of the positive parameters)."""
    return np.where(logged, np.log(np.maximum(x, 1e-300)), x)


def _unpack(z: np.ndarray, logged: np.ndarray) -> np.ndarray:
    """The solver's variables -> parameter values."""
    return np.where(logged, np.exp(np.clip(z, -700, 700)), z)


def _solve(
    problem: FitProblem, free: tuple[Param, ...], weights: np.ndarray, prior: float, max_nfev: int
) -> tuple[np.ndarray, float, int]:
    """Fitted values of ``free`` (each started at its value, nudged inside its bounds), the
    solver's final cost and its number of evaluations; the start itself when nothing is free."""
    lo = np.array([p.lo for p in free])
    hi = np.array([p.hi for p in free])
    logged = lo > 0
    x0 = np.array([problem.value(p.path) for p in free])
    x0 = np.clip(x0, lo + 1e-9 + 1e-6 * np.abs(lo), hi - 1e-6 * np.abs(hi))
    if not free:
        return x0, 0.0, 0
    z0 = _pack(x0, logged)
    scale = np.where(logged, 1.0, np.maximum(hi - lo, 1e-12))

    def residuals(z: np.ndarray) -> np.ndarray:
        r = problem.residuals(problem.build(_unpack(z, logged), free)) * weights
        return np.concatenate([r, prior * (z - z0) / scale])

    result = least_squares(
        residuals,
        z0,
        bounds=(_pack(lo, logged), _pack(hi, logged)),
        loss="soft_l1",
        f_scale=0.1,
        x_scale="jac",
        max_nfev=max_nfev,
    )
    return _unpack(result.x, logged), float(result.cost), int(result.nfev)


def _micro_frame(micro: pd.DataFrame, before_s: np.ndarray, after_s: np.ndarray) -> pd.DataFrame:
    """Result rows (:attr:`FitResult.rows`) of microbenchmark rows."""
    return pd.DataFrame(
        {
            "set": "micro",
            "cls": micro["kind"].to_numpy(),
            "model": "",
            "batch": micro["m"].to_numpy(),
            "role": "fit",
            "measured_s": micro["seconds"].to_numpy(dtype=float),
            "before_s": before_s,
            "after_s": after_s,
            "origin": micro["origin"].to_numpy(),
        }
    )


def _result_rows(
    problem: FitProblem,
    micro: pd.DataFrame,
    models: pd.DataFrame,
    alloc_micro: pd.DataFrame,
    before: Platform,
    after: tuple[Platform, dict[str, float]],
) -> pd.DataFrame:
    """Every row's measured time and its prediction before and after the fit (seconds)."""
    fitted, extra = after
    pred = problem.predictor
    frames = [_micro_frame(micro, pred.predict_micro(before), pred.predict_micro(fitted, extra[HARNESS_CALL]))]
    if len(models):
        frames.append(
            pd.DataFrame(
                {
                    "set": "model",
                    "cls": models["model"].to_numpy(),
                    "model": models["model"].to_numpy(),
                    "batch": models["batch"].to_numpy(),
                    "cold": models["cold"].to_numpy(),
                    "role": np.where(problem.is_hold, "holdout", "fit"),
                    "measured_s": problem.meas_models,
                    "before_s": pred.predict_models(before),
                    "after_s": pred.predict_models(fitted),
                    "origin": models["origin"].to_numpy(),
                }
            )
        )
    if len(alloc_micro):
        alloc_pred = Predictor(alloc_micro, models.iloc[0:0])
        frames.append(_micro_frame(alloc_micro, alloc_pred.predict_micro(before), alloc_pred.predict_micro(fitted)))
    return pd.concat(frames, ignore_index=True)


def _frameworks(micro: pd.DataFrame, alloc_micro: pd.DataFrame, models: pd.DataFrame) -> list[str]:
    """The software that took the rows, sorted."""
    cols = ["origin", "framework"]
    fw_rows = pd.concat([micro[cols], alloc_micro[cols] if len(alloc_micro) else micro[[]], models[cols] if len(models) else micro[[]]])
    return sorted(set(fw_rows["framework"].dropna().astype(str)))


def _param_details(
    problem: FitProblem, free: tuple[Param, ...], x_fit: np.ndarray, switched: dict[str, float]
) -> list[dict[str, Any]]:
    """Per fitted parameter: path, class, value before (the spec's) and after, bounds, at a bound."""
    return [
        {
            "path": p.path,
            "class": p.what,
            "before": switched.get(p.path, problem.value(p.path)),
            "after": float(x),
            "lo": p.lo,
            "hi": p.hi,
            "at_bound": bool(np.isclose(x, p.lo, rtol=1e-4, atol=1e-12) or np.isclose(x, p.hi, rtol=1e-4)),
        }
        for p, x in zip(free, x_fit)
    ]


def _fit_notes(
    extra: dict[str, float],
    free: tuple[Param, ...],
    params: tuple[Param, ...],
    alloc_detail: list[dict[str, Any]],
    threshold: tuple[float, float, float] | None,
) -> list[str]:
    """The report's notes: fitted nuisance values, the allocator pre-fit, parameters left alone."""
    notes = [
        f"{k} = {v:.3g} (the harness's own cost per timed call; not a platform number)"
        for k, v in extra.items()
        if any(p.path == k for p in free)
    ]
    if alloc_detail and threshold is not None:
        notes.append(
            f"{ALLOC_RATE} = {alloc_detail[0]['after']:.4g}, {ALLOC_THRESHOLD} = {threshold[0]:.4g} (fitted first, on the "
            f"alloc_fresh rows alone; rows of {threshold[1]:.4g} MiB and below pay no fault, {threshold[2]:.4g} MiB and above do)"
        )
    left = [p.path for p in params if p not in free]
    if left:
        notes.append("not constrained by the data (kept): " + ", ".join(left))
    return notes


def calibrate(
    meas: Measurements,
    platform: Platform,
    holdout: list[str] | None = None,
    params: tuple[Param, ...] | None = None,
    rows: str = "auto",
    model_weight: float = 0.5,
    prior: float = 0.05,
    max_nfev: int = 200,
    warm_gathers: bool | None = None,
) -> FitResult:
    """Fit ``params`` (default: :func:`default_params`) of ``platform`` to ``meas``.

    ``holdout``: models whose rows are left out of the fit and reported apart. ``rows``: which
    model rows (:data:`ROW_CHOICES`, :func:`row_temperatures`). Raises a one-line
    :class:`DseError` when nothing applies to this platform, a holdout model is unknown or absent,
    or there are too few rows for the free parameters.
    """
    holdout = [h for h in (holdout or []) if h]
    micro, models, unknown, rows_note = _select_rows(meas, platform, holdout, rows, warm_gathers)
    alloc_micro, micro = _split_alloc(micro)
    is_hold = models["model"].isin(holdout).to_numpy() if len(models) else np.zeros(0, dtype=bool)
    weights = _row_weights(micro, models, is_hold, model_weight)

    params = tuple(params) if params is not None else default_params(platform)
    data = _start_data(platform, params)
    alloc_detail, threshold = _fit_allocator(data, alloc_micro, params, platform, prior)
    params = tuple(p for p in params if p.path != ALLOC_RATE)
    switched = _switch_on(data, params)
    problem = FitProblem(data, micro, models, is_hold)
    free = tuple(_free_params(problem, params, switched, platform.name))
    if len(weights) < 3 or len(weights) < len(free):
        raise DseError(
            f"too few points to fit: {len(weights)} measured row(s) for {platform.name} against {len(free)} free "
            "parameter(s); measure more batch sizes or microbenchmarks"
        )
    x_fit, cost, nfev = _solve(problem, free, weights, prior, max_nfev)
    fitted, extra = problem.build(x_fit, free)

    rows = _result_rows(problem, micro, models, alloc_micro, platform, (fitted, extra))
    details = _param_details(problem, free, x_fit, switched) + alloc_detail
    return FitResult(
        base=platform,
        fitted=fitted,
        params=[d for d in details if d["path"] not in NUISANCE_START],
        rows=rows,
        holdout=list(holdout),
        skipped_models=unknown,
        frameworks=_frameworks(micro, alloc_micro, models),
        origins=list(dict.fromkeys(rows[rows["role"] == "fit"]["origin"])),
        cost=cost,
        nfev=nfev,
        notes=_fit_notes(extra, free, params, alloc_detail, threshold) + ([rows_note] if rows_note else []),
    )
