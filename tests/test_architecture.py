"""The layer rule of docs/architecture.md, checked on the source: every ``import`` in ``dse/``
(module level or inside a function) points to the module's own package or to a lower layer."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dse"

#: Layers from the bottom up; modules of one layer may import each other only within a package.
LAYERS: list[set[str]] = [
    {"errors", "special"},
    {"paths"},
    {"cache"},
    {"settings"},
    {"specs"},
    {"graph"},
    {"cost"},
    {"serve"},
    {"sched"},
    {"sweep", "calibrate", "report"},
    {"commands"},
    {"cli"},
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _unit(module: str) -> str | None:
    """``dse.cost.model`` -> ``cost``; ``dse`` itself (the version) -> None."""
    parts = module.split(".")
    if parts[0] != "dse" or len(parts) == 1:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import statement in a file (relative ones resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            if base == "dse":  # from dse import x: x is the unit
                out += [(node.lineno, f"dse.{alias.name}") for alias in node.names]
            else:
                out.append((node.lineno, base))
    return out


def _violations() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        mine = _unit(_module_name(path))
        if mine is None:
            continue
        for line, target in _imports(path):
            theirs = _unit(target)
            if theirs is None or theirs == mine:
                continue
            if theirs not in RANK:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {target} is in no layer")
            elif RANK[theirs] >= RANK[mine]:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {mine} imports {target} ({theirs} is not below it)")
    return bad


def test_every_package_has_a_layer():
    units = {_unit(_module_name(p)) for p in PACKAGE.rglob("*.py")} - {None}
    assert units <= set(RANK), sorted(units - set(RANK))


def test_imports_only_go_down_the_layers():
    assert _violations() == []


def test_no_importlib_indirection_in_the_library():
    """``importlib`` may only load a plugin named by the user (the sweep's evaluator)."""
    allowed = {"dse/sweep/run.py"}
    users = [
        str(p.relative_to(PACKAGE.parent))
        for p in PACKAGE.rglob("*.py")
        if any(t == "importlib" for _, t in _imports(p))
    ]
    assert sorted(set(users) - allowed) == []


@pytest.mark.parametrize(
    "source,expected",
    [
        ("from dse.sched import optimize\n", "serve imports dse.sched"),
        ("import dse.commands.nmp\n", "serve imports dse.commands.nmp"),
    ],
)
def test_the_checker_catches_an_upward_import(tmp_path, monkeypatch, source, expected):
    """The rule is enforced: a serve module importing sched or the CLI is reported."""
    fake = tmp_path / "dse"
    (fake / "serve").mkdir(parents=True)
    (fake / "serve" / "__init__.py").write_text("")
    (fake / "serve" / "bad.py").write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert any(expected in v for v in _violations())
