"""Start-up cost of the CLI: importing ``dse.cli`` (what every command, ``dse --help`` included,
pays before parsing its arguments) must not load the heavy numerical stack, pydantic or rich; each
command imports what it needs when it runs (issue #17: ``dse models``/``hardware``/``graph``/``--help``
should answer at once). ``dse models`` and ``dse graph`` list operators and sum their formulas
without numpy or networkx, ``dse hardware`` validates platforms without the model-spec schemas.

Checked in a fresh interpreter, so modules other tests imported do not count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Modules that cost 0.1-1.5 s each to import and that no command needs to parse its options.
HEAVY = ("numba", "scipy", "scipy.signal", "plotly", "pandas", "networkx", "numpy", "dse.cost", "dse.serve", "dse.sched",
         # the spec layer: its pydantic models cost ~0.1 s to define, YAML another few tens of ms
         "dse.specs", "yaml",
         # pydantic itself (~0.2 s; the settings tables are plain Python) and rich (~0.07 s; tables
         # are drawn by the commands, the help is click's plain text)
         "pydantic", "dse.settings.models", "rich")

PROBE = "import json, sys; import dse.cli; print(json.dumps(sorted(sys.modules)))"

#: What a command loaded by the time it exited (printed at exit, after the command's own output).
RUN = ("import atexit, json, sys; atexit.register(lambda: print('\\nMODULES', json.dumps(sorted(sys.modules))));"
       "sys.argv = {argv!r}; from dse.cli import main; main()")


def _run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _modules_after(code: str) -> set[str]:
    return set(json.loads(_run(code)))


def _modules_of_command(*args: str) -> set[str]:
    out = _run(RUN.format(argv=["dse", *args]))
    return set(json.loads(out.rsplit("MODULES ", 1)[1]))


def test_importing_the_cli_loads_no_heavy_module() -> None:
    loaded = _modules_after(PROBE)
    assert not [m for m in HEAVY if m in loaded]


def test_the_probe_can_fail() -> None:
    """The same probe sees a heavy module when one is imported (the check above is not vacuous)."""
    loaded = _modules_after(PROBE.replace("import dse.cli;", "import dse.cli, dse.cost;"))
    assert {"numpy", "scipy", "pydantic"} <= loaded


def test_help_loads_no_heavy_module() -> None:
    assert not [m for m in HEAVY if m in _modules_of_command("--help")]


@pytest.mark.parametrize("args", [("models",), ("graph", "dlrm_rmc1"), ("graph", "din", "--json", "-b", "4")])
def test_listing_operators_needs_no_numpy_or_networkx(args: tuple[str, ...]) -> None:
    loaded = _modules_of_command(*args)
    assert "dse.graph" in loaded  # the command did lower the models
    assert not {"numpy", "networkx", "dse.cost"} & loaded


def test_listing_hardware_needs_no_model_schemas() -> None:
    loaded = _modules_of_command("hardware")
    assert "dse.specs.hardware" in loaded
    assert not {"dse.specs.model", "dse.graph", "numpy", "networkx", "dse.cost"} & loaded
