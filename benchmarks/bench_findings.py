"""DeepRecSys finding 3 ("about 2x over a static baseline on server CPUs"): what the model gives
and what it would take.

    python benchmarks/bench_findings.py [--sizes heavytail] [--levels 1,1.5,3]
    python benchmarks/bench_findings.py --tables    # docs/optimizer.md's two result tables

For each variant of the setting, DeepRecSched's grid optimum without offload on Skylake over the
static baseline (``gain``) for the eight models, and the geometric mean over them. The variants
change one thing at a time against the setting of tests/test_sched_findings.py (40 engines,
baseline b = 32, shipped hwspecs/skylake.yaml):

- ``engines 32``: the public scripts' 32 inference engines instead of one per core;
- ``baseline b=64``: run_Scheduler.sh's per-core batch as the static policy;
- ``KVM page walks``: with ci_cpu's fitted per-call page-walk term (``gather.walk_line_ns``,
  measured in a KVM guest; the bare-metal server specs leave it out; docs/cost_model.md);
- ``random DRAM 50%``: random row fetches capped at half the peak DRAM bandwidth (the spec's
  ``dram.random_efficiency``) instead of the DDR4-2666 channels' derived random-row rate;
- ``ramp 6000 rows``: the gather model's memory-level parallelism ramps up over 6,000 rows per call
  instead of the fitted 302.

Every number is computed here by the model; docs/optimizer.md (finding 3) quotes this output.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

MODELS = ["dlrm_rmc1", "dlrm_rmc2", "dlrm_rmc3", "ncf", "wnd", "mtwnd", "din", "dien"]
SHORT = {"dlrm_rmc1": "RMC1", "dlrm_rmc2": "RMC2", "dlrm_rmc3": "RMC3", "ncf": "NCF", "wnd": "WnD", "mtwnd": "MT-WnD", "din": "DIN", "dien": "DIEN"}


def variants():  # noqa: ANN201
    """(label, platform, engines, baseline batch) for each setting compared; the changed fields go
    through ``--set`` overrides, except the removal of the memory: section, which none can express."""
    from dse.specs.hardware import load_platform

    base = load_platform("skylake")
    n = base.compute.engine_slots
    kvm_walks = load_platform("skylake", [f"gather.walk_line_ns={load_platform('ci_cpu').gather.walk_line_ns}"])
    data = base.model_dump(mode="python")
    data["memory"] = None
    half_dram = type(base).model_validate(data)
    ramp = load_platform("skylake", ["gather.ramp_rows=6000"])
    return [
        ("shipped (40 engines, b=32)", base, n, 32),
        ("engines 32", base, 32, 32),
        ("baseline b=64", base, n, 64),
        ("KVM page walks", kvm_walks, n, 32),
        ("random DRAM 50%", half_dram, n, 32),
        ("ramp 6000 rows", ramp, n, 32),
    ]


def gains(platform, engines: int, baseline: int, sizes: str, level: float) -> dict[str, float]:  # noqa: ANN001
    """Model -> grid optimum over the static baseline, SLA = level x t_cpu(167) on this platform."""
    from dse.graph import load_graph
    from dse.sched.deeprecsched import build_curves, optimize
    from dse.serve.workload import parse_sizes
    from dse.settings import DEFAULT_BATCHES, OptimizerSettings, WorkloadSettings

    out = {}
    dist = parse_sizes(sizes)
    for model in MODELS:
        g = load_graph(model)
        curves = build_curves(g, platform, None, engines, [*DEFAULT_BATCHES, baseline], dist.max_size)
        sla = level * float(curves.cpu(np.array([167.0]))[0])
        r = optimize(g, platform, None, workload=WorkloadSettings(sizes=sizes), sla_s=sla, workers=engines, curves=curves,
                     search=OptimizerSettings(baseline_batch=baseline))
        out[model] = r.grid_max_qps / r.baseline_qps if r.baseline_qps > 0 else math.nan
    return out


def findings_table(sizes: str) -> None:
    """The markdown table of docs/optimizer.md ("What the model reproduces") for one size spec:
    per model, t_cpu(167), the grid optimum's b without offload at each SLA level, the gain over
    b = 32 at k = 1.5 and 3, the GPU gain at k = 0.5, 1, 1.5, 3, the best Q, the worst gap."""
    from dse.graph import load_graph
    from dse.sched.deeprecsched import build_curves, optimize
    from dse.serve.workload import parse_sizes
    from dse.settings import DEFAULT_BATCHES, WorkloadSettings
    from dse.specs.hardware import load_platform

    cpu, gpu = load_platform("skylake"), load_platform("gtx1080ti")
    n = cpu.compute.engine_slots
    dist = parse_sizes(sizes)
    levels = (0.5, 0.75, 1.0, 1.25, 1.5, 3.0)
    print(f"sizes {sizes}")
    print("| model | t_cpu(167) | best b at k = 0.5, 0.75, 1, 1.25, 1.5, 3 | gain over b=32 at k=1.5, 3 "
          "| GPU gain at k=0.5, 1, 1.5, 3 | best Q (k=1.5) | worst gap |")
    print("|---|---|---|---|---|---|---|")
    for model in MODELS:
        g = load_graph(model)
        with_gpu = build_curves(g, cpu, gpu, n, [*DEFAULT_BATCHES, 32], dist.max_size)
        cpu_only = build_curves(g, cpu, None, n, [*DEFAULT_BATCHES, 32], dist.max_size)
        t = float(with_gpu.cpu(np.array([167.0]))[0])
        res = {}
        for k in levels:
            for accel, curves in ((False, cpu_only), (True, with_gpu)):
                res[k, accel] = optimize(g, cpu, gpu if accel else None, workload=WorkloadSettings(sizes=sizes), sla_s=k * t,
                                         workers=n, curves=curves)
        best_b = ", ".join(str(res[k, False].grid_batch) for k in levels)
        gains = ", ".join(f"{res[k, False].gain:.2f}" for k in (1.5, 3.0))
        gpu_gain = ", ".join(f"{res[k, True].grid_max_qps / res[k, False].grid_max_qps:.2f}" for k in (0.5, 1.0, 1.5, 3.0))
        gap = max(r.gap for r in res.values())
        print(f"| {SHORT[model]} | {t * 1e3:.3g} ms | {best_b} | {gains} | {gpu_gain} | {res[1.5, True].grid_threshold} | "
              f"{'0' if gap <= 1e-9 else f'{100 * gap:.1f}%'} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="heavytail")
    parser.add_argument("--levels", default="1,1.5,3", help="SLA levels k (SLA = k x t_cpu(167 items))")
    parser.add_argument("--tables", action="store_true", help="print docs/optimizer.md's result tables instead")
    args = parser.parse_args(argv)
    if args.tables:
        for sizes in ("heavytail", "lognormal:5.1,0.2"):
            findings_table(sizes)
            print()
        return 0
    levels = [float(x) for x in args.levels.split(",")]
    print(f"gain of DeepRecSched's grid optimum (no offload) over the static baseline on skylake, sizes {args.sizes}")
    head = " ".join(f"{SHORT[m]:>6s}" for m in MODELS)
    print(f"{'variant':28s} {'k':>4s} {head} {'geomean':>7s}")
    for label, platform, engines, baseline in variants():
        for k in levels:
            g = gains(platform, engines, baseline, args.sizes, k)
            geo = math.exp(sum(math.log(v) for v in g.values()) / len(g))
            print(f"{label:28s} {k:4.1f} " + " ".join(f"{g[m]:6.2f}" for m in MODELS) + f" {geo:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
