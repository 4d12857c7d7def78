"""Fit a hardware spec's efficiencies, latencies and overheads to the shared microbenchmarks.

    python benchmarks/fit_micro.py ci_cpu          # or h200_host, h200
    python benchmarks/fit_micro.py ci_cpu --write  # print the fitted values as --set lines

How the numbers in ``hwspecs/ci_cpu.yaml``, ``h200_host.yaml`` and ``h200.yaml`` marked
"fitted" were derived. Each microbenchmark row of ``<machine>_micro.csv`` (FACTS.md section 5) is
turned into the operator it timed (a Linear, an EmbeddingBag, a one-element add, a copy, a host
link copy), costed with the *same* functions as the models (:mod:`dse.cost`), and the listed spec
fields are fitted by robust least squares on log(predicted / measured). Fields are then rounded
and written into the YAML by hand, with the source saying "fitted".

Framework costs that a single-op microbenchmark cannot isolate (the fixed cost of a forward pass,
a GRU step, and on the GPU the split between launch and synchronisation) are fitted jointly on
the ``cold=0`` model runs (same indices every repetition). Those are the *training* split; the
``cold=1`` runs stay the accuracy test set (benchmarks/bench_accuracy.py).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from dse.cost.model import op_times, service_curve
from dse.cost.transfer import copy_time
from dse.cost.validation import MEASURED_DIR
from dse.graph import load_graph, ops
from dse.graph.ops import Op, OpKind
from dse.specs.hardware import Platform, load_platform
from dse.specs.loading import validate_spec
from dse.specs.overrides import apply_overrides


@dataclass(frozen=True)
class Param:
    path: str
    lo: float
    hi: float


@dataclass(frozen=True)
class Fit:
    """What to fit for one spec: microbenchmark rows, and the cold=0 model runs used for training."""

    micro: str
    tag: str
    threads: int
    kinds: tuple[str, ...]
    params: tuple[Param, ...]
    models: str
    train_models: tuple[str, ...] = ()
    train_max_batch: int = 4
    micro_filter: Callable[[pd.DataFrame], pd.Series] | None = None


CPU_GATHER = (
    Param("caches[1].line_ns", 0.1, 10.0),
    Param("caches[2].line_ns", 0.5, 30.0),
    Param("caches[2].size_mib", 4.0, 480.0),
    Param("dram.latency_ns", 50.0, 400.0),
    Param("dram.outstanding_misses", 1.0, 32.0),
    Param("gather.row_overhead_ns", 0.0, 20.0),
    Param("gather.ramp_rows", 0.0, 20000.0),
    Param("gather.tlb_miss_ns", 0.0, 100.0),
    Param("gather.tlb_reach_mib", 16.0, 8192.0),
)
CPU_CORE = (
    Param("compute.gemm.peak_fraction", 0.5, 1.0),
    Param("compute.gemm.m_half", 0.0, 200.0),
    Param("compute.gemm.pack_passes", 0.0, 6.0),
    Param("caches[1].bandwidth_gbs", 10.0, 300.0),
    Param("caches[2].bandwidth_gbs", 5.0, 100.0),
    Param("dispatch.per_kind_us.fc", 2.0, 30.0),
    Param("dispatch.per_kind_us.embedding_bag", 0.5, 30.0),
    Param("dispatch.inference_us", 0.0, 500.0),
)

GPU_PARAMS = (
    Param("compute.gemm.peak_fraction", 0.3, 1.0),
    Param("compute.gemm.flops_half", 1e5, 2e8),  # <= ~5 us of device time: a kernel floor, not the launch
    Param("compute.gemm.m_half", 0.0, 512.0),
    Param("dram.random_efficiency", 0.05, 1.0),
    Param("dram.latency_ns", 200.0, 3000.0),
    Param("dram.outstanding_misses", 16.0, 1e6),
    Param("gather.ramp_rows", 0.0, 1e6),
    Param("dispatch.op_us", 1.0, 40.0),
    Param("dispatch.per_kind_us.embedding_bag", 1.0, 80.0),
    Param("dispatch.inference_us", 0.0, 40.0),
    Param("host_link.h2d_gbs", 1.0, 100.0),
    Param("host_link.d2h_gbs", 1.0, 100.0),
    Param("host_link.latency_us", 1.0, 100.0),
)

FITS = {
    # ci_cpu: everything from its micro rows; the per-forward cost and the GRU step cost from the
    # cold=0 runs at batch <= 4 of the models whose gathers do not dominate there (a warm gather
    # re-reads cached rows, which the cold model of the test set does not describe)
    "ci_cpu": Fit(
        "ci_cpu_micro.csv", "cpu", 1, ("gemm", "gather_cold", "tiny_op"),
        CPU_CORE + CPU_GATHER + (Param("dispatch.step_us", 0.5, 50.0), Param("dispatch.per_kind_us.embedding", 2.0, 30.0)),
        "ci_cpu_models.csv",
        train_models=("dlrm_rmc3", "ncf", "wnd", "mtwnd", "din", "dien"),
    ),
    # h200_host: no cold gathers were measured on this CPU, so its gather terms are ci_cpu's; the
    # warm gathers over a 10,000-row table (cache-resident either way) fix the EmbeddingBag cost
    "h200_host": Fit(
        "h200_micro.csv", "cpu", 1, ("gemm", "gather", "tiny_op"),
        CPU_CORE,
        "h200_models.csv",
        train_models=("ncf", "wnd"),
        micro_filter=lambda df: (df.kind != "gather") | ((df.rows == 10000) & (df.m <= 64)),
    ),
    # h200: every GPU micro call is one launch plus one synchronisation, which the micro rows alone
    # cannot split; the cold=0 model runs (launch-bound at every batch) fix the launch costs
    "h200": Fit(
        "h200_micro.csv", "gpu", 0, ("gemm", "gather_cold", "tiny_op", "h2d_pageable", "d2h"),
        GPU_PARAMS,
        "h200_models.csv",
        train_models=("dlrm_rmc1", "ncf", "wnd"),
        train_max_batch=4096,
        micro_filter=lambda df: ~((df.kind == "gemm") & (df.m == 1) & (df.k == 256) & (df.n == 256)),
    ),
}


def micro_op(row: pd.Series) -> tuple[Op, int] | None:
    """The operator a microbenchmark row timed, and the batch it ran at."""
    if row.kind == "gemm":
        return ops.fc("gemm", int(row.k), int(row.n), 4), int(row.m)
    if row.kind in ("gather", "gather_cold"):
        op = ops.embedding_bag(
            "gather", table="t", rows=int(row.rows), dim=int(row.n), lookups=int(row.k), precision=4, index_bytes=8
        )
        return op, int(row.m)
    if row.kind == "tiny_op":
        return ops.elementwise("tiny", "add", 1, 2, 4), 1
    if row.kind == "copy":
        return Op("copy", OpKind.ELEMENTWISE, activation_bytes_per_item=8.0), int(row.m)
    return None


def predict_micro(row: pd.Series, platform: Platform) -> float:
    """Predicted seconds of one microbenchmark row."""
    if row.kind in ("h2d_pinned", "h2d_pageable", "d2h"):
        link = platform.host_link
        assert link is not None
        bw = link.d2h_gbs if row.kind == "d2h" else link.h2d_gbs
        return float(copy_time(row.m, bw, link.latency_us))
    made = micro_op(row)
    assert made is not None
    op, batch = made
    t = float(op_times(op, platform, [batch]).time[0])
    if platform.kind == "gpu":
        t += platform.dispatch.inference_us * 1e-6  # every timed GPU call ends with a synchronisation
    return t


def with_values(base: dict, params: tuple[Param, ...], values: np.ndarray, name: str) -> Platform:
    sets = [f"{p.path}={float(v)!r}" for p, v in zip(params, values)]
    return validate_spec(Platform, apply_overrides(base, sets, name), name)


def training_rows(fit: Fit) -> pd.DataFrame:
    """cold=0 model runs (same indices every repetition) of ``fit.train_models``: the training split."""
    if not fit.train_models:
        return pd.DataFrame()
    df = pd.read_csv(MEASURED_DIR / fit.models)
    cold = df["cold"].fillna(0) if "cold" in df.columns else pd.Series(0, index=df.index)
    keep = (df.tag == fit.tag) & (df.threads == fit.threads) & (df.transfer == 0) & (cold == 0)
    keep &= df.model.isin(fit.train_models) & (df.batch <= fit.train_max_batch)
    return df[keep].reset_index(drop=True)


def _get(data: dict, path: str) -> float:
    cur: object = data
    for part in path.replace("[", ".").replace("]", "").split("."):
        cur = cur[int(part)] if part.isdigit() else cur[part]  # type: ignore[index]
    return float(cur)  # type: ignore[arg-type]


def fit_platform(name: str, fit: Fit) -> tuple[Platform, pd.DataFrame, pd.DataFrame]:
    """Fit ``fit.params`` of spec ``name``; returns the fitted platform, micro and training rows."""
    base = load_platform(name).model_dump(mode="python")
    for p in fit.params:  # per-kind entries must exist before an override can address them
        if p.path.startswith("dispatch.per_kind_us."):
            base["dispatch"]["per_kind_us"].setdefault(p.path.rsplit(".", 1)[1], base["dispatch"]["op_us"])
    micro = pd.read_csv(MEASURED_DIR / fit.micro)
    micro = micro[(micro.tag == fit.tag) & (micro.threads == fit.threads) & micro.kind.isin(fit.kinds)]
    if fit.micro_filter is not None:
        micro = micro[fit.micro_filter(micro)]
    micro = micro.reset_index(drop=True)
    train = training_rows(fit)
    graphs = {m: load_graph(m) for m in train.model.unique()} if len(train) else {}
    lo = np.array([p.lo for p in fit.params])
    hi = np.array([p.hi for p in fit.params])
    logged = lo > 0  # positive parameters are fitted in log space
    x0 = np.clip(np.array([_get(base, p.path) for p in fit.params]), lo + 1e-9 + 1e-4 * np.abs(lo), hi * 0.9999)

    def unpack(z: np.ndarray) -> np.ndarray:
        return np.where(logged, np.exp(np.clip(z, -700, 700)), z)

    def pack(x: np.ndarray) -> np.ndarray:
        return np.where(logged, np.log(np.maximum(x, 1e-300)), x)

    def predictions(plat: Platform) -> tuple[np.ndarray, np.ndarray]:
        pm = np.array([predict_micro(r, plat) for r in micro.itertuples()])
        pt = np.zeros(len(train))
        for model, rows in train.groupby("model"):  # one vectorised service curve per model
            curve = service_curve(graphs[model], plat, rows.batch.to_numpy(), transfer=False)
            pt[rows.index.to_numpy()] = curve(rows.batch.to_numpy())
        return pm, pt

    def residuals(z: np.ndarray) -> np.ndarray:
        pm, pt = predictions(with_values(base, fit.params, unpack(z), name))
        return np.concatenate([np.log(pm / micro.seconds.to_numpy()), np.log(pt / (train.median_ms.to_numpy() * 1e-3))])

    bounds = (np.where(logged, pack(lo), lo), np.where(logged, pack(hi), hi))
    result = least_squares(residuals, pack(x0), bounds=bounds, loss="soft_l1", f_scale=0.2, max_nfev=300)
    fitted = with_values(base, fit.params, unpack(result.x), name)
    pm, pt = predictions(fitted)
    micro = micro.assign(predicted=pm, ratio=pm / micro.seconds)
    train = train.assign(predicted=pt * 1e3, ratio=pt * 1e3 / train.median_ms) if len(train) else train
    return fitted, micro, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("platform", choices=sorted(FITS))
    parser.add_argument("--write", action="store_true", help="print the fitted values as --set lines only")
    args = parser.parse_args(argv)
    fit = FITS[args.platform]
    platform, micro, train = fit_platform(args.platform, fit)
    dump = platform.model_dump(mode="python")
    lines = [f"{p.path}={_get(dump, p.path):.4g}" for p in fit.params]
    if args.write:
        print("\n".join(lines))
        return 0
    for label, df, cols in (
        ("micro rows", micro, ["kind", "m", "k", "n", "rows", "seconds", "predicted", "ratio"]),
        ("training rows (cold=0)", train, ["model", "batch", "median_ms", "predicted", "ratio"]),
    ):
        if len(df):
            err = (df.ratio - 1).abs()
            print(f"{args.platform} {label}: {len(df)}, median |error| {100 * err.median():.1f}%, mean {100 * err.mean():.1f}%")
            with pd.option_context("display.width", 160, "display.max_rows", 400, "display.precision", 4):
                print(df[cols].to_string())
    print("fitted:\n  " + "\n  ".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
