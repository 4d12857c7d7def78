"""The DeepRecSys characterization with the Caffe2 stack (FACTS.md section 6; docs/stacks.md).

1. Operator breakdown of RMC1/2/3 on Skylake and the GTX 1080 Ti: FC and SparseLengthsSum share of
   the net's operator time (input feeding and the forward pass left out, as Caffe2's per-operator
   profile leaves them out) against the published figure, and how many of the 48 numbers are
   within 10 points.
2. GPU-over-Skylake speedup: total time per iteration (feeding + net), batch 1 ... 1024, eight
   models, with the crossover batch (the first batch at which the GPU is faster) and the share of
   feeding at that batch on each device.

Run: ``python benchmarks/bench_stacks.py [--stack caffe2_deeprecsys]``.
"""

from __future__ import annotations

import argparse

from dse.cost import predict_latency
from dse.graph import load_graph
from dse.specs.hardware import load_platform

#: FACTS.md section 6: (FC %, SparseLengthsSum %) at batch 1, 16, 64, 1024, read off the figure (+-2).
BREAKDOWN = {
    ("skylake", "dlrm_rmc1"): ([58, 30, 20, 19], [30, 67, 78, 78]),
    ("skylake", "dlrm_rmc2"): ([26, 9, 6.5, 8.5], [70, 90, 92, 90]),
    ("skylake", "dlrm_rmc3"): ([97.5, 96, 94, 93], [1.5, 3.5, 5, 5.5]),
    ("gtx1080ti", "dlrm_rmc1"): ([21, 23, 22, 13], [56, 56, 58, 77]),
    ("gtx1080ti", "dlrm_rmc2"): ([9, 10, 8.5, 3.5], [75, 75, 80, 93]),
    ("gtx1080ti", "dlrm_rmc3"): ([34, 40, 41, 67], [45, 42, 41, 25]),
}
BREAKDOWN_BATCHES = (1, 16, 64, 1024)
SPEEDUP_BATCHES = (1, 4, 16, 64, 256, 1024)
MODELS = ("dlrm_rmc1", "dlrm_rmc2", "dlrm_rmc3", "ncf", "wnd", "mtwnd", "din", "dien")
#: Kinds that are not operators of the net (Caffe2's per-operator profile does not see them).
NOT_NET = {"input", "overhead", "transfer"}


def shares(model: str, hw: str, batch: int, stack: str) -> tuple[float, float]:
    """(FC %, embedding_bag %) of the net's operator time."""
    pred = predict_latency(load_graph(model), load_platform(hw, stack=stack), batch)
    net = [o for o in pred.ops if o.kind not in NOT_NET]
    total = sum(o.time_s for o in net)
    fc = sum(o.time_s for o in net if o.kind == "fc")
    sls = sum(o.time_s for o in net if o.kind == "embedding_bag")
    return 100 * fc / total, 100 * sls / total


def breakdown(stack: str) -> list[tuple[str, str, int, str, float, float]]:
    """Every (hw, model, batch, which, model %, published %)."""
    out = []
    for (hw, model), (fc_pub, sls_pub) in BREAKDOWN.items():
        for i, b in enumerate(BREAKDOWN_BATCHES):
            fc, sls = shares(model, hw, b, stack)
            out += [(hw, model, b, "FC", fc, fc_pub[i]), (hw, model, b, "SLS", sls, sls_pub[i])]
    return out


def speedups(model: str, stack: str) -> list[tuple[int, float, float, float, float, float]]:
    """Per batch: (b, Skylake s, GTX 1080 Ti s, speedup, feeding share CPU, feeding share GPU)."""
    graph = load_graph(model)
    cpu, gpu = load_platform("skylake", stack=stack), load_platform("gtx1080ti", stack=stack)
    rows = []
    for b in SPEEDUP_BATCHES:
        pc, pg = predict_latency(graph, cpu, b), predict_latency(graph, gpu, b)
        feed_c = sum(o.time_s for o in pc.ops if o.kind == "input") / pc.latency_s
        feed_g = sum(o.terms.get("feed", 0.0) for o in pg.ops if o.kind == "input") / pg.latency_s
        rows.append((b, pc.latency_s, pg.latency_s, pc.latency_s / pg.latency_s, feed_c, feed_g))
    return rows


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
        cross = next((b for b, *_, s, fc, fg in rs if s > 1.0), None)
        text = " ".join(f"{b}:{s:.2f}x" for b, _, _, s, _, _ in rs)
        at = next((r for r in rs if r[0] == cross), None)
        why = f"; at b={cross} feeding is {at[4]:.0%} of CPU time, {at[5]:.0%} of GPU time" if at else ""
        print(f"  {model:9} {text}  crossover b={cross}{why}")


if __name__ == "__main__":
    main()
