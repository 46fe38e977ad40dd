"""Registers the ``conditions`` scheduler (:mod:`satchel_plugins.conditions`): train only when the
device, the data and the clock all agree.

This is the ``schedulers`` entry point, imported whenever satchel loads its plugins (even for
``satchel --help``), so the scheduler and its pydantic options load only when the hook runs.
``ConditionsOptions``, ``ConditionsScheduler`` and ``parse_duration`` are importable from here too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Iterator

from satchel.hookspecs import hookimpl

if TYPE_CHECKING:
    from satchel.records import SchedulerSpec
    from satchel_plugins.conditions import ConditionsOptions, ConditionsScheduler, parse_duration

_EXPORTS = ("ConditionsOptions", "ConditionsScheduler", "parse_duration")


@hookimpl
def satchel_schedulers() -> Iterator[SchedulerSpec]:
    from satchel.records import SchedulerSpec
    from satchel_plugins.conditions import ConditionsOptions, ConditionsScheduler

    yield SchedulerSpec(
        name="conditions",
        factory=ConditionsScheduler,
        options=ConditionsOptions,
        description="train when charging/idle/unmetered/battery, new samples, interval and quiet hours allow",
    )


def __getattr__(name: str) -> Any:
    """The scheduler's public names, imported on first use (PEP 562)."""
    if name in _EXPORTS:
        return getattr(importlib.import_module("satchel_plugins.conditions"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ConditionsOptions", "ConditionsScheduler", "parse_duration", "satchel_schedulers"]
