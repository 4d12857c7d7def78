"""DRAM throughput for random row reads, derived from DDR timing (not assumed), and DRAM energy
per command derived from datasheet currents.

A random embedding-row read ("lookup") of ``row_bytes`` needs one activate (ACT), ``k`` read
bursts of ``burst_bytes`` (64 B for a DDR4 x64 channel: 8 B bus × BL8) from the opened row, and a
precharge (folded into the last read as RD-with-auto-precharge when ``auto_precharge``, the
close-page policy). Every resource that a lookup occupies gives a ceiling in lookups per second;
the smallest ceiling is the throughput (all in clocks of tCK, f = 1/tCK):

Per rank (what one rank can deliver, with its own command path, as a rank-NMP unit has):

- tFAW: at most 4 activates in any tFAW window          -> 4 / tFAW · f
- tRRD: consecutive activates to different bank groups   -> f / tRRD_S
- tCCD: k bursts per lookup, bursts of different lookups interleave across bank groups
  (tCCD_S apart), bursts within one bank group are tCCD_L apart
                                                         -> f / max(k·tCCD_S, k·tCCD_L / bank_groups)
- banks: each bank is busy tRC per random access         -> banks / tRC · f
- rank command path: 1 command per clock                 -> f / (1 + k + [no auto-precharge])

A conventional channel (host memory controller; all ranks behind one command bus and one data bus):

- data bus: k·tBL clocks per lookup plus a tRTRS bubble whenever consecutive bursts come from
  different ranks (probability 1 - 1/n for n ranks, random rows) -> f / (k·tBL + tRTRS·(1 - 1/n))
- command bus: one command per clock, shared               -> f / (1 + k + [no auto-precharge])
- ranks: n ranks in parallel                                -> n · (per-rank ceiling)

Refresh makes the DRAM unavailable tRFC out of every tREFI: all rates are multiplied by
(1 - tRFC/tREFI).

For DDR4-2400 (FACTS.md section 3) this gives 19.2 GB/s channel peak, 11.8 GB/s per rank for
random 64 B rows (tFAW-bound), 600 M random lookups/s command-bus ceiling per channel (ACT + RDA;
400 M/s if an explicit PRE is issued), tests/test_dram.py checks these.

Energy per command follows Micron TN-40-07 / DRAMPower from per-device currents:
E_ACT+PRE = VDD·(IDD0·tRC - IDD3N·tRAS - IDD2N·(tRC - tRAS)) per device,
E_RD = VDD·(IDD4R - IDD3N)·tBL per device and burst, background = VDD·IDD3N per device;
times the devices of a rank. The VPP (word-line) share is not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dse.errors import DseError
from dse.specs.memory import MemorySpec


@dataclass(frozen=True)
class AccessRate:
    """Throughput of random row reads: ``lookups_per_s`` after refresh, the binding resource
    (``bound``), and every resource's ceiling (lookups/s, before refresh)."""

    lookups_per_s: float
    row_bytes: float
    bursts: int
    bound: str
    limits: dict[str, float] = field(default_factory=dict)
    refresh_factor: float = 1.0

    @property
    def bytes_per_s(self) -> float:
        """Useful bytes per second (rows × row size)."""
        return self.lookups_per_s * self.row_bytes


def bursts_per_row(memory: MemorySpec, row_bytes: float) -> int:
    """Read bursts needed for one row (a row is stored whole inside one rank)."""
    if not row_bytes or row_bytes <= 0:
        raise DseError(f"row size must be positive (got {row_bytes})")
    return max(1, math.ceil(row_bytes / memory.burst_bytes - 1e-9))


def commands_per_lookup(memory: MemorySpec, bursts: int) -> int:
    """ACT + one RD per burst (+ PRE unless the last read auto-precharges)."""
    return 1 + bursts + (0 if memory.auto_precharge else 1)


def refresh_factor(memory: MemorySpec) -> float:
    """Share of time a rank is not refreshing."""
    t = memory.timing
    return 1.0 - t.tRFC / t.tREFI


def rank_limits(memory: MemorySpec, row_bytes: float, *, local_commands: bool = True) -> dict[str, float]:
    """Per-rank ceilings in lookups/s (before refresh). ``local_commands``: the rank has its own
    command path (rank-NMP); otherwise the command bus is a channel resource."""
    t = memory.timing
    f = t.clock_hz
    k = bursts_per_row(memory, row_bytes)
    limits = {
        "tFAW": 4.0 * f / t.tFAW,
        "tRRD": f / t.tRRD_S,
        "tCCD": f / max(k * t.tCCD_S, k * t.tCCD_L / t.bank_groups, k * t.tBL),
        "bank tRC": t.banks_per_rank * f / t.tRC,
    }
    if local_commands:
        limits["rank command path"] = f / commands_per_lookup(memory, k)
    return limits


