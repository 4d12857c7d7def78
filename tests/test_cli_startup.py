"""Start-up cost of the CLI: importing ``dse.cli`` (what every command, ``dse --help`` included,
pays before parsing its arguments) must not load the heavy numerical stack, pydantic or rich; each
command imports what it needs when it runs (issue #17: ``dse models``/``hardware``/``graph``/``--help``
should answer at once). ``dse models`` and ``dse graph`` list operators and sum their formulas
without numpy or networkx, ``dse hardware`` validates platforms without the model-spec schemas.
Once their results are cached (dse/cache.py) and the spec files unchanged, they validate nothing:
no pydantic, no YAML, no spec schemas.

Checked in a fresh interpreter, so modules other tests imported do not count; each test has its
own cache directory, so whether a command finds its result cached does not depend on test order.
"""

from __future__ import annotations

import importlib.util
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


#: What a command must not load when its result is cached (what validating a spec costs and what
#: the numbers were computed with).
NOT_WHEN_CACHED = ("pydantic", "numpy", "networkx", "pandas", "plotly", "numba", "scipy", "yaml",
                   "dse.specs.model", "dse.specs.hardware", "dse.graph.blocks", "dse.cost")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DSE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


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
    # the cost model no longer imports scipy (dse/special.py); the calibration fit does
    loaded = _modules_after(PROBE.replace("import dse.cli;", "import dse.cli, dse.cost, dse.calibrate.fit;"))
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


#: typer 0.29 converts every command parameter through a pydantic ``TypeAdapter`` (its module
#: ``typer._adapters``), the ``--help`` flag's unset value included: about 0.25 s of any command.
TYPER_IMPORTS_PYDANTIC = importlib.util.find_spec("typer._adapters") is not None


def test_typer_converts_options_without_pydantic() -> None:
    """pyproject.toml pins typer below 0.29 for this; an environment with a newer typer fails here
    (``pip install 'typer<0.29'``), and the test below then leaves pydantic out of its check."""
    assert not TYPER_IMPORTS_PYDANTIC, "typer >= 0.29 is installed: every command imports pydantic"


@pytest.mark.parametrize("args", [("models",), ("graph", "dlrm_rmc1"), ("graph", "din", "--json", "-b", "4"),
                                  ("hardware",), ("hardware", "--json")])
def test_a_cached_result_loads_no_schemas_and_no_numerical_stack(args: tuple[str, ...]) -> None:
    cold = _modules_of_command(*args)
    assert {"pydantic", "yaml"} <= cold  # the first run validated the specs: the check below can fail
    warm = _modules_of_command(*args)
    absent = [m for m in NOT_WHEN_CACHED if not (TYPER_IMPORTS_PYDANTIC and m == "pydantic")]
    assert not [m for m in absent if m in warm]
