"""Habit reminders: daily completion features, a next-day model and a two-threshold reminder policy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from satchel_plugins._lazy import lazy_exports, listing

if TYPE_CHECKING:
    from satchel_plugins.habit.features import FEATURES, HabitFeaturizer, HabitFeaturizerOptions, HabitSamples
    from satchel_plugins.habit.loop_import import LoopHabitsImporter, LoopImportOptions
    from satchel_plugins.habit.simulate import RHYTHMS, SimulatedHabitLearner, simulate_habit_learners
    from satchel_plugins.habit.task import HabitTask, HabitTaskOptions

#: public name -> the submodule defining it
_EXPORTS = {
    "FEATURES": ".features",
    "HabitFeaturizer": ".features",
    "HabitFeaturizerOptions": ".features",
    "HabitSamples": ".features",
    "LoopHabitsImporter": ".loop_import",
    "LoopImportOptions": ".loop_import",
    "RHYTHMS": ".simulate",
    "SimulatedHabitLearner": ".simulate",
    "simulate_habit_learners": ".simulate",
    "HabitTask": ".task",
    "HabitTaskOptions": ".task",
}

__all__ = [
    "FEATURES",
    "RHYTHMS",
    "HabitFeaturizer",
    "HabitFeaturizerOptions",
    "HabitSamples",
    "HabitTask",
    "HabitTaskOptions",
    "LoopHabitsImporter",
    "LoopImportOptions",
    "SimulatedHabitLearner",
    "simulate_habit_learners",
]


__getattr__ = lazy_exports(globals(), _EXPORTS)
__dir__ = listing(globals(), _EXPORTS)
