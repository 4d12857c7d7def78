"""Fit a shipped hardware spec to the shared measurements (a thin wrapper over ``dse calibrate``).

    python benchmarks/fit_micro.py ci_cpu          # or h200_host, h200: report only
    python benchmarks/fit_micro.py ci_cpu --write  # rewrite hwspecs/ci_cpu.yaml

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
from dse.calibrate.spec import write_calibrated_spec
from dse.paths import HWSPECS_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("platform", choices=sorted(PLAN))
    parser.add_argument("--write", action="store_true", help="rewrite the shipped spec with the fitted values")
    args = parser.parse_args(argv)
    result = cross_validate(args.platform)
    d = result.as_dict()
    if args.write:
        out = write_calibrated_spec(result, args.platform, HWSPECS_DIR / f"{args.platform}.yaml")
        print(f"wrote {out}")
    print(json.dumps({k: d[k] for k in ("parameters", "before", "after", "holdout", "per_model", "per_class")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
