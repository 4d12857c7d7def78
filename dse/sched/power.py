"""Power and energy of a served load, from the platforms' ``tdp_w`` and ``idle_w``.

DeepRecSys reports power efficiency as queries per second per watt. We model each device's power
as linear in how busy it is (energy proportionality between idle and TDP)::

    P_cpu   = idle_w + (tdp_w - idle_w) * busy_cores / cores          (whole server, all sockets)
    P_accel = idle_w + (tdp_w - idle_w) * u_accel                     (when an accelerator is fitted)

``busy_cores`` is the CPU engines' utilisation times the engines times the cores one engine uses
(cores beyond ``--workers`` idle); ``u_accel`` the accelerator engine's utilisation. A fitted
accelerator draws its idle power even when nothing is offloaded. ``energy_per_query_j`` is
``P / qps``. A platform that describes its DRAM (a ``memory:`` section: channels, DIMMs, ranks)
adds the ranks' active-standby power, which grows with every DIMM and rank an architect adds::

    P_mem   = sockets * ranks * VDD * IDD3N * devices_per_rank          (dse.cost.dram.background_power_w)

Not counted: the dynamic energy of DRAM accesses and of NMP logic (the NMP model reports memory
energy per query separately), fans, power-supply losses.
"""

from __future__ import annotations

from dataclasses import dataclass

from dse.specs.hardware import Platform


@dataclass(frozen=True)
class PowerDraw:
    cpu_w: float
    accel_w: float
    memory_w: float = 0.0

    @property
    def total_w(self) -> float:
        return self.cpu_w + self.accel_w + self.memory_w


def device_power(platform: Platform, busy_fraction: float) -> float:
    """Linear idle-to-TDP power of one device at ``busy_fraction`` in [0, 1]."""
    f = min(max(float(busy_fraction), 0.0), 1.0)
    return float(platform.idle_w + (platform.tdp_w - platform.idle_w) * f)


def serving_power(
    platform: Platform, accel: Platform | None, workers: int, cpu_utilization: float, accel_utilization: float
) -> PowerDraw:
    """Power of the server (and accelerator) serving a load with the given engine utilisations."""
    cores = platform.compute.cores * platform.compute.sockets
    busy = min(max(cpu_utilization, 0.0), 1.0) * workers * platform.compute.engine_cores
    cpu = device_power(platform, busy / cores)
    acc = device_power(accel, accel_utilization) if accel is not None else 0.0
    return PowerDraw(cpu, acc, memory_standby_power(platform))


def memory_standby_power(platform: Platform) -> float:
    """Active-standby power of all DRAM ranks of ``platform`` (W); 0 without a ``memory:`` section."""
    if platform.memory is None:
        return 0.0
    from dse.cost.dram import background_power_w

    return float(platform.compute.sockets * platform.memory.ranks * background_power_w(platform.memory))
