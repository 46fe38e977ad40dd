"""The habit featurizer's foldable state: commutative per-(habit, local day) aggregates.

Every feature of :mod:`.features` is a function of, per habit and local day, how many completions,
skips, reminders shown and reminders opened there were and the sum of the completions' hour unit
vectors; per day, the app launches; per habit, its first day. Those are sums and minima, so the
aggregates of an event set do not depend on how it is split or ordered: ``merge(aggregate(a),
aggregate(b)) == aggregate(a + b)`` exactly. The hour vectors are summed in fixed point (integers, 2**-40 units) for that:
float sums would depend on the order.

A folded state keeps only the days from ``horizon`` on: the latest event's day minus the longest
history a training reads (``max_history_days`` + the 30-day window) and a week's slack. A training at a
``now`` that would read older days cannot be answered from it (:meth:`Aggregates.covers`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo

import numpy as np

from satchel.events import Event
from satchel_plugins._timeline import local_day_and_hour
from satchel_plugins.habit.events import (
    APP_OPENED,
    HABIT_COMPLETED,
    HABIT_SKIPPED,
    REMINDER_SHOWN,
    REMINDER_TAPPED,
)

KINDS = (HABIT_COMPLETED, HABIT_SKIPPED, REMINDER_SHOWN, REMINDER_TAPPED)
#: columns of :attr:`Aggregates.cells`
HABIT, DAY, COMPLETED, SKIPPED, SHOWN, TAPPED, SIN, COS = range(8)
#: fixed-point unit of the hour-vector sums
SCALE = 2.0**40
#: days beyond the trained history a folded state keeps (a ``now`` up to a week before the latest event)
SLACK = 7
_FORMAT = 1
_NONE = np.iinfo(np.int64).min  # no day (no event yet, nothing pruned)


@dataclass(frozen=True)
class Aggregates:
    """Per-(habit, day) sums, per-day app launches and each habit's first day (see the module doc)."""

    habits: tuple[str, ...]  # sorted
    first: np.ndarray  # (H,) int64: each habit's first day ever
    cells: np.ndarray  # (N, 8) int64, sorted by (habit, day), one row per pair with an event
    opens: np.ndarray  # (M, 2) int64: day, launches; sorted by day
    latest: int  # the latest day of any event (_NONE: none)
    horizon: int  # days before it are not held (_NONE: every day is)

    def covers(self, first: int) -> bool:
        """Whether every day from ``first`` on is held."""
        return first >= self.horizon

    def pruned(self, keep_days: int) -> Aggregates:
        """Without the days before ``latest - keep_days - SLACK``."""
        if self.latest == _NONE:
            return self
        return _cut(self, max(self.horizon, self.latest - keep_days - SLACK))

    def to_bytes(self) -> bytes:
        """The arrays, each written by ``np.save`` (no pickle)."""
        buf = io.BytesIO()
        names = [h.encode() for h in self.habits]  # UTF-8 with lengths: a fixed-width str array drops NULs
        for array in (
            np.array([_FORMAT, self.latest, self.horizon], np.int64),
            np.frombuffer(b"".join(names), np.uint8),
            np.array([len(n) for n in names], np.int64),
            self.first,
            self.cells,
            self.opens,
        ):
            np.save(buf, array, allow_pickle=False)
        return buf.getvalue()

    @staticmethod
    def from_bytes(raw: bytes) -> Aggregates:
        """The state :meth:`to_bytes` wrote; ValueError when it is not one."""
        buf = io.BytesIO(raw)
        try:
            meta, text, lengths, first, cells, opens = (np.load(buf, allow_pickle=False) for _ in range(6))
        except (OSError, EOFError) as error:
            raise ValueError(f"not a habit aggregate state ({error})") from None
        if meta.shape != (3,) or int(meta[0]) != _FORMAT:
            raise ValueError("not a habit aggregate state of this version")
        h = len(lengths)
        if (
            text.dtype != np.uint8
            or lengths.dtype != np.int64
            or lengths.ndim != 1
            or (h and lengths.min() < 0)
            or int(lengths.sum()) != len(text)
            or first.shape != (h,)
            or cells.ndim != 2
            or cells.shape[1] != 8
            or opens.ndim != 2
            or opens.shape[1] != 2
            or not all(a.dtype == np.int64 for a in (first, cells, opens))
            or (len(cells) and not 0 <= cells[:, HABIT].min() <= cells[:, HABIT].max() < h)
        ):
            raise ValueError("a habit aggregate state with malformed arrays")
        raw, ends = text.tobytes(), np.cumsum(lengths)
        try:
            habits = tuple(raw[e - n : e].decode() for e, n in zip(ends.tolist(), lengths.tolist()))
        except UnicodeDecodeError:
            raise ValueError("a habit aggregate state with a malformed habit name") from None
        return Aggregates(habits, first, cells, opens, int(meta[1]), int(meta[2]))


