"""Reads what Loop Habit Tracker (uHabits) exports, across its versions, into habits and daily entries.

An export (the ZIP from Settings → Export as CSV, or that ZIP extracted) holds:

- ``Habits.csv``: ``Position, Name, ...``; since 2.0 also ``Type`` (``YES_NO``/``NUMERICAL``),
  ``FrequencyNumerator, FrequencyDenominator``, ``Target Type`` (``AT_LEAST``/``AT_MOST``) and
  ``Target Value`` (units, e.g. ``10.0``). Written with quoting, so names may hold commas.
- ``NNN Name/Checkmarks.csv`` per habit (``NNN`` = its position): ``date,value`` lines, or since 2.1
  a ``Date,Value,Notes`` header. Loop 2.3 loses entries in the root file; these are complete.
- ``Checkmarks.csv``: one row per day, one column per habit, the header's names *unquoted* (a name
  with a comma splits in two) and a trailing comma. Cells are numeric codes (before 2.1), the
  ``Entry(timestamp=…, value=N)`` of Loop 2.0.3, or ``YES_MANUAL``/``YES_AUTO``/``NO``/``SKIP``/
  ``UNKNOWN``/raw numbers (2.1+).

Values are Loop's codes: 2 done, 1 done by a frequency rule, 0 not done, 3 skip, -1 no entry;
measurable habits store the amount x 1000. Dates are ``YYYY-MM-DD`` (``MM-DD-YY`` is accepted).
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from satchel.errors import EventError
from satchel.events import EARLIEST, LATEST, MAX_INT
from satchel.events.ingest import decode_text

YES_MANUAL, YES_AUTO, NO, SKIP, UNKNOWN = 2, 1, 0, 3, -1
SYMBOLS = {"YES_MANUAL": YES_MANUAL, "YES_AUTO": YES_AUTO, "NO": NO, "SKIP": SKIP, "UNKNOWN": UNKNOWN}
CODES = frozenset(SYMBOLS.values())
FIX = "export again from Loop (Settings → Export as CSV) and import the ZIP unchanged"
_DATE_FORMATS = ("%Y-%m-%d", "%m-%d-%y")
_ENTRY_CELL = re.compile(r"Entry\(timestamp=[^,()]*, value=(-?\d+)\)")
MAX_PERIOD = 366  # the longest period (days) Loop lets a frequency span: once a year
HABIT_DIR = re.compile(r"^(\d{3})(?: (.*))?$")  # a habit's folder: position and name


@dataclass
class Habit:
    """One habit of the export; ``numeric``/``target`` are ``None`` when the export does not say."""

    name: str
    numeric: bool | None = None
    target: float | None = None
    at_most: bool = False
    period: int = 1
    entries: dict[date, tuple[int, int]] = field(default_factory=dict)  # day → (value, line)
    source: str = ""


class _Files:
    """The export's files, from a ZIP or a folder, each named ``where`` for error messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self.root = PurePosixPath()
        if path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
                raise EventError(f"{path}: not a readable ZIP ({e})", hint=FIX) from None
            tops = [PurePosixPath(n) for n in self._zip.namelist() if PurePosixPath(n).name == "Habits.csv"]
            if not tops:
                raise EventError(
                    f"{path}: no Habits.csv in the ZIP, so it is not a Loop CSV export",
                    hint="in Loop use Settings → Export as CSV (not the full backup, a .db file)",
                )
            self.root = min(tops, key=lambda p: len(p.parts)).parent

    def where(self, rel: str) -> str:
        return f"{self.path}:{rel}" if self._zip else str(self.path / rel)

    def names(self) -> list[str]:
        """Paths of the files under the export's root, relative to it."""
        if self._zip is None:
            return [p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()]
        out = []
        for n in self._zip.namelist():
            p = PurePosixPath(n)
            if not n.endswith("/") and self.root in p.parents:
                out.append(p.relative_to(self.root).as_posix())
        return out

    def text(self, rel: str) -> str:
        try:
            if self._zip is None:
                raw = (self.path / rel).read_bytes()
            else:
                raw = self._zip.read((self.root / rel).as_posix())
        except (
            OSError,
            EOFError,
            KeyError,
            zipfile.BadZipFile,
            zlib.error,
            RuntimeError,
            NotImplementedError,
            ValueError,
        ) as e:
            raise EventError(f"{self.where(rel)}: cannot be read ({e})", hint=FIX) from None
        return decode(raw, self.where(rel))


def decode(raw: bytes, where: str) -> str:
    """UTF-8 text (a BOM is dropped); a byte that is not UTF-8 is named by its line."""
    return decode_text(
        raw,
        where,
        hint="this is not a Loop CSV file; import the file Loop wrote, "
        "without re-saving it in another encoding",
    )


