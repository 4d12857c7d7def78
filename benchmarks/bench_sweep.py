"""Sweep throughput: optimised (model, configuration) points per second.

    python benchmarks/bench_sweep.py [STUDY] [--workers N] [--limit N] [--evaluator module:function]

Prints two rates:

- ``serial``: ``evaluate(config)`` called in this process on the first ``--serial`` configurations
  (points per second on one core, including the per-(model, platform) setup its caches amortise);
- ``sweep``: a complete ``dse sweep`` into a fresh temporary directory with ``--workers`` processes
  (everything: expansion, checks, pool start-up, the store's fsyncs, the final tables).

and between them ``batch``: the module's ``evaluate_batch`` (one vectorised capacity search per
chunk) on the next ``--serial`` configurations, checked against ``evaluate`` on each of them.
Issue #17's target is 1,000 rows/s on 2 workers for ``studies/nmp.yaml`` (937-1,354 over 24
runs at the last measurement, median about 1,110, 21 of them at or above 1,000; 1.3-1.9 ms of
CPU per point with the parent's store and tables;
the workers are forked and import nothing; docs/studies.md, "Speed", has the measured figures). Each line
also gives the CPU time per point, the steadier number on a shared machine; ``cpu:`` splits it
between the parent and the workers and says how busy the cores were (CPU / (wall x workers)).
``--stub`` measures the machinery alone with the tests' stand-in evaluator and a toy study (no
optimiser needed; ``DSE_STUB_SLEEP=0.01`` gives it a fixed cost per configuration).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", nargs="?", default=str(ROOT / "studies" / "nmp.yaml"))
    parser.add_argument("--workers", type=int, default=None, help="processes for the sweep (default: usable cores)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N points")
    parser.add_argument("--serial", type=int, default=200, help="configurations for the serial rate")
    parser.add_argument("--evaluator", default=None, help="module:function (default: the optimiser)")
    parser.add_argument("--stub", action="store_true", help="the tests' stand-in evaluator on a toy study")
    args = parser.parse_args(argv)

    from dse.errors import DseError
    from dse.sweep.resolve import load_study
    from dse.sweep.expand import expand
    from dse.sweep.run import DEFAULT_EVALUATOR, default_workers, evaluator_version, load_evaluator, run_sweep

    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    study, ref = args.study, args.evaluator or DEFAULT_EVALUATOR
    if args.stub:
        sys.path.insert(0, str(ROOT / "tests"))
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
        from sweep_stub import REF, write_study

        study, ref = str(write_study(tmp)), REF
    workers = args.workers or default_workers()
    try:
        fn, module = load_evaluator(ref)
        loaded = load_study(study, getattr(module, "READS_PLATFORMS", True))
        configs = expand(loaded, evaluator_version(ref), args.limit).tasks
        check = getattr(module, "check_configs", None)
        if check is not None:
            check(configs)
        sample = configs[: args.serial]
        start, cpu = time.perf_counter(), time.process_time()
        for config in sample:
            fn(config)
        serial, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(f"serial: {len(sample)} points in {serial:.2f} s = {len(sample) / serial:,.1f} points/s on one core "
              f"({cpu / max(len(sample), 1) * 1e3:.1f} ms CPU per point)")
        batch = getattr(module, "evaluate_batch", None)
        if batch is not None:
            _batched(fn, batch, configs[args.serial : 2 * args.serial])

        start, (own, kids) = time.perf_counter(), _cpu_s()
        summary = run_sweep(study, out=tmp / "out", workers=workers, limit=args.limit, evaluator=ref, progress=False)
        elapsed, (own2, kids2) = time.perf_counter() - start, _cpu_s()
    except DseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    own, kids = own2 - own, kids2 - kids
    cpu = own + kids
    rate = summary.computed / elapsed
    print(
        f"sweep:  {summary.computed} points ({summary.points} rows) in {elapsed:.2f} s with {workers} workers = "
        f"{rate:,.1f} points/s ({rate / workers:,.1f} per core; {cpu / max(summary.computed, 1) * 1e3:.1f} ms CPU per "
        f"point, workers included; load average {os.getloadavg()[0]:.1f})"
    )
    # busy = CPU / (wall x cores used): 1.0 when the parent and the workers kept every core busy
    # (on a shared machine other jobs' share of the cores lowers it too: read it with the load)
    print(f"cpu:    parent {own:.2f} s, workers {kids:.2f} s; busy {cpu / (elapsed * workers):.2f} of {workers} cores "
          f"(workers alone {kids / (elapsed * workers):.2f})")
    return 0


def _cpu_s() -> tuple[float, float]:
    """CPU seconds of this process, and of its finished (reaped) children: the sweep's workers."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, kids.ru_utime + kids.ru_stime


#: Largest relative difference allowed between a batched row and the per-configuration row.
AGREEMENT = 1e-9


def _batched(fn, batch, sample: list[dict]) -> None:  # noqa: ANN001
    """The batched rate on fresh configurations (none of their curves cached), then the
    per-configuration path on the same ones as the reference (it reuses their cached curves, so
    only the agreement is read from it)."""
    if not sample:
        return
    start, cpu = time.perf_counter(), time.process_time()
    rows = batch(sample)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"batch:  {len(sample)} points in {elapsed:.2f} s = {len(sample) / elapsed:,.1f} points/s on one core "
          f"({cpu / len(sample) * 1e3:.1f} ms CPU per point)")
    worst, differ = 0.0, 0
    for config, row in zip(sample, rows):
        ref = fn(config)
        for key, value in ref.items():
            other = row.get(key) if isinstance(row, dict) else None
            if isinstance(value, float) and isinstance(other, float):
                worst = max(worst, abs(value - other) / max(abs(value), 1e-300))
            elif value != other:
                differ += 1
    verdict = "agree" if differ == 0 and worst <= AGREEMENT else "DISAGREE"
    print(f"batch vs per-config: {verdict} (largest relative difference {worst:.1e}, {differ} other differences; "
          f"tolerance {AGREEMENT:g})")


if __name__ == "__main__":
    raise SystemExit(main())
