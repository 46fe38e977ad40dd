"""Habit reminders: daily completion features, a next-day model and a two-threshold reminder policy."""

from __future__ import annotations

from satchel_plugins.habit.features import FEATURES, HabitFeaturizer, HabitFeaturizerOptions, HabitSamples
from satchel_plugins.habit.loop_import import LoopHabitsImporter, LoopImportOptions
from satchel_plugins.habit.simulate import RHYTHMS, SimulatedHabitLearner, simulate_habit_learners
from satchel_plugins.habit.task import HabitTask, HabitTaskOptions

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
