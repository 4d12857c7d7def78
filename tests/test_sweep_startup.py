"""Start-up cost of a sweep worker (issue #17): importing the evaluator ``dse.sweep.evaluate`` and
evaluating configurations must not load what the evaluation never uses: numba (the DES kernel),
scipy.signal, scipy.stats, scipy.optimize, scipy.special (each replaced by the few lines the model
needs: the Zipf streams' characteristic time is :func:`dse.cost.locality.occupancy_log_time`, the
special functions are in :mod:`dse.special`) and networkx (the evaluator keeps the plain
:class:`~dse.graph.OpGraph`). Together they cost about 3 s of CPU
before the first rows: once per sweep where the pool forks its workers (Linux) but for what the
evaluation imports lazily, which every worker pays, once per worker where it spawns them.

Checked in a fresh interpreter, so modules other tests imported do not count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Modules a sweep worker must not load (seconds of CPU together; none is on the evaluation path).
UNUSED = ("numba", "scipy.signal", "scipy.stats", "scipy.optimize", "scipy.special", "numpy.f2py", "networkx")

#: Import the evaluator, then evaluate with ``evaluate_batch`` and ``evaluate`` configurations of
#: studies/nmp.yaml: uniform and zipf locality and one with RecNMP enabled; print the loaded modules.
PROBE = """
import json, sys
import dse.sweep.evaluate as E
{extra}
from dse.sweep.expand import expand
from dse.sweep.resolve import load_study
configs = expand(load_study("studies/nmp.yaml"), "test", None).tasks
nmp = next(c for c in configs if "nmp.enabled=false" not in c["platform_overrides"])
rows = E.evaluate_batch(configs[:3] + [nmp])
assert all(isinstance(r, dict) and r["max_qps"] > 0 for r in rows), rows
E.evaluate(configs[3])
print("MODULES", json.dumps(sorted(sys.modules)))
"""


def _modules_after(extra: str = "") -> set[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", PROBE.format(extra=extra)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.rsplit("MODULES ", 1)[1]))


def test_a_sweep_worker_loads_none_of_the_unused_heavy_modules() -> None:
    loaded = _modules_after()
    assert "dse.sched.fastcap" in loaded and "dse.special" in loaded  # it did evaluate
    assert not [m for m in UNUSED if m in loaded]


def test_the_probe_can_fail() -> None:
    """The same probe sees them when the library's own paths to them run (the check above is not
    vacuous): the DES kernel loads numba, :func:`dse.graph.load_graph` networkx, a DES confidence
    interval scipy.special."""
    extra = ("import numpy as np; import dse.serve.des as D; D._numba_kernel(); D.batch_quantile_ci(np.ones(1000), 95);"
             " import dse.graph as G; G.load_graph('dlrm_rmc1')")
    loaded = _modules_after(extra)
    assert {"numba", "networkx", "scipy.special"} <= loaded
