"""Co-location: predicted against measured slowdown of one engine among k (h200_host).

    python benchmarks/bench_colocate.py          # every shipped model of h200_colocate.csv
    python benchmarks/bench_colocate.py --fit    # solve dram.random_efficiency on RMC1 at k = 14

k single-threaded engines pinned one per core run the same model at batch 64 with fresh indices
(``h200_colocate.csv``, FACTS.md section 5). The cost model's co-location mechanism is the
socket's random-fetch bandwidth shared by the engines (``dse/cost/share.py``,
``dse/cost/gather.py``). Its one free number on this VM, ``dram.random_efficiency`` (the random
line-fetch bandwidth this 16-vCPU slice of a shared socket gets, as a fraction of the socket's
DDR5 peak), has no datasheet value, so ``--fit`` solves it (bisection) on ONE row, RMC1 at
k = 14; RMC1 at k = 2, 4, 8 and every WnD row are the check.
"""

from __future__ import annotations

import argparse

from dse.cost.validation import colocation_table
from dse.specs.hardware import load_platform

FIT_ROW = ("dlrm_rmc1", 14)


def fit_random_efficiency(lo: float = 0.05, hi: float = 1.0, steps: int = 30) -> float:
    """``dram.random_efficiency`` of h200_host that makes RMC1's predicted k = 14 slowdown equal
    the measured one (the slowdown falls as the efficiency rises)."""
    model, k = FIT_ROW
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        plat = load_platform("h200_host", [f"dram.random_efficiency={mid}"])
        t = colocation_table(plat)
        row = t[(t.model == model) & (t.k == k)].iloc[0]
        lo, hi = (mid, hi) if row.ratio > 1 else (lo, mid)
    return 0.5 * (lo + hi)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="solve dram.random_efficiency on RMC1 at k = 14")
    args = parser.parse_args(argv)
    if args.fit:
        print(f"h200_host dram.random_efficiency = {fit_random_efficiency():.4f} (RMC1, k = 14)")
    t = colocation_table()
    print(t.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
