"""Running a sweep: evaluate every configuration of a study once, in parallel, resumably.

Everything goes through one pure function, ``evaluate(config: dict) -> dict`` (a row of metrics),
named by a reference ``"module:function"``:

- the default is :data:`DEFAULT_EVALUATOR` (the optimiser, :mod:`dse.sweep.evaluate`);
- ``$DSE_SWEEP_EVALUATOR`` or the hidden ``--evaluator`` option select another one (tests use a
  cheap stand-in; anyone can plug in a different simulator).

The evaluator's module may define ``evaluate_batch(configs) -> [row or DseError]`` (then each
chunk is evaluated in one call: the default evaluator solves a chunk's capacity searches together),
``EVALUATOR_VERSION`` (a string that goes into every
configuration hash: bump it when the model changes, and old rows stop being reused) and
``check_configs(configs)`` (called once before any work; raise :class:`DseError` to refuse), and
``READS_PLATFORMS = False`` when it reads hwspecs as plain data rather than as platforms (then a
hwspec need not validate as a platform, :mod:`dse.sweep.resolve`).
A :class:`DseError` raised by ``evaluate`` marks that one configuration as failed (the row keeps
the message; the sweep goes on); any other exception is a bug: the sweep stops after saving what
finished, with the traceback in ``<out>/crash.log``.

Executors, all fed with chunks of configurations (to keep per-task overhead low; the parent
process writes every finished chunk to the store before counting it):

- inline (``--workers 1``): in this process;
- a local process pool (``--workers N``, the default with N = the usable cores; forked on Linux,
  see :data:`START_METHOD`), started before the expansion, fed chunks that shrink towards the
  end (:func:`guided_chunks`) with a few queued per worker, and terminated once every result is in;
- Dask (``--dask local`` starts a ``LocalCluster`` of N single-threaded worker processes;
  ``--dask tcp://HOST:PORT`` uses a running scheduler whose workers can import ``dse`` and the
  evaluator).

Evaluators keep expensive per-(model, platform) setup in per-process caches (``functools.lru_cache``);
the expansion order keeps neighbouring configurations on the same model and platform.
"""

from __future__ import annotations

import importlib
import math
import os
import signal
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator

import multiprocessing as mp

import yaml

from dse.errors import DseError
from dse.sweep.resolve import LoadedStudy, load_study
from dse.sweep.expand import CODE_VERSION, Expansion, expand
from dse.sweep.store import ResultStore, build_table, make_record, write_table, write_text

DEFAULT_EVALUATOR = "dse.sweep.evaluate:evaluate"
EVALUATOR_ENV = "DSE_SWEEP_EVALUATOR"
#: Largest chunk of configurations sent to a worker at once (about 1-2 s of the optimiser).
MAX_CHUNK = 128
#: Smallest chunk the local pool sends (the tail of a sweep), to bound the round trips.
MIN_CHUNK = 8
#: Chunks queued per pool worker: enough that a worker never waits for the parent.
IN_FLIGHT_PER_WORKER = 2


# -- the evaluator ---------------------------------------------------------------------------


@lru_cache(maxsize=8)
def load_evaluator(ref: str) -> tuple[Callable[[dict[str, Any]], dict[str, Any]], Any]:
    """``"package.module:function"`` -> (the function, its module)."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise DseError(f"evaluator '{ref}': expected 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DseError(f"evaluator '{ref}': cannot import {module_name} ({exc})") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise DseError(f"evaluator '{ref}': {module_name} has no function '{attr}'")
    return fn, module


def evaluator_version(ref: str) -> str:
    """What goes into the configuration hash for this evaluator: its name and version."""
    _, module = load_evaluator(ref)
    return f"{ref} {getattr(module, 'EVALUATOR_VERSION', '0')}"


def evaluate_chunk(ref: str, configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluate configurations in this process; one record per configuration (runs in workers).

    A record with a ``fatal`` key is a crash of the evaluator (not stored; the sweep stops).
    """
    fn, module = load_evaluator(ref)
    batch = getattr(module, "evaluate_batch", None)
    if batch is not None and len(configs) > 1:
        return _evaluate_together(batch, configs)
    out = []
    for config in configs:
        start = time.perf_counter()
        try:
            row = fn(config)
            if not isinstance(row, dict):
                raise TypeError(f"evaluate returned a {type(row).__name__}, not a dict")
            out.append(make_record(config, row, None, time.perf_counter() - start))
        except DseError as exc:
            out.append(make_record(config, None, str(exc), time.perf_counter() - start))
        except Exception as exc:  # a bug in the evaluator: report it, stop the sweep
            record = make_record(config, None, None, time.perf_counter() - start)
            record["fatal"] = f"{type(exc).__name__}: {exc}"
            record["traceback"] = traceback.format_exc()
            out.append(record)
            break
    return out


