"""The optional PyTorch measurement harness (``dse measure``; extra ``[measure]``).

``measure_model`` builds a model from its spec (:mod:`dse.calibrate.torch_model`) and times one
forward pass per batch size under ``torch.inference_mode()``, synchronised on a GPU, reporting
the median, 10th and 90th percentile over repetitions. ``cold`` draws fresh uniform-random
indices before every repetition (outside the timed region), as in serving; ``warm`` reuses the
same inputs, so the rows they touch stay cached. On a GPU ``transfer`` times the copy of the
inputs to the device and of the outputs back as part of the pass.

``measure_micro`` times the microbenchmarks of FACTS.md section 5 (``gemm``, ``copy``,
``gather``, ``gather_cold``, ``tiny_op``; on a GPU also ``h2d_pinned``, ``h2d_pageable``,
``d2h``) and, on a CPU, the allocator pair ``alloc_fresh`` (allocate a tensor of ``m`` bytes and
fill it: the first touch of freshly mapped pages when the allocator maps it fresh) and
``alloc_reuse`` (fill a preallocated tensor of the same size). Both write the CSV formats of FACTS.md section 5 with two more columns,
``framework`` and ``framework_version``, so every measurement says what took it. Model rows on a
CPU also carry the page size the tables got (``thp``, ``huge_pages_mib``, :func:`huge_pages`):
the cost of the page walks of gathers interleaved across large tables depends on it
(docs/calibration.md, "Leave-one-model-out").
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from dse.errors import DseError

INSTALL_HINT = "PyTorch is not installed: pip install -e '.[measure]' (installs torch==2.13.0)"


def require_torch() -> Any:
    """Import torch or raise a one-line DseError saying how to install it."""
    try:
        import torch
    except ImportError:
        raise DseError(INSTALL_HINT) from None
    return torch


def _device(torch: Any, device: str) -> str:
    if device not in ("cpu", "cuda"):
        raise DseError(f"--device: '{device}' is not cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise DseError("--device cuda: no CUDA device is available to this PyTorch")
    return device


def _free_memory(torch: Any, device: str) -> float | None:
    """Bytes free for tables on ``device`` (None when unknown)."""
    if device == "cuda":
        return float(torch.cuda.mem_get_info()[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024.0
    except OSError:
        return None
    return None


def _sync(torch: Any, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _stats(samples: list[float]) -> tuple[float, float, float]:
    s = sorted(samples)
    q = statistics.quantiles(s, n=10, method="inclusive") if len(s) >= 2 else [s[0]] * 9
    return statistics.median(s), q[0], q[-1]


def _provenance(torch: Any) -> dict[str, str]:
    return {"framework": "torch", "framework_version": str(torch.__version__)}


THP_MODE = Path("/sys/kernel/mm/transparent_hugepage/enabled")
SMAPS_ROLLUP = Path("/proc/self/smaps_rollup")


def huge_pages() -> dict[str, Any]:
    """The kernel's transparent-huge-page mode (the bracketed word of ``THP_MODE``: always,
    madvise or never) and the MiB of this process's anonymous memory on huge pages
    (``AnonHugePages`` of ``SMAPS_ROLLUP``); empty string / None where the files are unreadable
    (not Linux). With ``madvise`` PyTorch's tensors get 4 KiB pages unless ``THP_MEM_ALLOC_ENABLE=1``."""
    try:
        text = THP_MODE.read_text()
        mode = text[text.index("[") + 1 : text.index("]")]
    except (OSError, ValueError):
        mode = ""
    mib = None
    try:
        for line in SMAPS_ROLLUP.read_text().splitlines():
            if line.startswith("AnonHugePages:"):
                mib = int(line.split()[1]) / 1024.0  # the file gives kB
    except (OSError, ValueError, IndexError):
        mib = None
    return {"thp": mode, "huge_pages_mib": mib}


