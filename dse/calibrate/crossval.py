"""Cross-validation on the shared measurements.

- :func:`cross_validate`: fit on the microbenchmarks and ONE model, predict the other models of the
  same machine (their rows are never fitted).
- :func:`leave_one_model_out` (``dse validate --lomo``): for every measured model of a platform,
  refit the platform on the microbenchmarks and every OTHER model and predict that one; the MAPE
  over those predictions is the honest figure for a model nobody measured on that machine.

:data:`PLAN` names, per shipped platform, the files and the training model. The shipped specs
``hwspecs/ci_cpu.yaml``, ``h200_host.yaml`` and ``h200.yaml`` (with their per-operator costs, which
now live in ``hwspecs/stacks/pytorch_eager.yaml``) are written by exactly this fit
(``dse calibrate ... --holdout <the other models>``), so the models held out here were never seen
by the numbers in those files either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dse.calibrate.data import Measurements, load_measurements
from dse.calibrate.fit import FitResult, calibrate, model_rows
from dse.errors import DseError
from dse.specs.hardware import Platform, load_platform


@dataclass(frozen=True)
class CvCase:
    platform: str
    files: tuple[str, ...]
    train: str
    #: which runs the shipped fit takes (``dse calibrate --rows``): ``cold`` on the CPUs; ``auto``
    #: (warm runs too, where they agree with the cold ones) on the GPU, whose pass the host issues
    #: ahead of the device (dse/cost/stream.py): in a cold pass the device lags behind the host, so
    #: the launches hide and only the warm runs pin the launch costs
    rows: str = "cold"


PLAN = {
    # ci_cpu_alloc.csv, ci_cpu_gather_ramp.csv: our own allocator and gather-ramp microbenchmarks of
    # the CI machine kind (data/measured only)
    "ci_cpu": CvCase(
        "ci_cpu", ("ci_cpu_micro.csv", "ci_cpu_models.csv", "ci_cpu_alloc.csv", "ci_cpu_gather_ramp.csv"), "dlrm_rmc3"
    ),
    "h200_host": CvCase("h200_host", ("h200_micro.csv", "h200_models.csv"), "wnd"),
    "h200": CvCase("h200", ("h200_micro.csv", "h200_models.csv"), "dlrm_rmc1", rows="auto"),
}

#: Model files measured after the shipped fits, used by leave-one-model-out (FACTS.md section 5).
LOMO_EXTRA = {"h200_host": ("h200_models_rmc2_rmc3.csv",), "h200": ("h200_models_rmc2_rmc3.csv",)}


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
    """Fit ``platform`` on its microbenchmarks and the runs of ``train`` (default: the plan's),
    holding out every other measured model: the recipe of the shipped specs, with the plan's
    ``rows`` (:class:`CvCase`; ``kwargs`` may say otherwise, e.g. ``rows="auto"`` as
    ``dse calibrate`` and leave-one-model-out take them by default)."""
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
    kwargs.setdefault("rows", case.rows)
    return calibrate(meas, plat, holdout=[m for m in models if m != train], **kwargs)


def lomo_measurements(platform: str, folder: Path | None = None) -> tuple[Measurements, Platform, list[str]]:
    """The measurements leave-one-model-out uses for ``platform`` (the plan's files and
    :data:`LOMO_EXTRA`), the shipped platform and its measured models (cold=1 rows)."""
    if platform not in PLAN:
        raise DseError(f"no cross-validation plan for '{platform}' (known: {', '.join(PLAN)})")
    folder = Path(folder or measured_dir())
    names = PLAN[platform].files + LOMO_EXTRA.get(platform, ())
    missing = [n for n in names if not data_file(folder, n).is_file()]
    if missing:
        raise DseError(f"{folder}: measured data missing for {platform}: {', '.join(missing)}")
    meas = load_measurements([data_file(folder, n) for n in names])
    plat = load_platform(PLAN[platform].platform)
    return meas, plat, sorted(set(model_rows(meas, plat)[0]["model"]))


def lomo_fold(platform: str, model: str, folder: Path | None = None) -> tuple[float, int]:
    """Refit ``platform`` without ``model``'s rows and predict them: (MAPE as a fraction, rows)."""
    meas, plat, models = lomo_measurements(platform, folder)
    if model not in models:
        raise DseError(f"{platform}: no cold=1 rows of '{model}' (measured: {', '.join(models)})")
    d = calibrate(meas, plat, holdout=[model]).as_dict()["holdout"]
    return float(d["mape"]), int(d["rows"])


def leave_one_model_out(
    platforms: list[str] | None = None, folder: Path | None = None, workers: int = 1
) -> dict[str, dict[str, object]]:
    """``{platform: {"mape": f, "rows": n, "models": {model: f}}}`` over every measured model of
    every platform (default: all of :data:`PLAN`). A platform's MAPE is over all its held-out rows
    (each model predicted by the fit without it). ``workers`` > 1 runs the folds in processes."""
    platforms = list(platforms or PLAN)
    folds = [(p, m) for p in platforms for m in lomo_measurements(p, folder)[2]]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lomo_fold, [p for p, _ in folds], [m for _, m in folds], [folder] * len(folds)))
    else:
        results = [lomo_fold(p, m, folder) for p, m in folds]
    out: dict[str, dict[str, object]] = {}
    for (p, m), (mape, rows) in zip(folds, results):
        entry = out.setdefault(p, {"models": {}, "rows": 0, "_sum": 0.0})
        entry["models"][m] = mape  # type: ignore[index]
        entry["rows"] = int(entry["rows"]) + rows  # type: ignore[arg-type]
        entry["_sum"] = float(entry["_sum"]) + mape * rows  # type: ignore[arg-type]
    for entry in out.values():
        entry["mape"] = float(entry.pop("_sum")) / max(1, int(entry["rows"]))  # type: ignore[arg-type]
    return out
