"""Schema of a DRAM memory system (channels, DIMMs, ranks, DDR timing and currents) and of the
RecNMP near-memory-processing units that can sit in its DIMMs.

Derived quantities (channel bandwidth for random row reads, per-rank bandwidth when ranks work
in parallel, energy per command) are computed in :mod:`dse.cost.dram`, not assumed here; the NMP
cost model is :mod:`dse.cost.nmp` and ``docs/nmp.md`` explains both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,

    model_validator,
)

from dse.errors import DseError
from dse.specs.ranges import Bounded


class _Strict(Bounded):
    """Unknown fields refused; numbers finite and within :mod:`dse.specs.ranges`."""


class DramTiming(_Strict):
    """DDR timing parameters; ``tCK_ns`` in nanoseconds, the others in clock cycles of tCK.

    Defaults: DDR4-2400 x8 (Ramulator ``DDR4_2400R`` timing table, FACTS.md section 3); refresh
    (tREFI 7.8 µs, tRFC 350 ns for 8 Gb devices) from JEDEC JESD79-4; bank organisation of an
    8 Gb x8 DDR4 device (16 banks in 4 bank groups).
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
    #: Rank-to-rank switch bubble on the shared data bus (Ramulator DDR4 nRTRS = 2).
    tRTRS: NonNegativeInt = 2
    #: Write-to-read delay, different bank group, from the end of the write burst to the read
    #: command (Ramulator DDR4 nWTRS = 3; JEDEC JESD79-4: max(2 nCK, 2.5 ns) = 3 clocks at 2400).
    tWTR_S: PositiveInt = 3
    #: Refresh interval and refresh cycle time (JEDEC: 7.8 µs; 350 ns for 8 Gb) in clocks.
    tREFI: PositiveInt = 9360
    tRFC: PositiveInt = 420
    banks_per_rank: PositiveInt = 16
    bank_groups: PositiveInt = 4

    @model_validator(mode="after")
    def _consistent(self) -> "DramTiming":
        if self.tRC < self.tRAS:
            raise ValueError(f"tRC ({self.tRC}) must be >= tRAS ({self.tRAS})")
        if self.tRFC >= self.tREFI:
            raise ValueError(f"tRFC ({self.tRFC}) must be < tREFI ({self.tREFI})")
        if self.banks_per_rank % self.bank_groups:
            raise ValueError(
                f"banks_per_rank ({self.banks_per_rank}) must be a multiple of bank_groups ({self.bank_groups})"
            )
        return self

    @property
    def clock_hz(self) -> float:
        """Command clock frequency (one command slot per clock)."""
        return 1.0 / (self.tCK_ns * 1e-9)

    @property
    def tBL(self) -> int:
        """Clocks a burst occupies the data bus (double data rate: BL/2)."""
        return max(1, self.burst_length // 2)


class DramPower(_Strict):
    """Per-device currents (mA) and voltages (V) from which :mod:`dse.cost.dram` derives the energy
    of an activate, a read burst and background power (Micron TN-40-07 method), plus the channel
    I/O energy.

    Defaults: Micron 4 Gb DDR4-2400 x8 currents as shipped with DRAMPower
    (tukl-msd/DRAMPower ``memspecs/MICRON_4Gb_DDR4-2400_8bit_A.json``). ``channel_io_pj_per_bit``:
    off-DIMM DDR4 I/O (host PHY, bus, termination), an estimate of 5 pJ/bit *(secondary;
    calibrate)*.
    """

    idd0_ma: PositiveFloat = 60.75
    idd2n_ma: PositiveFloat = 38.25
    idd3n_ma: PositiveFloat = 44.0
    idd4r_ma: PositiveFloat = 184.5
    vdd_v: PositiveFloat = 1.2
    device_width_bits: PositiveInt = 8
    channel_io_pj_per_bit: NonNegativeFloat = 5.0
    source: str = "DRAMPower MICRON_4Gb_DDR4-2400_8bit_A memspec; channel I/O 5 pJ/bit estimate (secondary)"

    @model_validator(mode="after")
    def _currents_ordered(self) -> "DramPower":
        if not self.idd2n_ma <= self.idd3n_ma <= self.idd0_ma:
            raise ValueError("currents must satisfy idd2n_ma <= idd3n_ma <= idd0_ma")
        if self.idd4r_ma < self.idd3n_ma:
            raise ValueError("idd4r_ma must be >= idd3n_ma")
        return self


class MemorySpec(_Strict):
    """A host's DRAM system (per socket)."""

    standard: str = "DDR4-2400"
    channels: PositiveInt = 4
    dimms_per_channel: PositiveInt = 1
    ranks_per_dimm: PositiveInt = 2
    bus_width_bytes: PositiveInt = 8
    dimm_capacity_gb: PositiveFloat = 32.0
    #: Close-page random access: a read with auto-precharge (RDA) closes the row, so a random
    #: access costs ACT + RD(A) on the command bus; with ``False`` an explicit PRE is counted too.
    auto_precharge: bool = True
    timing: DramTiming = Field(default_factory=DramTiming)
    power: DramPower = Field(default_factory=DramPower)
    source: str = "FACTS.md section 3 (Ramulator DDR4-2400 timing)"

    @property
    def ranks(self) -> int:
        """Total ranks in the memory system."""
        return self.channels * self.dimms_per_channel * self.ranks_per_dimm

    @property
    def ranks_per_channel(self) -> int:
        """Ranks that share one channel's command and data bus."""
        return self.dimms_per_channel * self.ranks_per_dimm

    @property
    def burst_bytes(self) -> int:
        """Bytes moved by one read burst (bus width × burst length; 64 B for DDR4 x64)."""
        return self.bus_width_bytes * self.timing.burst_length

    @property
    def devices_per_rank(self) -> int:
        """DRAM devices that form one rank (64-bit bus of x8 devices -> 8)."""
        return max(1, self.bus_width_bytes * 8 // self.power.device_width_bits)

    @property
    def channel_peak_bandwidth(self) -> float:
        """Peak data-bus bandwidth of one channel in bytes/s (2 transfers per clock)."""
        return 2.0 * self.bus_width_bytes / (self.timing.tCK_ns * 1e-9)


# --------------------------------------------------------------------------------------------
# RecNMP: rank-level near-memory processing (Ke et al., ISCA 2020)
# --------------------------------------------------------------------------------------------


class NmpEnergy(_Strict):
    """Energy of the NMP-side events, in pJ. DRAM activate/read energies come from
    :class:`DramPower` (derived in :mod:`dse.cost.dram`).

    - ``add_pj``: one fp32 add; Horowitz, ISSCC 2014 ("Computing's energy problem"): 0.9 pJ (45 nm).
    - ``cache_read_pj_per_64b``: reading 64 B from a 128 KB SRAM; Horowitz 2014 gives 10 pJ per
      64-bit read from 8 KB and 100 pJ from 1 MB; ~20 pJ per 64 bits at 128 KB × 8 -> 160 pJ
      *(secondary, interpolated)*.
    - ``dimm_io_pj_per_bit``: DRAM device -> buffer chip on the DIMM (short, point-to-point),
      an estimate of 2 pJ/bit, against 5 pJ/bit for the channel *(secondary; calibrate)*.
    """

    add_pj: NonNegativeFloat = 0.9
    cache_read_pj_per_64b: NonNegativeFloat = 160.0
    dimm_io_pj_per_bit: NonNegativeFloat = 2.0
    source: str = "Horowitz ISSCC 2014 (add, SRAM); on-DIMM I/O estimate (secondary)"


class NmpSpec(_Strict):
    """Rank-NMP units in every rank plus a DIMM-NMP unit per DIMM (RecNMP, Ke et al. ISCA 2020).

    The number of ranks and DIMMs comes from the enclosing :class:`MemorySpec`. Design
    parameters the paper does not publish exactly are marked as assumptions in ``docs/nmp.md``.

    - ``clock_mhz``, ``adder_lanes``: rank-NMP pooling throughput = clock × lanes fp32 adds/s
      (assumed: the DDR4-2400 clock, one 64 B row slice per cycle).
    - ``pipeline_depth``: cycles through decode -> read -> pool (latency only).
    - ``instruction_bits``: one compressed NMP instruction (DDR command, vector size, DRAM address,
      locality bit, psum tag) replaces an ACT/RD/PRE sequence; 79 bits *(secondary)*.
    - ``interface_pins``: the C/A and DQ pins an instruction is sent over together, one command
      clock per transfer (C/A runs at one transfer per clock): the paper sizes NMP-Inst to the
      standard 84-pin C/A + DQ interface *(secondary)*, so ``interface_pins // instruction_bits``
      = 1 instruction per clock per channel.
    - ``psum_tags``: partial sums a rank can hold in flight (4-bit tag -> 16); bounds how far ranks
      can run ahead of each other without table-aware scheduling.
    - ``rank_cache_kb``: RankCache per rank (paper: 128 KB recommended; 8 KB gave 24.9% hits).
    - ``hot_entry_profiling`` / ``hot_entry_threshold``: the host marks indices seen at least
      ``threshold`` times in a batch as cacheable (locality bit); others bypass the RankCache.
      ``profiling_overhead``: host time spent profiling, as a fraction of the SLS time (paper: < 2%).
    - ``table_aware_scheduling``: packets of one table's SLS are issued as a unit (no RankCache
      interference from co-running tables, a whole batch as the rank-balancing window).
    - ``table_placement``: ``dimm``: each table lives in one DIMM, its rows interleaved over that
      DIMM's ranks, tables placed round-robin over all DIMMs, so a pooling returns one partial sum;
      ``interleaved``: every table's rows are spread over all ranks of all channels, so every DIMM
      a pooling touches returns a partial sum.
    - ``sls_in_flight``: SLS operators one engine keeps in flight (an inference's embedding tables
      are independent, so the NMP runtime issues them together; RMC1 has 8). ``dse nmp`` sets it
      to the model's number of embedding_bag operators.

    The locality of the embedding index stream, which sets the RankCache's hit rate, is a property
    of the workload (:class:`dse.settings.WorkloadSettings`), not of the DIMMs.
    """

    enabled: bool = True
    clock_mhz: PositiveFloat = 1200.0
    adder_lanes: PositiveInt = 16
    pipeline_depth: PositiveInt = 8
    instruction_bits: PositiveInt = 79
    interface_pins: PositiveInt = 84
    psum_tags: PositiveInt = 16
    rank_cache_kb: NonNegativeFloat = 128.0
    hot_entry_profiling: bool = True
    hot_entry_threshold: PositiveInt = 2
    profiling_overhead: float = Field(0.02, ge=0.0, lt=1.0)
    table_aware_scheduling: bool = True
    table_placement: Literal["dimm", "interleaved"] = "dimm"
    sls_in_flight: PositiveInt = 8
    energy: NmpEnergy = Field(default_factory=NmpEnergy)
    source: str = "Ke et al., RecNMP, ISCA 2020 (arXiv 1912.12953); FACTS.md section 3"

    @model_validator(mode="before")
    @classmethod
    def _locality_is_a_workload_property(cls, data: object) -> object:
        if isinstance(data, dict) and "locality" in data:
            raise ValueError(
                "locality is a property of the workload, not of the hardware: give it with --locality or a "
                "study's workload.locality (RecNMP's traces: zipf:1.05)"
            )
        return data

    @model_validator(mode="after")
    def _interface_carries_an_instruction(self) -> "NmpSpec":
        if self.interface_pins < self.instruction_bits:
            raise ValueError(
                f"interface_pins ({self.interface_pins}) cannot carry one {self.instruction_bits}-bit "
                "instruction per clock"
            )
        return self

    @property
    def instructions_per_clock(self) -> int:
        """NMP instructions one channel carries per command clock (C/A + DQ transfer)."""
        return self.interface_pins // self.instruction_bits

    @property
    def rank_cache_bytes(self) -> float:
        return self.rank_cache_kb * 1024.0

    def check_against(self, memory: MemorySpec, where: str = "nmp") -> None:
        """Cross-checks against the memory system; raises a one-line :class:`DseError`."""
        dimm_bytes = memory.dimm_capacity_gb * 1e9
        if self.rank_cache_bytes * memory.ranks_per_dimm > dimm_bytes:
            raise DseError(
                f"{where}.rank_cache_kb: {self.rank_cache_kb:g} KB per rank × {memory.ranks_per_dimm} "
                f"rank{'s' if memory.ranks_per_dimm != 1 else ''} "
                f"is larger than the {memory.dimm_capacity_gb:g} GB DIMM"
            )
