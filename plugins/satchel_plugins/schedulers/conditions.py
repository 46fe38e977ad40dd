"""The ``conditions`` scheduler: train only when the device, the data and the clock all agree.

Registered by :mod:`satchel_plugins.schedulers`.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from satchel.durations import parse_duration
from satchel.training.scheduling import ScheduleDecision, ScheduleInput

_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class ConditionsOptions(BaseModel):
    """When training may run. Unknown device facts count as not met when required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    require_charging: bool = False
    require_idle: bool = False
    require_unmetered: bool = False
    min_battery_percent: float = Field(20.0, ge=0, le=100)
    min_new_samples: int = Field(
        1,
        ge=0,
        description="training samples added since the last run, as the "
        "pipeline's featurizer counts them (habit: one per habit per day; language: "
        "one per review; grading: one per graded answer)",
    )
    min_interval: float = Field(
        6 * 3600.0, description="time since the last run: seconds, or a string like '7d'"
    )
    quiet_hours: str | None = Field(None, description="local 'HH:MM-HH:MM' when training never runs")
    time_budget: float = Field(60.0, gt=0, description="seconds one run may take, or '2m'")

    _durations = field_validator("min_interval", "time_budget", mode="before")(lambda v: parse_duration(v))

    @field_validator("quiet_hours")
    @classmethod
    def _hours(cls, v: str | None) -> str | None:
        if v is None:
            return v
        m = _HOURS.match(v.strip())
        if (
            not m
            or int(m.group(1)) > 23
            or int(m.group(3)) > 23
            or int(m.group(2)) > 59
            or int(m.group(4)) > 59
        ):
            raise ValueError(f"quiet_hours must look like '22:00-07:00', got {v!r}")
        return v.strip()


class ConditionsScheduler:
    """Checks every condition and reports each one that is not met."""

    def __init__(self, options: ConditionsOptions) -> None:
        self.options = options

    def decide(self, facts: ScheduleInput) -> ScheduleDecision:
        o, d = self.options, facts.device
        reasons: list[str] = []
        if o.require_charging and d.charging is not True:
            reasons.append("not charging" if d.charging is False else "charging state unknown")
        if o.require_idle and d.idle is not True:
            reasons.append("device busy" if d.idle is False else "idle state unknown")
        if o.require_unmetered and d.unmetered_network is not True:
            reasons.append("network metered" if d.unmetered_network is False else "network state unknown")
        if (
            d.battery_percent is not None
            and d.battery_percent < o.min_battery_percent
            and d.charging is not True
        ):
            reasons.append(f"battery {d.battery_percent:.0f}% below {o.min_battery_percent:.0f}%")
        if facts.new_samples < o.min_new_samples:
            reasons.append(f"{facts.new_samples} new samples, need {o.min_new_samples}")
        not_before = None
        if facts.last_trained_at is not None:
            due = facts.last_trained_at + timedelta(seconds=o.min_interval)
            if facts.now < due:
                reasons.append(
                    f"trained {_ago(facts.now - facts.last_trained_at)} ago; "
                    f"minimum interval {_ago(timedelta(seconds=o.min_interval))}"
                )
                not_before = due
        if o.quiet_hours and _in_quiet_hours(facts.now, o.quiet_hours):
            reasons.append(f"quiet hours {o.quiet_hours}")
            not_before = max(filter(None, [not_before, _quiet_end(facts.now, o.quiet_hours)]))
        return ScheduleDecision(
            run=not reasons, reasons=tuple(reasons), not_before=not_before, time_budget_s=o.time_budget
        )


def _span(spec: str) -> tuple[time, time]:
    h1, m1, h2, m2 = map(int, _HOURS.match(spec).groups())  # type: ignore[union-attr]
    return time(h1, m1), time(h2, m2)


def _in_quiet_hours(now: datetime, spec: str) -> bool:
    start, end = _span(spec)
    t = now.astimezone().time()
    return start <= t < end if start <= end else (t >= start or t < end)


def _quiet_end(now: datetime, spec: str) -> datetime:
    local = now.astimezone()
    end = local.replace(hour=_span(spec)[1].hour, minute=_span(spec)[1].minute, second=0, microsecond=0)
    return end if end > local else end + timedelta(days=1)


def _ago(delta: timedelta) -> str:
    s = delta.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s / size:.1f}{unit}"
    return f"{s:.0f}s"


__all__ = ["ConditionsOptions", "ConditionsScheduler", "parse_duration"]