def _check_model_options(torch: Any, device: str, threads: int, transfer: bool, reps: int, warmup: int) -> str:
    """The device to measure on; a one-line DseError for an option that cannot be honoured."""
    device = _device(torch, device)
    if threads < 1:
        raise DseError(f"--threads: {threads} must be at least 1")
    if reps < 1 or warmup < 0:
        raise DseError("--reps must be at least 1 and --warmup at least 0")
    if transfer and device != "cuda":
        raise DseError("--transfer: only with --device cuda (a CPU has no host link)")
    return device


def _check_fits(torch: Any, spec: Any, device: str) -> None:
    """A one-line DseError when the model's tables would take more than 70% of the free memory."""
    free = _free_memory(torch, device)
    if free is not None and spec.table_bytes > 0.7 * free:
        raise DseError(
            f"{spec.name}: its tables need {spec.table_bytes / 2**30:.1f} GiB, more than 70% of the "
            f"{free / 2**30:.1f} GiB free on {device}; measure it on a larger machine"
        )


def _to_device(inputs: Any, device: str) -> Any:
    """Model inputs (dense tensor or None, {table: [index tensors]}) copied to ``device``."""
    dense, idx = inputs
    return (
        dense.to(device) if dense is not None else None,
        {k: [t.to(device) for t in v] for k, v in idx.items()},
    )


@dataclass(frozen=True)
class _ModelRun:
    """How one model is timed: on which device, with fresh indices (``cold``) and/or the
    host-device copies inside the timed region (``transfer``), and how many repetitions."""

    device: str
    cold: bool
    transfer: bool
    reps: int
    warmup: int


def _time_batch(torch: Any, module: Any, spec: Any, batch: int, run: _ModelRun, gen: Any) -> list[float]:
    """Seconds of each timed forward pass of ``module`` at ``batch`` (warm-up passes left out).
    Fresh inputs (``cold``) are drawn outside the timed region."""
    from dse.calibrate.torch_model import make_inputs

    device = run.device
    host_inputs = make_inputs(spec, batch, "cpu", gen)
    inputs = _to_device(host_inputs, device)
    samples = []
    for rep in range(run.warmup + run.reps):
        if run.cold:
            host_inputs = make_inputs(spec, batch, "cpu", gen)
            inputs = host_inputs if run.transfer else _to_device(host_inputs, device)
        elif run.transfer:
            inputs = host_inputs
        _sync(torch, device)
        t0 = time.perf_counter()
        if run.transfer:
            out = module(*_to_device(inputs, device))
            out = [o.to("cpu") for o in out]
        else:
            out = module(*inputs)
        _sync(torch, device)
        t1 = time.perf_counter()
        if rep >= run.warmup:
            samples.append(t1 - t0)
    return samples


