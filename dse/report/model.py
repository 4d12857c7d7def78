"""The model report: where one model's time goes on a platform, and how platforms compare.

Figures: a roofline with every operator placed by its arithmetic intensity and attained FLOP/s,
the per-operator time breakdown as stacked bars across batch sizes, and latency against batch for
several platforms. All numbers come from :mod:`dse.cost`.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from dse.cost.model import graph_op_times, service_curve
from dse.graph.lower import ordered_ops
from dse.report.html import Report, Section
from dse.settings import DEFAULT_LOCALITY
from dse.specs.hardware import Platform

_PALETTE = px.colors.qualitative.Plotly


def engine_roofs(platform: Platform) -> tuple[float, float]:
    """Peak FLOP/s and streaming bandwidth (bytes/s) available to one engine."""
    compute = platform.compute
    peak = compute.core_peak_flops * compute.engine_cores * compute.gemm.peak_fraction
    bandwidth = platform.dram.engine_bandwidth_gbs * 1e9
    return peak, bandwidth


def roofline_figure(
    graph: nx.DiGraph, platform: Platform, batches: list[int], engines: int, locality: str = DEFAULT_LOCALITY
) -> go.Figure:
    peak, bandwidth = engine_roofs(platform)
    times = {t.name: t for t in graph_op_times(graph, platform, batches, engines, locality=locality)}
    rows = []
    for op in ordered_ops(graph):
        if op.flops_per_item <= 0:
            continue
        for i, b in enumerate(batches):
            seconds = float(times[op.name].time[i])
            moved = float(op.streamed_bytes(b) + op.gathered_bytes(b))
            rows.append({"op": op.name, "kind": op.kind.value, "batch": b, "intensity": float(op.flops(b)) / moved,
                         "flops_per_s": float(op.flops(b)) / seconds, "time_us": seconds * 1e6})
    frame = pd.DataFrame(rows)
    fig = go.Figure()
    lo = max(frame["intensity"].min() / 4, 1e-3) if len(frame) else 1e-2
    hi = max(frame["intensity"].max() * 4, peak / bandwidth * 4) if len(frame) else 1e3
    x = np.geomspace(lo, hi, 200)
    fig.add_trace(go.Scatter(x=x, y=np.minimum(peak, bandwidth * x), mode="lines", name="DRAM roof (one engine)",
                             line={"color": "black", "width": 2}))
    for level in platform.caches:  # activations and weights that stay in a cache see its roof
        fig.add_trace(go.Scatter(x=x, y=np.minimum(peak, level.bandwidth_gbs * 1e9 * x), mode="lines",
                                 name=f"{level.name} roof", line={"color": "gray", "width": 1, "dash": "dot"}))
    for i, (kind, group) in enumerate(frame.groupby("kind", sort=True)):
        fig.add_trace(
            go.Scatter(
                x=group["intensity"], y=group["flops_per_s"], mode="markers", name=kind,
                marker={"size": 6 + 2 * np.log2(group["batch"].to_numpy(float) + 1), "color": _PALETTE[i % len(_PALETTE)],
                        "opacity": 0.75, "line": {"width": 0.5, "color": "white"}},
                text=[f"{r.op} at b={r.batch}: {r.time_us:.1f} µs" for r in group.itertuples()],
                hovertemplate="%{text}<br>%{x:.3g} FLOP/B, %{y:.3g} FLOP/s<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"Roofline of {graph.graph['model']} on {platform.name} (marker size grows with the batch)",
        xaxis={"title": "arithmetic intensity (FLOPs per byte moved)", "type": "log"},
        yaxis={"title": "attained FLOP/s", "type": "log"},
        height=520,
    )
    return fig


def time_by_kind(
    graph: nx.DiGraph, platform: Platform, batches: list[int], engines: int, locality: str = DEFAULT_LOCALITY
) -> dict[str, np.ndarray]:
    """Seconds per operator kind at each batch size, the kind taking the most time first."""
    by_kind: dict[str, np.ndarray] = {}
    for part in graph_op_times(graph, platform, batches, engines, locality=locality):
        by_kind[part.kind] = by_kind.get(part.kind, 0.0) + part.time
    return dict(sorted(by_kind.items(), key=lambda kv: -float(np.sum(kv[1]))))


def breakdown_figure(
    graph: nx.DiGraph, platform: Platform, batches: list[int], engines: int, locality: str = DEFAULT_LOCALITY
) -> go.Figure:
    fig = go.Figure()
    labels = [str(b) for b in batches]
    by_kind = time_by_kind(graph, platform, batches, engines, locality)
    for i, (kind, seconds) in enumerate(by_kind.items()):
        fig.add_trace(go.Bar(x=labels, y=np.asarray(seconds) * 1e3, name=kind, marker_color=_PALETTE[i % len(_PALETTE)],
                             hovertemplate=f"{kind}<br>b=%{{x}}: %{{y:.4g}} ms<extra></extra>"))
    if "overlap" in by_kind:  # launches hidden behind earlier kernels (a GPU pass): below zero, so mark the pass
        total = np.sum(list(by_kind.values()), axis=0) * 1e3
        fig.add_trace(go.Scatter(x=labels, y=total, mode="markers", name="latency of the pass",
                                 marker={"symbol": "line-ew-open", "size": 24, "color": "black"},
                                 hovertemplate="pass<br>b=%{x}: %{y:.4g} ms<extra></extra>"))
    fig.update_layout(
        title=f"Where the time goes: {graph.graph['model']} on {platform.name}, {engines} engine(s) busy",
        barmode="relative", xaxis={"title": "batch size", "type": "category"}, yaxis={"title": "latency (ms)"}, height=460,
    )
    return fig


def breakdown_fraction_table(
    graph: nx.DiGraph, platform: Platform, batches: list[int], engines: int, locality: str = DEFAULT_LOCALITY
) -> pd.DataFrame:
    by_kind = time_by_kind(graph, platform, batches, engines, locality)
    total = np.sum(list(by_kind.values()), axis=0)
    table = {"batch": batches, "latency_ms": total * 1e3}
    for kind, seconds in by_kind.items():
        table[f"{kind} %"] = 100.0 * np.asarray(seconds) / total
    return pd.DataFrame(table)


def comparison_figure(graph: nx.DiGraph, platforms: list[Platform], engines: int, locality: str = DEFAULT_LOCALITY) -> go.Figure:
    batches = np.unique(np.round(np.geomspace(1, 4096, 25))).astype(int)
    fig = go.Figure()
    for i, platform in enumerate(platforms):
        curve = service_curve(graph, platform, batches, engines=min(engines, platform.compute.engine_slots), locality=locality)
        fig.add_trace(go.Scatter(x=batches, y=curve.seconds * 1e3, mode="lines+markers", name=platform.name,
                                 line={"color": _PALETTE[i % len(_PALETTE)]},
                                 hovertemplate=f"{platform.name}<br>b=%{{x}}: %{{y:.4g}} ms<extra></extra>"))
    fig.update_layout(
        title=f"Latency of one inference of {graph.graph['model']} against batch size",
        xaxis={"title": "batch size", "type": "log"}, yaxis={"title": "latency (ms)", "type": "log"}, height=460,
    )
    return fig


def build_model_report(
    graph: nx.DiGraph, platform: Platform, batches: list[int], engines: int = 1, compare: list[Platform] | None = None,
    locality: str = DEFAULT_LOCALITY,
) -> Report:
    """A report of ``graph`` on ``platform`` at ``batches``, compared with the ``compare`` platforms."""
    batches = sorted(set(int(b) for b in batches))
    table = breakdown_fraction_table(graph, platform, batches, engines, locality)
    stack = platform.software.stack if platform.software else platform.stack
    summary = [f"{graph.graph['model']} on {platform.name} ({platform.description or platform.kind}), software stack {stack}, "
               f"{engines} engine(s) busy; input feeding is the 'input' kind."]
    for _, row in table.iterrows():
        kinds = [(c[:-2], row[c]) for c in table.columns if c.endswith(" %")]
        top_kind, top_share = max(kinds, key=lambda kv: kv[1])
        summary.append(f"b={int(row['batch'])}: {row['latency_ms']:.4g} ms, {top_share:.0f}% in {top_kind}.")
    others = [p for p in (compare or []) if p.name != platform.name]
    sections = [
        Section("Roofline", "Each marker is one operator at one batch size; the roof is one engine's peak FLOP/s and streaming bandwidth.",
                [roofline_figure(graph, platform, batches, engines, locality)]),
        Section("Time breakdown", "Per operator kind, stacked, at each batch size.",
                [breakdown_figure(graph, platform, batches, engines, locality)], [table.round(3)]),
        Section("Platforms compared", "Single-inference latency on each platform.",
                [comparison_figure(graph, [platform, *others], engines, locality)]),
    ]
    return Report(f"dse model report: {graph.graph['model']} on {platform.name}",
                  f"batches {', '.join(map(str, batches))}", summary, sections)
