"""A sweep killed part-way resumes with exactly the same rows and recomputes none of the finished ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from dse.errors import DseError
from dse.sweep.resolve import load_study
from dse.sweep.expand import expand
from dse.sweep.run import evaluator_version, run_sweep
from dse.sweep.store import ResultStore
from sweep_stub import REF, stub_env, write_study


def _stored(path) -> list[str]:
    """Hashes of the complete lines of a store file."""
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")[:-1]  # a trailing partial line is not a finished row
    return [json.loads(line)["hash"] for line in lines if line.strip()]


def _computed(log, tag) -> list[str]:
    if not log.exists():
        return []
    return [line.split()[1] for line in log.read_text().splitlines() if line.split()[0] == tag]


def _sweep_cmd(study, out, *args):
    return [sys.executable, "-m", "dse.cli", "sweep", str(study), "--out", str(out), *args]


def _wait_for_rows(proc, rows, at_least, timeout=60.0):
    deadline = time.monotonic() + timeout
    while len(_stored(rows)) < at_least:
        assert proc.poll() is None, f"sweep ended before it could be killed: {proc.communicate()}"
        assert time.monotonic() < deadline, "sweep made no progress"
        time.sleep(0.02)


def test_sigkill_then_resume(tmp_path):
    study = write_study(tmp_path)  # 2 models x 160 configurations + 2 baselines = 322
    tasks = {c["hash"] for c in expand(load_study(study, platforms=False), evaluator_version(REF)).tasks}
    assert len(tasks) == 322
    out, log = tmp_path / "out", tmp_path / "computed.log"
    rows = out / "rows.jsonl"

    env = stub_env(DSE_STUB_LOG=str(log), DSE_STUB_SLEEP="0.01", DSE_STUB_TAG="run1")
    proc = subprocess.Popen(
        _sweep_cmd(study, out, "--workers", "2"), env=env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        _wait_for_rows(proc, rows, 40)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, mid-flight
        proc.communicate()
    finished = set(_stored(rows))
    assert 40 <= len(finished) < len(tasks), "kill the sweep part-way"
    assert finished <= tasks
    assert not (out / "results.parquet").exists()
    # a kill can tear the last line of the store: the resumed sweep must cut it away
    with open(rows, "ab") as fh:
        fh.write(b'{"hash": "' + next(iter(tasks)).encode() + b'", "row": {"max_q')

    rerun = subprocess.run(
        _sweep_cmd(study, out, "--workers", "2"), env=stub_env(DSE_STUB_LOG=str(log), DSE_STUB_TAG="run2"),
        capture_output=True, text=True, timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    recomputed = _computed(log, "run2")
    assert not set(recomputed) & finished, "a finished row was computed again"
    assert len(recomputed) == len(set(recomputed))
    assert set(recomputed) | finished == tasks
    assert f"{len(tasks) - len(finished)} configurations computed, {len(finished)} reused" in rerun.stdout
    assert sorted(_stored(rows)) == sorted(tasks)  # every configuration stored once, no torn line

    # exactly the rows of an uninterrupted sweep
    run_sweep(study, out=tmp_path / "ref", workers=1, evaluator=REF, progress=False)
    resumed = pd.read_parquet(out / "results.parquet")
    fresh = pd.read_parquet(tmp_path / "ref" / "results.parquet")
    assert len(fresh) == 320
    pd.testing.assert_frame_equal(resumed, fresh)
    assert (out / "results.csv").read_text() == (tmp_path / "ref" / "results.csv").read_text()


def test_ctrl_c_keeps_finished_rows(tmp_path):
    study = write_study(tmp_path)
    out, log = tmp_path / "out", tmp_path / "computed.log"
    rows = out / "rows.jsonl"
    proc = subprocess.Popen(
        _sweep_cmd(study, out, "--workers", "1"), env=stub_env(DSE_STUB_LOG=str(log), DSE_STUB_SLEEP="0.01", DSE_STUB_TAG="run1"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for_rows(proc, rows, 20)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert "interrupted:" in err and "run the same command again to resume" in err and "Traceback" not in err
    finished = set(_stored(rows))
    partial = pd.read_csv(out / "results.csv")
    assert 0 < len(partial) <= len(finished)
    rerun = subprocess.run(
        _sweep_cmd(study, out, "--workers", "1"), env=stub_env(DSE_STUB_LOG=str(log), DSE_STUB_TAG="run2"),
        capture_output=True, text=True, timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert not set(_computed(log, "run2")) & finished
    assert len(pd.read_csv(out / "results.csv")) == 320


def test_failed_rows_are_kept_and_crashes_stop_the_sweep(tmp_path):
    axes = [{"path": "label", "values": ["a", "fail", "b"]}]
    study = write_study(tmp_path, axes=axes)
    summary = run_sweep(study, out=tmp_path / "out", workers=1, evaluator=REF, progress=False)
    assert summary.failed == 2  # one per model
    frame = pd.read_parquet(tmp_path / "out" / "results.parquet")
    assert len(frame) == 6
    failed = frame[frame["label"] == "fail"]
    assert failed["error"].str.contains("stub: cannot evaluate").all()
    assert failed["max_qps"].isna().all()
    assert frame[frame["label"] != "fail"]["error"].isna().all()

    crash = write_study(tmp_path, axes=[{"path": "label", "values": ["a", "crash", "b"]}])
    with pytest.raises(DseError, match=r"evaluate crashed on dlrm_rmc1 .*ZeroDivisionError: stub crash"):
        run_sweep(crash, out=tmp_path / "crash", workers=1, evaluator=REF, progress=False)
    assert "ZeroDivisionError" in (tmp_path / "crash" / "crash.log").read_text()
    with ResultStore(tmp_path / "crash") as store:
        assert len(store) >= 2  # the baseline and the first point were saved before the crash


def test_a_second_sweep_on_the_same_directory_is_refused(tmp_path):
    study = write_study(tmp_path)
    with ResultStore(tmp_path / "out"):
        with pytest.raises(DseError, match="in use by another sweep"):
            run_sweep(study, out=tmp_path / "out", workers=1, evaluator=REF, progress=False)


def test_growing_a_study_reuses_its_rows(tmp_path):
    small = write_study(tmp_path, axes=[{"path": "memory.ranks_per_dimm", "values": [1, 2]}])
    first = run_sweep(small, out=tmp_path / "out", workers=1, evaluator=REF, progress=False)
    assert (first.computed, first.reused) == (6, 0)
    big = write_study(tmp_path, axes=[{"path": "memory.ranks_per_dimm", "values": [1, 2, 4, 8]}])
    second = run_sweep(big, out=tmp_path / "out", workers=1, evaluator=REF, progress=False)
    assert (second.computed, second.reused) == (4, 6)
    assert len(pd.read_parquet(tmp_path / "out" / "results.parquet")) == 8
