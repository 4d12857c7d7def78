"""Cross-validation on the shared measurements: fit on the microbenchmarks and ONE model, predict
the other models of the same machine (their rows are never fitted).

:data:`PLAN` names, per shipped platform, the files and the training model. The shipped specs
``hwspecs/ci_cpu.yaml``, ``h200_host.yaml`` and ``h200.yaml`` are written by exactly this fit
(``dse calibrate ... --holdout <the other models>``), so the models held out here were never seen
by the numbers in those files either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dse.calibrate.data import load_measurements
from dse.calibrate.fit import FitResult, calibrate, model_rows
from dse.errors import DseError
from dse.specs.hardware import Platform, load_platform


@dataclass(frozen=True)
class CvCase:
    platform: str
    files: tuple[str, ...]
    train: str


PLAN = {
    # ci_cpu_alloc.csv, ci_cpu_gather_ramp.csv: our own allocator and gather-ramp microbenchmarks of
    # the CI machine kind (data/measured only)
    "ci_cpu": CvCase(
        "ci_cpu", ("ci_cpu_micro.csv", "ci_cpu_models.csv", "ci_cpu_alloc.csv", "ci_cpu_gather_ramp.csv"), "dlrm_rmc3"
    ),
    "h200_host": CvCase("h200_host", ("h200_micro.csv", "h200_models.csv"), "wnd"),
    "h200": CvCase("h200", ("h200_micro.csv", "h200_models.csv"), "dlrm_rmc1"),
}


def measured_dir() -> Path:
    from dse.cost.validation import MEASURED_DIR

    return Path(MEASURED_DIR)


def data_file(folder: Path, name: str) -> Path:
    """``folder/name``, else the repository's copy (files we measured ourselves live only there)."""
    from dse.paths import BUNDLED_MEASURED_DIR

    path = folder / name
    return path if path.is_file() or not (BUNDLED_MEASURED_DIR / name).is_file() else BUNDLED_MEASURED_DIR / name


def cross_validate(
    platform: str, train: str | None = None, folder: Path | None = None, base: Platform | None = None, **kwargs
) -> FitResult:
    """Fit ``platform`` on its microbenchmarks and the cold=1 runs of ``train`` (default: the
    plan's), holding out every other measured model."""
    if platform not in PLAN:
        raise DseError(f"no cross-validation plan for '{platform}' (known: {', '.join(PLAN)})")
    case = PLAN[platform]
    folder = Path(folder or measured_dir())
    meas = load_measurements([data_file(folder, f) for f in case.files])
    plat = base or load_platform(case.platform)
    models = sorted(set(model_rows(meas, plat)[0]["model"]))
    train = train or case.train
    if train not in models:
        raise DseError(f"{platform}: no cold=1 rows of '{train}' (measured: {', '.join(models)})")
    return calibrate(meas, plat, holdout=[m for m in models if m != train], **kwargs)
