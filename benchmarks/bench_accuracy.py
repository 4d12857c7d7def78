"""Accuracy of the cost model against the shared measured runs.

    python benchmarks/bench_accuracy.py            # MAPE per platform and per model
    python benchmarks/bench_accuracy.py --rows     # every test row
    python benchmarks/bench_accuracy.py --json     # machine-readable

Predicted single-inference latency (``dse.cost.predict_latency``, one engine, no host transfer)
against the median of every ``cold=1`` run of a shipped model (FACTS.md section 5): ``ci_cpu``
(threads=1), ``h200_host`` (threads=1) and ``h200`` (GPU). The hardware specs were calibrated
(``dse calibrate``, dse/calibrate/crossval.py) on the microbenchmarks and the ``cold=1`` runs of
one model per platform (ci_cpu: dlrm_rmc3, h200_host: wnd, h200: dlrm_rmc1), so the rows of
every other model are a test set; ``--cv`` prints the held-out error of every choice of training
model. The last table compares, for the same model and batch, the measured cold=1 median with the
cold=0 one: a large departure from 1 that the cost model cannot produce from cache effects alone
points at a change of measurement conditions between the two runs.
"""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from dse.cost.validation import CASES, MEASURED_DIR, accuracy_table, mape
from dse.paths import MODELSPECS_DIR, list_specs


def cold_over_warm(case_csv: str, tag: str, threads: int) -> pd.Series:
    """Median over batches of measured cold=1 / cold=0 latency, per model."""
    df = pd.read_csv(MEASURED_DIR / case_csv)
    df = df[(df.tag == tag) & (df.threads == threads) & (df.transfer == 0) & df.model.isin(list_specs(MODELSPECS_DIR))]
    pivot = df.assign(cold=df["cold"].fillna(0)).pivot_table(index=["model", "batch"], columns="cold", values="median_ms")
    pivot = pivot.dropna()
    return (pivot[1] / pivot[0]).groupby(level="model").median()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="MAPE of predicted vs measured single-inference latency")
    parser.add_argument("--rows", action="store_true", help="print every test row")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--cv", action="store_true", help="cross-validate: fit on micro + each model in turn, MAPE on the others")
    args = parser.parse_args(argv)
    if args.cv:
        from dse.calibrate.crossval import PLAN, cross_validate
        from dse.calibrate.fit import model_rows

        print("held-out MAPE (fit on the microbenchmarks and the cold=1 runs of one model, predict the others)")
        for name in PLAN:
            first = cross_validate(name)
            models = [m["model"] for m in first.per_model()]
            for train in sorted(models):
                r = first if train == PLAN[name].train else cross_validate(name, train)
                d = r.as_dict()
                per = "  ".join(f"{m['model']} {100 * m['after_mape']:.1f}%" for m in d["per_model"] if m["role"] == "holdout")
                mark = " (shipped)" if train == PLAN[name].train else ""
                print(f"  {name:10s} train {train:10s}{mark:10s} held-out {100 * d['holdout']['mape']:5.1f}%  fit {100 * d['after']['models_mape']:5.1f}%  ({per})", flush=True)
        return 0

    tables = {case.platform: accuracy_table(case) for case in CASES}
    summary = {
        name: {
            "rows": int(len(t)),
            "mape_pct": mape(t),
            "per_model_mape_pct": {m: float(100 * g["ape"].mean()) for m, g in t.groupby("model")},
        }
        for name, t in tables.items()
    }
    if args.json:
        print(json.dumps({"measured_dir": str(MEASURED_DIR), "platforms": summary}, indent=2))
        return 0

    print(f"measured data: {MEASURED_DIR}")
    print("MAPE of predicted single-inference latency vs measured cold=1 medians")
    for name, s in summary.items():
        per_model = "  ".join(f"{m} {v:.1f}%" for m, v in s["per_model_mape_pct"].items())
        print(f"  {name:10s} {s['mape_pct']:5.1f}%  over {s['rows']:2d} rows   ({per_model})")
    all_rows = pd.concat(tables.values(), ignore_index=True)
    print(f"  {'all':10s} {mape(all_rows):5.1f}%  over {len(all_rows)} rows")

    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print("\npredicted / measured, by model and batch")
        for name, t in tables.items():
            ratio = t.assign(ratio=t.predicted_s / t.measured_s).pivot_table(index="model", columns="batch", values="ratio")
            print(f"{name}:\n{ratio.round(2).to_string()}")
        print("\nmeasured cold=1 / cold=0 latency (median over batches), same model and batch")
        for case in CASES:
            drift = cold_over_warm(case.csv, case.tag, case.threads)
            print(f"  {case.platform:10s} " + "  ".join(f"{m} {v:.2f}" for m, v in drift.items()))
        if args.rows:
            print()
            print(all_rows.assign(measured_ms=all_rows.measured_s * 1e3, predicted_ms=all_rows.predicted_s * 1e3)[
                ["platform", "model", "batch", "measured_ms", "predicted_ms", "ape"]
            ].round(4).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
