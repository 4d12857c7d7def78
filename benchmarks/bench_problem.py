"""CPU per configuration of the sweep's two halves, on the first N configurations of a study.

    python benchmarks/bench_problem.py [STUDY] [N]

``problem``: :func:`dse.sweep.evaluate._problem` for each configuration (the platform with its
overrides and the service curves, fresh process so nothing is cached but the first
configuration's set-up), in chunks of the sweep's :data:`~dse.sweep.run.MAX_CHUNK` announced
first as :func:`~dse.sweep.evaluate.evaluate_batch` does (``_plan``, where the tree has it); ``capacity``: :func:`dse.sched.deeprecsched.optimize_many` on all of them
(the capacity search and the p95). CPU time (``process_time``), the steadier number on a shared
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

    from dse.sched.deeprecsched import optimize_many
    from dse.sweep import evaluate as ev
    from dse.sweep.expand import expand
    from dse.sweep.resolve import load_study
    from dse.sweep.run import DEFAULT_EVALUATOR, MAX_CHUNK, evaluator_version

    configs = expand(load_study(study), evaluator_version(DEFAULT_EVALUATOR), n + 1).tasks[: n + 1]
    ev.evaluate_batch(configs[:1])  # imports and the first platform's set-up
    rest = configs[1:]
    start = time.process_time()
    calls = []
    for i in range(0, len(rest), MAX_CHUNK):
        chunk = rest[i : i + MAX_CHUNK]
        if hasattr(ev, "_plan"):  # evaluate_batch's announcement of a chunk's platforms
            ev._plan(chunk)
        calls += [ev._problem(c) for c in chunk]
    problem = time.process_time() - start
    start = time.process_time()
    optimize_many(calls)
    capacity = time.process_time() - start
    count = max(len(rest), 1)
    print(f"{Path(study).name}: {len(rest)} configurations; problem {problem / count * 1e3:.2f} ms, "
          f"capacity {capacity / count * 1e3:.2f} ms CPU per configuration")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
