"""Registers the ``conditions`` scheduler (:mod:`satchel_plugins.conditions`): train only when the
device, the data and the clock all agree.

This is the ``schedulers`` entry point, imported whenever satchel loads its plugins (even for
``satchel --help``), so the scheduler and its pydantic options load only when the hook runs.
``ConditionsOptions``, ``ConditionsScheduler`` and ``parse_duration`` are importable from here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from satchel.hookspecs import hookimpl
from satchel_plugins._lazy import lazy_exports

if TYPE_CHECKING:
    from satchel.records import SchedulerSpec
    from satchel_plugins.conditions import ConditionsOptions, ConditionsScheduler, parse_duration

_EXPORTS = dict.fromkeys(
    ("ConditionsOptions", "ConditionsScheduler", "parse_duration"), "satchel_plugins.conditions"
)


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


__getattr__ = lazy_exports(globals(), _EXPORTS)


__all__ = ["ConditionsOptions", "ConditionsScheduler", "parse_duration", "satchel_schedulers"]
