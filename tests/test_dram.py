"""DRAM throughput for random row reads, derived from DDR4-2400 timing (dse.cost.dram).

Reference numbers: FACTS.md section 3 (DDR4-2400, Ramulator timing tables): 19.2 GB/s per channel
peak, about 11.8 GB/s per rank for random 64 B reads (tFAW-bound), about 600 M random lookups/s
command-bus ceiling per channel.
"""

from __future__ import annotations

import pytest

from dse.cost import dram
from dse.errors import DseError
from dse.specs.memory import DramTiming, MemorySpec

DDR4 = MemorySpec()  # defaults: DDR4-2400 x8, FACTS.md section 3


def test_channel_peak_is_19_2_gbs():
    # FACTS: 19.2 GB/s per channel; tolerance 0.1% (tCK is rounded to 0.833 ns)
    assert dram.channel_peak_bandwidth(DDR4) == pytest.approx(19.2e9, rel=1e-3)


def test_rank_random_64b_is_tfaw_bound_at_11_8_gbs():
    # FACTS: "at most about 11.8 GB/s per rank (tFAW-bound)"; tolerance 1%
    rate = dram.rank_random_read(DDR4, 64)
    assert rate.bound == "tFAW"
    assert rate.limits["tFAW"] * 64 == pytest.approx(11.8e9, rel=0.01)
    # refresh takes tRFC out of every tREFI on top of that
    assert rate.bytes_per_s == pytest.approx(rate.limits["tFAW"] * 64 * (1 - 420 / 9360), rel=1e-9)


def test_command_bus_caps_a_channel_near_600m_lookups():
    # FACTS: "roughly 600 M random lookups/s" per channel: one command per clock, ACT + RD with
    # auto-precharge = 2 commands per random 64 B access; tolerance 1%
    limits = dram.channel_random_read(DDR4, 64, ranks=8).limits
    assert limits["command bus"] == pytest.approx(600e6, rel=0.01)
    # with an explicit PRE the same derivation gives 1.2 GHz / 3 = 400 M/s
    explicit = MemorySpec(auto_precharge=False)
    assert dram.channel_random_read(explicit, 64).limits["command bus"] == pytest.approx(400e6, rel=0.01)


def test_one_rank_channel_is_the_rank_bound():
    # a channel with one rank cannot beat that rank's tFAW bound (same derivation, refresh included)
    one = dram.channel_random_read(DDR4, 64, ranks=1)
    assert one.lookups_per_s == pytest.approx(dram.rank_random_read(DDR4, 64).lookups_per_s, rel=1e-9)
    assert one.bytes_per_s < 19.2e9


def test_conventional_channel_is_shared_but_ranks_stream_in_parallel():
    # ranks time-share the channel's data bus (FACTS): more ranks never raise a conventional
    # channel above its data-bus ceiling; NMP ranks each stream on their own
    for row in (64, 128, 256):
        conv = [dram.channel_random_read(DDR4, row, ranks=n).bytes_per_s for n in (2, 4, 8)]
        assert max(conv) <= 19.2e9
        per_rank = dram.rank_random_read(DDR4, row).bytes_per_s
        assert 8 * per_rank > 4 * max(conv)


def test_rows_of_any_size_are_bursts_of_64b():
    assert [dram.bursts_per_row(DDR4, r) for r in (4, 64, 65, 128, 256, 512)] == [1, 1, 2, 2, 4, 8]
    rates = [dram.rank_random_read(DDR4, r) for r in (64, 128, 256, 512)]
    # fewer lookups/s but more useful bytes/s as rows grow (one activate serves more bursts)
    assert all(a.lookups_per_s > b.lookups_per_s for a, b in zip(rates, rates[1:]))
    assert all(a.bytes_per_s <= b.bytes_per_s + 1e-6 for a, b in zip(rates, rates[1:]))
    # a 128 B row needs two bursts: the rank's data path (tCCD), not tFAW, binds
    assert rates[1].bound == "tCCD"


def test_timing_changes_move_the_derived_numbers():
    # nothing is hard-coded: a slower tFAW lowers the 64 B rank rate in proportion
    slow = MemorySpec(timing=DramTiming(tFAW=52))
    assert dram.rank_random_read(slow, 64).lookups_per_s == pytest.approx(
        dram.rank_random_read(DDR4, 64).lookups_per_s / 2, rel=1e-9
    )


def test_write_read_round_trip_is_derived_from_jedec_timing():
    # JEDEC JESD79-4 / Ramulator DDR4-2400: write -> read idles tWTR_S (3) + CL (16) clocks on the
    # data bus, read -> write 2 clocks (tRTW = RL + BL/2 - WL + 2)
    assert dram.write_read_round_trip_clocks(DDR4) == 3 + 16 + 2
    assert dram.write_read_round_trip_clocks(MemorySpec(timing=DramTiming(CL=18, tRCD=18, tRP=18))) == 23


def test_nmp_instruction_rate_comes_from_the_interface():
    # RecNMP: a 79-bit NMP-Inst sized to the 84-pin C/A + DQ interface -> one per command clock
    from dse.specs.memory import NmpSpec

    assert NmpSpec().instructions_per_clock == 1
    assert NmpSpec(interface_pins=168).instructions_per_clock == 2
    with pytest.raises(ValueError, match="cannot carry one 79-bit instruction"):
        NmpSpec(interface_pins=64)


def test_energy_per_command_from_currents():
    # Micron TN-40-07: E_ACT = VDD (IDD0 tRC - IDD3N tRAS - IDD2N (tRC - tRAS)) per device
    t, p = DDR4.timing, DDR4.power
    by_hand = p.vdd_v * (p.idd0_ma * t.tRC - p.idd3n_ma * t.tRAS - p.idd2n_ma * (t.tRC - t.tRAS)) * t.tCK_ns * 8
    assert dram.activate_energy_pj(DDR4) == pytest.approx(by_hand)
    assert dram.read_burst_energy_pj(DDR4) == pytest.approx(p.vdd_v * (p.idd4r_ma - p.idd3n_ma) * 4 * t.tCK_ns * 8)
    assert dram.channel_io_energy_pj(DDR4, 64) == pytest.approx(64 * 8 * p.channel_io_pj_per_bit)


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(DseError, match="row size"):
        dram.bursts_per_row(DDR4, 0)
    with pytest.raises(DseError, match="at least one rank"):
        dram.channel_random_read(DDR4, 64, ranks=0)
