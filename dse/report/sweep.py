"""The sweep report: what a study found, as one self-contained HTML file.

Reads ``results.parquet`` (one row per model × configuration, written by ``dse sweep``) and draws:
a Pareto front of latency-bounded throughput against power (or cost), a heatmap of the gain over
two axes, a parallel-coordinates view of every configuration, and a per-model comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from dse.errors import DseError
from dse.report.html import Report, Section, write_report

#: Columns every results table has after the axis columns (see dse.sweep.store.build_table).
_FIXED = ("model", "platform", "accelerator")
_FIRST_METRIC = "batch"
_PALETTE = px.colors.qualitative.Plotly


def load_results(results_dir: Path | str) -> pd.DataFrame:
    """The results table of a finished (or partial) sweep directory."""
    results_dir = Path(results_dir)
    parquet = results_dir / "results.parquet"
    csv = results_dir / "results.csv"
    if parquet.is_file():
        frame = _read_table(parquet, pd.read_parquet)
    elif csv.is_file():
        frame = _read_table(csv, pd.read_csv)
    else:
        raise DseError(f"{results_dir}: no results.parquet or results.csv (run `dse sweep STUDY --out {results_dir}` first)")
    if frame.empty:
        raise DseError(f"{results_dir}: the results table has no rows")
    missing = [c for c in (*_FIXED, "max_qps", "speedup") if c not in frame.columns]
    if missing:
        raise DseError(f"{results_dir}: results table lacks column(s) {', '.join(missing)}")
    for column in _NUMERIC:
        if column in frame.columns and not pd.api.types.is_numeric_dtype(frame[column]):
            raise DseError(f"{results_dir}: results table column '{column}' holds non-numbers")
        if column in frame.columns and np.isinf(frame[column].astype("float64")).any():
            raise DseError(f"{results_dir}: results table column '{column}' holds an infinite value")
    return frame


#: Metric columns of a results table that must hold numbers (NaN marks a failed or infeasible row).
_NUMERIC = ("max_qps", "speedup", "p95_ms", "qps_per_watt", "energy_per_query_j", "power_w", "batch", "threshold")


def _read_table(path: Path, reader: Any) -> pd.DataFrame:
    """Read one results file; a corrupt or undecodable one is a one-line error naming it."""
    import pyarrow as pa

    try:
        return reader(path)
    except UnicodeDecodeError:
        raise DseError(f"{path}: not a text file (invalid UTF-8)") from None
    except (OSError, ValueError, pa.ArrowException) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DseError(f"{path}: cannot read the results table ({reason})") from None


def axis_columns(frame: pd.DataFrame) -> list[str]:
    """The study's axis columns: those between the fixed leading columns and the metrics."""
    columns = list(frame.columns)
    start = max(columns.index(c) for c in _FIXED) + 1
    stop = columns.index(_FIRST_METRIC) if _FIRST_METRIC in columns else start
    varied = [c for c in columns[start:stop] if frame[c].nunique(dropna=False) > 1]
    # a varied platform or accelerator choice is an axis too
    return [c for c in ("platform", "accelerator") if frame[c].nunique(dropna=False) > 1] + varied


def _ok(frame: pd.DataFrame) -> pd.DataFrame:
    good = frame["max_qps"].notna() & (frame["max_qps"] > 0)
    if "error" in frame.columns:
        good &= frame["error"].isna()
    return frame[good]


