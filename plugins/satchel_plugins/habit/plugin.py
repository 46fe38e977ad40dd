"""Registrations of the habit plugin: event types, the Loop importer, featurizer and task."""

from __future__ import annotations

from typing import Iterator

from satchel.hookspecs import hookimpl
from satchel.records import EventSourceSpec, EventTypeSpec, FeaturizerSpec, ModelTaskSpec
from satchel_plugins.habit.events import HABIT_COMPLETED, HABIT_EVENT_TYPES, HABIT_SKIPPED, event_type_specs
from satchel_plugins.habit.features import HabitFeaturizer, HabitFeaturizerOptions
from satchel_plugins.habit.loop_import import LoopHabitsImporter, LoopImportOptions
from satchel_plugins.habit.task import METRICS, PURPOSE, HabitTask, HabitTaskOptions


@hookimpl
def satchel_event_types() -> Iterator[EventTypeSpec]:
    yield from event_type_specs()


@hookimpl
def satchel_event_sources() -> Iterator[EventSourceSpec]:
    yield EventSourceSpec(
        name="loop_habits_csv", factory=LoopHabitsImporter, options=LoopImportOptions,
        description="Loop Habit Tracker Checkmarks.csv export", produces=(HABIT_COMPLETED, HABIT_SKIPPED),
    )


@hookimpl
def satchel_featurizers() -> Iterator[FeaturizerSpec]:
    yield FeaturizerSpec(
        name="habit_daily", factory=HabitFeaturizer, options=HabitFeaturizerOptions,
        description="one sample per habit per day, labelled by completion the next day",
        reads=HABIT_EVENT_TYPES,
    )


@hookimpl
def satchel_models() -> Iterator[ModelTaskSpec]:
    yield ModelTaskSpec(
        name="habit", factory=HabitTask, options=HabitTaskOptions,
        description="predicts today's habit completions and decides which reminders to send",
        featurizer="habit_daily", purposes=(PURPOSE,), metrics=METRICS,
    )