def _evaluate_together(batch: Callable[[list[dict[str, Any]]], list[Any]], configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The module's ``evaluate_batch(configs)`` (one result per configuration: a row, or the
    DseError of that configuration); each record gets the chunk's time shared equally."""
    start = time.perf_counter()
    try:
        results = batch(configs)
        if len(results) != len(configs):
            raise TypeError(f"evaluate_batch returned {len(results)} results for {len(configs)} configurations")
    except Exception as exc:  # a bug in the evaluator: report it on the first configuration, stop
        record = make_record(configs[0], None, None, time.perf_counter() - start)
        record["fatal"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
        return [record]
    each = (time.perf_counter() - start) / len(configs)
    out = []
    for config, res in zip(configs, results):
        if isinstance(res, DseError):
            out.append(make_record(config, None, str(res), each))
        elif isinstance(res, dict):
            out.append(make_record(config, res, None, each))
        else:
            record = make_record(config, None, None, each)
            record["fatal"] = f"TypeError: evaluate_batch returned a {type(res).__name__}, not a dict"
            record["traceback"] = ""
            return [*out, record]
    return out


def chunked(items: list[Any], workers: int) -> list[list[Any]]:
    """About 8 chunks per worker (for load balance), at most :data:`MAX_CHUNK` items each (Dask)."""
    if not items:
        return []
    size = max(1, min(MAX_CHUNK, math.ceil(len(items) / (max(1, workers) * 8))))
    return [items[i : i + size] for i in range(0, len(items), size)]


def guided_chunks(items: list[Any], workers: int) -> Iterator[list[Any]]:
    """Chunks that shrink as the work runs out (guided self-scheduling): each is a quarter of the
    remaining items' share per worker, between :data:`MIN_CHUNK` and :data:`MAX_CHUNK`. Large
    chunks early mean few round trips (and fewer store fsyncs); small ones at the end keep every
    worker busy until the last configuration (a fixed size left one worker idle for up to a chunk)."""
    start, n, workers = 0, len(items), max(1, workers)
    while start < n:
        size = max(MIN_CHUNK, min(MAX_CHUNK, math.ceil((n - start) / (workers * 4))))
        yield items[start : start + size]
        start += size


# -- executors -------------------------------------------------------------------------------

OnDone = Callable[[list[dict[str, Any]]], None]


def run_inline(chunks: list[list[dict[str, Any]]], ref: str, on_done: OnDone) -> None:
    for chunk in chunks:
        on_done(evaluate_chunk(ref, chunk))


def _ignore_sigint() -> None:
    # Ctrl-C is the parent's business: it stops the pool and keeps what finished.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def warm_up(ref: str) -> None:
    """Import the evaluator in a worker (submitted once per worker when the pool starts), then
    move what the imports built out of the garbage collector's generations: a full collection
    over them cost about 130 ms whenever it landed on a chunk (0.65 ms per configuration)."""
    import gc

    load_evaluator(ref)
    gc.freeze()


#: How the local pool starts its workers: forked on Linux, so that each inherits the evaluator the
#: parent has already imported (a spawned worker re-imports it: 0.65-0.9 s of CPU each, as long
#: as evaluating about 500 rows); spawned elsewhere (macOS's system libraries do not survive a
#: fork), and wherever another thread is running in the parent (:func:`start_method`).
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"


def start_method(preferred: str = START_METHOD) -> str:
    """``preferred``, but ``spawn`` instead of ``fork`` while any other thread runs in this process
    (a forked child would inherit a lock, e.g. an import's, held by a thread it does not have; a
    library user may have started one, e.g. a Dask client's). Our own table-import thread of an
    earlier sweep in this process (:func:`_import_in_background`) is waited for first."""
    import threading

    if preferred != "fork":
        return preferred
    for thread in _BACKGROUND:
        thread.join()
    _BACKGROUND.clear()
    return "fork" if threading.active_count() == 1 else "spawn"


class LocalPool:
    """A local process pool, started before the study is expanded, with one :func:`warm_up` task
    per worker (a spawned worker imports the evaluator then, while the parent expands; a forked one
    has it already). It is closed by terminating the workers, which by then hold nothing (every
    result has been received), instead of waiting seconds for each interpreter to tear down its
    caches.

    It forks (:func:`start_method`) only while no other thread runs; the executor forks every
    worker at the first submission, before its management thread starts, and the parent's own
    threads (the progress bar, :func:`_import_in_background`) start after that. numpy's BLAS
    threads are re-created by their own fork handlers. The parent's objects are moved out of the
    collector's generations first (``gc.freeze``), so that no collection in a worker walks, and so
    copies, the pages it shares with the parent.
    """

    def __init__(self, workers: int, ref: str, method: str | None = None):
        import gc

        self.workers = workers
        self.method = method or start_method()
        forked = self.method == "fork"
        if forked:
            gc.freeze()
        try:
            self.executor = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(self.method),
                                                initializer=_ignore_sigint)
            for _ in range(workers):
                self.executor.submit(warm_up, ref)
        finally:
            if forked:
                gc.unfreeze()  # the parent's own garbage is collected as before

    def run(self, todo: list[dict[str, Any]], ref: str, on_done: OnDone) -> None:
        """Evaluate ``todo`` in :func:`guided_chunks`, keeping :data:`IN_FLIGHT_PER_WORKER` chunks
        per worker queued; the next chunk is submitted before a finished one is stored, so the
        store's writes overlap the workers' evaluation."""
        chunks = guided_chunks(todo, self.workers)
        pending: set[Future] = set()

        def fill() -> None:
            while len(pending) < self.workers * IN_FLIGHT_PER_WORKER:
                chunk = next(chunks, None)
                if chunk is None:
                    return
                pending.add(self.executor.submit(evaluate_chunk, ref, chunk))

        try:
            fill()
            _import_in_background(TABLE_MODULES)  # the parent mostly waits from here on
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                fill()
                for future in done:
                    on_done(future.result())
        finally:
            self.close()  # finished, interrupted or crashed: nothing in flight is worth waiting for

    def close(self) -> None:
        processes = list((getattr(self.executor, "_processes", None) or {}).values())
        for process in processes:
            process.terminate()
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # reaped, so their CPU time counts in this process's rusage
            process.join(timeout=10)


