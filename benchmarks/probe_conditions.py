"""Probes of measurement conditions behind the leave-one-model-out residuals (docs/calibration.md,
"What the worst ci_cpu folds miss"). Needs torch; one thread; prints p10 and median in ms / us.

    python benchmarks/probe_conditions.py coldwarm ncf 1,4,16,64 200
    python benchmarks/probe_conditions.py coldwarm dlrm_rmc3 256,1024,2048,4096 40 cuda
    python benchmarks/probe_conditions.py walks 512,128 64,256 30
    THP_MEM_ALLOC_ENABLE=1 python benchmarks/probe_conditions.py walks 512,128 64,256 30
    python benchmarks/probe_conditions.py copies 1,16,256 1,8,32 20
    python benchmarks/probe_conditions.py gru 64,256 1,64,1024,4096 50

``coldwarm MODEL BATCHES REPS [DEVICE]``: one process, one module; each repetition times three
forward passes in turn: ``warm`` (the same inputs every time), ``gap`` (the same inputs, after
fresh ones were drawn, copied to the device and dropped, as the cold harness does between passes)
and ``cold`` (fresh inputs, the harness's cold=1, copied before the clock starts). Interleaving
makes the three see the same machine load, so their ratio is a property of the indices, not of the
moment. ``DEVICE`` (default ``cpu``): with ``cuda`` every pass is synchronised before and after,
as in ``dse measure``; ``gap`` against ``warm`` then says whether the GPU's cold extra (docs/
cost_model.md, "RMC2 and RMC3 on the GPU at batch >= 1024") comes from the idle gap before a pass
or from the fresh indices.

``walks SIZES_MIB MS REPS``: ``F.embedding_bag`` over 8 tables of SIZE MiB (rows of 32 floats),
m samples x 80 lookups, fresh uniform indices every call, called round-robin (``inter``: the
other seven tables run between two calls on one table) against one table called over and over
(``single``). ``inter - single`` is what the cost model's per-call page-walk term
(``gather.walk_line_ns``) stands for; ``P(1-e^-R/P)`` is the number of page-table lines the term
charges (4 KiB pages). ``THP_MEM_ALLOC_ENABLE=1`` makes PyTorch put tensors >= 2 MiB on huge pages
where the kernel's THP mode is ``madvise``.

``copies SIZES_MIB BURSTS REPS`` (needs CUDA): the host-to-device copies of docs/cost_model.md,
"Host-device copies". Per size, interleaved, ``.to("cuda")`` (synchronous, as the harness copies
a model's inputs) of a never-written pageable buffer (``torch.empty``, what the ``h2d_pageable``
microbenchmark copied until it wrote its buffer), of a written one (``torch.ones``, like freshly
drawn inputs) and of a pinned one: whether writing the buffer is what separates the pageable rows'
15 GB/s from the ~50 GB/s the model runs got. Per burst length N, N copies of a 4 KiB tensor in a
row after 5 ms with the link idle: the first copy's time against the others' is
``host_link.setup_us`` against ``latency_us`` (the model charges the set-up with the copy back;
a pass's first copy is the one that would pay it).

``gru HIDDENS BATCHES REPS`` (needs CUDA): the recurrent path of docs/cost_model.md, "Recurrent
layers on a GPU". Per hidden size ``h`` (input width ``h/2``, as DIEN's first GRU) and batch,
``nn.GRU`` (batch first, fp32) over 10 and over 40 steps, each call synchronised: the slope
``(t40 - t10) / 30`` is the time one more step costs (``dispatch.persistent_step_us`` plus the
step's FLOPs where the recurrence is one persistent kernel, h <= 192; a launch and a GEMM where it
is not), ``t10 - 10 x slope`` the call's fixed cost. The CUDA kernels of one 40-step call
(torch.profiler) say which path cuDNN took: a handful of kernels, or a few per step.
"""

from __future__ import annotations

import math
import statistics
import sys
import time


