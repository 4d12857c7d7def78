"""The DeepRecSys characterization with the Caffe2 stack (FACTS.md section 6; docs/stacks.md).

1. Operator breakdown of RMC1/2/3 on Skylake and the GTX 1080 Ti: FC and SparseLengthsSum share of
   the net's operator time (input feeding and the forward pass left out, as Caffe2's per-operator
   profile leaves them out) against the published figure, and how many of the 48 numbers are
   within 10 points.
2. GPU-over-Skylake speedup: total time per iteration (feeding + net), batch 1 ... 1024, eight
   models, with the crossover batch (the first batch at which the GPU is faster) and the share of
   feeding at that batch on each device.

The computations live in dse/calibrate/characterization.py (``dse validate`` runs them too).

Run: ``python benchmarks/bench_stacks.py [--stack caffe2_deeprecsys]``.
"""

from __future__ import annotations

import argparse

from dse.calibrate.characterization import BREAKDOWN, MODELS, breakdown, crossover, speedups  # noqa: F401


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stack", default="caffe2_deeprecsys")
    args = ap.parse_args()
    rows = breakdown(args.stack)
    print(f"== Operator breakdown, stack {args.stack} (model % / published %) ==")
    for hw, model, b, which, got, pub in rows:
        flag = "" if abs(got - pub) <= 10 else "  <-- off by %.0f" % (got - pub)
        print(f"  {hw:9} {model:9} b={b:<5} {which:3} {got:5.1f} / {pub:5.1f}{flag}")
    within = sum(abs(got - pub) <= 10 for *_, got, pub in rows)
    print(f"  within 10 points: {within} of {len(rows)}")
    print(f"\n== GPU (gtx1080ti) over CPU (skylake) speedup per iteration, stack {args.stack} ==")
    for model in MODELS:
        rs = speedups(model, args.stack)
        cross = crossover(rs)
        text = " ".join(f"{b}:{s:.2f}x" for b, _, _, s, _, _ in rs)
        at = next((r for r in rs if r[0] == cross), None)
        why = f"; at b={cross} feeding is {at[4]:.0%} of CPU time, {at[5]:.0%} of GPU time" if at else ""
        print(f"  {model:9} {text}  crossover b={cross}{why}")


if __name__ == "__main__":
    main()