#: What the parent needs once the workers are done (:func:`dse.sweep.store.build_table` and
#: :func:`~dse.sweep.store.write_table`): about 0.4 s of imports on a quiet machine, which would
#: otherwise be paid after the last chunk, with the workers' cores idle.
TABLE_MODULES = ("pandas", "pyarrow.parquet")


#: Threads :func:`_import_in_background` started (joined before the next fork, :func:`start_method`).
_BACKGROUND: list[Any] = []


def _import_in_background(modules: tuple[str, ...]) -> None:
    """Import ``modules`` in a daemon thread while this process waits on its workers (a later
    import of the same module waits for this one to finish; a failure is left for that import to
    report). Only after every worker has been forked: a fork copies no thread."""
    import threading

    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the table's own import says what is wrong
                return

    thread = threading.Thread(target=run, name="dse-table-imports", daemon=True)
    thread.start()
    _BACKGROUND.append(thread)


class DaskSession:
    """A Dask client (and the LocalCluster it started), opened before the output folder is touched
    so that a missing Dask or an unreachable scheduler refuses the run without leaving files."""

    def __init__(self, address: str, workers: int):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise DseError("--dask needs Dask: pip install -e '.[dask]'") from None
        import logging

        self.cluster = None
        if address == "local":
            self.cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self.client = Client(self.cluster)
        else:
            _probe(address)
            try:
                self.client = Client(address, timeout="15s")
            except (OSError, TimeoutError, ValueError) as exc:
                raise DseError(f"--dask: cannot connect to the Dask scheduler at {address} ({exc})") from None

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _probe(address: str) -> None:
    """A closed port answers at once: refuse it without waiting for Dask's connection timeout."""
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise DseError(f"--dask: '{address}' is not a scheduler address ({exc})") from None
    if parts.scheme != "tcp" or host is None or port is None:
        return  # another protocol (tls://, ucx://): Dask checks it
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise DseError(f"--dask: cannot connect to the Dask scheduler at {address} ({exc.strerror or exc})") from None


def run_dask(todo: list[dict[str, Any]], ref: str, on_done: OnDone, session: DaskSession, workers: int) -> None:
    """Evaluate on Dask; chunks are sized for the cluster's thread count (``workers`` for a local
    cluster)."""
    from dask.distributed import as_completed as dask_completed

    client = session.client
    threads = sum(w.get("nthreads", 1) for w in client.scheduler_info().get("workers", {}).values())
    chunks = chunked(todo, threads or workers)
    futures = client.map(evaluate_chunk, [ref] * len(chunks), chunks, pure=False)
    try:
        for future in dask_completed(futures):
            on_done(future.result())
    except (DseError, _Crash):
        raise
    except Exception as exc:
        raise DseError(f"--dask: a task failed on the cluster ({type(exc).__name__}: {exc})") from None
    finally:
        client.cancel(futures)


