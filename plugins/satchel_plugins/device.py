"""``device``: the device state of the machine satchel runs on, read with psutil.

Battery and AC power come from ``psutil.sensors_battery()``; a machine without a battery runs on
mains power, so it counts as charging with an unknown battery level. "Idle" means the CPU was less
than :data:`IDLE_CPU_PERCENT` busy over a short sample. The network's metering is not knowable
here, so it stays unknown (``None``): a pipeline that requires an unmetered network needs the host
app to report it (``satchel.training.runner.use_host_device_state``), which takes precedence over this plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from satchel.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from satchel.plugin.records import DeviceState

IDLE_CPU_PERCENT = 25.0
CPU_SAMPLE_S = 0.2


def read_device_state(cpu_sample_s: float = CPU_SAMPLE_S) -> DeviceState:
    """The state of this machine now (takes ``cpu_sample_s`` seconds to measure CPU use)."""
    import psutil

    from satchel.plugin.records import DeviceState

    battery = psutil.sensors_battery()
    if battery is None:
        percent, charging, source = None, True, "psutil (no battery: mains power)"
    else:
        percent, charging, source = float(battery.percent), battery.power_plugged, "psutil"
    busy = psutil.cpu_percent(interval=cpu_sample_s)
    return DeviceState(
        battery_percent=percent,
        charging=charging,
        idle=busy < IDLE_CPU_PERCENT,
        unmetered_network=None,
        source=source,
    )


@hookimpl(trylast=True)
def satchel_device_state() -> DeviceState:
    return read_device_state()
