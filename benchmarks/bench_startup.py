"""CLI start-up: wall and CPU time of the quick commands, and the floors under them (issue #17,
docs/studies.md "Speed").

    python benchmarks/bench_startup.py [--repeat 5] [--entry PATH]

Each command runs in a fresh interpreter (``python -c "...; from dse.cli import main; main()"`` with
this checkout on ``PYTHONPATH``, or the installed entry script given by ``--entry``), its output
thrown away; printed is the best of ``--repeat`` runs, wall seconds and CPU seconds (user + system
of the child, the steadier number on a shared machine). The commands whose results are cached run
twice over: with an empty result cache every time (``first run``: the specs are validated,
dse/cache.py stores the result) and with the cache filled (``cached``); every run has a temporary
``DSE_CACHE_DIR``. The floors are what every command pays before its own work:

- ``python -c pass``: the interpreter (site, the editable-install finder);
- ``import dse.cli``: plus typer and the command modules (what ``dse --help`` needs besides the help);
- ``+ rich``: plus the tables the commands print;
- ``+ pydantic``: plus pydantic and one TypeAdapter (typer 0.29 builds one for every command
  parameter, which is why pyproject.toml pins it below 0.29);
- ``+ model schemas`` / ``+ hardware schemas``: plus YAML and the spec classes that ``dse models``,
  ``dse graph`` and ``dse hardware`` validate their files with on a first run.

The load average of the machine is printed before and after: on a shared machine wall times depend
on it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = [["--help"], ["models"], ["hardware"], ["graph", "dlrm_rmc1"], ["stacks"]]
#: The commands whose results dse/cache.py keeps: timed on a first run and cached.
CACHED = [["models"], ["hardware"], ["graph", "dlrm_rmc1"]]

FLOORS = {
    "python -c pass": "pass",
    "import dse.cli": "import dse.cli",
    "import dse.cli + rich": "import dse.cli, rich.console, rich.table",
    "import dse.cli + pydantic": "import dse.cli; from pydantic import TypeAdapter; TypeAdapter(str)",
    "... + model schemas": "import dse.cli; from pydantic import TypeAdapter; TypeAdapter(str); import dse.specs.model",
    "... + hardware schemas": "import dse.cli; from pydantic import TypeAdapter; TypeAdapter(str); import dse.specs.hardware",
}


#: Where the runs' result caches go (a fresh directory is an empty cache); removed at exit.
SCRATCH = tempfile.TemporaryDirectory(prefix="dse-bench-startup-")


def _once(argv: list[str], cache: str | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and exit status of one run; ``cache``: its
    ``DSE_CACHE_DIR`` (default: a new, empty one)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "DSE_CACHE_DIR": cache or tempfile.mkdtemp(dir=SCRATCH.name)}
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def _best(argv: list[str], repeat: int, cache: str | None = None) -> str:
    runs = [_once(argv, cache) for _ in range(repeat)]
    failed = [rc for _, _, rc in runs if rc != 0]
    wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
    return f"wall {wall:.3f} s  CPU {cpu:.3f} s" + (f"  (exit status {failed[0]})" if failed else "")


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per line; the best is printed")
    parser.add_argument("--entry", help="the installed dse entry script (default: python -c on this checkout)")
    args = parser.parse_args()
    print(_load())
    for label, code in FLOORS.items():
        print(f"{label:36s} {_best([sys.executable, '-c', code], args.repeat)}")
    for command in COMMANDS:
        if args.entry:
            argv = [args.entry, *command]
        else:
            argv = [sys.executable, "-c", f"import sys; sys.argv = {['dse', *command]!r}; from dse.cli import main; main()"]
        label = "dse " + " ".join(command)
        if command not in CACHED:
            print(f"{label:36s} {_best(argv, args.repeat)}")
            continue
        print(f"{label + ' (first run)':36s} {_best(argv, args.repeat)}")
        cache = tempfile.mkdtemp(dir=SCRATCH.name)
        _once(argv, cache)  # fills it
        print(f"{label + ' (cached)':36s} {_best(argv, args.repeat, cache)}")
    print(_load())


if __name__ == "__main__":
    main()