EMPTY = Aggregates(
    (), np.zeros(0, np.int64), np.zeros((0, 8), np.int64), np.zeros((0, 2), np.int64), _NONE, _NONE
)


def aggregate(events: Sequence[Event], tz: tzinfo) -> Aggregates:
    """The aggregates of ``events`` (of any types; the habit plugin's are counted), nothing pruned."""
    habit_events = [e for e in events if e.type in KINDS]
    open_events = [e for e in events if e.type == APP_OPENED]
    latest = _NONE
    opens = EMPTY.opens
    if open_events:
        o_days, _ = local_day_and_hour([e.time for e in open_events], tz)
        opens = _sum_opens(np.stack([o_days, np.ones_like(o_days)], axis=1))
        latest = int(opens[-1, 0])
    if not habit_events:
        return Aggregates((), EMPTY.first, EMPTY.cells, opens, latest, _NONE)
    days, hours = local_day_and_hour([e.time for e in habit_events], tz)
    names = [str(e.data["habit"]) for e in habit_events]
    habits = sorted(set(names))
    index = {h: i for i, h in enumerate(habits)}
    h_of = np.fromiter((index[n] for n in names), np.int64, len(names))
    kind = np.fromiter((KINDS.index(e.type) for e in habit_events), np.int64, len(names))
    first = np.full(len(habits), np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, h_of, days)
    values = np.zeros((len(names), 8), np.int64)
    values[:, HABIT], values[:, DAY] = h_of, days
    values[np.arange(len(names)), COMPLETED + kind] = 1
    done = kind == 0
    angle = hours[done] * (2 * np.pi / 24.0)
    values[done, SIN] = np.rint(np.sin(angle) * SCALE).astype(np.int64)
    values[done, COS] = np.rint(np.cos(angle) * SCALE).astype(np.int64)
    return Aggregates(tuple(habits), first, _sum_cells(values), opens, max(latest, int(days.max())), _NONE)


def merge(a: Aggregates, b: Aggregates) -> Aggregates:
    """The aggregates of both event sets (exact, commutative); held from the later horizon on."""
    habits = tuple(sorted(set(a.habits) | set(b.habits)))
    index = {h: i for i, h in enumerate(habits)}
    first = np.full(len(habits), np.iinfo(np.int64).max, np.int64)
    parts = []
    for part in (a, b):
        where = np.fromiter((index[h] for h in part.habits), np.int64, len(part.habits))
        np.minimum.at(first, where, part.first)
        cells = part.cells.copy()
        cells[:, HABIT] = where[cells[:, HABIT]] if len(cells) else cells[:, HABIT]
        parts.append(cells)
    cells = _sum_cells(np.concatenate(parts))
    opens = _sum_opens(np.concatenate([a.opens, b.opens]))
    horizon = max(a.horizon, b.horizon)
    merged = Aggregates(habits, first, cells, opens, max(a.latest, b.latest), _NONE)
    return merged if horizon == _NONE else _cut(merged, horizon)


def _cut(agg: Aggregates, horizon: int) -> Aggregates:
    cells = agg.cells[agg.cells[:, DAY] >= horizon]
    opens = agg.opens[agg.opens[:, 0] >= horizon]
    return Aggregates(agg.habits, agg.first, cells, opens, agg.latest, horizon)


def _sum_cells(values: np.ndarray) -> np.ndarray:
    """One row per (habit, day), the other columns summed; sorted by (habit, day)."""
    if not len(values):
        return EMPTY.cells
    low = values[:, DAY].min()
    span = int(values[:, DAY].max() - low) + 1
    keys, at, inverse = np.unique(
        values[:, HABIT] * span + (values[:, DAY] - low), return_index=True, return_inverse=True
    )
    out = np.zeros((len(keys), 8), np.int64)
    out[:, :2] = values[at, :2]
    np.add.at(out[:, 2:], inverse.reshape(-1), values[:, 2:])
    return out


def _sum_opens(values: np.ndarray) -> np.ndarray:
    """One row per day, the launches summed; sorted by day."""
    if not len(values):
        return EMPTY.opens
    days, inverse = np.unique(values[:, 0], return_inverse=True)
    counts = np.zeros(len(days), np.int64)
    np.add.at(counts, inverse.reshape(-1), values[:, 1])
    return np.stack([days, counts], axis=1)
