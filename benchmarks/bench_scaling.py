"""Sweep scaling: time against configurations and against workers (issue #17, docs/studies.md "Speed").

    python benchmarks/bench_scaling.py [STUDY] [--sizes 250,500,1000,2000] [--workers 1,2]
                                       [--at 1000] [--dask/--no-dask]

Each measurement is a complete ``dse sweep STUDY --limit N --workers W --no-report`` in a fresh
interpreter writing to a fresh temporary directory (expansion, checks, pool start-up, the store,
the final tables), timed from outside. Printed per run: configurations computed, wall seconds,
rows per second, CPU seconds per configuration (the sweep process and its workers: the steadier
number on a shared machine) and the peak resident memory of the largest process (the sweep or one
worker, ``ru_maxrss`` of the finished children). Lines:

- ``size``: workers 1, each ``--sizes`` N (time should grow linearly with N);
- ``workers``: ``--at`` configurations with each ``--workers`` count, and with ``--dask local``.

The load average of the machine is printed with every line: on a shared machine wall times
depend on it.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(study: str, limit: int, workers: int | None, dask: bool = False) -> dict[str, float]:
    """One ``dse sweep`` in a child interpreter: wall s, CPU s (children), peak RSS MB, points."""
    out = Path(tempfile.mkdtemp(prefix="bench_scaling_")) / "out"
    cmd = [sys.executable, "-m", "dse.cli", "sweep", study, "--out", str(out), "--limit", str(limit), "--no-report"]
    cmd += ["--dask", "local"] if dask else ["--workers", str(workers)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)}: {done.stderr.strip().splitlines()[-1:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows = _rows(out)
    return {"wall_s": wall, "cpu_s": cpu, "rss_mb": after.ru_maxrss / 1024, "rows": rows}


def _rows(out: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(out / "results.parquet").metadata.num_rows


def _line(kind: str, label: str, r: dict[str, float]) -> str:
    return (f"{kind:8s} {label:>14s}: {int(r['rows']):6d} rows in {r['wall_s']:7.1f} s = {r['rows'] / r['wall_s']:7.1f} rows/s, "
            f"{r['cpu_s'] / max(r['rows'], 1) * 1e3:5.1f} ms CPU/row, peak RSS {r['rss_mb']:6.0f} MB "
            f"(load average {os.getloadavg()[0]:.1f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", nargs="?", default=str(ROOT / "studies" / "nmp.yaml"))
    parser.add_argument("--sizes", default="250,500,1000,2000", help="configurations per run (workers 1)")
    parser.add_argument("--workers", default="1,2", help="worker counts at --at configurations")
    parser.add_argument("--at", type=int, default=1000, help="configurations of the worker runs")
    parser.add_argument("--dask", action=argparse.BooleanOptionalAction, default=True, help="also --dask local")
    args = parser.parse_args(argv)
    print(f"study {args.study}; {os.cpu_count()} CPUs")
    for n in [int(x) for x in args.sizes.split(",") if x]:
        print(_line("size", f"N={n}, w=1", run_once(args.study, n, 1)), flush=True)
    for w in [int(x) for x in args.workers.split(",") if x]:
        print(_line("workers", f"N={args.at}, w={w}", run_once(args.study, args.at, w)), flush=True)
    if args.dask:
        print(_line("workers", f"N={args.at}, dask", run_once(args.study, args.at, None, dask=True)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
