"""The incremental result store of a sweep, and the final results table.

Every finished configuration is one line of ``<out>/rows.jsonl``::

    {"hash": "<sha256>", "config": {<the hashed part>}, "row": {...} | null, "error": null | "...",
     "seconds": 0.012}

Lines are only ever appended, a batch at a time, each batch flushed and ``fsync``-ed before the
sweep counts it as done. A sweep killed at any moment (Ctrl-C, SIGKILL, a crash, power loss) leaves
at worst a partial last line; opening the store truncates it away, and every complete line is a
finished configuration that is never computed again. One process writes at a time: the store holds
an exclusive ``flock`` on ``<out>/.lock`` (released by the kernel when the process dies).

Why JSON lines and not sqlite: append-only text is trivially crash-consistent, diffable, greppable
and mergeable (``cat a/rows.jsonl b/rows.jsonl``), and a sweep writes a few thousand rows.

The final outputs (``results.parquet``, ``results.csv``) are rebuilt from the store in expansion
order, so a resumed sweep, a Dask sweep and a process-pool sweep give the same table. They are
written to a temporary file and renamed, so they are either the old or the new table, never half.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from dse.errors import DseError
from dse.sweep.expand import HASHED_KEYS, Expansion

if TYPE_CHECKING:  # pandas is imported where a table is built: the workers only make records
    import pandas as pd

ROWS_FILE = "rows.jsonl"
LOCK_FILE = ".lock"

#: Metric columns, in this order, ahead of any other key an evaluate function returns.
METRIC_COLUMNS = ("batch", "threshold", "max_qps", "p95_ms", "qps_per_watt", "energy_per_query_j", "power_w", "baseline_qps", "gain")
#: Metrics where lower is better: speedup is baseline / value instead of value / baseline.
LOWER_IS_BETTER = frozenset({"p95_ms", "energy_per_query_j"})


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class ResultStore:
    """Append-only JSON-lines store of finished configurations under ``out_dir``, keyed by hash."""

    def __init__(self, out_dir: Path | str):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / ROWS_FILE
        self.records: dict[str, dict[str, Any]] = {}
        self.skipped_lines = 0
        self._lock_fd: int | None = None
        self._fh: Any = None

    # -- lifecycle ----------------------------------------------------------------------------

    def open(self) -> "ResultStore":
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.out_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise DseError(f"--out: cannot use {self.out_dir} ({exc.strerror})") from None
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise DseError(f"{self.out_dir} is in use by another sweep (it holds {self.out_dir / LOCK_FILE})") from None
        self._repair()
        self._load()
        new = not self.path.exists()
        self._fh = open(self.path, "ab")
        if new:
            _fsync_dir(self.out_dir)
        return self

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "ResultStore":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------------

    def _repair(self) -> None:
        """Cut a partial last line (a write interrupted by a kill) so that appends stay line-aligned."""
        if not self.path.exists():
            return
        with open(self.path, "rb+") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            # scan back for the last newline
            pos = size
            block = 65536
            keep = 0
            while pos > 0:
                start = max(0, pos - block)
                fh.seek(start)
                chunk = fh.read(pos - start)
                idx = chunk.rfind(b"\n")
                if idx >= 0:
                    keep = start + idx + 1
                    break
                pos = start
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())

    def _load(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                    key = record["hash"]
                except (ValueError, KeyError, TypeError):
                    self.skipped_lines += 1
                    continue
                self.records[key] = record

    def reload(self) -> None:
        """Re-read the file: after an interrupt, the disk (not memory) says what is finished."""
        if self._fh is not None:
            self._fh.flush()
        self.records = {}
        self._load()

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    # -- writing ------------------------------------------------------------------------------

    def add(self, records: Iterable[dict[str, Any]]) -> int:
        """Append finished records and make them durable (flush + fsync) before returning."""
        if self._fh is None:
            raise RuntimeError("store is not open")
        lines = []
        batch = []
        for record in records:
            if record["hash"] in self.records:
                continue
            lines.append(json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n")
            batch.append(record)
        if not lines:
            return 0
        self._fh.write(b"".join(lines))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        for record in batch:
            self.records[record["hash"]] = record
        return len(batch)


def make_record(config: dict[str, Any], row: dict[str, Any] | None, error: str | None, seconds: float) -> dict[str, Any]:
    """What the store keeps for one finished configuration."""
    return {
        "hash": config["hash"],
        "config": {k: config[k] for k in ("model", "platform", "accelerator", *HASHED_KEYS)},
        "row": row,
        "error": error,
        "seconds": round(float(seconds), 6),
    }


# -- the results table -----------------------------------------------------------------------


def _cell(value: Any) -> Any:
    """Scalars stay; lists and mappings become canonical JSON strings (one type per column)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


