"""Tools for plugin authors' tests: isolated registries, temporary apps, conformance suites.

The pytest plugin (auto-loaded when satchel is installed) provides the fixtures
``satchel_registry`` and ``satchel_config``; :mod:`satchel.testing.conformance` holds test
classes a third-party plugin subclasses to check its component against satchel's contracts.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata

from satchel._version import __version__
from satchel.plugin.hookspecs import hookimpl
from satchel.plugin.records import DeviceState
from satchel.plugin.registry import ENTRY_POINT_GROUP, Registry

__all__ = ["FixedDevice", "builtin_plugins", "isolated_registry"]


def builtin_plugins() -> dict[str, object]:
    """satchel's own plugin modules (from its entry points), by name."""
    return {
        ep.name: ep.load()
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.dist is not None and ep.dist.name == "satchel"
    }


def isolated_registry(plugins: Mapping[str, object] | None = None, *, builtins: bool = True) -> Registry:
    """A registry that ignores installed third-party plugins and environment switches.

    ``plugins`` are added to satchel's built-ins (or used alone with ``builtins=False``).
    """
    registry = Registry(entry_points=False, env={})
    builtin = builtin_plugins() if builtins else {}
    for name, plugin in builtin.items():
        registry.register(plugin, name, distribution="satchel", version=__version__)
    for name, plugin in (plugins or {}).items():
        if not any(plugin is known for known in builtin.values()):  # a built-in under test is already there
            registry.register(plugin, name)
    return registry.load()


class FixedDevice:
    """A plugin reporting a fixed :class:`DeviceState` (register it to control scheduling in tests)."""

    def __init__(self, state: DeviceState) -> None:
        self.state = state

    @hookimpl
    def satchel_device_state(self) -> DeviceState:
        return self.state
