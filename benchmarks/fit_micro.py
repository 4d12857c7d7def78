"""Fit a shipped hardware spec to the shared measurements (a thin wrapper over ``dse calibrate``).

    python benchmarks/fit_micro.py ci_cpu          # or h200_host, h200: report only
    python benchmarks/fit_micro.py ci_cpu --write  # rewrite hwspecs/ci_cpu.yaml
    python benchmarks/fit_micro.py h200_host --only compute.gemm.pack_rows --write
                                                   # fit only these parameters, every other number kept

The fitting itself lives in the library (dse/calibrate/fit.py, docs/calibration.md); this script
runs the cross-validation plan of dse/calibrate/crossval.py: the microbenchmarks plus the cold=1
runs of one model, every other model held out. It is what regenerated the shipped specs, and is
the same as::

    dse calibrate ../shared/data/measured/ci_cpu_micro.csv ../shared/data/measured/ci_cpu_models.csv \\
        --hw ci_cpu --holdout dien,din,dlrm_rmc1,dlrm_rmc2,mtwnd,ncf,wnd --out hwspecs/ci_cpu.yaml
"""

from __future__ import annotations

import argparse
import json
import sys

from dse.calibrate.crossval import PLAN, cross_validate
from dse.calibrate.fit import default_params
from dse.calibrate.spec import write_calibrated_spec
from dse.paths import HWSPECS_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("platform", choices=sorted(PLAN))
    parser.add_argument("--write", action="store_true", help="rewrite the shipped spec with the fitted values")
    parser.add_argument(
        "--only", default="", help="comma-separated parameter paths: fit only these, hold every other number at the spec's value"
    )
    args = parser.parse_args(argv)
    params = None
    if args.only:
        from dse.specs.hardware import load_platform

        known = default_params(load_platform(PLAN[args.platform].platform))
        names = [n for n in args.only.split(",") if n]
        unknown = [n for n in names if n not in {p.path for p in known}]
        if unknown:
            print(f"--only: not a fitted parameter of {args.platform}: {', '.join(unknown)}", file=sys.stderr)
            return 2
        params = tuple(p for p in known if p.path in names)
    result = cross_validate(args.platform, params=params)
    d = result.as_dict()
    if args.write:
        out = write_calibrated_spec(result, args.platform, HWSPECS_DIR / f"{args.platform}.yaml")
        print(f"wrote {out}")
    print(json.dumps({k: d[k] for k in ("parameters", "before", "after", "holdout", "per_model", "per_class")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