def _q(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[int(p * (len(xs) - 1))]


def _cuda_us(fn) -> float:
    """Microseconds of ``fn()`` on CUDA, synchronised before and after (as ``dse measure`` times)."""
    import torch

    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e6


def coldwarm(model: str, batches: list[int], reps: int, device: str = "cpu") -> None:
    """Interleaved warm / gap / cold forward passes of ``model`` on ``device`` (ms, median and p10)."""
    import torch

    from dse.calibrate.harness import _sync, _to_device
    from dse.calibrate.torch_model import build_module, make_inputs
    from dse.paths import MODELSPECS_DIR, resolve_spec
    from dse.specs.model import load_model_spec

    torch.set_num_threads(1)
    spec = load_model_spec(resolve_spec(model, MODELSPECS_DIR, "model"))
    module = build_module(spec).to(device)
    gen = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        for b in batches:
            fixed = _to_device(make_inputs(spec, b, "cpu", gen), device)
            for _ in range(3):
                module(*fixed)
            times: dict[str, list[float]] = {"warm": [], "gap": [], "cold": []}
            for _ in range(reps):
                for mode in times:
                    inputs = fixed
                    if mode != "warm":
                        fresh = _to_device(make_inputs(spec, b, "cpu", gen), device)
                        inputs = fresh if mode == "cold" else fixed
                    _sync(torch, device)
                    t0 = time.perf_counter()
                    module(*inputs)
                    _sync(torch, device)
                    times[mode].append((time.perf_counter() - t0) * 1e3)
            cells = "  ".join(f"{m} {statistics.median(v):8.3f} (p10 {_q(v, 0.1):8.3f})" for m, v in times.items())
            print(f"{model} b={b:5d}  {cells}", flush=True)


def walks(sizes_mib: list[int], ms: list[int], reps: int) -> None:
    """Per-call time of 8 interleaved tables against one table (us, p10 and median)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    for size in sizes_mib:
        rows = size * 2**20 // 128
        tables = [torch.empty(rows, 32).uniform_(-0.05, 0.05) for _ in range(8)]
        for m in ms:
            res = {}
            for mode in ("single", "inter"):
                idx = [torch.randint(0, rows, (m, 80), generator=gen) for _ in range(8 * reps)]
                ts = []
                with torch.inference_mode():
                    for i, ix in enumerate(idx):
                        w = tables[0] if mode == "single" else tables[i % 8]
                        t0 = time.perf_counter()
                        F.embedding_bag(ix, w, mode="sum")
                        ts.append((time.perf_counter() - t0) * 1e6)
                res[mode] = (_q(ts[8:], 0.1), statistics.median(ts[8:]))
            r, p = m * 80, size * 2**20 / 4096 / 8
            print(
                f"table {size:4d} MiB  rows/call {r:6d}  single {res['single'][0]:8.1f} / {res['single'][1]:8.1f}  "
                f"inter {res['inter'][0]:8.1f} / {res['inter'][1]:8.1f}  extra {res['inter'][0] - res['single'][0]:7.1f} / "
                f"{res['inter'][1] - res['single'][1]:7.1f} us (p10 / median)  P(1-e^-R/P) {p * -math.expm1(-r / p):7.0f} lines",
                flush=True,
            )
        del tables


def copies(sizes_mib: list[int], bursts: list[int], reps: int, idle_ms: float = 5.0) -> None:
    """Synchronous host-to-device copies (us, median and p10): three kinds of source buffer, and
    the first against the later copies of a burst that starts after ``idle_ms`` of an idle link."""
    import mmap

    import torch

    for size in sizes_mib:
        n = size * 2**20
        # a fresh anonymous mapping: never written, whatever the allocator has handed out before
        sources = {"unwritten": torch.frombuffer(mmap.mmap(-1, n), dtype=torch.uint8), "written": torch.ones(n, dtype=torch.uint8),
                   "pinned": torch.ones(n, dtype=torch.uint8).pin_memory()}
        times: dict[str, list[float]] = {k: [] for k in sources}
        for _ in range(reps + 2):
            for kind, src in sources.items():
                times[kind].append(_cuda_us(lambda: src.to("cuda")))
        cells = "  ".join(f"{k} {statistics.median(v[2:]):9.1f} (p10 {_q(v[2:], 0.1):9.1f}, {n / statistics.median(v[2:]) / 1e3:5.1f} GB/s)"
                          for k, v in times.items())
        print(f"copy {size:4d} MiB  {cells}", flush=True)
    small = [torch.ones(1024, dtype=torch.int32) for _ in range(max(bursts))]
    for burst in bursts:
        first, rest = [], []
        for rep in range(reps + 2):
            torch.cuda.synchronize()
            time.sleep(idle_ms / 1e3)  # the link idle, as between two passes
            stamps = [time.perf_counter()]
            for t in small[:burst]:
                t.to("cuda")  # synchronous: returns once the copy is done
                stamps.append(time.perf_counter())
            steps = [(b - a) * 1e6 for a, b in zip(stamps, stamps[1:])]
            if rep >= 2:  # two warm-up bursts
                first.append(steps[0])
                rest.extend(steps[1:])
        later = f"later {statistics.median(rest):7.1f} (p10 {_q(rest, 0.1):7.1f})" if rest else "later -"
        print(f"burst {burst:3d} x 4 KiB  first {statistics.median(first):7.1f} (p10 {_q(first, 0.1):7.1f})  {later} us", flush=True)


def gru(hiddens: list[int], batches: list[int], reps: int) -> None:
    """Per hidden size and batch: ``nn.GRU`` calls over 10 and 40 steps on CUDA (us, median), the
    per-step slope, the fixed part, and the kernels of one 40-step call."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    if not torch.cuda.is_available():
        raise SystemExit("gru: needs a CUDA device (the persistent cuDNN path); none is visible")

    with torch.inference_mode():
        for h in hiddens:
            layer = torch.nn.GRU(max(1, h // 2), h, batch_first=True).to("cuda")
            for b in batches:
                xs = {s: torch.randn(b, s, max(1, h // 2), device="cuda") for s in (10, 40)}
                times: dict[int, list[float]] = {10: [], 40: []}
                for _ in range(reps + 3):
                    for steps, x in xs.items():
                        times[steps].append(_cuda_us(lambda: layer(x)))
                t10, t40 = (statistics.median(times[s][3:]) for s in (10, 40))
                slope = (t40 - t10) / 30
                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    layer(xs[40])
                    torch.cuda.synchronize()
                kernels = [e for e in prof.events() if e.device_type.name == "CUDA"]
                names = sorted({e.name[:40] for e in kernels})
                print(f"gru h={h:4d} b={b:5d}  S=10 {t10:8.1f}  S=40 {t40:8.1f} us  per step {slope:6.2f}  fixed {t10 - 10 * slope:7.1f}"
                      f"  kernels of one 40-step call: {len(kernels)} ({'; '.join(names)[:160]})", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not (len(args) == 4 or (len(args) == 5 and args[0] == "coldwarm")) or args[0] not in ("coldwarm", "walks", "copies", "gru"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    ints = lambda s: [int(x) for x in s.split(",")]  # noqa: E731
    if args[0] == "coldwarm":
        coldwarm(args[1], ints(args[2]), int(args[3]), args[4] if len(args) == 5 else "cpu")
    elif args[0] == "copies":
        if int(args[3]) < 1:
            print("copies: REPS must be at least 1", file=sys.stderr)
            return 2
        copies(ints(args[1]), ints(args[2]), int(args[3]))
    elif args[0] == "gru":
        gru(ints(args[1]), ints(args[2]), max(1, int(args[3])))
    else:
        walks(ints(args[1]), ints(args[2]), int(args[3]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
