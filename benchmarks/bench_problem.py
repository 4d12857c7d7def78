"""CPU per configuration of the sweep's two halves, on the first N configurations of a study.

    python benchmarks/bench_problem.py [STUDY] [N] [WARM]

``problem``: :func:`dse.sweep.evaluate._problem` for each configuration (the platform with its
overrides and the service curves, fresh process so nothing is cached but the first
configuration's set-up), in chunks of the sweep's :data:`~dse.sweep.run.MAX_CHUNK` announced
first as :func:`~dse.sweep.evaluate.evaluate_batch` does (``_plan``, where the tree has it); ``capacity``: :func:`dse.sched.deeprecsched.optimize_many` on all of them
(the capacity search and the p95). ``WARM`` (default 0): configurations whose problems are built
first, untimed, so that the timed ones find the per-process memos (run terms per locality and
batch size, hit rates, curves) as a long sweep does. CPU time (``process_time``), the steadier number on a shared
machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    study = args[0] if args else str(ROOT / "studies" / "nmp.yaml")
    n = int(args[1]) if len(args) > 1 else 300
    warm = int(args[2]) if len(args) > 2 else 0

    from dse.sched.deeprecsched import optimize_many
    from dse.sweep import evaluate as ev
    from dse.sweep.expand import expand
    from dse.sweep.resolve import load_study
    from dse.sweep.run import DEFAULT_EVALUATOR, MAX_CHUNK, evaluator_version

    configs = expand(load_study(study), evaluator_version(DEFAULT_EVALUATOR), warm + n + 1).tasks[: warm + n + 1]
    ev.evaluate_batch(configs[:1])  # imports and the first platform's set-up
    _problems(ev, configs[1 : warm + 1], MAX_CHUNK)
    rest = configs[warm + 1 :]
    start = time.process_time()
    calls = _problems(ev, rest, MAX_CHUNK)
    problem = time.process_time() - start
    start = time.process_time()
    optimize_many(calls)
    capacity = time.process_time() - start
    count = max(len(rest), 1)
    print(f"{Path(study).name}: {len(rest)} configurations; problem {problem / count * 1e3:.2f} ms, "
          f"capacity {capacity / count * 1e3:.2f} ms CPU per configuration")
    return 0


def _problems(ev, configs: list, size: int) -> list:  # noqa: ANN001
    """``_problem`` of each configuration, chunk by chunk as ``evaluate_batch`` builds them."""
    calls = []
    for i in range(0, len(configs), size):
        chunk = configs[i : i + size]
        if hasattr(ev, "_plan"):  # evaluate_batch's announcement of a chunk's platforms
            ev._plan(chunk)
        calls += [ev._problem(c) for c in chunk]
    return calls


if __name__ == "__main__":
    raise SystemExit(main())
