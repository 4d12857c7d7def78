"""Size and browser load time of a sweep report with about 10,000 configurations.

The rows come from a real sweep run through the cheap stand-in evaluator of the tests
(tests/sweep_stub.py), so the table has the shape of a real study; the report is then written and
opened in headless Chromium. Target (issue: reports): under 20 MB, open in a few seconds.

    python benchmarks/bench_report.py [--configs 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import check_report, chromium_path  # noqa: E402
from sweep_stub import REF, write_study  # noqa: E402

from dse.report.sweep import write_sweep_report  # noqa: E402
from dse.sweep.run import run_sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=10_000, help="approximate number of rows")
    args = parser.parse_args()
    per_axis = max(2, round((args.configs / 2) ** (1 / 3)))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        study = write_study(
            tmp,
            axes=[
                {"path": "memory.ranks_per_dimm", "values": list(range(1, per_axis + 1))},
                {"path": "nmp.rank_cache_kb", "logrange": {"start": 8, "stop": 4096, "num": per_axis}, "integer": True},
                {"path": "nmp.locality", "range": {"start": 0.05, "stop": 0.95, "step": 0.9 / (per_axis - 1)}},
            ],
        )
        started = time.perf_counter()
        summary = run_sweep(study, out=tmp / "out", workers=2, evaluator=REF, progress=False)
        print(f"sweep (stand-in evaluator): {summary.points} rows in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        path = write_sweep_report(tmp / "out")
        print(f"report written in {time.perf_counter() - started:.2f} s: {path.stat().st_size / 1e6:.2f} MB (target < 20 MB)")
        if chromium_path() is None:
            print("chromium not installed: load time not measured")
            return
        check = check_report(path, tmp / "shot.png", timeout_s=120)
        print(
            f"opened in headless Chromium in {check.seconds_to_render:.2f} s (all {check.rendered_figures}/{check.figures} "
            f"figures drawn; console errors: {len(check.console_errors) + len(check.page_errors)})"
        )


if __name__ == "__main__":
    main()
