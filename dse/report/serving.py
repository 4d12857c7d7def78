"""Serving reports: tail latency against load, and latency-bounded throughput over (b, Q).

``dse capacity ... --html`` draws p50/p95/p99 against the arrival rate with the SLA line and the
knee (the latency-bounded throughput); ``dse optimize ... --html`` adds a heatmap of
latency-bounded throughput over every (batch size, offload threshold) the grid evaluated.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dse.report.html import Report, Section
from dse.serve.des import ServeResult


def load_curve(evaluate: Callable[[float], ServeResult], saturation_qps: float, points: int = 30) -> pd.DataFrame:
    """Latency statistics at ``points`` arrival rates from 5% to 99% of saturation (seconds)."""
    rows = []
    for qps in np.linspace(0.05, 0.99, points) * saturation_qps:
        r = evaluate(float(qps))
        rows.append({"qps": float(qps), "p50_s": r.p50_s, "p95_s": r.p95_s, "p99_s": r.p99_s, "stable": r.stable,
                     "utilization": r.utilization})
    return pd.DataFrame(rows)


def latency_load_figure(curve: pd.DataFrame, sla_s: float, knee_qps: float | None, title: str) -> go.Figure:
    stable = curve[curve["stable"]]
    fig = go.Figure()
    for column, name, dash in (("p50_s", "p50", "dot"), ("p95_s", "p95", "solid"), ("p99_s", "p99", "dash")):
        fig.add_trace(go.Scatter(x=stable["qps"], y=stable[column] * 1e3, mode="lines+markers", name=name,
                                 line={"dash": dash}, hovertemplate=f"{name}: %{{y:.4g}} ms at %{{x:.4g}} QPS<extra></extra>"))
    # a trace rather than add_hline: hline annotations are misplaced on log axes
    x_span = [0.0, float(curve["qps"].max()) if len(curve) else 1.0]
    fig.add_trace(go.Scatter(x=x_span, y=[sla_s * 1e3] * 2, mode="lines", name=f"SLA {sla_s * 1e3:g} ms",
                             line={"color": "crimson", "dash": "dash"}, hoverinfo="skip"))
    if knee_qps and knee_qps > 0:
        fig.add_vline(x=knee_qps, line={"color": "gray", "dash": "dot"},
                      annotation_text=f"latency-bounded {knee_qps:.4g} QPS", annotation_position="top right")
    values = stable[["p50_s", "p95_s", "p99_s"]].to_numpy(float).ravel() * 1e3
    values = values[np.isfinite(values) & (values > 0)]
    lo = min(values.min(), sla_s * 1e3) / 1.5 if values.size else sla_s * 1e3 / 10
    hi = min(values.max() * 1.5, sla_s * 1e3 * 20) if values.size else sla_s * 1e3 * 4
    hi = max(hi, sla_s * 1e3 * 2)
    fig.update_layout(title=title, xaxis_title="arrival rate (queries/s)",
                      yaxis={"title": "latency (ms)", "type": "log", "range": [math.log10(lo), math.log10(hi)]}, height=480)
    return fig


def capacity_grid_figure(grid: pd.DataFrame, chosen: tuple[int, int | None] | None = None) -> go.Figure:
    """Heatmap of ``max_qps`` over ``batch`` × ``threshold`` (threshold None = no offload)."""
    frame = grid.copy()
    frame["Q"] = ["no offload" if t is None or (isinstance(t, float) and math.isnan(t)) else str(int(t)) for t in frame["threshold"]]
    table = frame.pivot_table(index="Q", columns="batch", values="max_qps", aggfunc="max")
    order = sorted(table.index, key=lambda q: (q != "no offload", int(q) if q.isdigit() else 0))
    table = table.loc[order].sort_index(axis=1)
    fig = go.Figure(go.Heatmap(
        z=table.to_numpy(float), x=[str(b) for b in table.columns], y=list(table.index), colorscale="Viridis",
        colorbar={"title": "QPS"}, text=np.round(table.to_numpy(float), 0), texttemplate="%{text}",
        hovertemplate="b=%{x}, Q=%{y}: %{z:.4g} QPS<extra></extra>",
    ))
    if chosen is not None:
        b, q = chosen
        fig.add_trace(go.Scatter(x=[str(b)], y=["no offload" if q is None else str(q)], mode="markers",
                                 marker={"symbol": "star", "size": 18, "color": "white", "line": {"color": "black", "width": 1}},
                                 name="DeepRecSched choice", hoverinfo="skip"))
    fig.update_layout(title="Latency-bounded throughput over batch size b and offload threshold Q",
                      xaxis={"title": "per-core batch size b", "type": "category"},
                      yaxis={"title": "offload threshold Q", "type": "category"}, height=460)
    return fig


def build_capacity_report(
    title: str, subtitle: str, curve: pd.DataFrame, sla_s: float, max_qps: float, p95_s: float,
    grid: pd.DataFrame | None = None, chosen: tuple[int, int | None] | None = None, summary_extra: list[str] | None = None,
) -> Report:
    """A serving report; ``grid`` (columns batch, threshold, max_qps) adds the (b, Q) heatmap."""
    if max_qps > 0:
        first = f"Latency-bounded throughput {max_qps:.4g} queries/s with p95 {p95_s * 1e3:.3g} ms under a {sla_s * 1e3:g} ms SLA."
    else:
        first = f"No load meets the {sla_s * 1e3:g} ms SLA: p95 is {p95_s * 1e3:.3g} ms even at the lowest load."
    stable = curve[curve["stable"]]
    summary = [first, *(summary_extra or [])]
    if len(stable):
        summary.append(f"p95 rises from {stable['p95_s'].iloc[0] * 1e3:.3g} ms at {stable['qps'].iloc[0]:.4g} QPS to "
                       f"{stable['p95_s'].iloc[-1] * 1e3:.3g} ms at {stable['qps'].iloc[-1]:.4g} QPS.")
    sections = [Section("Tail latency against load", "The knee is where p95 crosses the SLA.",
                        [latency_load_figure(curve, sla_s, max_qps, "p50 / p95 / p99 against the arrival rate")])]
    if grid is not None and len(grid):
        sections.append(Section("Throughput over (b, Q)", "Every policy the exhaustive grid evaluated; the star is the hill climber's choice.",
                                [capacity_grid_figure(grid, chosen)], [grid.sort_values("max_qps", ascending=False).head(15)]))
    table = curve.assign(p50_ms=curve["p50_s"] * 1e3, p95_ms=curve["p95_s"] * 1e3, p99_ms=curve["p99_s"] * 1e3)
    sections.append(Section("Load points", "", tables=[table[["qps", "p50_ms", "p95_ms", "p99_ms", "utilization", "stable"]]]))
    return Report(title, subtitle, summary, sections)
