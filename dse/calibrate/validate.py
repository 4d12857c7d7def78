"""Every validation the project has, as one table (``dse validate``).

Each case compares a model output with a reference and says where the reference comes from:

- **measured**: for every shipped hardware spec with shared measurements (``ci_cpu``,
  ``h200_host``, ``h200``; :data:`dse.cost.validation.CASES`) and every model measured there, the
  predicted single-inference latency against the median of the ``cold=1`` runs (RMC2 and RMC3 on
  the H200 host's CPU and GPU: measured after the fits, :data:`AFTER_FIT_FILE`), and on the GPU
  per model its warm runs with the host copies (``transfer=1``). Reference and prediction are
  geometric means over the measured batch sizes (ms); the error is the MAPE over those rows.
- **published** (FACTS.md section 1): per-sample embedding bytes and FC multiply-adds of the DLRM
  RMC models, the table memory of five models, the width of MLPerf DLRM's top MLP input.
- **nmp** (FACTS.md section 3, RecNMP, Ke et al. ISCA 2020): the hit rate of an 8 KB LRU cache
  over one 4 M-row table under the default trace (paper 24.9%), the end-to-end latency speedup
  of RMC1 with 8 ranks and a 128 KB RankCache (paper 4.2×), and RMC1's memory-energy saving
  there (paper 45.8%). These are trends the model should reproduce, not measurements of our
  machines; the paper's numbers are aggregates over production models.

- **deeprecsys** (FACTS.md section 6, the DeepRecSys characterization with the
  ``caffe2_deeprecsys`` stack, :mod:`dse.calibrate.characterization`): the FC and
  SparseLengthsSum shares of RMC1/2/3's operator time on Skylake and the GTX 1080 Ti against the
  published figure (48 numbers, read off it ±2 points), and the GPU-over-Skylake speedup of the
  time per iteration at batch 1 ... 1024 for the eight models with the crossover batch (the first
  batch at which the GPU is faster). The speedup figure is not in FACTS.md: those are *model*
  cases, printed without a reference (reference and error empty).

Errors are fractions, ``|prediction − reference| / |reference|``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dse.errors import DseError


@dataclass(frozen=True)
class Check:
    case: str
    group: str
    #: none: a model output printed for comparison by hand (no reference value known here)
    reference: float | None
    prediction: float
    unit: str
    source: str
    rows: int = 1
    #: MAPE (fraction) over the rows behind a measured case: what its error should say, rather
    #: than the error of the rows' geometric means
    rows_mape: float | None = None

    @property
    def error(self) -> float | None:
        """``|prediction - reference| / |reference|`` (fraction), or :attr:`rows_mape` where given;
        none without a reference."""
        if self.reference is None:
            return None
        if self.rows_mape is not None:
            return self.rows_mape
        return abs(self.prediction - self.reference) / abs(self.reference) if self.reference else abs(self.prediction)

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "group": self.group,
            "reference": self.reference,
            "prediction": self.prediction,
            "unit": self.unit,
            "error": self.error,
            "source": self.source,
            "rows": self.rows,
        }


#: Runs measured after the shipped fits (FACTS.md section 5), never fitted: their ``cold=1`` rows,
#: on the platforms they were measured on
AFTER_FIT_FILE = "h200_models_rmc2_rmc3.csv"
AFTER_FIT_PLATFORMS = ("h200_host", "h200")
#: The GPU whose runs with the host copies (``transfer=1``) are checked, and its files
COPIES_PLATFORM, COPIES_FILES = "h200", ("h200_models.csv", AFTER_FIT_FILE)


def _measured_check(case: str, measured_s: Any, predicted_s: Any, source: str) -> Check:
    """A measured case: geometric means of the rows (ms), the error the MAPE over them."""
    measured, predicted = np.asarray(measured_s, dtype=float), np.asarray(predicted_s, dtype=float)
    return Check(
        case=case,
        group="measured",
        reference=float(np.exp(np.log(measured).mean()) * 1e3),
        prediction=float(np.exp(np.log(predicted).mean()) * 1e3),
        unit="ms",
        source=source,
        rows=int(len(measured)),
        rows_mape=float(np.mean(np.abs(predicted / measured - 1.0))),
    )


def measured_checks(measured_dir: Path | None = None) -> list[Check]:
    """One check per (platform, model) of the shared ``cold=1`` runs (those measured after the
    fits included), and per model of the GPU's runs with the host copies."""
    from dse.cost.validation import CASES, MEASURED_DIR, AccuracyCase, accuracy_table

    folder = Path(measured_dir or MEASURED_DIR)
    if not folder.is_dir():
        return []
    cases = [(c, "") for c in CASES]
    if (folder / AFTER_FIT_FILE).is_file():
        cases += [
            (AccuracyCase(c.platform, AFTER_FIT_FILE, c.tag, c.threads), ", measured after the fit")
            for c in CASES
            if c.platform in AFTER_FIT_PLATFORMS
        ]
    out = []
    for case, note in cases:
        table = accuracy_table(case, measured_dir=folder)
        for model, g in table.groupby("model", sort=True):
            out.append(_measured_check(
                f"{model} on {case.platform}, {len(g)} batch sizes{note}", g["measured_s"], g["predicted_s"],
                f"{case.csv} cold=1 medians (error: MAPE over the rows)",
            ))
    return out + copy_checks(folder)


