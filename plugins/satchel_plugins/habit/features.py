"""Habit timeline → one sample per habit per local day, labelled by completion on the next day.

All features describe the habit up to and including day ``d`` and are scaled to roughly [0, 1]
(cyclic ones to [-1, 1]); the label is whether the habit was done on day ``d + 1``. Rates are
smoothed toward 1/2 over the days the habit has existed, so a new habit starts neutral.

Every feature of day ``d`` is a function of the habit's first event and of days ``d - 29 … d``
only (streaks and days since the last completion are capped at that window), so the rows
``rows()`` predicts from are exactly the training rows of the same days: no training/serving skew.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from satchel.events import Event
from satchel.model.dataset import Dataset, FeatureSchema
from satchel.model.export_contract import FeatureDoc, SampleEvents
from satchel.model.task import Rows
from satchel_plugins._timeline import day_start, day_to_date, local_day, weekday, zone
from satchel_plugins.habit.aggregates import (
    COMPLETED,
    COS,
    DAY,
    HABIT,
    SCALE,
    SHOWN,
    SIN,
    TAPPED,
    Aggregates,
    aggregate,
    merge,
)

FEATURES: tuple[str, ...] = (
    "streak",  # log-scaled current streak of done days ending today (capped at 30 days)
    "rate_7d",  # smoothed completion rate over the last 7 days
    "rate_30d",  # smoothed completion rate over the last 30 days
    "weekday_rate",  # smoothed rate on tomorrow's weekday over the last 4 weeks
    "days_since_done",  # log-scaled days since the last completion (capped at 30 days)
    "app_opens",  # log-scaled app launches today
    "reminders_opened",  # log-scaled reminders for this habit opened today
    "reminder_response",  # smoothed share of this habit's reminders opened over 30 days
    "hour_sin",  # usual completion hour over 30 days (mean unit vector: 0 when none)
    "hour_cos",
    "dow_sin",  # tomorrow's weekday
    "dow_cos",
)
SCHEMA = FeatureSchema(FEATURES, version="habit_daily/1")
_WINDOW = 30  # longest look-back of any feature, in days
_DAY_RULE = (
    "Days are local days of the featurizer's timezone; day d's row predicts completion on day d + 1. "
    "age = days since the habit's first event + 1 (at most the window). "
)
_LOG = "min(log1p(n) / log1p(at_one), 1.5)"
_RATE = "(completions + 0.5) / (min(age, k) + 1)"
FEATURE_DOCS: tuple[FeatureDoc, ...] = (
    FeatureDoc(
        "streak",
        _DAY_RULE + "Consecutive done days ending on day d (0 if not done on d), capped at 30.",
        _LOG,
        {"at_one": 30.0, "cap": 30.0},
    ),
    FeatureDoc("rate_7d", "Days done among days d-6..d.", _RATE, {"k": 7.0}),
    FeatureDoc("rate_30d", "Days done among days d-29..d.", _RATE, {"k": 30.0}),
    FeatureDoc(
        "weekday_rate",
        "Done on days d-6, d-13, d-20, d-27 (tomorrow's weekday, 1-4 weeks back); "
        "seen = how many of those days the habit existed.",
        "(done + 0.5) / (seen + 1)",
    ),
    FeatureDoc(
        "days_since_done",
        "Days since the last completion up to day d (0 when done on d); 30 when none in the window.",
        _LOG,
        {"at_one": 30.0, "cap": 30.0},
    ),
    FeatureDoc("app_opens", "app_opened events on day d (any habit).", _LOG, {"at_one": 10.0}),
    FeatureDoc("reminders_opened", "reminder_tapped events of this habit on day d.", _LOG, {"at_one": 3.0}),
    FeatureDoc(
        "reminder_response",
        "Reminders of this habit tapped vs shown over days d-29..d.",
        "(min(tapped, shown) + 0.5) / (shown + 1)",
    ),
    FeatureDoc(
        "hour_sin",
        "Mean over done days d-29..d of sin(2*pi*h/24), h = local completion hour "
        "(fractional; several completions in a day averaged first); 0 when none.",
        "sum / max(done days in window, 1)",
    ),
    FeatureDoc("hour_cos", "As hour_sin with cos.", "sum / max(done days in window, 1)"),
    FeatureDoc("dow_sin", "sin(2*pi*wd/7), wd = weekday of day d + 1, Monday = 0.", "none"),
    FeatureDoc("dow_cos", "cos(2*pi*wd/7), wd as dow_sin.", "none"),
)


class HabitFeaturizerOptions(BaseModel):
    """Options of the ``habit_daily`` featurizer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    timezone: str = Field("UTC", description="IANA zone that defines the learner's days")
    max_history_days: int = Field(365, ge=14, le=3650, description="days of history turned into samples")


