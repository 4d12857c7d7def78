"""Schema of a DRAM memory system: channels, DIMMs, ranks and DDR timing.

Derived quantities (channel bandwidth for random row reads, per-rank bandwidth when ranks work
in parallel) are computed in :mod:`dse.cost.dram`, not assumed here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DramTiming(_Strict):
    """DDR timing parameters; ``tCK_ns`` in nanoseconds, the others in clock cycles of tCK.

    Defaults: DDR4-2400 x8 (Ramulator timing tables, FACTS.md section 3).
    """

    tCK_ns: PositiveFloat = 0.833
    CL: PositiveInt = 16
    tRCD: PositiveInt = 16
    tRP: PositiveInt = 16
    tRAS: PositiveInt = 39
    tRC: PositiveInt = 55
    tCCD_S: PositiveInt = 4
    tCCD_L: PositiveInt = 6
    tRRD_S: PositiveInt = 4
    tRRD_L: PositiveInt = 6
    tFAW: PositiveInt = 26
    burst_length: PositiveInt = 8


class MemorySpec(_Strict):
    """A host's DRAM system (per socket)."""

    standard: str = "DDR4-2400"
    channels: PositiveInt = 4
    dimms_per_channel: PositiveInt = 1
    ranks_per_dimm: PositiveInt = 2
    bus_width_bytes: PositiveInt = 8
    dimm_capacity_gb: PositiveFloat = 32.0
    timing: DramTiming = Field(default_factory=DramTiming)
    source: str = "FACTS.md section 3 (Ramulator DDR4-2400 timing)"

    @property
    def ranks(self) -> int:
        """Total ranks in the memory system."""
        return self.channels * self.dimms_per_channel * self.ranks_per_dimm

    @property
    def channel_peak_bandwidth(self) -> float:
        """Peak data-bus bandwidth of one channel in bytes/s (2 transfers per clock)."""
        return 2.0 * self.bus_width_bytes / (self.timing.tCK_ns * 1e-9)
