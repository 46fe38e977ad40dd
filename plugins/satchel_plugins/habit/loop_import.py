"""Importer for Loop Habit Tracker (uHabits) CSV exports: the ZIP, its folder, or a ``Checkmarks.csv``.

What each path means (formats in :mod:`satchel_plugins.habit.loop_export`):

- the export ZIP, the folder it was extracted to, or that folder's ``Habits.csv``: the whole export
  (names, types and targets from ``Habits.csv``; each habit's own ``Checkmarks.csv``, which is
  complete where the root one loses entries);
- a ``Checkmarks.csv`` with a ``Habits.csv`` beside it: the whole export, as above;
- a habit folder's ``Checkmarks.csv`` (``NNN Name/``): that habit alone (named from ``../Habits.csv``
  when present, else from the folder);
- a lone root ``Checkmarks.csv``: every column, measurable habits told apart by their values.

Yes/no habits: done (``implied`` when a frequency rule filled the day in) → ``habit_completed``;
not done → ``habit_skipped``; skip and no entry → nothing (a skipped day is not a miss). Measurable
habits are done when the amount (summed over the habit's period, as Loop does) meets the target,
``AT_MOST`` targets when it stays at or below it; otherwise ``habit_skipped``, both keeping the
amount. Without a known target (a lone ``Checkmarks.csv`` and no ``targets`` option) any amount
above zero counts as done. Each day becomes an event at ``hour`` local time, its id derived from
(subject, habit, date), so importing an export twice stores it once.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from satchel.errors import EventError
from satchel.events.ingest import parse_event
from satchel.model.task import SourcedEvent
from satchel_plugins._timeline import zone
from satchel_plugins.habit.events import HABIT_COMPLETED, HABIT_SKIPPED
from satchel_plugins.habit.loop_export import (
    CODES,
    FIX,
    HABIT_DIR,
    NO,
    SKIP,
    UNKNOWN,
    YES_AUTO,
    Habit,
    decode,
    read_checkmarks,
    read_export,
    read_habit_checkmarks,
    read_habits,
)


class LoopImportOptions(BaseModel):
    """Options of the ``loop_habits_csv`` importer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: str = Field("me", min_length=1, description="subject the export belongs to")
    timezone: str = Field("UTC", description="IANA zone the dates are local to")
    hour: float = Field(
        12.0, ge=0, lt=24, description="local time given to each entry (Loop stores dates only)"
    )
    targets: dict[str, float] = Field(
        default_factory=dict,
        description="measurable habit → daily target in its unit (overrides Habits.csv; for a lone Checkmarks.csv)",
    )
    at_most: frozenset[str] = Field(
        frozenset(), description="habits in `targets` whose target is a maximum (Loop's AT_MOST)"
    )


class LoopHabitsImporter:
    """Reads a Loop CSV export into habit events (an :class:`~satchel.model.task.EventSource`)."""

    #: ``satchel ingest`` may pass the folder an export was extracted to
    reads_folders: ClassVar[bool] = True

    def __init__(self, options: LoopImportOptions | None = None) -> None:
        self.options = options or LoopImportOptions()
        self._tz = zone(self.options.timezone, "source.options.timezone")
        unknown = self.options.at_most - set(self.options.targets)
        if unknown:
            raise EventError(
                f"source.options.at_most: {sorted(unknown)} have no entry in targets",
                hint="give each AT_MOST habit its target in `targets` too",
            )

    def read(self, path: Path) -> Iterator[SourcedEvent]:
        for habit in _habits(Path(path)):
            self._apply_options(habit)
            yield from self._events(habit)

    def _apply_options(self, habit: Habit) -> None:
        target = self.options.targets.get(habit.name)
        if target is not None:
            habit.numeric, habit.target, habit.at_most = True, target, habit.name in self.options.at_most
        if habit.numeric is None:  # the export does not say: any amount a code cannot be marks it measurable
            habit.numeric = any(v not in CODES for v, _ in habit.entries.values())

    def _events(self, habit: Habit) -> Iterator[SourcedEvent]:
        at = time(hour=int(self.options.hour), minute=round(self.options.hour % 1 * 60) % 60)
        days = sorted(habit.entries)
        for day in days:
            value, line = habit.entries[day]
            if value in (UNKNOWN, SKIP):
                continue
            when = datetime.combine(day, at, tzinfo=self._tz)
            key = f"loop|{self.options.subject}|{habit.name}|{day.isoformat()}"
            event_id = hashlib.sha256(key.encode()).hexdigest()[:32]
            data: dict[str, str | float | bool] = {"habit": habit.name}
            if habit.numeric:
                data["value"] = value / 1000.0
                done = _meets_target(habit, day)
            else:
                done = value != NO
                if done:
                    data["implied"] = value == YES_AUTO
            kind = HABIT_COMPLETED if done else HABIT_SKIPPED
            event = parse_event(
                {"type": kind, "time": when, "data": data, "id": event_id}, f"{habit.source}:{line}", hint=FIX
            )
            yield SourcedEvent(self.options.subject, event, line)


def _meets_target(habit: Habit, day: date) -> bool:
    """Loop's rule: the amount over the habit's period ending ``day`` against its target."""
    if habit.target is None:
        return habit.entries[day][0] > 0
    total = 0
    for back in range(max(habit.period, 1)):
        value = habit.entries.get(day - timedelta(days=back), (UNKNOWN, 0))[0]
        if value not in (UNKNOWN, SKIP):
            total += value
    amount = total / 1000.0
    return amount <= habit.target if habit.at_most else amount >= habit.target


def _habits(path: Path) -> list[Habit]:
    """The habits a path holds (see the module docstring for what each kind of path means)."""
    if path.is_dir() or (path.is_file() and zipfile.is_zipfile(path)):
        return read_export(path)
    if not path.is_file():
        raise EventError(f"no such file or folder: {path}")
    if path.name == "Habits.csv" or (path.parent / "Habits.csv").is_file():
        return read_export(path.parent)
    text = _text(path)
    first = text.splitlines()[0].strip() if text.strip() else ""
    if first in ("Date,Value", "Date,Value,Notes") or re.match(r"^\d", first):
        return [_one_habit(path, text)]
    return read_checkmarks(text, str(path))


def _one_habit(path: Path, text: str) -> Habit:
    """A habit folder's ``Checkmarks.csv``: named from ``../Habits.csv``, else from the folder."""
    folder = HABIT_DIR.match(path.parent.name)
    habits_csv = path.parent.parent / "Habits.csv"
    if folder and habits_csv.is_file():
        by_position = dict(read_habits(_text(habits_csv), str(habits_csv)))
        habit = by_position.get(int(folder.group(1)))
        if habit is None:
            raise EventError(
                f"{path}: {habits_csv} has no habit at position {int(folder.group(1))}", hint=FIX
            )
    elif folder and folder.group(2):
        habit = Habit(name=folder.group(2).strip())
    else:
        raise EventError(
            f"{path}:1: a single habit's Checkmarks.csv, but its folder {path.parent.name!r} "
            "does not name the habit (Loop names it 'NNN Name')",
            hint="import the whole export ZIP, or keep the file in its habit folder",
        )
    habit.entries = read_habit_checkmarks(text, str(path))
    habit.source = str(path)
    return habit


def _text(path: Path) -> str:
    try:
        return decode(path.read_bytes(), str(path))
    except OSError as e:
        raise EventError(f"{path}: cannot be read ({e.strerror})") from None