def copy_checks(folder: Path) -> list[Check]:
    """Per model, the GPU's warm runs with the host copies (``transfer=1``: inputs copied to the
    device and the outputs back inside the timed pass), costed as one repeated batch."""
    import pandas as pd

    from dse.calibrate.crossval import PLAN
    from dse.calibrate.data import load_measurements
    from dse.calibrate.fit import Predictor, known_models
    from dse.specs.hardware import load_platform

    paths = [folder / f for f in COPIES_FILES if (folder / f).is_file()]
    if not paths:
        return []
    rows = load_measurements(paths).models  # with ``cold`` filled in and each row's ``origin``
    keep = (rows["tag"] == "gpu") & (rows["transfer"] == 1) & (rows["cold"] == 0)
    rows = rows[keep & rows["model"].isin(known_models())].reset_index(drop=True)
    trained = PLAN[COPIES_PLATFORM].train
    predicted = Predictor(pd.DataFrame(), rows).predict_models(load_platform(COPIES_PLATFORM))
    out = []
    for model, g in rows.groupby("model", sort=True):
        out.append(_measured_check(
            f"{model} on {COPIES_PLATFORM} with the host copies, {len(g)} batch sizes{' (fitted)' if model == trained else ''}",
            g["median_ms"] * 1e-3,
            predicted[g.index], f"{', '.join(sorted(set(g['origin'])))} transfer=1 cold=0 medians (error: MAPE over the rows)",
        ))
    return out


def published_checks() -> list[Check]:
    """Per-sample costs and table memory quoted in FACTS.md section 1."""
    from dse.graph import load_graph, totals
    from dse.graph.ops import OpKind
    from dse.graph.lower import ordered_ops

    out = []
    facts = "FACTS.md section 1"
    refs = {"dlrm_rmc1": (81_920, 100.4e3, 4.10e9), "dlrm_rmc2": (983_040, 319.6e3, 4.10e9), "dlrm_rmc3": (25_600, 3.20e6, 2.56e9)}
    for model, (gathered, macs, mem) in refs.items():
        g = load_graph(model)
        t = totals(g, 1)
        fc_macs = sum(op.flops(1) for op in ordered_ops(g) if op.kind is OpKind.FC) / 2.0
        out.append(Check(f"{model} embedding bytes per sample", "published", gathered, t["gathered_bytes"], "B", facts))
        out.append(Check(f"{model} FC multiply-adds per sample", "published", macs, fc_macs, "MAC", facts))
        out.append(Check(f"{model} table memory", "published", mem, t["table_bytes"], "B", facts))
    for model, mem in (("wnd", 3.46e9), ("mtwnd", 3.90e9)):
        out.append(Check(f"{model} table memory", "published", mem, totals(load_graph(model), 1)["table_bytes"], "B", facts))
    g = load_graph("mlperf_dlrm")
    top_in = next(op for op in ordered_ops(g) if op.name == "top.fc0").shape["k"]
    out.append(Check("mlperf_dlrm top MLP input width", "published", 479, top_in, "", "FACTS.md section 1 (facebookresearch/dlrm)"))
    return out


