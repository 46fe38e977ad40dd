"""The host app's own device state (battery, charging, idle, network), ahead of every device-state plugin."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from satchel.plugin.hookspecs import hookimpl
from satchel.plugin.records import DeviceState
from satchel.plugin.registry import Registry

if TYPE_CHECKING:
    from satchel.app import App


class HostDeviceState:
    """A device-state plugin the host app feeds (battery, charging, idle, network, as it knows them).

    It answers before every other device-state plugin; while its state is ``None`` it defers to them.
    Update it from any thread: the runner asks at the start of a pass, and again before a training
    when its last look is older than :data:`~satchel.training.runner.DEVICE_MAX_AGE_S`.
    """

    def __init__(self, state: DeviceState | None = None) -> None:
        self.state = state

    def update(self, state: DeviceState | None) -> None:
        self.state = state

    @hookimpl(tryfirst=True)
    def satchel_device_state(self) -> DeviceState | None:
        return self.state


_HOSTS: weakref.WeakKeyDictionary[Registry, HostDeviceState] = weakref.WeakKeyDictionary()


def use_host_device_state(app: App, state: DeviceState | None = None) -> HostDeviceState:
    """The app's :class:`HostDeviceState` (registered on first use), updated to ``state`` when given::

    host = use_host_device_state(app)
    host.update(DeviceState(battery_percent=80, charging=True, idle=True, unmetered_network=True,
                            source="android"))
    """
    host = _HOSTS.get(app.registry)
    if host is None:
        host = _HOSTS[app.registry] = HostDeviceState()
        app.registry.register(host, "host_device_state")
    if state is not None:
        host.update(state)
    return host
