"""The same sweep through the inline executor, a process pool and a local Dask cluster; the outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from dse.sweep.run import run_sweep
from sweep_stub import REF, TESTS_DIR, write_study

SMALL_AXES = [
    {"path": "memory.ranks_per_dimm", "values": [1, 2, 4, 8]},
    {"path": "nmp.locality", "range": {"start": 0.1, "stop": 0.9, "step": 0.2}},
]


def test_dask_local_gives_the_process_pool_table(tmp_path, monkeypatch):
    pytest.importorskip("dask.distributed")
    # the Dask workers are fresh processes: they must be able to import the stand-in evaluator
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])))
    study = write_study(tmp_path, axes=SMALL_AXES)
    pool = run_sweep(study, out=tmp_path / "pool", workers=2, evaluator=REF, progress=False)
    dask = run_sweep(study, out=tmp_path / "dask", workers=2, dask="local", evaluator=REF, progress=False)
    assert pool.computed == dask.computed == 2 * 20 + 2
    a = pd.read_parquet(tmp_path / "pool" / "results.parquet")
    b = pd.read_parquet(tmp_path / "dask" / "results.parquet")
    assert len(a) == 40
    pd.testing.assert_frame_equal(a, b)
    inline = run_sweep(study, out=tmp_path / "inline", workers=1, evaluator=REF, progress=False)
    assert inline.computed == 42
    pd.testing.assert_frame_equal(a, pd.read_parquet(tmp_path / "inline" / "results.parquet"))


#: Run a sweep of the toy study with the stand-in that reports where it ran (fresh interpreter:
#: no thread another test left running); ``{before}`` runs first. Prints the table's pids.
WHERE = """
import json, os, sys, threading
sys.path.insert(0, {tests!r})
from dse.sweep.run import run_sweep
{before}
s = run_sweep({study!r}, out={out!r}, workers=2, evaluator="sweep_stub:evaluate_where", progress=False)
import pandas as pd
f = pd.read_parquet(s.parquet)
print(json.dumps({{"parent": os.getpid(), "rows": len(f), "imported": sorted(set(f.imported_in_pid.tolist())),
                  "workers": sorted(set(f.worker_pid.tolist()))}}))
"""


def _where(tmp_path, before: str = "") -> dict:
    study = write_study(tmp_path, axes=SMALL_AXES)
    code = WHERE.format(tests=str(TESTS_DIR), before=before, study=str(study), out=str(tmp_path / "out"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the pool forks its workers on Linux only")
def test_pool_workers_are_forked_with_the_parents_evaluator(tmp_path):
    """On Linux the local pool forks: every worker inherits the evaluator module the parent
    imported (a spawned worker would import it again, seconds of CPU each for the optimiser)."""
    where = _where(tmp_path)
    assert where["rows"] == 40
    assert where["imported"] == [where["parent"]]
    assert where["parent"] not in where["workers"]


def test_pool_spawns_while_another_thread_runs(tmp_path):
    """A fork would copy a lock another thread may hold: with one running, the workers are
    spawned and import the evaluator themselves."""
    where = _where(tmp_path, before="threading.Thread(target=threading.Event().wait, daemon=True).start()")
    assert where["rows"] == 40
    assert where["parent"] not in where["imported"]
    assert set(where["imported"]) <= set(where["workers"])


def test_outputs(tmp_path):
    study = write_study(
        tmp_path,
        axes=[{"path": "memory.ranks_per_dimm", "values": [1, 4], "name": "ranks"}, *SMALL_AXES[1:]],
        baseline={"set": {"memory.ranks_per_dimm": 1}},
        cost={"toy.yaml": 10000},
        objectives=["max_qps", "qps_per_dollar", "speedup"],
        workload={"sla_ms": {"dlrm_rmc1": 20, "dlrm_rmc2": 30}},
    )
    summary = run_sweep(study, out=tmp_path / "out", workers=1, evaluator=REF, progress=False)
    frame = pd.read_parquet(summary.parquet)
    assert list(frame.columns[:5]) == ["model", "platform", "accelerator", "ranks", "nmp.locality"]
    for column in ("batch", "threshold", "max_qps", "p95_ms", "qps_per_watt", "energy_per_query_j",
                   "baseline_max_qps", "speedup", "cost_usd", "qps_per_dollar", "error", "config_hash"):
        assert column in frame.columns
    assert len(frame) == 2 * 2 * 5
    assert frame["batch"].dtype == "Int64"
    # speedup over the baseline (ranks_per_dimm = 1, every other field as in the base platform)
    assert (frame["speedup"] - frame["max_qps"] / frame["baseline_max_qps"]).abs().max() < 1e-12
    assert (frame["qps_per_dollar"] - frame["max_qps"] / 10000).abs().max() < 1e-12
    assert set(frame[frame.model == "dlrm_rmc2"]["p95_ms"]) == {27.0}  # per-model SLA reached the evaluator
    csv = pd.read_csv(summary.csv)
    assert len(csv) == len(frame) and list(csv.columns) == list(frame.columns)
    # study.yaml is the resolved study: loadable, every default filled in, and it resumes the same sweep
    resolved = yaml.safe_load((tmp_path / "out" / "study.yaml").read_text())
    assert resolved["optimizer"]["batches"] == [512, 384, 256, 192, 128, 96, 64, 48, 32]
    assert resolved["baseline"]["platform"].endswith("toy.yaml")
    again = run_sweep(tmp_path / "out" / "study.yaml", out=tmp_path / "out", workers=1, evaluator=REF, progress=False)
    assert again.computed == 0 and again.reused == summary.tasks


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the pool forks its workers on Linux only")
def test_a_sweeps_table_import_thread_is_joined_before_the_next_fork():
    """A sweep that crashed leaves its table-import thread running; the next pool waits for it
    and then forks (a fork during an import would hand the child a lock nobody releases). In a
    fresh interpreter: no thread another test left running."""
    code = """
import threading
from dse.sweep import run
release = threading.Event()
thread = threading.Thread(target=release.wait, args=(5,), daemon=True)  # stands for the imports
run._BACKGROUND.append(thread)
thread.start()
assert threading.active_count() == 2
release.set()  # the thread may still be running when the pool asks: it is joined
print(run.start_method("fork"), bool(run._BACKGROUND), thread.is_alive())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["fork", "False", "False"]
