"""The DeepRecSys characterization with a software stack (FACTS.md section 6; docs/stacks.md).

- :func:`breakdown`: FC and SparseLengthsSum share of the net's operator time for RMC1/2/3 on
  Skylake and the GTX 1080 Ti at batch 1, 16, 64, 1024, with the published figure's numbers
  (:data:`BREAKDOWN`). Input feeding, the forward pass and copies are left out, as Caffe2's
  per-operator profile leaves them out.
- :func:`speedups`: GPU (gtx1080ti) over CPU (skylake) speedup of the total time per iteration
  (feeding + net), batch 1 ... 1024, with the share of feeding on each device; :func:`crossover`:
  the first batch at which the GPU is faster.

Used by ``dse validate`` (group ``deeprecsys``) and ``benchmarks/bench_stacks.py``.
"""

from __future__ import annotations

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
NOT_NET = {"input", "overhead", "transfer", "overlap"}
#: The stack DeepRecSys's scripts ran.
STACK = "caffe2_deeprecsys"


def shares(model: str, hw: str, batch: int, stack: str = STACK) -> tuple[float, float]:
    """(FC %, embedding_bag %) of the net's operator time."""
    pred = predict_latency(load_graph(model), load_platform(hw, stack=stack), batch)
    net = [o for o in pred.ops if o.kind not in NOT_NET]
    total = sum(o.time_s for o in net)
    fc = sum(o.time_s for o in net if o.kind == "fc")
    sls = sum(o.time_s for o in net if o.kind == "embedding_bag")
    return 100 * fc / total, 100 * sls / total


def breakdown(stack: str = STACK) -> list[tuple[str, str, int, str, float, float]]:
    """Every (hw, model, batch, "FC" or "SLS", model %, published %)."""
    out = []
    for (hw, model), (fc_pub, sls_pub) in BREAKDOWN.items():
        for i, b in enumerate(BREAKDOWN_BATCHES):
            fc, sls = shares(model, hw, b, stack)
            out += [(hw, model, b, "FC", fc, fc_pub[i]), (hw, model, b, "SLS", sls, sls_pub[i])]
    return out


def speedups(model: str, stack: str = STACK) -> list[tuple[int, float, float, float, float, float]]:
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


def crossover(rows: list[tuple[int, float, float, float, float, float]]) -> int | None:
    """The first batch of :func:`speedups` rows at which the GPU is faster (none: never)."""
    return next((r[0] for r in rows if r[3] > 1.0), None)
