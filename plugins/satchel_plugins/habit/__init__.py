"""Habit reminders: daily completion features, a next-day model and a two-threshold reminder policy."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from satchel_plugins.habit.features import FEATURES, HabitFeaturizer, HabitFeaturizerOptions, HabitSamples
    from satchel_plugins.habit.loop_import import LoopHabitsImporter, LoopImportOptions
    from satchel_plugins.habit.simulate import RHYTHMS, SimulatedHabitLearner, simulate_habit_learners
    from satchel_plugins.habit.task import HabitTask, HabitTaskOptions

#: public name -> the submodule defining it
_EXPORTS = {
    "FEATURES": "features",
    "HabitFeaturizer": "features",
    "HabitFeaturizerOptions": "features",
    "HabitSamples": "features",
    "LoopHabitsImporter": "loop_import",
    "LoopImportOptions": "loop_import",
    "RHYTHMS": "simulate",
    "SimulatedHabitLearner": "simulate",
    "simulate_habit_learners": "simulate",
    "HabitTask": "task",
    "HabitTaskOptions": "task",
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


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first use (PEP 562): the registration module
    ``satchel_plugins.habit.plugin`` imports this package, and must not pay for numpy and the models."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
