"""Event types of a habit-tracking or study-streak app, with their payloads and data categories."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from satchel.plugin.records import EventTypeSpec

APP_OPENED = "app_opened"
REMINDER_SHOWN = "reminder_shown"
REMINDER_TAPPED = "reminder_tapped"
HABIT_COMPLETED = "habit_completed"
HABIT_SKIPPED = "habit_skipped"

HABIT_EVENT_TYPES: tuple[str, ...] = (
    APP_OPENED,
    REMINDER_SHOWN,
    REMINDER_TAPPED,
    HABIT_COMPLETED,
    HABIT_SKIPPED,
)

HabitId = Field(min_length=1, max_length=128, description="the app's identifier of the habit")


class AppOpened(BaseModel):
    """The learner opened the app (no content)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class HabitRef(BaseModel):
    """A reminder shown or tapped: which habit."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    habit: str = HabitId


class HabitSkipped(BaseModel):
    """A habit was not done; ``value`` when a measurable habit's entry fell short of its target."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    habit: str = HabitId
    value: float | None = None


class HabitCompleted(BaseModel):
    """A habit was done; ``value`` for numeric habits, ``implied`` when a frequency rule filled it in."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    habit: str = HabitId
    value: float | None = None
    implied: bool = False


def event_type_specs() -> tuple[EventTypeSpec, ...]:
    return (
        EventTypeSpec(APP_OPENED, AppOpened, ("usage",), "the app was opened"),
        EventTypeSpec(REMINDER_SHOWN, HabitRef, ("usage",), "a reminder for a habit was shown"),
        EventTypeSpec(REMINDER_TAPPED, HabitRef, ("usage",), "a reminder for a habit was opened"),
        EventTypeSpec(HABIT_COMPLETED, HabitCompleted, ("behavioral",), "a habit was done"),
        EventTypeSpec(HABIT_SKIPPED, HabitSkipped, ("behavioral",), "a habit was explicitly skipped"),
    )
