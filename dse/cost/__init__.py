"""Cost model: OpGraph × Platform -> per-operator time and the service curve t(b)."""

from dse.cost.curve import DEFAULT_BATCH_GRID, ServiceCurve

__all__ = ["DEFAULT_BATCH_GRID", "ServiceCurve"]
