"""Accuracy of the cost model against the shared measured runs (FACTS.md section 5).

The test set is every ``cold=1`` row (fresh uniform-random indices each repetition, as in
serving) of the models shipped in ``modelspecs/``, on three platforms:

- ``ci_cpu``: ``ci_cpu_models.csv``, ``threads=1`` (one single-threaded engine);
- ``h200_host``: the CPU rows of ``h200_models.csv``, ``threads=1``;
- ``h200``: the GPU rows of ``h200_models.csv``, ``transfer=0`` (inputs already on the device).

Unknown model variants (``var00``..``var23`` in ``ci_cpu_models.csv``) and models without a
shipped spec are skipped. Each row is one median over repetitions; the error of a row is
``|predicted - measured| / measured`` and the MAPE is their mean, per platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dse.cost.model import predict_latency
from dse.errors import DseError
from dse.graph.lower import load_graph
from dse.paths import MODELSPECS_DIR, default_measured_dir, list_specs
from dse.specs.hardware import Platform, load_platform

#: Where the measurements are read from (``DSE_MEASURED``, else ../shared, else the repository's copy).
MEASURED_DIR = default_measured_dir()


@dataclass(frozen=True)
class AccuracyCase:
    """Which measured rows validate which hardware spec."""

    platform: str
    csv: str
    tag: str
    threads: int


CASES = [
    AccuracyCase("ci_cpu", "ci_cpu_models.csv", "cpu", 1),
    AccuracyCase("h200_host", "h200_models.csv", "cpu", 1),
    AccuracyCase("h200", "h200_models.csv", "gpu", 0),
]


def measured_rows(case: AccuracyCase, measured_dir: Path | None = None) -> pd.DataFrame:
    """The ``cold=1`` single-inference rows of ``case`` for shipped models (columns as in the CSV)."""
    path = Path(measured_dir or MEASURED_DIR) / case.csv
    if not path.is_file():
        raise DseError(f"{path}: measured data not found (set DSE_MEASURED to its folder)")
    df = pd.read_csv(path)
    if "cold" not in df.columns:
        raise DseError(f"{path}: no 'cold' column")
    known = set(list_specs(MODELSPECS_DIR))
    keep = (
        (df["tag"] == case.tag)
        & (df["threads"] == case.threads)
        & (df["transfer"] == 0)
        & (df["cold"] == 1)
        & df["model"].isin(known)
    )
    return df[keep].reset_index(drop=True)


def accuracy_table(
    case: AccuracyCase, platform: Platform | None = None, measured_dir: Path | None = None
) -> pd.DataFrame:
    """Measured vs predicted latency (seconds) of every test row of ``case``, with the APE."""
    rows = measured_rows(case, measured_dir)
    plat = platform or load_platform(case.platform)
    graphs = {m: load_graph(m) for m in rows["model"].unique()}
    predicted = [
        predict_latency(graphs[r.model], plat, int(r.batch), engines=1, transfer=False).latency_s
        for r in rows.itertuples()
    ]
    out = pd.DataFrame(
        {
            "platform": case.platform,
            "model": rows["model"],
            "batch": rows["batch"].astype(int),
            "measured_s": rows["median_ms"] * 1e-3,
            "predicted_s": np.asarray(predicted, dtype=float),
        }
    )
    out["ape"] = (out["predicted_s"] - out["measured_s"]).abs() / out["measured_s"]
    return out


def mape(table: pd.DataFrame) -> float:
    """Mean absolute percentage error of a table from :func:`accuracy_table`, in percent."""
    return float(100.0 * table["ape"].mean())



#: Co-location runs: k single-threaded engines pinned one per core, same model and batch, fresh
#: indices (FACTS.md section 5). Only the rows of shipped models are compared.
COLOCATE_CASE = ("h200_host", "h200_colocate.csv")


def colocation_table(platform: Platform | str | None = None, csv: str | None = None) -> pd.DataFrame:
    """Predicted against measured slowdown of one engine when k engines run at once.

    One row per (model, batch, k): ``measured`` = mean over processes of each one's median
    latency at k, over the same at k = 1 (``median_ms_mean``); ``predicted`` =
    ``predict_latency(..., engines=k) / predict_latency(..., engines=1)``; ``ratio`` =
    predicted / measured slowdown (1 = exact).
    """
    name, default_csv = COLOCATE_CASE
    plat = load_platform(name) if platform is None else (load_platform(platform) if isinstance(platform, str) else platform)
    path = Path(MEASURED_DIR) / (csv or default_csv)
    if not path.is_file():
        raise DseError(f"{path}: no co-location measurements")
    df = pd.read_csv(path)
    df = df[df.model.isin(list_specs(MODELSPECS_DIR))]
    rows = []
    for (model, batch), group in df.groupby(["model", "batch"]):
        alone = group[group.k == 1]
        if alone.empty:
            continue
        graph = load_graph(model)
        base_pred = predict_latency(graph, plat, int(batch), engines=1, transfer=False).latency_s
        base_meas = float(alone.median_ms_mean.iloc[0])
        for _, r in group.sort_values("k").iterrows():
            pred = predict_latency(graph, plat, int(batch), engines=int(r.k), transfer=False).latency_s / base_pred
            meas = float(r.median_ms_mean) / base_meas
            rows.append({"model": model, "batch": int(batch), "k": int(r.k), "measured": meas, "predicted": pred, "ratio": pred / meas})
    return pd.DataFrame(rows)
