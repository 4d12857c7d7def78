"""Start-up cost of the CLI: importing ``dse.cli`` (what every command, ``dse --help`` included,
pays before parsing its arguments) must not load the heavy numerical stack; each command imports
what it needs when it runs (issue #17: ``dse models``/``hardware``/``graph``/``--help`` should
answer at once).

Checked in a fresh interpreter, so modules other tests imported do not count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Modules that cost 0.1-1.5 s each to import and that no command needs to parse its options.
HEAVY = ("numba", "scipy", "scipy.signal", "plotly", "pandas", "networkx", "numpy", "dse.cost", "dse.serve", "dse.sched",
         # the spec layer: its pydantic models cost ~0.1 s to define, YAML another few tens of ms
         "dse.specs", "yaml")

PROBE = "import json, sys; import dse.cli; print(json.dumps(sorted(sys.modules)))"


def _modules_after(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return set(json.loads(out.stdout))


def test_importing_the_cli_loads_no_heavy_module() -> None:
    loaded = _modules_after(PROBE)
    assert not [m for m in HEAVY if m in loaded]


def test_the_probe_can_fail() -> None:
    """The same probe sees a heavy module when one is imported (the check above is not vacuous)."""
    loaded = _modules_after(PROBE.replace("import dse.cli;", "import dse.cli, dse.graph;"))
    assert "networkx" in loaded and "numpy" in loaded
