"""Study expansion: a validated study -> the list of configurations a sweep evaluates.

A *configuration* is a plain, JSON-serialisable dict, the only input of ``evaluate(config)``::

    {
      "model": "dlrm_rmc1",                 # as written in the study (name or path)
      "platform": "skylake_recnmp", "accelerator": None,
      "platform_overrides": ["memory.ranks_per_dimm=4", ...],   # --set syntax, sorted by path
      "accel_overrides": [],
      "workload": {"sizes": ..., "sla_ms": 20.0, "workers": None, "queries": 20000, "seed": 0},
      "optimizer": {"batches": [...], "thresholds": [...], "method": "analytic"},
      "specs": {"model": <sha256 of the model YAML>, "platform": ..., "accelerator": ...},
      "version": "dse 0.1.0; <evaluator version>",
      # not hashed: where the files are, what the row is for
      "hash": ..., "role": "point" | "baseline", "axes": {column: value}, "baseline_hash": ...,
      "model_file": ..., "platform_file": ..., "accelerator_file": ..., "cost_usd": ...,
    }

The hash is the sha256 of the canonical JSON (sorted keys, no whitespace) of the keys in
:data:`HASHED_KEYS`: everything that changes the physics, including the contents of the spec files
and a code/evaluator version string, and nothing that does not (axis names, order of axes in the
study, the names or paths the specs were given by, where the files live: a model or hwspec is
identified by the sha256 of its file). Two studies that reach the same configuration share its
result, and editing a spec file makes every configuration that uses it new.

Order is deterministic: models outermost, then the combined axes (for a grid, the last axis varies
fastest), so neighbouring configurations share a model and mostly a platform, which keeps
per-worker caches warm.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

import dse
from dse.errors import DseError
from dse.specs.study import Axis, Study, format_override, split_path
from dse.sweep.resolve import LoadedStudy

#: The code version that goes into every hash; bump the evaluator's version for model changes.
CODE_VERSION = f"dse {dse.__version__}"

#: The keys of a configuration that its hash covers.
HASHED_KEYS = (
    "platform_overrides",
    "accel_overrides",
    "workload",
    "optimizer",
    "specs",
    "version",
)


#: One encoder for every canonical document (building one per call was a third of the expansion).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace; NaN and infinities are refused."""
    try:
        return _CANONICAL.encode(obj)
    except ValueError as exc:
        raise DseError(f"configuration is not canonical JSON: {exc}") from None


def config_hash(config: dict[str, Any]) -> str:
    """Stable sha256 (hex) of the hashed part of a configuration."""
    missing = [k for k in HASHED_KEYS if k not in config]
    if missing:
        raise KeyError(f"configuration lacks {', '.join(missing)}")
    return _hash_of({k: canonical_json(config[k]) for k in HASHED_KEYS})


def _hash_of(parts: dict[str, str]) -> str:
    """:func:`config_hash` from the canonical JSON of each hashed key's value: the canonical
    document of the payload is exactly these joined in key order, so parts shared by many
    configurations are rendered once (tests/test_sweep_expand.py checks the two agree)."""
    body = ",".join(f'"{k}":{parts[k]}' for k in sorted(HASHED_KEYS))
    return hashlib.sha256(("{" + body + "}").encode()).hexdigest()


def _rendered(memo: dict[Any, str], key: Any, value: Any) -> str:
    """``canonical_json(value)`` memoised under ``key`` (None: not memoised)."""
    if key is None:
        return canonical_json(value)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = canonical_json(value)
    return hit


def _strings_json(memo: dict[Any, str], items: list[str]) -> str:
    """``canonical_json(items)`` for a list of strings, each string rendered once per expansion:
    the canonical JSON of a list is its items' canonical JSON joined by commas in brackets, and an
    override string (``memory.channels=4``) recurs across a study's configurations."""
    out = []
    for item in items:
        hit = memo.get(item)
        if hit is None:
            hit = memo[item] = canonical_json(item)
        out.append(hit)
    return "[" + ",".join(out) + "]"


@lru_cache(maxsize=256)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def file_digest(path: Path | str | None) -> str | None:
    """sha256 of a spec file's bytes (cached while the file is unchanged)."""
    if path is None:
        return None
    p = Path(path)
    st = p.stat()
    return _digest(str(p.resolve()), st.st_mtime_ns, st.st_size)


# -- combining axes --------------------------------------------------------------------------


def _key(values: tuple[Any, ...]) -> str:
    return json.dumps(values, sort_keys=True)


