"""Importer for Loop Habit Tracker (uHabits) ``Checkmarks.csv`` exports.

One row per date (``MM-DD-YY`` or ``YYYY-MM-DD``), one column per habit. Yes/no habits store
2 = done (manual), 1 = done (implied by a frequency rule), 0 = not done, -1 = no entry; numeric
habits store the value x 1000 (a column is numeric when any cell lies outside -1..2). Each entry
becomes ``habit_completed`` (or ``habit_skipped`` for 0) at ``hour`` local time on that date;
event ids are derived from (subject, habit, date), so importing a file twice stores it once.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import date, datetime, time
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel, ConfigDict, Field

from satchel.errors import EventError
from satchel.events import Event
from satchel.task import SourcedEvent
from satchel_plugins._timeline import zone
from satchel_plugins.habit.events import HABIT_COMPLETED, HABIT_SKIPPED

_DATE_FORMATS = ("%m-%d-%y", "%Y-%m-%d")
_FIX = "export the file again from Loop (Settings → Export as CSV) and import Checkmarks.csv unchanged"


class LoopImportOptions(BaseModel):
    """Options of the ``loop_habits_csv`` importer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: str = Field("me", min_length=1, description="subject the export belongs to")
    timezone: str = Field("UTC", description="IANA zone the dates are local to")
    hour: float = Field(12.0, ge=0, lt=24, description="local time given to each entry (Loop stores dates only)")


class LoopHabitsImporter:
    """Reads a Loop ``Checkmarks.csv`` into habit events (an :class:`~satchel.task.EventSource`)."""

    def __init__(self, options: LoopImportOptions | None = None) -> None:
        self.options = options or LoopImportOptions()
        self._tz = zone(self.options.timezone, "source.options.timezone")

    def read(self, path: Path) -> Iterator[SourcedEvent]:
        path = Path(path)
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header or header[0].strip().lower() != "date":
                raise EventError(f"{path}:1: field 'Date': the first column must be 'Date'", hint=_FIX)
            habits = [h.strip() for h in header[1:]]
            table = [(reader.line_num, row) for row in reader if row]
        parsed = [(line, self._date(path, line, row[0]), self._values(path, line, row, header)) for line, row in table]
        numeric = [any(v[j] < -1 or v[j] > 2 for _, _, v in parsed) for j in range(len(habits))]
        at = time(hour=int(self.options.hour), minute=int(round(self.options.hour % 1 * 60)) % 60)
        for line, day, values in parsed:
            when = datetime.combine(day, at, tzinfo=self._tz)
            for habit, value, is_numeric in zip(habits, values, numeric):
                event = self._event(habit, value, is_numeric, day, when)
                if event is not None:
                    yield SourcedEvent(self.options.subject, event, line)

    def _event(self, habit: str, value: int, is_numeric: bool, day: date, when: datetime) -> Event | None:
        if value == -1:
            return None
        key = f"loop|{self.options.subject}|{habit}|{day.isoformat()}"
        event_id = hashlib.sha256(key.encode()).hexdigest()[:32]
        if value == 0:
            return Event(type=HABIT_SKIPPED, time=when, data={"habit": habit}, id=event_id)
        data: dict[str, str | float | bool | None] = {"habit": habit}
        if is_numeric:
            data["value"] = value / 1000.0
        else:
            data["implied"] = value == 1
        return Event(type=HABIT_COMPLETED, time=when, data=data, id=event_id)

    @staticmethod
    def _date(path: Path, line: int, text: str) -> date:
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(text.strip(), fmt).date()
            except ValueError:
                continue
        raise EventError(f"{path}:{line}: field 'Date': {text!r} is not a date (MM-DD-YY or YYYY-MM-DD)", hint=_FIX)

    @staticmethod
    def _values(path: Path, line: int, row: list[str], header: list[str]) -> list[int]:
        if len(row) != len(header):
            raise EventError(f"{path}:{line}: {len(row)} fields but the header names {len(header)}", hint=_FIX)
        values = []
        for name, cell in zip(header[1:], row[1:]):
            try:
                v = int(cell.strip())
            except ValueError:
                raise EventError(f"{path}:{line}: field {name.strip()!r}: {cell!r} is not an integer", hint=_FIX) from None
            if v < -1:
                raise EventError(f"{path}:{line}: field {name.strip()!r}: {v} is below -1 (no entry)", hint=_FIX)
            values.append(v)
        return values