def _qps(value: float) -> str:
    """Queries per second for prose: thousands separated, no exponent."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _label(row: pd.Series, axes: list[str]) -> str:
    return ", ".join(f"{a}={row[a]}" for a in axes) or "base"


def _labels(frame: pd.DataFrame, axes: list[str]) -> list[str]:
    """:func:`_label` of every row, column by column (row by row took 12 s on 100,000 rows)."""
    if not axes:
        return ["base"] * len(frame)
    columns = [[f"{a}={v}" for v in frame[a].tolist()] for a in axes]
    return [", ".join(parts) for parts in zip(*columns)]


def pareto_mask(cost: np.ndarray, value: np.ndarray) -> np.ndarray:
    """True where no other point has lower-or-equal cost and strictly higher value (or equal value
    and strictly lower cost): the points on the cost/throughput Pareto front."""
    order = np.lexsort((-value, cost))
    mask = np.zeros(cost.size, dtype=bool)
    best = -np.inf
    for i in order:
        if value[i] > best:
            mask[i] = True
            best = value[i]
    return mask


#: Most points per model in the throughput/cost scatter: the Pareto front is always drawn whole,
#: the cloud behind it is the best by throughput and a seeded sample of the rest (a 100,000-row
#: study drew every point: a 20 MB page that took 12 s to build).
SCATTER_MAX_POINTS = 3000


def scatter_sample(group: pd.DataFrame, front: np.ndarray, limit: int = SCATTER_MAX_POINTS, seed: int = 0) -> pd.DataFrame:
    """At most ``limit`` rows of ``group`` (more only if its front is longer): the front (mask
    ``front``), the best by ``max_qps`` up to a quarter of the budget, a seeded random sample of
    the others; in the group's order."""
    if len(group) <= limit:
        return group
    keep = group[front]
    rest = group[~front]
    best = rest.nlargest(max(0, limit // 4 - len(keep)), "max_qps")
    rest = rest.drop(best.index)
    sample = rest.sample(max(0, min(len(rest), limit - len(keep) - len(best))), random_state=seed)
    return group.loc[group.index.isin(keep.index.union(best.index).union(sample.index))]


def pareto_figure(frame: pd.DataFrame, axes: list[str]) -> go.Figure:
    cost_col = "cost_usd" if "cost_usd" in frame.columns and frame["cost_usd"].notna().any() else "power_w"
    cost_name = "platform cost (USD)" if cost_col == "cost_usd" else "power (W)"
    fig = go.Figure()
    shown = 0
    for i, (model, group) in enumerate(frame.groupby("model", sort=True)):
        color = _PALETTE[i % len(_PALETTE)]
        mask = pareto_mask(group[cost_col].to_numpy(float), group["max_qps"].to_numpy(float))
        front = group[mask].sort_values(cost_col)
        cloud = scatter_sample(group, mask)
        shown += len(cloud)
        labels = _labels(cloud, axes)
        fig.add_trace(
            go.Scattergl(
                x=cloud[cost_col].to_numpy(float),
                y=cloud["max_qps"].to_numpy(float),
                mode="markers",
                marker={"size": 5, "color": color, "opacity": 0.45},
                name=f"{model}",
                text=labels,
                hovertemplate="%{text}<br>" + cost_name + " %{x:.4g}<br>QPS %{y:.4g}<extra>" + model + "</extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=front[cost_col],
                y=front["max_qps"],
                mode="lines+markers",
                line={"color": color, "width": 2},
                marker={"size": 7, "color": color},
                name=f"{model} Pareto front",
                text=_labels(front, axes),
                hovertemplate="%{text}<br>" + cost_name + " %{x:.4g}<br>QPS %{y:.4g}<extra>front</extra>",
            )
        )
    sampled = "" if shown == len(frame) else (
        f" ({shown:,} of {len(frame):,} points: every Pareto point, the best by throughput and a random sample)")
    fig.update_layout(
        title=f"Latency-bounded throughput against {cost_name}{sampled}",
        xaxis_title=cost_name,
        yaxis_title="latency-bounded throughput (queries/s)",
        yaxis_type="log",
        height=520,
    )
    return fig


def heatmap_figures(frame: pd.DataFrame, x: str, y: str) -> list[go.Figure]:
    """One heatmap per model of the best speedup over (x, y), maximised over the other axes."""
    figures = []
    for model, group in frame.groupby("model", sort=True):
        table = group.pivot_table(index=y, columns=x, values="speedup", aggfunc="max")
        table = table.sort_index().sort_index(axis=1)
        fig = go.Figure(
            go.Heatmap(
                z=table.to_numpy(float),
                x=[str(v) for v in table.columns],
                y=[str(v) for v in table.index],
                colorscale="Viridis",
                colorbar={"title": "speedup"},
                text=np.round(table.to_numpy(float), 2),
                texttemplate="%{text}",
                hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>speedup %{{z:.3f}}<extra>{model}</extra>",
            )
        )
        fig.update_layout(
            title=f"{model}: best speedup over the baseline by {x} and {y}",
            xaxis_title=x,
            yaxis_title=y,
            xaxis_type="category",
            yaxis_type="category",
            height=420,
        )
        figures.append(fig)
    return figures


#: Lines drawn in the parallel-coordinates view. Every line is a WebGL polyline; past a few
#: thousand the page takes many seconds to open in software-rendered browsers (headless, VMs).
PARCOORDS_MAX_LINES = 2000


def parcoords_sample(frame: pd.DataFrame, limit: int = PARCOORDS_MAX_LINES, seed: int = 0) -> pd.DataFrame:
    """At most ``limit`` rows: the best quarter of the budget by speedup, the rest a seeded random
    sample of the others (so the shape of the whole space is still visible)."""
    if len(frame) <= limit:
        return frame
    best = frame.nlargest(limit // 4, "speedup")
    rest = frame.drop(best.index).sample(limit - len(best), random_state=seed)
    return pd.concat([best, rest]).sort_index()


def parallel_figure(frame: pd.DataFrame, axes: list[str]) -> go.Figure:
    total = len(frame)
    frame = parcoords_sample(frame)
    dims = []
    for column in ["model", *axes, "batch", "threshold", "max_qps", "speedup"]:
        if column not in frame.columns:
            continue
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numeric = values.astype(float).fillna(0.0).to_numpy()
            dims.append({"label": column, "values": numeric})
        else:
            labels = values.astype(str).fillna("none")
            cats = sorted(labels.unique())
            codes = labels.map({c: i for i, c in enumerate(cats)}).to_numpy(float)
            dims.append({"label": column, "values": codes, "tickvals": list(range(len(cats))), "ticktext": cats})
    fig = go.Figure(
        go.Parcoords(
            line={"color": frame["speedup"].astype(float).fillna(0.0).to_numpy(), "colorscale": "Viridis",
                  "showscale": True, "colorbar": {"title": "speedup"}},
            dimensions=dims,
        )
    )
    shown = f"All {total} configurations" if len(frame) == total else (
        f"{len(frame)} of {total} configurations: the best {PARCOORDS_MAX_LINES // 4} by speedup and a random sample of the rest")
    fig.update_layout(title=shown, height=520)
    return fig


#: Speedups within this fraction of a model's best count as ties when naming its best configuration.
TIE_TOLERANCE = 0.005


def best_row(group: pd.DataFrame) -> pd.Series:
    """The first configuration, in study order, whose speedup is within :data:`TIE_TOLERANCE` of
    the best. Study order lists axis values as written (usually smallest first), so among
    configurations that perform alike this names the smallest, not an arbitrary one."""
    top = group["speedup"].max()
    return group[group["speedup"] >= top * (1.0 - TIE_TOLERANCE)].iloc[0]


def model_figure(frame: pd.DataFrame) -> go.Figure:
    best = pd.DataFrame([best_row(group) for _, group in frame.groupby("model", sort=True)])
    base_col = next((c for c in frame.columns if c.startswith("baseline_")), None)
    fig = go.Figure()
    if base_col == "baseline_max_qps":
        fig.add_trace(go.Bar(x=best["model"], y=best[base_col], name="baseline"))
    fig.add_trace(go.Bar(x=best["model"], y=best["max_qps"], name="best configuration",
                         text=[f"{s:.2f}×" for s in best["speedup"]], textposition="outside"))
    fig.update_layout(
        title="Per model: latency-bounded throughput, baseline against the best configuration",
        yaxis_title="queries/s",
        yaxis_type="log",
        barmode="group",
        height=450,
    )
    return fig


def build_sweep_report(results_dir: Path | str, x: str | None = None, y: str | None = None, top: int = 20) -> Report:
    """Assemble the report of a sweep directory; ``x``/``y`` pick the heatmap axes."""
    if top < 1:
        raise DseError(f"--top: {top} must be at least 1")
    if x is not None and x == y:
        raise DseError(f"--y: '{y}' is also --x; the heatmap needs two different axes")
    results_dir = Path(results_dir)
    frame = load_results(results_dir)
    study_name = results_dir.name
    study_file = results_dir / "study.yaml"
    if study_file.is_file():
        from dse.specs.loading import load_yaml

        study = load_yaml(study_file)
        study_name = str(study.get("name", study_name)) if isinstance(study, dict) else study_name
    axes = axis_columns(frame)
    good = _ok(frame)
    if good.empty:
        raise DseError(f"{results_dir}: no configuration met its SLA; nothing to report")
    for name, value in (("--x", x), ("--y", y)):
        if value is not None and value not in axes:
            raise DseError(f"{name}: '{value}' is not a varied axis of this study (axes: {', '.join(axes) or 'none'})")
    x = x or (axes[0] if axes else None)
    y = y or next((a for a in axes if a != x), None)

    summary = [
        f"Study '{study_name}': {frame['model'].nunique()} model(s) × "
        f"{len(frame) // max(frame['model'].nunique(), 1)} configuration(s) = {len(frame)} optimised points; "
        f"{len(frame) - len(good)} without a feasible operating point.",
    ]
    for model, group in good.groupby("model", sort=True):
        row = best_row(group)
        q = row.get("threshold")
        q_text = "no offload" if q is None or pd.isna(q) else f"Q={int(q)}"
        summary.append(
            f"{model}: {row['speedup']:.2f}× over the baseline (best within {TIE_TOLERANCE:.1%}, smallest such "
            f"configuration) at {_label(row, axes)} — "
            f"{_qps(row['max_qps'])} QPS with p95 {row.get('p95_ms', float('nan')):.3g} ms at b={row.get('batch')}, {q_text}."
        )

    sections = [Section("Throughput against power or cost", "Each point is one model × configuration; lines join the Pareto-optimal ones.",
                        [pareto_figure(good, axes)])]
    if x and y:
        sections.append(Section(f"Gain over {x} × {y}", "Best speedup over the study's baseline, maximised over the other axes.",
                                heatmap_figures(good, x, y)))
    sections.append(Section("All configurations", "Drag along an axis to filter; results.csv holds every row.",
                            [parallel_figure(good, axes)]))
    sections.append(Section("Per model", "", [model_figure(good)]))
    columns = [c for c in ["model", *axes, "batch", "threshold", "max_qps", "p95_ms", "qps_per_watt", "energy_per_query_j", "speedup"]
               if c in good.columns]
    top_rows = good.sort_values("speedup", ascending=False).head(top)[columns]
    sections.append(Section(f"Top {len(top_rows)} configurations by speedup", "", tables=[top_rows]))
    return Report(f"dse sweep report: {study_name}", f"from {results_dir}", summary, sections)


def write_sweep_report(results_dir: Path | str, out: Path | str | None = None, **kwargs: object) -> Path:
    """Build and write the report; default location ``<results_dir>/report.html``."""
    report = build_sweep_report(results_dir, **kwargs)  # type: ignore[arg-type]
    return write_report(report, Path(out) if out else Path(results_dir) / "report.html")
