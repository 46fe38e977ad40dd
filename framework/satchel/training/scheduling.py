"""The scheduler contract: given the facts about a pipeline, may it train now, and if not, why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from satchel.plugin.records import DeviceState


@dataclass(frozen=True)
class ScheduleInput:
    """Facts a scheduler decides on; no personal data."""

    now: datetime
    device: DeviceState
    last_trained_at: datetime | None
    new_samples: int
    total_samples: int


@dataclass(frozen=True)
class ScheduleDecision:
    """``run`` now or not; ``reasons`` says why not (every failed condition), ``not_before`` when next."""

    run: bool
    reasons: tuple[str, ...] = ()
    not_before: datetime | None = None
    time_budget_s: float | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "due"


@runtime_checkable
class Scheduler(Protocol):
    def decide(self, facts: ScheduleInput) -> ScheduleDecision: ...
