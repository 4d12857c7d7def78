"""calibrate stage of the dse data flow: measured runs -> fitted efficiencies -> a calibrated hwspec.

- :mod:`~dse.calibrate.data`: the measured CSV formats (FACTS.md section 5, and the harness's own);
- :mod:`~dse.calibrate.fit`: robust least-squares fit of a platform's efficiency parameters;
- :mod:`~dse.calibrate.spec`: writing the calibrated hwspec with ``fitted: ...`` sources (its fitted
  dispatch costs to a ``NAME_stack.yaml`` beside it);
- :mod:`~dse.calibrate.crossval`: fit on one model, predict the others;
- :mod:`~dse.calibrate.validate`: every validation of the project as one table;
- :mod:`~dse.calibrate.realrun`: the real-server run and fitting its serving costs;
- :mod:`~dse.calibrate.harness` / :mod:`~dse.calibrate.torch_model`: the optional PyTorch harness.

docs/calibration.md describes the method.
"""

from dse.calibrate.data import Measurements, load_measurements, read_measurements
from dse.calibrate.fit import FitResult, calibrate

__all__ = ["FitResult", "Measurements", "calibrate", "load_measurements", "read_measurements"]