def combine(study: Study) -> list[tuple[Any, ...]]:
    """The axis-value tuples of the study, one per hardware configuration, in a fixed order."""
    axes = study.axes
    if not axes:
        return [()]
    method = study.combine.method
    if method == "grid":
        return list(itertools.product(*[a.levels() or [] for a in axes]))
    if method == "zip":
        return list(zip(*[a.levels() or [] for a in axes]))
    n = study.combine.n or 0
    rng = np.random.default_rng(study.combine.seed)
    if method == "random":
        return _random(axes, n, rng)
    return _latin_hypercube(axes, n, rng)


def _dedupe(points: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    seen: set[str] = set()
    out = []
    for p in points:
        k = _key(p)
        if k not in seen:
            seen.add(k)
            out.append(p)
    return out


def _random(axes: list[Axis], n: int, rng: np.random.Generator) -> list[tuple[Any, ...]]:
    """``n`` distinct uniform samples.

    With only discrete axes: ``n`` grid points drawn without replacement (the whole grid when it has
    at most ``n`` points), in grid order. With a continuous axis: independent draws per axis
    (uniform, or log-uniform for a ``logrange``), duplicates dropped.
    """
    levels = [a.levels() for a in axes]
    if all(lv is not None for lv in levels):
        sizes = [len(lv) for lv in levels]  # type: ignore[arg-type]
        total = math.prod(sizes)
        if total <= n:
            return list(itertools.product(*levels))  # type: ignore[arg-type]
        if total < 2**62:
            picks = sorted(int(i) for i in rng.choice(total, size=n, replace=False))
        else:  # astronomically large grid: independent draws, collisions are negligible
            picks = sorted({int(rng.integers(0, 2**62)) % total for _ in range(n)})
        out = []
        for index in picks:
            values = []
            for size, lv in zip(reversed(sizes), reversed(levels)):
                index, r = divmod(index, size)
                values.append(lv[r])  # type: ignore[index]
            out.append(tuple(reversed(values)))
        return out
    u = rng.random((n, len(axes)))
    return _dedupe([tuple(a.sample(float(u[i, j])) for j, a in enumerate(axes)) for i in range(n)])


def _latin_hypercube(axes: list[Axis], n: int, rng: np.random.Generator) -> list[tuple[Any, ...]]:
    """``n`` Latin-hypercube samples: each axis's [0, 1) is cut into ``n`` strata, each hit once.

    Discrete axes map a stratum to a level (so levels appear in balanced numbers); samples that
    coincide on every axis (possible with discrete axes only) are dropped.
    """
    cols = []
    for _ in axes:
        cols.append((rng.permutation(n) + rng.random(n)) / n)
    u = np.stack(cols, axis=1)
    return _dedupe([tuple(a.sample(float(u[i, j])) for j, a in enumerate(axes)) for i in range(n)])


# -- building configurations -----------------------------------------------------------------


@dataclass
class Expansion:
    """The configurations of a study: the points of the results table and their baselines."""

    study: Study
    points: list[dict[str, Any]]
    baselines: list[dict[str, Any]] = field(default_factory=list)

    @cached_property
    def tasks(self) -> list[dict[str, Any]]:
        """Every configuration to evaluate once: baselines first, then the points, unique by hash
        (computed once: a sweep reads it several times, 0.1 s each on 100,000 points)."""
        seen: set[str] = set()
        out = []
        for config in self.baselines + self.points:
            if config["hash"] not in seen:
                seen.add(config["hash"])
                out.append(config)
        return out


def _cost(study: Study, platform: str, accelerator: str | None) -> float | None:
    if not study.cost:
        return None
    return float(study.cost[platform]) + (float(study.cost[accelerator]) if accelerator else 0.0)


def _file(files: dict[Any, tuple[str | None, str | None]], path: Path | str | None) -> tuple[str | None, str | None]:
    """(digest, resolved path) of a spec file, once per expansion (``files`` is its memo: a
    100,000-point study would otherwise stat and resolve every file for every point)."""
    hit = files.get(path)
    if hit is None:
        hit = files[path] = (file_digest(path), str(Path(path).resolve()) if path is not None else None)
    return hit


def _build(
    loaded: LoadedStudy,
    model: str,
    platform: str,
    accelerator: str | None,
    hardware: list[tuple[str, str, Any]],
    workload: dict[str, Any],
    optimizer: dict[str, Any],
    version: str,
    files: dict[Any, tuple[str | None, str | None]],
    memo: dict[Any, str] | None = None,
    key: Any = None,
) -> dict[str, Any]:
    """One configuration. ``memo``/``key``: the canonical JSON of its workload and optimizer are
    memoised under ``key`` (what makes them differ between the configurations of one expansion)."""
    platform_file = loaded.spec_files[platform]
    accel_file = loaded.spec_files[accelerator] if accelerator is not None else None
    model_file = loaded.model_files[model]
    config: dict[str, Any] = {
        "model": model,
        "platform": platform,
        "accelerator": accelerator,
        "platform_overrides": sorted(format_override(p, v) for ns, p, v in hardware if ns == "platform"),
        "accel_overrides": sorted(format_override(p, v) for ns, p, v in hardware if ns == "accel"),
        "workload": workload,
        "optimizer": optimizer,
        "specs": {
            "model": _file(files, model_file)[0],
            "platform": _file(files, platform_file)[0],
            "accelerator": _file(files, accel_file)[0],
        },
        "version": version,
    }
    memo = {} if memo is None else memo
    parts = {
        "platform_overrides": _strings_json(memo, config["platform_overrides"]),
        "accel_overrides": _strings_json(memo, config["accel_overrides"]),
        # shared by every configuration of a (model, platform, accelerator) and by all of them
        "specs": _rendered(memo, ("specs", *config["specs"].values()), config["specs"]),
        "version": _rendered(memo, ("version", version), version),
    }
    parts["workload"] = _rendered(memo, None if key is None else ("workload", key), workload)
    parts["optimizer"] = _rendered(memo, None if key is None else ("optimizer", key), optimizer)
    config["hash"] = _hash_of(parts)
    config["model_file"] = _file(files, model_file)[1]
    config["platform_file"] = _file(files, platform_file)[1]
    config["accelerator_file"] = _file(files, accel_file)[1]
    config["cost_usd"] = _cost(loaded.study, platform, accelerator)
    return config


def expand(loaded: LoadedStudy, evaluator_version: str = "", limit: int | None = None) -> Expansion:
    """All (model × hardware configuration) points of a study, plus one baseline per distinct need.

    ``limit`` keeps the first ``limit`` points (and the baselines they need).
    """
    study = loaded.study
    version = f"{CODE_VERSION}; {evaluator_version}" if evaluator_version else CODE_VERSION
    combos = combine(study)
    split = [split_path(a.path) for a in study.axes]
    base_workload = study.workload.model_dump(mode="json")
    base_optimizer = study.optimizer.model_dump(mode="json")
    baseline_hw = [(*split_path(k), v) for k, v in study.baseline.set.items()]
    baseline_platform = study.baseline_platform()
    baseline_accel = study.baseline_accelerator()

    points: list[dict[str, Any]] = []
    baselines: dict[str, dict[str, Any]] = {}
    files: dict[Any, tuple[str | None, str | None]] = {}
    memo: dict[Any, str] = {}
    built: dict[Any, dict[str, Any]] = {}  # baselines by (model, workload and optimizer axis values)
    for model in study.models:
        for combo in combos:
            platform, accelerator = study.platform, study.accelerator
            hardware: list[tuple[str, str, Any]] = []
            workload = {**base_workload, "sla_ms": study.sla_ms_for(model)}
            optimizer = dict(base_optimizer)
            for (namespace, sub), value in zip(split, combo):
                if namespace == "spec":
                    if sub == "platform":
                        platform = value
                    else:
                        accelerator = value
                elif namespace in ("platform", "accel"):
                    hardware.append((namespace, sub, value))
                elif namespace == "workload":
                    workload[sub] = value
                else:
                    optimizer[sub] = value
            key = _settings_key(model, split, combo)
            config = _build(loaded, model, platform, accelerator, hardware, workload, optimizer, version, files, memo, key)
            config["role"] = "point"
            config["axes"] = {a.column: v for a, v in zip(study.axes, combo)}
            base = built.get(key) if key is not None else None
            if base is None:
                base = _build(loaded, model, baseline_platform, baseline_accel, baseline_hw, workload, optimizer, version,
                              files, memo, key)
                base["role"] = "baseline"
                base["axes"] = {}
                if key is not None:
                    built[key] = base
            config["baseline_hash"] = base["hash"]
            points.append(config)
            baselines.setdefault(base["hash"], base)
            if limit is not None and len(points) >= limit:
                return Expansion(study=study, points=points, baselines=list(baselines.values()))
    return Expansion(study=study, points=points, baselines=list(baselines.values()))


def _settings_key(model: str, split: list[tuple[str, str]], combo: tuple[Any, ...]) -> tuple | None:
    """What the workload and optimizer of a point depend on besides the study: its model and the
    values of its workload and optimizer axes (None when one is not hashable: no memo)."""
    # with each value's type: 1, 1.0 and true are equal keys but different JSON
    key = (model, tuple((type(v).__name__, v) for (ns, _), v in zip(split, combo) if ns in ("workload", "optimizer")))
    try:
        hash(key)
    except TypeError:
        return None
    return key