def measure_model(
    model: str,
    batches: list[int],
    device: str = "cpu",
    threads: int = 1,
    cold: bool = True,
    transfer: bool = False,
    reps: int = 20,
    warmup: int = 3,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Time one forward pass of ``model`` (a shipped name or a YAML path) at every batch size."""
    torch = require_torch()
    from dse.calibrate.torch_model import build_module
    from dse.paths import MODELSPECS_DIR, resolve_spec
    from dse.specs.model import load_model_spec

    device = _check_model_options(torch, device, threads, transfer, reps, warmup)
    torch.set_num_threads(threads)
    spec = load_model_spec(resolve_spec(str(model), MODELSPECS_DIR, "model"))
    _check_fits(torch, spec, device)
    module = build_module(spec).to(device)
    gen = torch.Generator().manual_seed(1)
    run = _ModelRun(device, cold, transfer, reps, warmup)
    rows = []
    with torch.inference_mode():
        for batch in batches:
            if batch < 1:
                raise DseError(f"--batch: {batch} must be positive")
            med, p10, p90 = _stats(_time_batch(torch, module, spec, batch, run, gen))
            rows.append(
                {
                    "tag": "gpu" if device == "cuda" else "cpu",
                    "model": spec.name,
                    "batch": int(batch),
                    "threads": 0 if device == "cuda" else threads,
                    "transfer": int(transfer),
                    "cold": int(cold),
                    "median_ms": med * 1e3,
                    "p10_ms": p10 * 1e3,
                    "p90_ms": p90 * 1e3,
                    "reps": reps,
                    **_provenance(torch),
                    **(huge_pages() if device == "cpu" else {}),
                }
            )
            if progress:
                progress(f"{spec.name} batch {batch}: {med * 1e3:.3f} ms")
    return pd.DataFrame(rows)


#: Microbenchmark kinds ``measure_micro`` can run (``kinds``); ``alloc`` is the pair
#: ``alloc_fresh``/``alloc_reuse`` (CPU only), ``link`` the host-link copies (GPU only) and
#: ``stack`` the software-stack costs of a Caffe2-style harness (CPU only, :func:`_micro_stack`).
MICRO_GROUPS = ("gemm", "copy", "gather", "tiny_op", "alloc", "link", "stack")

#: Microbenchmark sets: (gemm (k, n) shapes, gemm batches, gather rows, gather dims, gather batches, copy elements)
MICRO_SETS = {
    "full": {
        "gemm_shapes": [(256, 256), (1024, 1024), (2560, 1024), (512, 256), (4096, 4096)],
        "gemm_m": [1, 8, 64, 256, 1024, 4096],
        "gather_rows": [10_000, 1_000_000, 10_000_000],
        "gather_dims": [16, 32, 64, 128],
        "gather_m": [(1, 80), (64, 80), (1024, 80), (4096, 20)],
        "copy_elems": 64 * 2**20,
        "link_bytes": [4096, 65536, 2**20, 16 * 2**20],
        # MiB; dense around glibc's 32 MiB ceiling of the mmap threshold to bracket the step
        "alloc_mib": [1, 2, 4, 8, 16, 24, 28, 31, 32, 48, 64, 128, 256],
    },
    # the gather ramp: rows per call from 320 to 81,920 on tables of RMC1's and RMC2's sizes and row
    # widths (4M x 128 B = 512 MiB, 500k x 256 B = 128 MiB) and a 1M-row table of each width;
    # "full" has only 80, 5,120 and 81,920 rows per call, too few points to pin the ramp's shape
    "ramp": {
        "gemm_shapes": [],
        "gemm_m": [],
        "gather_rows": [500_000, 1_000_000, 4_000_000],
        "gather_dims": [32, 64],
        "gather_m": [(4, 80), (16, 80), (32, 80), (64, 80), (128, 80), (256, 80), (512, 80), (1024, 80)],
        "copy_elems": 8 * 2**20,
        "link_bytes": [4096],
        "alloc_mib": [1],
    },
    "quick": {
        "gemm_shapes": [(256, 256), (1024, 1024), (512, 256)],
        "gemm_m": [1, 8, 64, 256],
        "gather_rows": [10_000, 1_000_000],
        "gather_dims": [16, 64],
        "gather_m": [(1, 80), (64, 80), (512, 80)],
        "copy_elems": 8 * 2**20,
        "link_bytes": [4096, 2**20],
        "alloc_mib": [1, 16, 64],
    },
}


def _time_call(torch: Any, device: str, fn: Callable[[], Any], min_reps: int, budget_s: float, before: Callable[[], Any] | None = None) -> float:
    """Median seconds of ``fn`` (``before`` runs untimed ahead of every call)."""
    samples: list[float] = []
    start = time.perf_counter()
    for _ in range(2):  # warm-up
        if before:
            before()
        fn()
    while len(samples) < min_reps or (time.perf_counter() - start < budget_s and len(samples) < 200):
        if before:
            before()
        _sync(torch, device)
        t0 = time.perf_counter()
        fn()
        _sync(torch, device)
        samples.append(time.perf_counter() - t0)
        if time.perf_counter() - start > 10 * budget_s and len(samples) >= 3:
            break
    return statistics.median(samples)


class _MicroBench:
    """Times microbenchmarks on one device and collects their rows (FACTS.md section 5 columns)."""

    def __init__(self, torch: Any, device: str, threads: int, reps: int, budget_s: float,
                 progress: Callable[[str], None] | None) -> None:
        self.torch = torch
        self.device = device
        self.reps = reps
        self.budget_s = budget_s
        self.progress = progress
        self.tag = "gpu" if device == "cuda" else "cpu"
        self.threads = 0 if device == "cuda" else threads
        self.rows: list[dict[str, Any]] = []

    def seconds(self, fn: Callable[[], Any], min_reps: int | None = None, before: Callable[[], Any] | None = None) -> float:
        """Median seconds of ``fn`` (:func:`_time_call`; ``min_reps`` default: ``reps``)."""
        return _time_call(self.torch, self.device, fn, self.reps if min_reps is None else min_reps, self.budget_s, before)

    def add(self, kind: str, seconds: float, m: float | None = None, k: float | None = None, n: float | None = None,
            table_rows: float | None = None, flops: float | None = None, nbytes: float | None = None) -> None:
        self.rows.append({"tag": self.tag, "kind": kind, "threads": self.threads, "m": m, "k": k, "n": n,
                          "rows": table_rows, "seconds": seconds, "flops": flops, "bytes": nbytes,
                          **_provenance(self.torch)})
        if self.progress:
            self.progress(f"{kind} m={m} k={k} n={n} rows={table_rows}: {seconds * 1e6:.1f} us")


def _micro_gemm(bench: _MicroBench, cfg: dict[str, Any]) -> None:
    torch, device = bench.torch, bench.device
    for k, n in cfg["gemm_shapes"]:
        lin = torch.nn.Linear(k, n).to(device)
        for m in cfg["gemm_m"]:
            if k * n >= 4096 * 4096 and m > 256 and device == "cpu":
                continue
            x = torch.randn(m, k, device=device)
            t = bench.seconds(lambda: lin(x))
            bench.add("gemm", t, m, k, n, flops=2.0 * m * k * n, nbytes=4.0 * (k * n + n + m * (k + n)))


def _micro_copy(bench: _MicroBench, cfg: dict[str, Any]) -> None:
    elems = cfg["copy_elems"]
    src = bench.torch.empty(elems, device=bench.device).uniform_()
    dst = bench.torch.empty_like(src)
    bench.add("copy", bench.seconds(lambda: dst.copy_(src), min(bench.reps, 3)), elems, nbytes=8.0 * elems)


def _micro_gather(bench: _MicroBench, cfg: dict[str, Any], gen: Any) -> None:
    """``gather`` (the same indices every call) and ``gather_cold`` (fresh indices before every
    call, drawn outside the timed region) of every table size, row width and lookup shape."""
    from torch.nn import functional as F

    torch, device = bench.torch, bench.device
    for table_rows in cfg["gather_rows"]:
        for dim in cfg["gather_dims"]:
            weight = torch.empty(table_rows, dim, device=device).uniform_(-0.05, 0.05)
            for m, k in cfg["gather_m"]:
                idx = torch.randint(0, table_rows, (m, k), generator=gen).to(device)
                warm = bench.seconds(lambda: F.embedding_bag(idx, weight, mode="sum"))
                bench.add("gather", warm, m, k, dim, table_rows, nbytes=4.0 * m * k * dim)
                box = {"idx": idx}

                def fresh() -> None:
                    box["idx"] = torch.randint(0, table_rows, (m, k), generator=gen).to(device)

                cold = bench.seconds(lambda: F.embedding_bag(box["idx"], weight, mode="sum"), before=fresh)
                bench.add("gather_cold", cold, m, k, dim, table_rows, nbytes=4.0 * m * k * dim)
            del weight


def _micro_alloc(bench: _MicroBench, cfg: dict[str, Any]) -> None:
    """fresh: allocate m bytes and fill them (the tensor is freed when the call returns, as an
    eager framework frees its intermediates); reuse: fill a preallocated tensor of m bytes.
    Their difference is the allocator's cost of a fresh mapping: page faults and zeroing."""
    torch = bench.torch
    for mib in cfg["alloc_mib"]:
        nbytes = mib * 2**20
        elems = nbytes // 4
        kept = torch.empty(elems)
        bench.add("alloc_reuse", bench.seconds(lambda: kept.fill_(1.0), max(bench.reps, 9)), nbytes, nbytes=nbytes)
        del kept
        bench.add("alloc_fresh", bench.seconds(lambda: torch.empty(elems).fill_(1.0), max(bench.reps, 9)), nbytes, nbytes=nbytes)


def _micro_link(bench: _MicroBench, cfg: dict[str, Any]) -> None:
    torch = bench.torch
    for nbytes in cfg["link_bytes"]:
        pinned = torch.empty(nbytes, dtype=torch.uint8).pin_memory()
        # written, as a model's inputs are: on the H200 host a never-written buffer copied at
        # 15 GB/s where the models' freshly drawn inputs copied at ~50 (docs/calibration.md)
        pageable = torch.ones(nbytes, dtype=torch.uint8)
        on_dev = torch.empty(nbytes, dtype=torch.uint8, device=bench.device)
        bench.add("h2d_pinned", bench.seconds(lambda: on_dev.copy_(pinned)), nbytes, nbytes=nbytes)
        bench.add("h2d_pageable", bench.seconds(lambda: on_dev.copy_(pageable)), nbytes, nbytes=nbytes)
        bench.add("d2h", bench.seconds(lambda: on_dev.to("cpu")), nbytes, nbytes=nbytes)


#: ``stack`` group: Python list lengths converted, bytes fed, ops chained, GEMM shapes at 1 and 2 threads
STACK_MICRO = {
    "list_elems": [10, 1_000, 10_000, 100_000],
    "feed_bytes": [4, 4_096, 262_144, 4_194_304],
    "chain_ops": 64,
    "gemm": [(1, 64, 32), (1, 512, 256), (16, 512, 256), (64, 512, 256), (256, 512, 256), (1024, 512, 256), (1024, 2560, 512)],
}


def _micro_stack(bench: _MicroBench) -> None:
    """What a Caffe2 harness (DeepRecSys, FACTS.md section 6) adds to the net's operators, timed
    with the nearest stand-ins this machine has:

    - ``list_to_array`` (m = elements): ``np.array(python_list_of_ints, dtype=int64)``, exactly
      what the harness does per index tensor;
    - ``feed_blob`` (m = bytes): ``torch.tensor(numpy_array)``, a Python call into C++ that
      allocates a tensor and copies a numpy array into it (Caffe2's ``FeedBlob`` is a pybind call
      that does the same; stand-in: Caffe2 is not installed);
    - ``interp_op`` (m = ops): one tiny op of a TorchScript graph run by the C++ interpreter
      (per-op cost of a C++ net executor; stand-in for Caffe2's ``SimpleNet``);
    - ``gemm_mt`` (threads 1 and 2): ``Linear`` at both thread counts (multi-threaded BLAS).
    """
    import numpy as np

    torch = bench.torch
    rng = np.random.default_rng(3)
    for n in STACK_MICRO["list_elems"]:
        values = rng.integers(0, 1_000_000, n).tolist()
        bench.add("list_to_array", bench.seconds(lambda: np.array(values, dtype=np.int64), max(bench.reps, 9)), n)
    for nbytes in STACK_MICRO["feed_bytes"]:
        arr = np.ones(nbytes // 4, dtype=np.float32)
        bench.add("feed_blob", bench.seconds(lambda: torch.tensor(arr), max(bench.reps, 9)), nbytes, nbytes=nbytes)
    chain = STACK_MICRO["chain_ops"]

    def many(x: Any) -> Any:
        for _ in range(chain):
            x = torch.relu(x)
        return x

    one = torch.ones(1)
    scripted = torch.jit.trace(many, one)  # a graph of `chain` ops, run by the C++ interpreter
    bench.add("interp_op", bench.seconds(lambda: scripted(one), max(bench.reps, 9)) / chain, chain)
    before = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for m, k, n in STACK_MICRO["gemm"]:
            lin = torch.nn.Linear(k, n)
            x = torch.randn(m, k)
            t = bench.seconds(lambda: lin(x), max(bench.reps, 9))
            bench.rows.append({**_row(bench, "gemm_mt", t, m, k, n, 2.0 * m * k * n), "threads": threads})
    torch.set_num_threads(before)


def _row(bench: _MicroBench, kind: str, seconds: float, m: float, k: float, n: float, flops: float) -> dict[str, Any]:
    return {"tag": bench.tag, "kind": kind, "threads": bench.threads, "m": m, "k": k, "n": n, "rows": None,
            "seconds": seconds, "flops": flops, "bytes": 4.0 * (k * n + n + m * (k + n)), **_provenance(bench.torch)}


def measure_micro(
    device: str = "cpu",
    threads: int = 1,
    size: str = "full",
    reps: int = 5,
    budget_s: float = 0.05,
    progress: Callable[[str], None] | None = None,
    kinds: list[str] | None = None,
) -> pd.DataFrame:
    """Time the microbenchmarks of FACTS.md section 5 on one device (``kinds``: a subset of
    :data:`MICRO_GROUPS`, default all but ``stack``, whose rows are the
    stand-ins behind ``hwspecs/stacks/caffe2_deeprecsys.yaml`` (docs/stacks.md), not input to
    ``dse calibrate``)."""
    torch = require_torch()
    device = _device(torch, device)
    if size not in MICRO_SETS:
        raise DseError(f"--size: '{size}' is not one of {', '.join(MICRO_SETS)}")
    if threads < 1:
        raise DseError(f"--threads: {threads} must be at least 1")
    groups = set(kinds or [g for g in MICRO_GROUPS if g != "stack"])  # stack rows are not calibration input
    bad = sorted(groups - set(MICRO_GROUPS))
    if bad:
        raise DseError(f"--kinds: unknown microbenchmark group(s) {', '.join(bad)} (known: {', '.join(MICRO_GROUPS)})")
    torch.set_num_threads(threads)
    cfg = MICRO_SETS[size]
    bench = _MicroBench(torch, device, threads, reps, budget_s, progress)
    gen = torch.Generator().manual_seed(2)
    with torch.inference_mode():
        if "gemm" in groups:
            _micro_gemm(bench, cfg)
        if "copy" in groups:
            _micro_copy(bench, cfg)
        if "gather" in groups:
            _micro_gather(bench, cfg, gen)
        if "tiny_op" in groups:
            one = torch.ones(1, device=device)
            bench.add("tiny_op", bench.seconds(lambda: one + one, max(reps, 20)))
        if "alloc" in groups and device == "cpu":
            _micro_alloc(bench, cfg)
        if device == "cuda" and "link" in groups:
            _micro_link(bench, cfg)
        if "stack" in groups and device == "cpu" and size != "ramp":
            _micro_stack(bench)
    return pd.DataFrame(bench.rows)


#: Columns that only some rows carry (a CPU model row's page state, :func:`huge_pages`): rows
#: appended to a file with or without them leave them empty where unknown.
OPTIONAL_COLUMNS = frozenset({"thp", "huge_pages_mib"})


def write_csv(df: pd.DataFrame, out: Path | str, append: bool = False) -> Path:
    """Write harness rows; ``append`` adds them to an existing file of the same format (up to
    :data:`OPTIONAL_COLUMNS`, which either side may lack)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if append and out.is_file() and out.stat().st_size > 0:
        old = pd.read_csv(out)
        if (set(old.columns) ^ set(df.columns)) - OPTIONAL_COLUMNS:
            raise DseError(f"{out}: exists with other columns; cannot append (use another --out)")
        columns = [*old.columns, *(c for c in df.columns if c not in old.columns)]
        df = pd.concat([old, df], ignore_index=True)[columns]
    df.to_csv(out, index=False)
    return out