def read_export(path: Path) -> list[Habit]:
    """Habits with their entries from a Loop export ZIP or folder (see the module docstring)."""
    files = _Files(path)
    names = files.names()
    if "Habits.csv" not in names:
        raise EventError(
            f"{files.where('Habits.csv')}: not found, so this is not a Loop CSV export folder",
            hint="pass the folder the export ZIP was extracted to, or the ZIP itself",
        )
    habits = read_habits(files.text("Habits.csv"), files.where("Habits.csv"))
    by_position = dict(habits)
    covered: set[str] = set()
    for rel in sorted(names):
        parts = rel.split("/")
        if len(parts) == 2 and parts[1] == "Checkmarks.csv" and (m := HABIT_DIR.match(parts[0])):
            habit = by_position.get(int(m.group(1)))
            if habit is None:
                raise EventError(
                    f"{files.where(rel)}: folder {parts[0]!r} has no habit at position "
                    f"{int(m.group(1))} in Habits.csv",
                    hint=FIX,
                )
            habit.entries = read_habit_checkmarks(files.text(rel), files.where(rel))
            habit.source = files.where(rel)
            covered.add(habit.name)
    if "Checkmarks.csv" in names:
        known = [h for _, h in habits]
        root = read_checkmarks(files.text("Checkmarks.csv"), files.where("Checkmarks.csv"), known)
        by_name = {h.name: h for h in known}
        for habit in root:
            if habit.name not in by_name:
                raise EventError(
                    f"{files.where('Checkmarks.csv')}:1: column {habit.name!r} is not a habit of Habits.csv",
                    hint=FIX,
                )
            if habit.name not in covered:
                by_name[habit.name].entries, by_name[habit.name].source = habit.entries, habit.source
    return [h for _, h in habits if h.entries]


def read_habits(text: str, where: str) -> list[tuple[int, Habit]]:
    """``Habits.csv``: (position, habit) pairs; type, target and period when the version writes them."""
    rows = _csv_rows(text, where)
    if not rows or "Name" not in rows[0][1]:
        raise EventError(f"{where}:1: field 'Name': missing, so this is not Loop's Habits.csv", hint=FIX)
    header = rows[0][1]
    out: list[tuple[int, Any]] = []
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise EventError(
                f"{where}:{line}: {len(row)} fields but the header names {len(header)}", hint=FIX
            )
        cell = dict(zip(header, (c.strip() for c in row)))
        habit = Habit(name=cell["Name"])
        kind = cell.get("Type", "")
        habit.numeric = {"NUMERICAL": True, "YES_NO": False}.get(kind)
        if kind and habit.numeric is None:
            raise EventError(
                f"{where}:{line}: field 'Type': {kind!r} is neither YES_NO nor NUMERICAL", hint=FIX
            )
        if habit.numeric:
            habit.at_most = cell.get("Target Type") == "AT_MOST"
            habit.target = _number(cell.get("Target Value", ""), where, line, "Target Value")
            period = _number(cell.get("FrequencyDenominator", "") or "1", where, line, "FrequencyDenominator")
            if period is None or period != int(period) or not 1 <= period <= MAX_PERIOD:
                raise EventError(
                    f"{where}:{line}: field 'FrequencyDenominator': {period} is not a whole number "
                    f"of days from 1 to {MAX_PERIOD}",
                    hint=FIX,
                )
            habit.period = int(period)
        position = cell.get("Position", "")
        number = _number(position, where, line, "Position") if position else None
        out.append((int(number) if number is not None else len(out) + 1, habit))
    return out


def read_habit_checkmarks(text: str, where: str) -> dict[date, tuple[int, int]]:
    """A per-habit ``Checkmarks.csv``: ``date,value`` lines, with or without ``Date,Value,Notes``."""
    entries: dict[date, tuple[int, int]] = {}
    for line, row in _csv_rows(text, where):
        if line == 1 and row and row[0].strip() == "Date":
            continue
        if len(row) < 2:
            raise EventError(f"{where}:{line}: {len(row)} field(s), expected a date and a value", hint=FIX)
        entries[parse_date(row[0], where, line)] = (parse_value(row[1], where, line, "Value"), line)
    return entries


