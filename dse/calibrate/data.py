"""Reading measured runs: the CSV formats of FACTS.md section 5 and the harness's own output.

Two kinds of file, told apart by their columns:

- **micro** (``tag, kind, threads, m, k, n, rows, seconds, flops, bytes``): one microbenchmark per
  row (``gemm``, ``copy``, ``gather``, ``gather_cold``, ``tiny_op``, ``h2d_pinned``,
  ``h2d_pageable``, ``d2h``, ``alloc_fresh``, ``alloc_reuse``), seconds per call;
- **models** (``tag, model, batch, threads, transfer, [cold,] median_ms, p10_ms, p90_ms, reps``):
  one forward pass per row, milliseconds.

Every measurement carries where it comes from (``origin``: the file name) and the software that
took it (``framework``, e.g. ``torch 2.13.0+cpu``). The framework comes from optional
``framework``/``framework_version`` columns (the harness writes them) or else from the
``<prefix>_env.json`` beside the CSV (``ci_cpu_micro.csv`` -> ``ci_cpu_env.json``), whose ``torch``
entry names the version; without either it is ``unknown``. Problems (a missing or empty file, a
file of neither kind, missing columns, NaNs or non-positive times in required columns) are
one-line :class:`~dse.errors.DseError` naming the file, and the row where there is one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dse.errors import DseError

MICRO_COLUMNS = ("tag", "kind", "threads", "m", "k", "n", "rows", "seconds", "flops", "bytes")
MODEL_COLUMNS = ("tag", "model", "batch", "threads", "transfer", "median_ms", "p10_ms", "p90_ms", "reps")
#: Columns the harness adds to both formats (framework provenance).
PROVENANCE_COLUMNS = ("framework", "framework_version")
#: Microbenchmark kinds and the columns each needs to be costed.
MICRO_KINDS = {
    "gemm": ("m", "k", "n"),
    "gather": ("m", "k", "n", "rows"),
    "gather_cold": ("m", "k", "n", "rows"),
    "tiny_op": (),
    "copy": ("bytes",),
    "h2d_pinned": ("m",),
    "h2d_pageable": ("m",),
    "d2h": ("m",),
    "alloc_fresh": ("m", "bytes"),
    "alloc_reuse": ("m", "bytes"),
}


@dataclass
class Measurements:
    """Measured rows from one or more files, split by kind; every row has ``origin`` and ``framework``."""

    micro: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=[*MICRO_COLUMNS, "origin", "framework"]))
    models: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=[*MODEL_COLUMNS, "cold", "origin", "framework"])
    )
    files: list[str] = field(default_factory=list)

    def frameworks(self) -> list[str]:
        """Distinct framework versions of all rows, sorted."""
        values = set(self.micro.get("framework", pd.Series(dtype=str))) | set(self.models.get("framework", pd.Series(dtype=str)))
        return sorted(str(v) for v in values)

    def origins(self) -> list[str]:
        """Distinct origin files of all rows, in the order given."""
        return [f for f in self.files]


def env_framework(csv_path: Path) -> str | None:
    """``torch <version>`` from the ``*_env.json`` beside ``csv_path``, or None when there is none."""
    stem = csv_path.stem
    candidates = []
    for suffix in ("_micro", "_models"):
        if stem.endswith(suffix):
            candidates.append(csv_path.with_name(stem[: -len(suffix)] + "_env.json"))
    candidates.append(csv_path.with_name(stem + "_env.json"))
    for env in candidates:
        if env.is_file():
            try:
                data = json.loads(env.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise DseError(f"{env}: not valid JSON ({exc})") from None
            if isinstance(data, dict):
                if data.get("torch"):
                    return f"torch {data['torch']}"
                if data.get("framework"):
                    return f"{data['framework']} {data.get('framework_version', '')}".strip()
    return None


def _kind_of(columns: list[str], path: Path) -> str:
    cols = set(columns)
    if {"kind", "seconds"} <= cols:
        missing = [c for c in MICRO_COLUMNS if c not in cols]
        if missing:
            raise DseError(f"{path}: microbenchmark file lacks column(s) {', '.join(missing)} (FACTS.md section 5)")
        return "micro"
    if {"model", "median_ms"} <= cols:
        missing = [c for c in MODEL_COLUMNS if c not in cols]
        if missing:
            raise DseError(f"{path}: model-latency file lacks column(s) {', '.join(missing)} (FACTS.md section 5)")
        return "models"
    raise DseError(
        f"{path}: neither a microbenchmark file (columns {', '.join(MICRO_COLUMNS)}) nor a model-latency "
        f"file (columns {', '.join(MODEL_COLUMNS)}); got {', '.join(columns) or 'no columns'}"
    )


def _row_error(path: Path, df: pd.DataFrame, mask: pd.Series, what: str) -> DseError:
    first = int(np.flatnonzero(mask.to_numpy())[0])
    line = first + 2  # header is line 1
    return DseError(f"{path}: line {line}: {what} ({int(mask.sum())} row(s) in all)")


def _check_micro(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    unknown = ~df["kind"].isin(list(MICRO_KINDS))
    if unknown.any():
        bad = sorted({str(k) for k in df.loc[unknown, "kind"]})  # a NaN kind stays a float under astype(str)
        raise _row_error(path, df, unknown, f"unknown microbenchmark kind(s) {', '.join(bad)} (known: {', '.join(MICRO_KINDS)})")
    for col in ("seconds", "threads"):
        bad = df[col].isna()
        if bad.any():
            raise _row_error(path, df, bad, f"{col} is missing or NaN")
    bad = ~(df["seconds"] > 0) | ~np.isfinite(df["seconds"])
    if bad.any():
        raise _row_error(path, df, bad, "seconds must be a positive finite number")
    for kind, needed in MICRO_KINDS.items():
        rows = df["kind"] == kind
        for col in needed:
            bad = rows & (df[col].isna() | ~(df[col] > 0))
            if bad.any():
                raise _row_error(path, df, bad, f"{kind}: {col} is missing, NaN or not positive")
    return df


def _check_models(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    for col in ("model", "batch", "threads", "transfer", "median_ms"):
        bad = df[col].isna()
        if bad.any():
            raise _row_error(path, df, bad, f"{col} is missing or NaN")
    bad = ~(df["median_ms"] > 0) | ~np.isfinite(df["median_ms"])
    if bad.any():
        raise _row_error(path, df, bad, "median_ms must be a positive finite number")
    bad = ~(df["batch"] >= 1) | (df["batch"] != np.round(df["batch"]))
    if bad.any():
        raise _row_error(path, df, bad, "batch must be a positive integer")
    if "cold" not in df.columns:
        df["cold"] = 0  # FACTS.md: rows without `cold` reuse the same inputs
    df["cold"] = df["cold"].fillna(0).astype(int)
    df["batch"] = df["batch"].astype(int)
    df["model"] = df["model"].astype(str)
    return df


def read_measurements(path: Path | str) -> tuple[str, pd.DataFrame]:
    """Read one CSV; returns its kind (``micro`` or ``models``) and its validated rows."""
    path = Path(path)
    if not path.is_file():
        raise DseError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DseError(f"{path}: empty file (expected a CSV with a header row, FACTS.md section 5)")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DseError(f"{path}: empty file (expected a CSV with a header row, FACTS.md section 5)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DseError(f"{path}: not a readable CSV ({' '.join(str(exc).split())})") from None
    kind = _kind_of([str(c) for c in df.columns], path)
    if df.empty:
        raise DseError(f"{path}: has a header but no measurements")
    df = _check_micro(df, path) if kind == "micro" else _check_models(df, path)
    if "framework" in df.columns:
        fw = df["framework"].astype(str)
        if "framework_version" in df.columns:
            fw = fw + " " + df["framework_version"].astype(str)
        df["framework"] = fw.str.strip()
        df = df.drop(columns=[c for c in ("framework_version",) if c in df.columns])
    else:
        df["framework"] = env_framework(path) or "unknown"
    df["origin"] = path.name
    return kind, df.reset_index(drop=True)


def _refuse_duplicates(paths: list[Path | str]) -> None:
    """The same file (or the same bytes under two names) given twice would count its rows twice
    in the fit, as if they were independent measurements."""
    import hashlib

    seen: dict[str, Path] = {}
    for p in paths:
        path = Path(p)
        if not path.is_file():
            continue  # read_measurements names it
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            same = "is given twice" if seen[digest].resolve() == path.resolve() else f"has the same contents as {seen[digest]}"
            raise DseError(f"{path}: {same}; each measurement file may be given once")
        seen[digest] = path


def load_measurements(paths: list[Path | str]) -> Measurements:
    """Read every file of ``paths`` (micro or models, in any order) into one :class:`Measurements`."""
    if not paths:
        raise DseError("no measurement files given")
    micro, models, files = [], [], []
    _refuse_duplicates(paths)
    for p in paths:
        kind, df = read_measurements(p)
        (micro if kind == "micro" else models).append(df)
        files.append(Path(p).name)
    out = Measurements(files=files)
    if micro:
        out.micro = pd.concat(micro, ignore_index=True)
    if models:
        out.models = pd.concat(models, ignore_index=True)
    return out
