"""Synthetic habit learners with known ground truth, deterministic by seed.

Each learner follows one rhythm for all their habits (with per-habit variation), so a model of one
learner does not transfer to the next: ``weekdays`` (Mon-Fri), ``fixed_days`` (three set
weekdays), ``momentum`` (a streak keeps itself going), ``alternate`` (a rest day after each done
day), ``weekend`` and ``fading`` (motivation decays). Every day the app shows a reminder per habit
that is tapped with a learner-specific probability (which helps a little), the app is opened
more on active days, and completions happen around a habit-specific hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import numpy as np

from satchel.events import Event
from satchel_plugins.habit.events import (
    APP_OPENED,
    HABIT_COMPLETED,
    HABIT_SKIPPED,
    REMINDER_SHOWN,
    REMINDER_TAPPED,
)

RHYTHMS: tuple[str, ...] = ("weekdays", "fixed_days", "momentum", "alternate", "weekend", "fading")


@dataclass(frozen=True)
class SimulatedHabitLearner:
    """A learner's events and the truth behind them: ``p_true``/``done`` are (habits, days)."""

    subject: str
    rhythm: str
    habits: tuple[str, ...]
    start: date
    events: tuple[Event, ...]
    p_true: np.ndarray
    done: np.ndarray

    def day(self, index: int) -> datetime:
        """Midnight UTC at the start of simulated day ``index``."""
        return datetime.combine(self.start + timedelta(days=index), time(), tzinfo=timezone.utc)


def simulate_habit_learners(
    n_learners: int, *, days: int = 150, habits: int = 3, seed: int = 0, start: date = date(2024, 1, 1)
) -> tuple[SimulatedHabitLearner, ...]:
    """``n_learners`` learners cycling through :data:`RHYTHMS`, times in UTC."""
    return tuple(
        _learner(i, RHYTHMS[i % len(RHYTHMS)], days, habits, np.random.default_rng([seed, i]), start)
        for i in range(n_learners)
    )


def _probability(
    rhythm: str, dow: int, done_yesterday: bool, progress: float, strength: float, fixed: tuple[int, ...]
) -> float:
    hi, lo = 0.55 + 0.4 * strength, 0.05 + 0.1 * (1 - strength)
    if rhythm == "weekdays":
        return hi if dow < 5 else lo
    if rhythm == "fixed_days":
        return hi if dow in fixed else lo
    if rhythm == "weekend":
        return hi if dow >= 5 else lo
    if rhythm == "momentum":
        return hi if done_yesterday else 0.2
    if rhythm == "alternate":
        return lo if done_yesterday else hi
    base = hi - (hi - 0.15) * progress  # fading
    return min(base + (0.1 if done_yesterday else -0.1), 0.98)


def _learner(
    index: int, rhythm: str, days: int, n_habits: int, rng: np.random.Generator, start: date
) -> SimulatedHabitLearner:
    names = tuple(f"habit_{j}" for j in range(n_habits))
    tap_rate = rng.uniform(0.1, 0.6)
    p_true = np.zeros((n_habits, days))
    done = np.zeros((n_habits, days), bool)
    events: list[Event] = []
    origin = datetime.combine(start, time(), tzinfo=timezone.utc)
    subject = f"learner_{index}"
    for j, habit in enumerate(names):
        strength = rng.uniform(0.6, 1.0)
        hour = rng.uniform(7.0, 21.0)
        fixed = tuple(sorted(rng.choice(7, size=3, replace=False).tolist()))
        for d in range(days):
            dow = (start + timedelta(days=d)).weekday()
            p = _probability(rhythm, dow, bool(done[j, d - 1]) if d else False, d / days, strength, fixed)
            day0 = origin + timedelta(days=d)
            events.append(
                Event(type=REMINDER_SHOWN, time=day0 + timedelta(hours=hour - 1), data={"habit": habit})
            )
            if rng.random() < tap_rate:
                events.append(
                    Event(
                        type=REMINDER_TAPPED, time=day0 + timedelta(hours=hour - 0.9), data={"habit": habit}
                    )
                )
                p = min(p + 0.1, 0.98)
            p_true[j, d] = p
            done[j, d] = rng.random() < p
            if done[j, d]:
                at = float(np.clip(hour + rng.normal(0, 1.0), 0.0, 23.9))
                events.append(
                    Event(type=HABIT_COMPLETED, time=day0 + timedelta(hours=at), data={"habit": habit})
                )
            elif rng.random() < 0.1:
                events.append(
                    Event(type=HABIT_SKIPPED, time=day0 + timedelta(hours=22), data={"habit": habit})
                )
    active = np.asarray(done.any(axis=0))
    for d in range(days):
        for _ in range(rng.poisson(2.0 if active[d] else 0.5)):
            events.append(Event(type=APP_OPENED, time=origin + timedelta(days=d, hours=rng.uniform(6, 23))))
    events.sort(key=lambda e: e.time)
    numbered = tuple(e.model_copy(update={"id": f"{subject}-{n:06d}"}) for n, e in enumerate(events))
    return SimulatedHabitLearner(subject, rhythm, names, start, numbered, p_true, done)