def read_checkmarks(text: str, where: str, known: list[Habit] | None = None) -> list[Habit]:
    """The root ``Checkmarks.csv`` (one column per habit); ``known`` habits name the columns."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("Date"):
        raise EventError(f"{where}:1: field 'Date': the first column must be 'Date'", hint=FIX)
    table = [
        (n, _cells(_ENTRY_CELL.sub(r"\1", raw))) for n, raw in enumerate(lines[1:], start=2) if raw.strip()
    ]
    names = _header_names(lines[0], table, known, where)
    by_name = {h.name: h for h in known or ()}
    habits = [
        Habit(name=n, numeric=by_name[n].numeric if n in by_name else None, source=where) for n in names
    ]
    for n, row in table:
        if len(row) != len(names) + 1:
            raise EventError(
                f"{where}:{n}: {len(row)} fields but the header names {len(names) + 1}", hint=FIX
            )
        day = parse_date(row[0], where, n)
        for habit, cell in zip(habits, row[1:]):
            habit.entries[day] = (parse_value(cell, where, n, habit.name), n)
    return habits


def _cells(line: str) -> list[str]:
    """A line's comma-separated cells, without the empty one Loop's trailing comma leaves."""
    cells = line.split(",")
    return cells[:-1] if len(cells) > 1 and not cells[-1].strip() else cells


def _header_names(
    header: str, table: list[tuple[int, list[str]]], known: list[Habit] | None, where: str
) -> list[str]:
    """The habit names of the header, as many as the rows hold values (cells never hold commas).

    Loop writes names unquoted, so a name with a comma splits in two: ``known`` (Habits.csv) names
    put it back together.
    """
    names = [c.strip() for c in _cells(header)[1:]]
    widths = [len(row) - 1 for _, row in table]
    width = max(set(widths), key=widths.count) if widths else len(names)
    if len(names) == width:
        return names
    if known:
        split = _segment(
            ",".join(_cells(header)[1:]), width, sorted({h.name for h in known}, key=len, reverse=True)
        )
        if split is None:
            raise EventError(
                f"{where}:1: the header's habit names do not match Habits.csv ({width} values a row)",
                hint=FIX,
            )
        return [s.strip() for s in split]
    line, row = next((n, r) for n, r in table if len(r) != len(names) + 1)
    raise EventError(
        f"{where}:{line}: {len(row)} fields but the header names {len(names) + 1}",
        hint="if a habit name contains a comma, import the whole export ZIP (or its folder): "
        "its Habits.csv holds the names; otherwise " + FIX,
    )


def _segment(text: str, width: int, names: list[str]) -> list[str] | None:
    """Split ``text`` into ``width`` comma-joined names from ``names`` (None when impossible)."""
    if width == 0:
        return [] if text == "" else None
    for name in names:
        if text == name and width == 1:
            return [name]
        if text.startswith(name + ","):
            rest = _segment(text[len(name) + 1 :], width - 1, names)
            if rest is not None:
                return [name, *rest]
    return None


def parse_date(text: str, where: str, line: int) -> date:
    """A ``YYYY-MM-DD`` or ``MM-DD-YY`` date strictly inside the years events may have."""
    for fmt in _DATE_FORMATS:
        try:
            day = datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
        if not EARLIEST.year < day.year < LATEST.year:
            raise EventError(
                f"{where}:{line}: field 'Date': {text.strip()!r} is not between the years "
                f"{EARLIEST.year + 1} and {LATEST.year - 1}",
                hint=FIX,
            )
        return day
    raise EventError(
        f"{where}:{line}: field 'Date': {text!r} is not a date (YYYY-MM-DD or MM-DD-YY)", hint=FIX
    )


def parse_value(text: str, where: str, line: int, name: str) -> int:
    """A cell as Loop's integer code or x1000 amount (symbols mapped back to their codes)."""
    cell = text.strip()
    if cell in SYMBOLS:
        return SYMBOLS[cell]
    try:
        value = int(cell)
    except ValueError:
        raise EventError(
            f"{where}:{line}: field {name!r}: {text!r} is not an integer or one of {', '.join(SYMBOLS)}",
            hint=FIX,
        ) from None
    if value < UNKNOWN:
        raise EventError(f"{where}:{line}: field {name!r}: {value} is below -1 (no entry)", hint=FIX)
    if value > MAX_INT:
        raise EventError(f"{where}:{line}: field {name!r}: {value} is beyond what Loop stores", hint=FIX)
    return value


def _number(text: str, where: str, line: int, name: str) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise EventError(f"{where}:{line}: field {name!r}: {text!r} is not a number", hint=FIX) from None
    if not math.isfinite(value) or abs(value) > MAX_INT:
        raise EventError(f"{where}:{line}: field {name!r}: {text!r} is not a finite number", hint=FIX)
    return value


def _csv_rows(text: str, where: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text))
    try:
        return [(reader.line_num, row) for row in reader if row]
    except csv.Error as e:
        raise EventError(f"{where}:{reader.line_num}: not valid CSV ({e})", hint=FIX) from None