def _pick(limits: dict[str, float]) -> tuple[str, float]:
    bound = min(limits, key=limits.__getitem__)
    return bound, limits[bound]


def rank_random_read(memory: MemorySpec, row_bytes: float) -> AccessRate:
    """Random row reads one rank sustains on its own (each rank-NMP unit streams its rank
    independently, bounded by its own tFAW/tRRD/tCCD and command path)."""
    limits = rank_limits(memory, row_bytes, local_commands=True)
    bound, rate = _pick(limits)
    rf = refresh_factor(memory)
    return AccessRate(rate * rf, float(row_bytes), bursts_per_row(memory, row_bytes), bound, limits, rf)


def channel_random_read(memory: MemorySpec, row_bytes: float, ranks: int | None = None) -> AccessRate:
    """Random row reads one conventional channel sustains with ``ranks`` ranks behind it (default:
    the memory system's ranks per channel)."""
    n = memory.ranks_per_channel if ranks is None else int(ranks)
    if n < 1:
        raise DseError(f"a channel needs at least one rank (got {n})")
    t = memory.timing
    f = t.clock_hz
    k = bursts_per_row(memory, row_bytes)
    per_rank_bound, per_rank = _pick(rank_limits(memory, row_bytes, local_commands=False))
    limits = {
        "data bus": f / (k * t.tBL + t.tRTRS * (1.0 - 1.0 / n)),
        "command bus": f / commands_per_lookup(memory, k),
        f"ranks ({per_rank_bound})": n * per_rank,
    }
    bound, rate = _pick(limits)
    rf = refresh_factor(memory)
    return AccessRate(rate * rf, float(row_bytes), k, bound, limits, rf)


#: Idle data-bus clocks when a read is followed by a write: JEDEC DDR4 read-to-write command
#: spacing tRTW = RL + BL/2 - WL + 2 puts the write burst 2 clocks after the read burst ends.
READ_TO_WRITE_IDLE = 2


def write_read_round_trip_clocks(memory: MemorySpec) -> int:
    """Idle data-bus clocks of one write -> read -> write round trip on a channel.

    Write -> read (same rank): the read command waits tWTR_S after the end of the write burst and
    its data appears CL later, so the bus idles tWTR_S + CL; read -> write idles
    :data:`READ_TO_WRITE_IDLE`. DDR4-2400: 3 + 16 + 2 = 21 clocks. RecNMP pays it when the host
    switches from sending NMP instructions (writes on the bus) to reading partial sums back."""
    t = memory.timing
    return t.tWTR_S + t.CL + READ_TO_WRITE_IDLE


def channel_peak_bandwidth(memory: MemorySpec) -> float:
    """Peak data-bus bandwidth of one channel (bytes/s)."""
    return memory.channel_peak_bandwidth


# --------------------------------------------------------------------------------------------
# Energy
# --------------------------------------------------------------------------------------------


def activate_energy_pj(memory: MemorySpec) -> float:
    """Energy of one ACT + PRE pair on a rank (pJ)."""
    t, p = memory.timing, memory.power
    tck = t.tCK_ns
    per_device = p.vdd_v * (
        p.idd0_ma * t.tRC * tck - p.idd3n_ma * t.tRAS * tck - p.idd2n_ma * (t.tRC - t.tRAS) * tck
    )  # mA · V · ns = pJ
    return max(per_device, 0.0) * memory.devices_per_rank


def read_burst_energy_pj(memory: MemorySpec) -> float:
    """Energy of one read burst inside the DRAM devices of a rank (pJ), I/O not included."""
    t, p = memory.timing, memory.power
    return p.vdd_v * (p.idd4r_ma - p.idd3n_ma) * t.tBL * t.tCK_ns * memory.devices_per_rank


def background_power_w(memory: MemorySpec) -> float:
    """Active-standby power of one rank (W)."""
    p = memory.power
    return p.vdd_v * p.idd3n_ma * 1e-3 * memory.devices_per_rank


def channel_io_energy_pj(memory: MemorySpec, nbytes: float) -> float:
    """Energy to move ``nbytes`` across the channel (host PHY, bus, termination)."""
    return nbytes * 8.0 * memory.power.channel_io_pj_per_bit
