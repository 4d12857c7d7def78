"""The sweep's default ``evaluate(config) -> row``: DeepRecSched on one hypothetical platform.

For one configuration (:mod:`dse.sweep.expand` builds them) it loads the model graph and the
platform (and accelerator) with the configuration's ``--set`` overrides, builds the service
curves, and runs :func:`dse.sched.optimize` with the configuration's workload and optimiser
settings, without the exhaustive grid (the sweep wants the scheduler's answer, not its
reference). The row::

    {"batch": b, "threshold": Q or None, "max_qps": ..., "p95_ms": ..., "qps_per_watt": ...,
     "energy_per_query_j": ..., "power_w": ..., "baseline_qps": ..., "gain": ..., "feasible": bool}

When no (b, Q) meets the SLA: ``feasible`` False, ``max_qps`` 0, ``batch``/``threshold``/``p95_ms``
name the policy with the best p95 achievable (at vanishing load), ``qps_per_watt`` 0 and
``energy_per_query_j``/``gain`` None (undefined).

Per worker process, loaded graphs (:class:`~dse.graph.OpGraph`: no networkx), platforms and
service curves are cached (graphs by model file, platforms by file and overrides, the CPU curve by model × platform × overrides × engines
× batch list, the accelerator curve by model × accelerator × overrides), so neighbouring
configurations that share a model and a platform (the expansion order keeps them together), or
vary only the accelerator, reuse them.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from dse.errors import DseError
from dse.cost.locality import parse_locality
from dse.cost.model import plan_dense
from dse.graph import load_ops
from dse.sched.deeprecsched import (Curves, OptimizeResult, accel_curve, cpu_curve, optimize, optimize_many,
                                    size_distribution)
from dse.serve.workload import parse_sizes
from dse.settings import OptimizerSettings
from dse.specs.hardware import load_platform, override_platform
from dse.specs.loading import validation_message
from dse.specs.study import WorkloadSpec

#: Goes into every configuration hash: bump it when the numbers this function returns change.
EVALUATOR_VERSION = "8"  # 2: power includes DRAM standby power; 3: DDR-derived random-row rate, page-walk term;
# 4: the accelerator runs the host's stack, PyTorch GPU launch costs scaled by host clock, cold GPU translation wait overlapped;
# 5: a GPU pass is issued ahead of the device (dse/cost/stream.py), bottom MLP before the lookups, h200 refitted;
# 6: a GPU pass copies every input tensor (one link set-up per pass), h200 link refitted on the pinned-copy rows;
# 7: a PyTorch GRU with hidden <= 192 runs as one persistent cuDNN kernel on a GPU (dse/cost/recurrent.py);
# 8: the dot interaction's host-built index tensors are blocking copies mid-pass on a GPU (feed.host_built_indices)


def _settings(config: dict[str, Any]) -> tuple[WorkloadSpec, OptimizerSettings]:
    """The typed workload and optimiser settings of a configuration (validated; memoised on
    their text, the models being frozen: a study's configurations share a few)."""
    workload, optimizer = config.get("workload") or {}, config.get("optimizer") or {}
    return _typed_settings(repr(workload), repr(optimizer), workload, optimizer)


_SETTINGS: dict[tuple[str, str], tuple[WorkloadSpec, OptimizerSettings]] = {}


def _typed_settings(wkey: str, okey: str, workload: dict, optimizer: dict) -> tuple[WorkloadSpec, OptimizerSettings]:
    hit = _SETTINGS.get((wkey, okey))
    if hit is not None:
        return hit
    try:
        out = WorkloadSpec.model_validate(workload), OptimizerSettings.model_validate(optimizer)
    except ValidationError as exc:
        raise DseError(validation_message("configuration", exc)) from None
    if len(_SETTINGS) >= 256:
        _SETTINGS.clear()
    _SETTINGS[(wkey, okey)] = out
    return out


def check_configs(configs: list[dict[str, Any]]) -> None:
    """Refuse before any work when a setting is unusable (one line naming the problem)."""
    seen: set[str] = set()
    for config in configs:
        workload, _ = _settings(config)
        if workload.sizes not in seen:
            seen.add(workload.sizes)
            if not workload.sizes.startswith("file:"):
                parse_sizes(workload.sizes)
        if workload.locality not in seen:
            seen.add(workload.locality)
            try:
                parse_locality(workload.locality)
            except DseError as exc:
                raise DseError(f"workload.locality: {exc}") from None


# -- per-process caches ----------------------------------------------------------------------


@lru_cache(maxsize=32)
def _graph(model_file: str, digest: str | None):  # noqa: ANN202
    # the plain OpGraph: the cost model reads only its operators and attributes, and networkx
    # (the DiGraph of load_graph) costs each worker about 0.3 s to import
    return load_ops(model_file)


@lru_cache(maxsize=16)
def _base_platform(path: str, digest: str | None):  # noqa: ANN202
    platform = load_platform(path)
    return platform, platform.model_dump(mode="python")


@lru_cache(maxsize=256)
def _platform(path: str, digest: str | None, overrides: tuple[str, ...]):  # noqa: ANN202
    """``load_platform(path, overrides)`` without parsing the YAML file again for every set of
    overrides: the parsed base platform is cached and the overrides applied to its fields, as
    :func:`dse.specs.hardware.load_platform` does."""
    base, data = _base_platform(path, digest)
    if not overrides:
        return base
    return override_platform(data, list(overrides), path, base=base)


def _same_software(accel_key: tuple, platform) -> tuple:  # noqa: ANN001
    """The accelerator's key with the host's software stack bound, unless the study sets the
    accelerator's stack itself: a hardware comparison holds the software fixed, as ``dse
    optimize`` does (:func:`dse.sched.deeprecsched.optimize` loads the accelerator with the
    host's stack)."""
    path, digest, overrides = accel_key
    if any(o.startswith(("stack=", "stack.")) for o in overrides):
        return accel_key
    if _base_platform(path, digest)[0].stack == platform.stack:
        return accel_key
    return path, digest, (*overrides, f"stack={platform.stack}")


@lru_cache(maxsize=256)
def _cpu_curve(model: tuple[str, str | None], platform: tuple[str, str | None, tuple[str, ...]], workers: int,
               batches: tuple[int, ...], max_size: int, locality: str):  # noqa: ANN202
    return cpu_curve(_graph(*model), _platform(*platform), workers, batches, max_size, locality=locality)


@lru_cache(maxsize=256)
def _accel_curve(model: tuple[str, str | None], accel: tuple[str, str | None, tuple[str, ...]], max_size: int,
                 locality: str):  # noqa: ANN202
    return accel_curve(_graph(*model), _platform(*accel), max_size, locality=locality)


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def evaluate(config: dict[str, Any]) -> dict[str, Any]:
    """One optimised point; see the module docstring. The reference for :func:`evaluate_batch`."""
    return _row(optimize(**_problem(config)))


def evaluate_batch(configs: list[dict[str, Any]]) -> list[dict[str, Any] | DseError]:
    """:func:`evaluate` for many configurations at once (the sweep's executors call it on each
    chunk): every capacity the walks may read is solved in one vectorised search over the chunk
    (:func:`dse.sched.deeprecsched.optimize_many`). Rows equal ``evaluate(config)``'s within
    1e-9 relative (tests/test_sweep_batch.py); a configuration that fails gives its DseError."""
    _plan(configs)
    calls: list[dict[str, Any] | DseError] = []
    for config in configs:
        try:
            calls.append(_problem(config))
        except DseError as exc:
            calls.append(exc)
    good = [c for c in calls if not isinstance(c, DseError)]
    results = iter(optimize_many(good))
    out: list[dict[str, Any] | DseError] = []
    for call in calls:
        res = call if isinstance(call, DseError) else next(results)
        out.append(res if isinstance(res, DseError) else _row(res))
    return out


def _plan(configs: list[dict[str, Any]]) -> None:
    """Announce the chunk's CPU platforms and index streams per model graph
    (:func:`dse.cost.model.plan_dense`), so that the non-gather part of their curves, and the
    gathers of those with RecNMP, are computed for all of them at once. A configuration whose
    platform or workload fails is left out here (:func:`_problem` reports it)."""
    by_model: dict[tuple, tuple[list, list]] = {}
    for config in configs:
        specs = config.get("specs") or {}
        model_key = (str(config.get("model_file") or config["model"]), specs.get("model"))
        try:
            platform = _platform(str(config.get("platform_file") or config["platform"]), specs.get("platform"),
                                 tuple(config.get("platform_overrides") or ()))
            locality = _settings(config)[0].locality
        except DseError:
            continue
        platforms, localities = by_model.setdefault(model_key, ([], []))
        platforms.append(platform)
        localities.append(locality)
    for model_key, (platforms, localities) in by_model.items():
        try:
            plan_dense(_graph(*model_key), platforms, localities)
        except DseError:
            continue


def _problem(config: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`dse.sched.deeprecsched.optimize` for one configuration
    (graph, platforms and curves from the per-process caches)."""
    workload, search = _settings(config)
    specs = config.get("specs") or {}
    model_key = (str(config.get("model_file") or config["model"]), specs.get("model"))
    plat_key = (str(config.get("platform_file") or config["platform"]), specs.get("platform"),
                tuple(config.get("platform_overrides") or ()))
    accel_name = config.get("accelerator")
    accel_key = None
    if accel_name is not None:
        accel_key = (str(config.get("accelerator_file") or accel_name), specs.get("accelerator"),
                     tuple(config.get("accel_overrides") or ()))
    dist = size_distribution(workload.sizes)
    platform = _platform(*plat_key)
    if accel_key is not None:
        accel_key = _same_software(accel_key, platform)
    accel = _platform(*accel_key) if accel_key is not None else None
    workers = int(workload.workers or platform.compute.engine_slots)
    needed = tuple(sorted({*search.batches, search.baseline_batch}))
    curves = Curves(
        _cpu_curve(model_key, plat_key, workers, needed, dist.max_size, workload.locality),
        _accel_curve(model_key, accel_key, dist.max_size, workload.locality) if accel_key is not None else None,
        workers,
    )
    return dict(graph=_graph(*model_key), platform=platform, accel=accel, sla_s=float(workload.sla_ms) / 1e3,
                workload=workload.settings(), search=search, workers=workers, grid=False, curves=curves)


def _row(res: OptimizeResult) -> dict[str, Any]:
    return {
        "batch": res.batch,
        "threshold": res.threshold,
        "max_qps": float(res.max_qps),
        "p95_ms": _finite(res.p95_s * 1e3),
        "qps_per_watt": float(res.qps_per_watt),
        "energy_per_query_j": _finite(res.energy_per_query_j),
        "power_w": float(res.power_w),
        "baseline_qps": float(res.baseline_qps),
        "gain": _finite(res.gain),
        "feasible": bool(res.feasible),
    }
