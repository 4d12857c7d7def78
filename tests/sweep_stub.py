"""A cheap, deterministic stand-in for the sweep's ``evaluate(config) -> row`` (used by tests).

Select it with ``DSE_SWEEP_EVALUATOR=sweep_stub:evaluate`` (with ``tests/`` on ``PYTHONPATH``) or
``run_sweep(..., evaluator="sweep_stub:evaluate")``. Environment knobs:

``DSE_STUB_LOG``    append ``<DSE_STUB_TAG> <hash>`` to this file for every configuration computed
``DSE_STUB_SLEEP``  seconds to sleep per configuration (to make a sweep slow enough to kill)

An override value of ``"fail"`` raises a DseError (a failed row); ``"crash"`` raises a bug.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any

from dse.errors import DseError

EVALUATOR_VERSION = "stub-1"
#: The process that imported this module (a forked sweep worker inherits the parent's import).
IMPORTED_IN_PID = os.getpid()
#: The stub reads its hand-written hwspecs as plain data, not as platforms.
READS_PLATFORMS = False


def _numbers(config: dict[str, Any]) -> list[float]:
    out = []
    for item in config["platform_overrides"] + config["accel_overrides"]:
        _, _, text = item.partition("=")
        value = json.loads(text)
        if value == "fail":
            raise DseError(f"stub: cannot evaluate {item}")
        if value == "crash":
            raise ZeroDivisionError("stub crash")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(float(value))
    return out


def evaluate(config: dict[str, Any]) -> dict[str, Any]:
    log = os.environ.get("DSE_STUB_LOG")
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.environ.get('DSE_STUB_TAG', '-')} {config['hash']}\n".encode())
        finally:
            os.close(fd)
    pause = float(os.environ.get("DSE_STUB_SLEEP", "0") or 0)
    if pause:
        time.sleep(pause)
    numbers = _numbers(config)
    salt = int(hashlib.sha256(config["model"].encode()).hexdigest()[:6], 16) % 97
    scale = 1.0 + sum(abs(x) ** 0.5 for x in numbers)
    sla = float(config["workload"]["sla_ms"])
    max_qps = round(100.0 * scale + salt + sla, 6)
    power = 150.0 + 10.0 * len(numbers)
    return {
        "batch": config["optimizer"]["batches"][len(numbers) % len(config["optimizer"]["batches"])],
        "threshold": None if config["accelerator"] is None else config["optimizer"]["thresholds"][0],
        "max_qps": max_qps,
        "p95_ms": round(sla * 0.9, 6),
        "qps_per_watt": max_qps / power,
        "energy_per_query_j": power / max_qps,
        "power_w": power,
        "baseline_qps": max_qps / 2,
        "gain": 2.0,
    }


def evaluate_where(config: dict[str, Any]) -> dict[str, Any]:
    """:func:`evaluate`'s row plus where it ran: this process and the one that imported the module."""
    return {**evaluate(config), "worker_pid": os.getpid(), "imported_in_pid": IMPORTED_IN_PID}


# -- helpers for the sweep tests -------------------------------------------------------------

import pathlib  # noqa: E402

import yaml  # noqa: E402

TESTS_DIR = pathlib.Path(__file__).resolve().parent
REF = "sweep_stub:evaluate"

TOY_PLATFORM = {
    "name": "toy",
    "label": "base",
    "cpu": {"cores": 20, "freq_ghz": 2.0},
    "memory": {"channels": 4, "ranks_per_dimm": 2, "dimms_per_channel": 1},
    "nmp": {"rank_cache_kb": 128, "locality": 0.5},
    "power": {"tdp_w": 125.0},
}
TOY_ACCEL = {"name": "toy_gpu", "link": {"bandwidth_gbs": 12.0}, "launch_us": 8.0}


def write_study(tmp: pathlib.Path, **changes: Any) -> pathlib.Path:
    """A small grid study on a toy platform (in ``tmp``); ``changes`` replace top-level keys."""
    (tmp / "toy.yaml").write_text(yaml.safe_dump(TOY_PLATFORM))
    (tmp / "toy_gpu.yaml").write_text(yaml.safe_dump(TOY_ACCEL))
    study: dict[str, Any] = {
        "name": "toy_study",
        "models": ["dlrm_rmc1", "dlrm_rmc2"],
        "platform": "toy.yaml",
        "axes": [
            {"path": "memory.ranks_per_dimm", "values": [1, 2, 4, 8]},
            {"path": "nmp.rank_cache_kb", "logrange": {"start": 8, "stop": 1024, "num": 8}, "integer": True},
            {"path": "nmp.locality", "range": {"start": 0.1, "stop": 0.9, "step": 0.2}},
        ],
        "workload": {"sla_ms": 20},
    }
    study.update(changes)
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def stub_env(**extra: str) -> dict[str, str]:
    """Environment for a ``dse sweep`` subprocess that uses this stub."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), env.get("PYTHONPATH", "")) if p)
    env["DSE_SWEEP_EVALUATOR"] = REF
    env.pop("CI", None)
    env.update(extra)
    return env