@dataclass(frozen=True)
class HabitSamples:
    """Training samples with the habit and the feature day (local day number) of each row."""

    data: Dataset
    habits: tuple[str, ...]
    days: np.ndarray


@dataclass(frozen=True)
class _Timeline:
    habits: tuple[str, ...]
    base: int  # day number of column 0
    start: np.ndarray  # (H,) column of each habit's first event ever (negative: before column 0)
    done: np.ndarray  # (H, D) 1.0 when completed that day
    taps: np.ndarray  # (H, D) reminders opened
    shown: np.ndarray  # (H, D) reminders shown
    hour_sin: np.ndarray  # (H, D) sum of completion-hour unit vectors
    hour_cos: np.ndarray
    opens: np.ndarray  # (D,) app launches


class HabitFeaturizer:
    """Featurizer ``habit_daily``: per-habit daily features for next-day completion."""

    schema: FeatureSchema = SCHEMA
    #: bump when the folded state's meaning changes (cached states of another version are rebuilt)
    cache_version = "1"

    def __init__(self, options: HabitFeaturizerOptions | None = None) -> None:
        self.options = options or HabitFeaturizerOptions()
        self._tz = zone(self.options.timezone, "featurizer.options.timezone")

    def samples(self, events: Sequence[Event], *, now: datetime) -> HabitSamples:
        """Samples for every day ``d`` whose next day ended before ``now``'s local day."""
        found = self._samples(aggregate(events, self._tz), now)
        assert found is not None  # unpruned aggregates hold every day
        return found

    def training_data(self, events: Sequence[Event], *, now: datetime) -> Dataset:
        return self.samples(events, now=now).data

    def fold(self, state: bytes | None, events: Sequence[Event]) -> bytes:
        """The aggregates of the events folded so far and ``events`` (see :mod:`.aggregates`)."""
        new = aggregate(events, self._tz)
        merged = new if state is None else merge(Aggregates.from_bytes(state), new)
        return merged.pruned(self.options.max_history_days + _WINDOW).to_bytes()

    def training_data_from(self, state: bytes, *, now: datetime) -> Dataset | None:
        """``training_data`` of the folded events, or None when ``now`` reads days the state dropped."""
        found = self._samples(Aggregates.from_bytes(state), now)
        return None if found is None else found.data

    def _samples(self, agg: Aggregates, now: datetime) -> HabitSamples | None:
        today = local_day(now, self._tz)
        first = today - self.options.max_history_days - _WINDOW
        if not agg.covers(first):
            return None
        tl = _timeline(agg, today, first)
        if tl is None:
            empty = Dataset.of(np.zeros((0, SCHEMA.width)), np.zeros((0, 1)), schema=SCHEMA)
            return HabitSamples(empty, (), np.zeros(0, np.int64))
        x = _features(tl)  # (H, D, F)
        n_days = tl.done.shape[1]
        col = np.arange(n_days)
        first_col = today - self.options.max_history_days - tl.base
        last_col = today - 2 - tl.base  # its label day, today - 1, has ended
        valid = (col[None, :] >= tl.start[:, None]) & (col[None, :] >= first_col) & (col[None, :] <= last_col)
        d_idx, h_idx = np.nonzero(valid.T)  # day-major: samples in the order their labels became known
        y = tl.done[h_idx, d_idx + 1]
        days = d_idx + tl.base
        data = Dataset.of(x[h_idx, d_idx], y, schema=SCHEMA, times=day_start(days + 2, self._tz))
        return HabitSamples(data, tuple(tl.habits[i] for i in h_idx), days)

    def rows(self, events: Sequence[Event], *, now: datetime) -> Rows:
        """One row per habit: yesterday's features, predicting completion today."""
        today = local_day(now, self._tz)
        tl = _timeline(aggregate(events, self._tz), today, today - 1 - _WINDOW)
        if tl is None:
            return Rows((), np.zeros((0, SCHEMA.width), np.float32))
        x = _features(tl)[:, today - 1 - tl.base]
        done_today = tl.done[:, today - tl.base] > 0
        angle = np.arctan2(x[:, FEATURES.index("hour_sin")], x[:, FEATURES.index("hour_cos")])
        strength = np.hypot(x[:, FEATURES.index("hour_sin")], x[:, FEATURES.index("hour_cos")])
        usual = np.mod(angle * 24.0 / (2 * np.pi), 24.0)
        context = tuple(
            {
                "habit": h,
                "done_today": bool(done_today[i]),
                "day": day_to_date(today).isoformat(),
                "usual_hour": round(float(usual[i]), 2) if strength[i] > 0.3 else None,
            }
            for i, h in enumerate(tl.habits)
        )
        return Rows(tl.habits, x.astype(np.float32), context)

    def describe(self) -> tuple[FeatureDoc, ...]:
        """Each feature's definition and scaling (the export contract; see docs/mobile.md)."""
        return FEATURE_DOCS

    def sample_events(self) -> SampleEvents:
        """Synthetic events (one simulated learner, 2 habits, 40 days) for the export's golden vectors."""
        from satchel_plugins.habit.simulate import simulate_habit_learners

        learner = simulate_habit_learners(1, days=40, habits=2, seed=19)[0]
        return SampleEvents(learner.events, learner.day(40))


