"""DeepRecSys finding 3 ("about 2x over a static baseline on server CPUs"): what the model gives
and what it would take.

    python benchmarks/bench_findings.py [--sizes heavytail] [--levels 1,1.5,3]

For each variant of the setting, DeepRecSched's grid optimum without offload on Skylake over the
static baseline (``gain``) for the eight models, and the geometric mean over them. The variants
change one thing at a time against the setting of tests/test_sched_findings.py (40 engines,
baseline b = 32, shipped hwspecs/skylake.yaml):

- ``engines 32``: the public scripts' 32 inference engines instead of one per core;
- ``baseline b=64``: run_Scheduler.sh's per-core batch as the static policy;
- ``ramp 6000 rows``: the gather model's memory-level parallelism ramps up over 6,000 rows per call
  instead of 568 (the ramp that fits RMC1's measured batching gain on ci_cpu; docs/optimizer.md);
- ``random DRAM 80%``: random line fetches reach 80% of the peak DRAM bandwidth instead of 50%;
- ``both``: the last two together.

Every number is computed here by the model; docs/optimizer.md (finding 3) quotes this output.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

MODELS = ["dlrm_rmc1", "dlrm_rmc2", "dlrm_rmc3", "ncf", "wnd", "mtwnd", "din", "dien"]
SHORT = {"dlrm_rmc1": "RMC1", "dlrm_rmc2": "RMC2", "dlrm_rmc3": "RMC3", "ncf": "NCF", "wnd": "WnD", "mtwnd": "MT-WnD", "din": "DIN", "dien": "DIEN"}


def _with(platform, section: str, **values):  # noqa: ANN001, ANN202
    """A copy of ``platform`` with fields of one section replaced (validated like a spec)."""
    data = platform.model_dump(mode="python")
    data[section].update(values)
    return type(platform).model_validate(data)


def variants(base):  # noqa: ANN001, ANN201
    """(label, platform, engines, baseline batch) for each setting compared."""
    n = base.compute.engine_slots
    ramp = _with(base, "gather", ramp_rows=6000.0)
    fast_dram = _with(base, "dram", random_efficiency=0.8)
    both = _with(ramp, "dram", random_efficiency=0.8)
    return [
        ("shipped (40 engines, b=32)", base, n, 32),
        ("engines 32", base, 32, 32),
        ("baseline b=64", base, n, 64),
        ("ramp 6000 rows", ramp, n, 32),
        ("random DRAM 80%", fast_dram, n, 32),
        ("both", both, n, 32),
    ]


def gains(platform, engines: int, baseline: int, sizes: str, level: float) -> dict[str, float]:  # noqa: ANN001
    """Model -> grid optimum over the static baseline, SLA = level x t_cpu(167) on this platform."""
    from dse.graph import load_graph
    from dse.sched.deeprecsched import DEFAULT_BATCHES, build_curves, optimize
    from dse.serve.workload import parse_sizes

    out = {}
    dist = parse_sizes(sizes)
    for model in MODELS:
        g = load_graph(model)
        curves = build_curves(g, platform, None, engines, [*DEFAULT_BATCHES, baseline], dist.max_size)
        sla = level * float(curves.cpu(np.array([167.0]))[0])
        r = optimize(g, platform, None, sizes=dist, sla_s=sla, workers=engines, curves=curves, baseline_batch=baseline)
        out[model] = r.grid_max_qps / r.baseline_qps if r.baseline_qps > 0 else math.nan
    return out


def main(argv: list[str] | None = None) -> int:
    from dse.specs.hardware import load_platform

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="heavytail")
    parser.add_argument("--levels", default="1,1.5,3", help="SLA levels k (SLA = k x t_cpu(167 items))")
    args = parser.parse_args(argv)
    levels = [float(x) for x in args.levels.split(",")]
    base = load_platform("skylake")
    print(f"gain of DeepRecSched's grid optimum (no offload) over the static baseline on skylake, sizes {args.sizes}")
    head = " ".join(f"{SHORT[m]:>6s}" for m in MODELS)
    print(f"{'variant':28s} {'k':>4s} {head} {'geomean':>7s}")
    for label, platform, engines, baseline in variants(base):
        for k in levels:
            g = gains(platform, engines, baseline, args.sizes, k)
            geo = math.exp(sum(math.log(v) for v in g.values()) / len(g))
            print(f"{label:28s} {k:4.1f} " + " ".join(f"{g[m]:6.2f}" for m in MODELS) + f" {geo:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
