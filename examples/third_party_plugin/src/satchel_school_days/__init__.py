"""Scheduler plugin: train on school days only, between ``start_hour`` and ``end_hour`` local time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from satchel import hookimpl
from satchel.plugin.records import SchedulerSpec
from satchel.training.scheduling import ScheduleDecision, ScheduleInput

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SchoolDaysOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri")
    start_hour: int = Field(16, ge=0, le=23)
    end_hour: int = Field(21, ge=1, le=24)
    min_new_samples: int = Field(1, ge=0)

    @model_validator(mode="after")
    def _window(self) -> SchoolDaysOptions:
        if self.start_hour >= self.end_hour:
            raise ValueError(f"start_hour ({self.start_hour}) must be before end_hour ({self.end_hour})")
        return self


class SchoolDaysScheduler:
    def __init__(self, options: SchoolDaysOptions) -> None:
        self.options = options

    def decide(self, facts: ScheduleInput) -> ScheduleDecision:
        o = self.options
        local = facts.now.astimezone()
        reasons = []
        if _DAYS[local.weekday()] not in o.days:
            reasons.append(f"{_DAYS[local.weekday()]} is not a school day")
        if not (o.start_hour <= local.hour < o.end_hour):
            reasons.append(f"outside {o.start_hour:02d}:00-{o.end_hour:02d}:00")
        if facts.new_samples < o.min_new_samples:
            reasons.append(f"{facts.new_samples} new samples, need {o.min_new_samples}")
        return ScheduleDecision(
            run=not reasons,
            reasons=tuple(reasons),
            not_before=None if not reasons else self._next_window(local),
        )

    def _next_window(self, local):
        o = self.options
        for ahead in range(8):
            day = (local + timedelta(days=ahead)).replace(
                hour=o.start_hour, minute=0, second=0, microsecond=0
            )
            if _DAYS[day.weekday()] in o.days and day > local:
                return day
        return None


@hookimpl
def satchel_schedulers() -> Iterator[SchedulerSpec]:
    yield SchedulerSpec(
        name="school_days",
        factory=SchoolDaysScheduler,
        options=SchoolDaysOptions,
        description="train on school days only, inside a local time window",
    )