def _timeline(agg: Aggregates, today: int, first: int) -> _Timeline | None:
    """The days ``first .. today`` of the habits with an event in them (None: no such habit)."""
    cells = agg.cells[(agg.cells[:, DAY] >= first) & (agg.cells[:, DAY] <= today)]
    if not len(cells):
        return None
    present = np.unique(cells[:, HABIT])  # sorted indices of sorted names: the names stay sorted
    n_h, n_d = len(present), today - first + 1
    flat = np.searchsorted(present, cells[:, HABIT]) * n_d + (cells[:, DAY] - first)

    def grid(column: int) -> np.ndarray:
        out = np.zeros(n_h * n_d)
        out[flat] = cells[:, column]
        return out.reshape(n_h, n_d)

    completed = grid(COMPLETED)
    per_day = np.maximum(completed, 1.0)  # several completions in a day count as one vector
    opens = agg.opens[(agg.opens[:, 0] >= first) & (agg.opens[:, 0] <= today)]
    launches = np.zeros(n_d)
    launches[opens[:, 0] - first] = opens[:, 1]
    return _Timeline(
        tuple(agg.habits[i] for i in present),
        first,  # a fixed origin: every feature sees the same days whatever the history length
        agg.first[present] - first,
        (completed > 0).astype(np.float64),
        grid(TAPPED),
        grid(SHOWN),
        grid(SIN) / SCALE / per_day,
        grid(COS) / SCALE / per_day,
        launches,
    )


def _rolling(a: np.ndarray, k: int) -> np.ndarray:
    """Sum over the last ``k`` columns up to and including each column."""
    c = np.cumsum(a, axis=-1)
    out = c.copy()
    out[..., k:] -= c[..., :-k]
    return out


def _log_scale(n: np.ndarray, at_one: float) -> np.ndarray:
    return np.minimum(np.log1p(n) / np.log1p(at_one), 1.5)


def _features(tl: _Timeline) -> np.ndarray:
    n_h, n_d = tl.done.shape
    col = np.arange(n_d)[None, :]
    age = np.maximum(col - tl.start[:, None] + 1, 0)  # days the habit has existed, up to each day
    done = tl.done

    def rate(k: int) -> np.ndarray:
        return (_rolling(done, k) + 0.5) / (np.minimum(age, k) + 1.0)

    last_miss = np.maximum.accumulate(np.where(done == 0, col, -1), axis=1)
    streak = np.minimum(col - last_miss, _WINDOW)
    last_done = np.maximum.accumulate(np.where(done > 0, col, -1), axis=1)
    since = np.minimum(np.where(last_done >= 0, col - last_done, _WINDOW), _WINDOW)

    wk_done = np.zeros_like(done)
    wk_seen = np.zeros_like(done)
    for back in (6, 13, 20, 27):  # tomorrow minus 1..4 weeks
        wk_done[:, back:] += done[:, :-back]
        wk_seen[:, back:] += (col[:, :-back] >= tl.start[:, None]).astype(np.float64)
    weekday_rate = (wk_done + 0.5) / (wk_seen + 1.0)

    shown30, taps30 = _rolling(tl.shown, _WINDOW), _rolling(tl.taps, _WINDOW)
    response = (np.minimum(taps30, shown30) + 0.5) / (shown30 + 1.0)
    n_done30 = np.maximum(_rolling(done, _WINDOW), 1.0)
    hour_sin = _rolling(tl.hour_sin, _WINDOW) / n_done30
    hour_cos = _rolling(tl.hour_cos, _WINDOW) / n_done30

    tomorrow = weekday(np.arange(n_d) + tl.base + 1) * (2 * np.pi / 7.0)
    dow_sin = np.broadcast_to(np.sin(tomorrow), (n_h, n_d))
    dow_cos = np.broadcast_to(np.cos(tomorrow), (n_h, n_d))
    opens = np.broadcast_to(_log_scale(tl.opens, 10.0), (n_h, n_d))

    columns = (
        _log_scale(streak, 30.0),
        rate(7),
        rate(_WINDOW),
        weekday_rate,
        _log_scale(since, 30.0),
        opens,
        _log_scale(tl.taps, 3.0),
        response,
        hour_sin,
        hour_cos,
        dow_sin,
        dow_cos,
    )
    return np.stack(columns, axis=-1)
