"""Where the shipped spec directories live, and how a name or a path is resolved to a file."""

from __future__ import annotations

import os
from pathlib import Path

from dse.errors import DseError

#: Repository root (the package is installed in editable mode from the checkout).
PROJECT_ROOT = Path(os.environ.get("DSE_HOME", Path(__file__).resolve().parents[1]))
MODELSPECS_DIR = PROJECT_ROOT / "modelspecs"
HWSPECS_DIR = PROJECT_ROOT / "hwspecs"
#: Software stacks (framework and harness costs), beside the hardware specs they run on.
STACKS_DIR = HWSPECS_DIR / "stacks"
STUDIES_DIR = PROJECT_ROOT / "studies"
#: Measured runs (FACTS.md section 5): the shared folder beside the checkout, and the copy of its
#: small files kept in the repository so that the project stands alone. The shared one wins.
SHARED_MEASURED_DIR = PROJECT_ROOT.parent / "shared" / "data" / "measured"
BUNDLED_MEASURED_DIR = PROJECT_ROOT / "data" / "measured"


def default_measured_dir() -> Path:
    """``$DSE_MEASURED``, else the shared measured data when present, else the repository's copy."""
    if os.environ.get("DSE_MEASURED"):
        return Path(os.environ["DSE_MEASURED"])
    return SHARED_MEASURED_DIR if SHARED_MEASURED_DIR.is_dir() else BUNDLED_MEASURED_DIR


def spec_files(directory: Path) -> list[Path]:
    """The YAML spec files in ``directory``, sorted by name."""
    return sorted(directory.glob("*.yaml"), key=lambda p: p.stem)


def list_specs(directory: Path) -> list[str]:
    """Names (file stems) of the YAML specs in ``directory``, sorted."""
    return [p.stem for p in spec_files(directory)]


def resolve_spec(name_or_path: str, directory: Path, what: str) -> Path:
    """Turn ``NAME`` (a file in ``directory``) or a path to a YAML file into a path.

    Raises a one-line :class:`DseError` listing the known names when nothing matches.
    """
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if not candidate.is_file():
            raise DseError(f"{name_or_path}: no such {what} file")
        return candidate
    shipped = directory / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    known = ", ".join(list_specs(directory)) or "none"
    raise DseError(f"unknown {what} '{name_or_path}' (known: {known}; or give a path to a YAML file)")