def nmp_checks() -> list[Check]:
    """RecNMP headline trends (cheap: a few cost-model evaluations)."""
    from dse.cost.locality import parse_locality
    from dse.cost.nmp_points import nmp_points
    from dse.settings import RECNMP_LOCALITY

    stream = parse_locality(RECNMP_LOCALITY).stream(4_000_000)
    hit = float(stream.hit_rate(64))  # 8 KB of 128-byte rows
    pts = nmp_points("dlrm_rmc1", ranks=[8], cache_kb=[128.0])["points"][0]
    pts2 = nmp_points("dlrm_rmc2", ranks=[8], cache_kb=[128.0])["points"][0]
    src = "FACTS.md section 3 (RecNMP, Ke et al. ISCA 2020)"
    best_sls = max(float(pts["sls_speedup"]), float(pts2["sls_speedup"]))
    return [
        Check("RankCache 8 KB hit rate, one 4M-row table (default trace)", "nmp", 0.249, hit, "", src),
        Check("SLS memory-latency speedup, 8 ranks, best of RMC1/RMC2 (paper: up to)", "nmp", 9.8, best_sls, "x", src),
        Check("dlrm_rmc1 end-to-end speedup, 8 ranks, 128 KB RankCache", "nmp", 4.2, float(pts["latency_speedup"]), "x", src),
        Check("dlrm_rmc2 end-to-end speedup, 8 ranks, 128 KB RankCache", "nmp", 4.2, float(pts2["latency_speedup"]), "x", src),
        Check("dlrm_rmc1 memory-energy saving, 8 ranks, 128 KB", "nmp", 0.458, float(pts["memory_energy_saving"]), "", src),
    ]


def launch_checks() -> list[Check]:
    """Launches per inference of the graph against torch.profiler's CPU trace of the PyTorch model
    built from the same spec (:mod:`dse.calibrate.optrace`), for the shipped models and the seeded
    random DLRMs; needs torch (``dse measure``'s extra)."""
    from dse.calibrate.harness import require_torch
    from dse.calibrate.optrace import compare_ops
    from dse.paths import MODELSPECS_DIR, list_specs
    from dse.specs.model import load_model_spec
    from dse.specs.random_models import random_dlrms

    require_torch()
    specs = [load_model_spec(MODELSPECS_DIR / f"{m}.yaml") for m in list_specs(MODELSPECS_DIR)] + random_dlrms()
    out = []
    for spec in specs:
        c = compare_ops(spec)
        # a node whose ops differ counts as an error even when the totals agree
        mape = None if c.mismatch is None else max(1.0 / len(c.traced), abs(c.graph_launches / len(c.traced) - 1.0))
        out.append(Check(f"{spec.name} launches", "launches", float(len(c.traced)), float(c.graph_launches), "ops",
                         "torch.profiler CPU trace", rows=1, rows_mape=mape))
    return out


def deeprecsys_checks() -> list[Check]:
    """The operator breakdown against the published figure, and the GPU-over-Skylake speedups
    and crossover batches as model cases (no reference here)."""
    from dse.calibrate.characterization import MODELS, STACK, breakdown, crossover, speedups

    out = []
    figure = "FACTS.md section 6 (DeepRecSys operator breakdown, read off the figure +-2 points)"
    for hw, model, b, which, got, pub in breakdown(STACK):
        out.append(Check(f"{model} on {hw}, b={b}: {which} share of operator time", "deeprecsys", pub, got, "%", figure))
    model_only = "model (caffe2_deeprecsys); figure not in FACTS.md"
    for model in MODELS:
        rows = speedups(model, STACK)
        for b, _, _, speedup, _, _ in rows:
            out.append(Check(f"{model} gtx1080ti over skylake, b={b}: speedup per iteration", "deeprecsys", None, speedup,
                             "x", model_only))
        cross = crossover(rows)
        out.append(Check(f"{model} crossover batch (first b with the GPU faster; 0: none up to 1024)", "deeprecsys", None,
                         float(cross or 0), "", model_only))
    return out


GROUPS: dict[str, Callable[[], list[Check]]] = {
    "measured": measured_checks,
    "published": published_checks,
    "nmp": nmp_checks,
    "launches": launch_checks,
    "deeprecsys": deeprecsys_checks,
}
#: The groups ``dse validate`` runs by default (``launches`` needs torch: ``--only launches``).
DEFAULT_GROUPS = ("measured", "published", "nmp", "deeprecsys")


def run_validations(groups: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the validation groups (default: :data:`DEFAULT_GROUPS`) and return one dict per case."""
    names = groups or list(DEFAULT_GROUPS)
    bad = [g for g in names if g not in GROUPS]
    if bad:
        raise DseError(f"--only: unknown group(s) {', '.join(bad)} (known: {', '.join(GROUPS)})")
    out = []
    for name in names:
        out.extend(check.as_dict() for check in GROUPS[name]())
    return out
