"""Registrations of the habit plugin: event types, the Loop importer, featurizer and task.

This is the ``habit`` entry point, imported whenever satchel loads its plugins (even for
``satchel --help``), so it imports nothing at the top: each hook imports what it registers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from satchel.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from satchel.plugin.records import EventSourceSpec, EventTypeSpec, FeaturizerSpec, ModelTaskSpec


@hookimpl
def satchel_event_types() -> Iterator[EventTypeSpec]:
    from satchel_plugins.habit.events import event_type_specs

    yield from event_type_specs()


@hookimpl
def satchel_event_sources() -> Iterator[EventSourceSpec]:
    from satchel.plugin.records import EventSourceSpec
    from satchel_plugins.habit.events import HABIT_COMPLETED, HABIT_SKIPPED
    from satchel_plugins.habit.loop_import import LoopHabitsImporter, LoopImportOptions

    yield EventSourceSpec(
        name="loop_habits_csv",
        factory=LoopHabitsImporter,
        options=LoopImportOptions,
        description="Loop Habit Tracker CSV export: the ZIP, its Habits.csv, or a Checkmarks.csv",
        produces=(HABIT_COMPLETED, HABIT_SKIPPED),
    )


@hookimpl
def satchel_featurizers() -> Iterator[FeaturizerSpec]:
    from satchel.plugin.records import FeaturizerSpec
    from satchel_plugins.habit.events import HABIT_EVENT_TYPES
    from satchel_plugins.habit.features import HabitFeaturizer, HabitFeaturizerOptions

    yield FeaturizerSpec(
        name="habit_daily",
        factory=HabitFeaturizer,
        options=HabitFeaturizerOptions,
        description="one sample per habit per day, labelled by completion the next day",
        reads=HABIT_EVENT_TYPES,
    )


@hookimpl
def satchel_models() -> Iterator[ModelTaskSpec]:
    from satchel.plugin.records import ModelTaskSpec
    from satchel_plugins.habit.task import METRICS, PURPOSE, HabitTask, HabitTaskOptions

    yield ModelTaskSpec(
        name="habit",
        factory=HabitTask,
        options=HabitTaskOptions,
        description="predicts today's habit completions and decides which reminders to send",
        featurizer="habit_daily",
        purposes=(PURPOSE,),
        metrics=METRICS,
    )