def check_dask_address(address: str | None) -> None:
    if address is None or address == "local":
        return
    if "://" not in address:
        raise DseError(f"--dask: expected 'local' or a scheduler address like tcp://HOST:8786, got '{address}'")


# -- progress --------------------------------------------------------------------------------


class _Progress:
    """A rich progress bar with rate and ETA on a terminal; nothing otherwise."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.bar = None
        if not enabled or total == 0:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task: Any) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.1f} cfg/s" if speed else "-- cfg/s", style="progress.data.speed")

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        self.task = self.bar.add_task(label, total=total)
        self.bar.start()

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def progress_wanted() -> bool:
    """A bar only for a person at a terminal: not when piped, not in CI."""
    return sys.stdout.isatty() and not os.environ.get("CI")


# -- the sweep -------------------------------------------------------------------------------


@dataclass
class SweepSummary:
    """What a sweep did."""

    name: str
    out_dir: Path
    points: int
    tasks: int
    computed: int = 0
    reused: int = 0
    failed: int = 0
    seconds: float = 0.0
    parquet: Path | None = None
    csv: Path | None = None
    first_error: str | None = None
    interrupted: bool = False

    def line(self) -> str:
        rate = f", {self.computed / self.seconds:,.1f} cfg/s" if self.computed and self.seconds > 0 else ""
        return (
            f"{self.name}: {self.points} rows ({self.computed} configurations computed, {self.reused} reused, "
            f"{self.failed} rows failed) in {self.seconds:.1f} s{rate} -> {self.parquet or self.out_dir}"
        )


def resolved_study_yaml(loaded: LoadedStudy, expansion: Expansion, ref: str) -> str:
    """``study.yaml``: the study with every default filled in, and how it expanded as comments."""
    study = loaded.study
    header = [
        f"# resolved from {loaded.path.resolve()}",
        f"# {CODE_VERSION}; evaluator {evaluator_version(ref)}",
        f"# {len(expansion.points)} points (models x configurations), {len(expansion.baselines)} baselines, "
        f"{len(expansion.tasks)} distinct configurations",
    ]
    for axis in study.axes:
        levels = axis.levels()
        shown = "continuous" if levels is None else ", ".join(map(str, levels))
        header.append(f"# axis {axis.column}: {shown}")
    data = _portable(loaded, study.model_dump(mode="json", exclude_none=True))
    # explicit, so that reloading the file gives the same baseline (a null accelerator means CPU-only)
    files = {**loaded.model_files, **loaded.spec_files}
    data["baseline"]["platform"] = _portable_name(files, study.baseline_platform())
    data["baseline"]["accelerator"] = _portable_name(files, study.baseline_accelerator())
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    return "\n".join(header) + "\n" + body


def _portable_name(files: dict[str, Path], name: Any) -> Any:
    if isinstance(name, str) and name in files and ("/" in name or name.endswith((".yaml", ".yml"))):
        return str(Path(files[name]).resolve())
    return name


def _portable(loaded: LoadedStudy, data: dict[str, Any]) -> dict[str, Any]:
    """Spec files given by a relative path become absolute, so ``study.yaml`` loads from anywhere."""
    files = {**loaded.model_files, **loaded.spec_files}

    def fix(name: Any) -> Any:
        return _portable_name(files, name)

    data["models"] = [fix(m) for m in data["models"]]
    for key in ("platform", "accelerator"):
        if key in data:
            data[key] = fix(data[key])
    for axis in data.get("axes", []):
        if axis["path"] in ("platform", "accelerator"):
            axis["values"] = [fix(v) for v in axis["values"]]
    if isinstance(data["workload"].get("sla_ms"), dict):
        data["workload"]["sla_ms"] = {fix(k): v for k, v in data["workload"]["sla_ms"].items()}
    if data.get("cost"):
        data["cost"] = {fix(k): v for k, v in data["cost"].items()}
    return data


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def run_sweep(
    study_path: Path | str,
    out: Path | str | None = None,
    workers: int | None = None,
    dask: str | None = None,
    limit: int | None = None,
    evaluator: str | None = None,
    progress: bool | None = None,
) -> SweepSummary:
    """Run (or resume) the sweep of a study; see the module docstring.

    Everything that can fail on bad input fails before the first configuration is evaluated.
    """
    started = time.perf_counter()
    ref = evaluator or os.environ.get(EVALUATOR_ENV) or DEFAULT_EVALUATOR
    if workers is not None and workers < 1:
        raise DseError(f"--workers: {workers} must be at least 1")
    if limit is not None and limit < 1:
        raise DseError(f"--limit: {limit} must be at least 1")
    check_dask_address(dask)
    _, module = load_evaluator(ref)
    loaded = load_study(study_path, getattr(module, "READS_PLATFORMS", True))
    n_workers = workers or default_workers()
    # at most one worker per configuration (the study's size is an upper bound of the expansion)
    pool_workers = min(n_workers, int(min(loaded.study.size(), limit or math.inf)))
    pool = LocalPool(pool_workers, ref) if dask is None and pool_workers > 1 else None  # warms while we expand
    try:
        expansion = expand(loaded, evaluator_version(ref), limit)
        check = getattr(module, "check_configs", None)
        if check is not None:
            check(expansion.tasks)
        out_dir = Path(out) if out is not None else Path("results") / loaded.study.name
        session = DaskSession(dask, n_workers) if dask is not None else None  # refused here: no files yet
        try:
            return _run(loaded, expansion, ref, out_dir, n_workers, session, pool, progress, started)
        finally:
            if session is not None:
                session.close()
    finally:
        if pool is not None:
            pool.close()


def _run(loaded: LoadedStudy, expansion: Expansion, ref: str, out_dir: Path, n_workers: int,
         session: DaskSession | None, pool: LocalPool | None, progress: bool | None, started: float) -> SweepSummary:
    """The part of :func:`run_sweep` that writes: evaluate what the store lacks, write the table."""
    summary = SweepSummary(loaded.study.name, out_dir, len(expansion.points), len(expansion.tasks))
    with ResultStore(out_dir) as store:
        write_text(out_dir / "study.yaml", resolved_study_yaml(loaded, expansion, ref))
        todo = [c for c in expansion.tasks if c["hash"] not in store]
        summary.reused = summary.tasks - len(todo)
        bar = _Progress(len(todo), loaded.study.name, progress_wanted() if progress is None else progress)
        crash: dict[str, Any] = {}

        def on_done(records: list[dict[str, Any]]) -> None:
            good = [r for r in records if "fatal" not in r]
            summary.computed += store.add(good)
            bar.advance(len(good))
            fatal = [r for r in records if "fatal" in r]
            if fatal:
                crash.update(fatal[0])
                raise _Crash()

        try:
            if not todo:
                pass
            elif session is not None:
                run_dask(todo, ref, on_done, session, n_workers)
            elif pool is None:
                run_inline(chunked(todo, 1), ref, on_done)
            else:
                pool.run(todo, ref, on_done)
        except KeyboardInterrupt:
            bar.stop()
            summary.interrupted = True
            store.reload()  # the interrupt may have landed between a write and its bookkeeping
            summary.computed = sum(1 for c in todo if c["hash"] in store)
        except _Crash:
            bar.stop()
            raise _crash_error(crash, todo, out_dir, len(store)) from None
        finally:
            bar.stop()
        frame = build_table(expansion, store.records)
        summary.parquet, summary.csv = write_table(frame, out_dir)
        summary.failed = int(frame["error"].notna().sum()) if len(frame) else 0
        if summary.failed:
            summary.first_error = str(frame["error"].dropna().iloc[0])
    summary.seconds = time.perf_counter() - started
    if summary.interrupted:
        raise SweepInterrupted(summary)
    return summary


def _crash_error(crash: dict[str, Any], todo: list[dict[str, Any]], out_dir: Path, saved: int) -> DseError:
    """Write the evaluator's traceback to ``crash.log`` and say where it crashed, in one line."""
    log = out_dir / "crash.log"
    config = next((c for c in todo if c["hash"] == crash.get("hash")), {})
    where = f"{config.get('model')} on {config.get('platform')} {' '.join(config.get('platform_overrides', []))}".strip()
    write_text(log, f"configuration {crash.get('hash')}\n{crash.get('config')}\n\n{crash.get('traceback')}")
    return DseError(
        f"evaluate crashed on {where}: {crash.get('fatal')} (traceback in {log}; "
        f"{saved} finished configurations are saved, rerun to resume)"
    )


class _Crash(Exception):
    """An evaluator raised something other than a DseError (internal control flow)."""


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep; finished rows are saved and the partial table written."""

    def __init__(self, summary: SweepSummary):
        super().__init__("interrupted")
        self.summary = summary
