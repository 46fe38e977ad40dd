"""The ``conditions`` scheduler (:mod:`.conditions`): train only when the device, the data and the
clock all agree."""

from __future__ import annotations

from collections.abc import Iterator

from satchel.plugin.hookspecs import hookimpl
from satchel.plugin.records import SchedulerSpec
from satchel_plugins.schedulers.conditions import ConditionsOptions, ConditionsScheduler, parse_duration


@hookimpl
def satchel_schedulers() -> Iterator[SchedulerSpec]:
    yield SchedulerSpec(
        name="conditions",
        factory=ConditionsScheduler,
        options=ConditionsOptions,
        description="train when charging/idle/unmetered/battery, new samples, interval and quiet hours allow",
    )


__all__ = ["ConditionsOptions", "ConditionsScheduler", "parse_duration", "satchel_schedulers"]
