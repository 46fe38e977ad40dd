"""Reading a gradebook file: the file as a header and rows of cells (CSV/TSV with the delimiter and encoding
detected, or XLSX), and cells as numbers and grading times."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from satchel.errors import EventError
from satchel.events import EARLIEST, LATEST, MAX_INT

_DELIMITERS = ",;\t|"


@dataclass(frozen=True)
class Table:
    """A gradebook's header row and its other rows, each with its line (or spreadsheet row) number."""

    header: list[str]
    rows: list[tuple[int, list[Any]]]  # (line or spreadsheet row, cells)


def read_table(path: Path, sheet: str | None) -> Table:
    """The table of an XLSX workbook's ``sheet`` (default: the first), or of a delimited text file."""
    return read_xlsx(path, sheet) if path.suffix.lower() in (".xlsx", ".xlsm") else read_text(path)


def finite_number(path: Path, line: int, field: str, text: str) -> float:
    """A cell as a finite number (a decimal comma is accepted)."""
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise EventError(f"{path}:{line}: {field} {text!r} is not a number") from None
    if not math.isfinite(value) or abs(value) > MAX_INT:
        raise EventError(
            f"{path}:{line}: {field} {text!r} is not a finite number", hint="write the grade as a number"
        )
    return value


def grading_time(path: Path, line: int, value: Any) -> datetime | None:
    """A grading time (ISO 8601 or epoch seconds, UTC when no zone is given) within the event calendar."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    hint = "use ISO 8601 (2024-09-02T08:30:00+00:00) or epoch seconds"
    if isinstance(value, datetime):
        t = value
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                t = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise EventError(f"{path}:{line}: graded_at {text!r} is not a time", hint=hint) from None
        else:
            if not EARLIEST.timestamp() <= seconds <= LATEST.timestamp():
                raise EventError(
                    f"{path}:{line}: graded_at {text!r} is not a time between the years "
                    f"{EARLIEST.year} and {LATEST.year}",
                    hint=hint,
                )
            t = datetime.fromtimestamp(seconds, timezone.utc)
    t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    try:
        in_range = EARLIEST <= t <= LATEST
    except OverflowError:  # an offset that moves the time off the calendar
        in_range = False
    if not in_range:
        raise EventError(
            f"{path}:{line}: graded_at {t.isoformat()} is not between the years "
            f"{EARLIEST.year} and {LATEST.year}",
            hint=hint,
        )
    return t


def read_text(path: Path) -> Table:
    """A CSV/TSV file's table: UTF-8, else Windows-1252; comma, semicolon, tab or bar."""
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise EventError(f"{path}: not a text file", hint="export the gradebook as CSV or XLSX")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError as e:
            line = raw.count(b"\n", 0, e.start) + 1
            raise EventError(
                f"{path}:{line}: byte 0x{raw[e.start]:02x} is neither UTF-8 nor Windows-1252 text",
                hint="save the gradebook as UTF-8 CSV",
            ) from None
    first = text.split("\n", 1)[0]
    try:
        delimiter = csv.Sniffer().sniff(text[:65536], delimiters=_DELIMITERS).delimiter
    except csv.Error:
        delimiter = max(_DELIMITERS, key=first.count)
    if first.count(delimiter) == 0 and any(first.count(d) for d in _DELIMITERS):
        delimiter = max(_DELIMITERS, key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, [])
        rows = [(reader.line_num, list(cells)) for cells in reader]
    except csv.Error as e:
        raise EventError(
            f"{path}:{reader.line_num}: unreadable CSV ({e})", hint="check the quoting of that line"
        ) from None
    if not header:
        raise EventError(f"{path}: empty file")
    return Table(header, rows)


def read_xlsx(path: Path, sheet: str | None) -> Table:
    """An XLSX workbook's ``sheet`` (default: the first) as a table; needs openpyxl."""
    import zipfile

    try:
        from openpyxl import load_workbook
    except ImportError:
        raise EventError(
            f"{path}: reading XLSX needs openpyxl", hint="pip install openpyxl, or export as CSV"
        ) from None
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise EventError(
            f"{path}: not a readable XLSX workbook ({type(e).__name__})",
            hint="save it again from the spreadsheet, or export as CSV",
        ) from None
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise EventError(f"{path}: no sheet {sheet!r}; the sheets are {', '.join(book.sheetnames)}")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        values = list(ws.iter_rows(values_only=True))
    finally:
        book.close()
    if not values:
        raise EventError(f"{path}: the sheet is empty")
    header = ["" if v is None else str(v) for v in values[0]]
    return Table(header, [(i + 2, list(cells)) for i, cells in enumerate(values[1:])])