def _ratio(value: Any, base: Any, lower_is_better: bool) -> float:
    try:
        v, b = float(value), float(base)
    except (TypeError, ValueError):
        return math.nan
    if not (math.isfinite(v) and math.isfinite(b)) or v <= 0 or b <= 0:
        return math.nan
    return b / v if lower_is_better else v / b


def build_table(expansion: Expansion, records: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per point (model × configuration) with a finished record, in expansion order.

    Columns: model, platform, accelerator, one per axis, the metrics the evaluate function returned
    (:data:`METRIC_COLUMNS` first), ``baseline_<metric>`` and ``speedup`` over the study's
    baseline, ``cost_usd`` and ``qps_per_dollar`` when the study gives costs, ``error`` and
    ``config_hash``.
    """
    import pandas as pd

    study = expansion.study
    metric = study.baseline.metric
    axis_columns = [a.column for a in study.axes if a.column not in ("platform", "accelerator")]
    extra: list[str] = []
    rows = []
    for config in expansion.points:
        record = records.get(config["hash"])
        if record is None:
            continue
        out: dict[str, Any] = {
            "model": config["model"],
            "platform": config["platform"],
            "accelerator": config["accelerator"],
        }
        for column in axis_columns:
            out[column] = _cell(config["axes"].get(column))
        metrics = record.get("row") or {}
        for key, value in metrics.items():
            if key not in METRIC_COLUMNS and key not in extra and key not in out:
                extra.append(key)
        for key in (*METRIC_COLUMNS, *extra):
            out[key] = _cell(metrics.get(key, math.nan if key in METRIC_COLUMNS else None))
        base = records.get(config["baseline_hash"]) or {}
        base_value = (base.get("row") or {}).get(metric, math.nan)
        out[f"baseline_{metric}"] = _cell(base_value)
        out["speedup"] = _ratio(metrics.get(metric), base_value, metric in LOWER_IS_BETTER)
        if study.cost:
            out["cost_usd"] = config["cost_usd"]
            out["qps_per_dollar"] = _ratio(metrics.get("max_qps"), config["cost_usd"], False)
        out["error"] = record.get("error")
        out["config_hash"] = config["hash"]
        rows.append(out)
    columns = ["model", "platform", "accelerator", *axis_columns, *METRIC_COLUMNS, *extra, f"baseline_{metric}", "speedup"]
    if study.cost:
        columns += ["cost_usd", "qps_per_dollar"]
    columns += ["error", "config_hash"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("batch", "threshold"):  # integers, or missing (no offload, a failed row)
        values = frame[column].dropna()
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer() for v in values):
            frame[column] = pd.array([None if pd.isna(v) else int(v) for v in frame[column]], dtype="Int64")
    for column in axis_columns:  # an axis of numbers and text (locality: [1.05, uniform]): one type, text
        kinds = {type(v) for v in frame[column] if v is not None}
        if str in kinds and len(kinds) > 1:
            frame[column] = [None if v is None else str(v) for v in frame[column]]
    return frame


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (temporary file, fsync, rename)."""
    _atomic_write(path, lambda tmp: tmp.write_text(text))


def write_table(frame: pd.DataFrame, out_dir: Path) -> tuple[Path, Path]:
    """``results.parquet`` and ``results.csv`` in ``out_dir``, each written atomically."""
    parquet = out_dir / "results.parquet"
    csv = out_dir / "results.csv"
    try:
        _atomic_write(parquet, lambda tmp: frame.to_parquet(tmp, index=False))
        _atomic_write(csv, lambda tmp: frame.to_csv(tmp, index=False))
    except OSError as exc:
        raise DseError(f"cannot write results in {out_dir} ({exc.strerror})") from None
    _fsync_dir(out_dir)
    return parquet, csv
