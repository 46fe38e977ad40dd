"""Importer ``graded_answers_csv``: a teacher's gradebook (CSV, TSV or XLSX) of answers and grades.

Columns are found by name — their usual spellings (``Answer``, ``Response``, ``Points``, ``Max
points``, ``Question``, ``Model answer``, …; case, spaces and punctuation do not matter) — or
mapped by the ``map`` option (``{"student_answer": "Antwort"}``). Only the student's answer is
required; the rest is used when present:

===================  ==============================================================================
``student_answer``   the answer's text (required)
``answer_id``        its id; an unnamed first column (a spreadsheet's row index) serves, else the
                     student and question, else the line
``question_id``      the question (else the question's text, else one question for the whole file)
``question``         the question's text
``reference_answer`` the model answer (else the question's text and the teacher's grades stand in)
``score``            the teacher's grade; SemEval's ``label_2way`` (correct/incorrect) also works
``scale_max``        the top of the question's scale (else the ``scale_max`` option, else 1 when
                     every score is at most 1, else the highest score in the file)
``graded_at``        when it was graded (ISO 8601, or epoch seconds); without it, rows are graded in
                     file order at import time
===================  ==============================================================================

The delimiter (comma, semicolon, tab, bar) and the encoding (UTF-8, else Windows-1252) are
detected. Answers are taken as submitted when grading began (the first ``graded_at``). Event ids
derive from (subject, answer id, grading time), so importing a file twice stores it once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from satchel.errors import EventError
from satchel.events import EARLIEST, LATEST, MAX_INT, Event
from satchel.events.ingest import parse_event
from satchel.model.task import SourcedEvent
from satchel_plugins.rubric.events import ANSWER_GRADED, ANSWER_SUBMITTED, AnswerGraded, AnswerSubmitted

#: field -> accepted column names (normalized: lower case, letters and digits only)
ALIASES: dict[str, tuple[str, ...]] = {
    "answer_id": ("answerid", "studentanswerid", "responseid", "submissionid", "id"),
    "student": ("student", "studentid", "studentname", "learner", "learnerid", "name", "user", "userid"),
    "question_id": (
        "questionid",
        "qid",
        "itemid",
        "questionnumber",
        "questionno",
        "question#",
        "item",
        "task",
        "taskid",
    ),
    "question": ("question", "questiontext", "prompt", "questionprompt"),
    "reference_answer": (
        "referenceanswer",
        "reference",
        "modelanswer",
        "expectedanswer",
        "answerkey",
        "key",
        "solution",
        "correctanswer",
        "sampleanswer",
        "desiredanswer",
    ),
    "student_answer": (
        "studentanswer",
        "answer",
        "response",
        "studentresponse",
        "answertext",
        "text",
        "submission",
        "responsetext",
    ),
    "score": ("score", "grade", "points", "mark", "marks", "credit", "pointsawarded", "awarded"),
    "label_2way": ("label2way",),
    "scale_max": (
        "scalemax",
        "maxscore",
        "maxpoints",
        "maxmarks",
        "outof",
        "max",
        "pointspossible",
        "possiblepoints",
        "fullmarks",
    ),
    "graded_at": ("gradedat", "gradedon", "graded", "timestamp", "time", "date", "datetime", "gradetime"),
}
FIELDS: tuple[str, ...] = tuple(ALIASES)
_LABELS = {"correct": 1.0, "incorrect": 0.0}
_DELIMITERS = ",;\t|"


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9#]", "", name.strip().lower())


class GradebookImportOptions(BaseModel):
    """Options of the ``graded_answers_csv`` importer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: str = Field(
        "teacher", min_length=1, description="subject (the teacher) the gradebook belongs to"
    )
    map: dict[str, str] = Field(
        default_factory=dict,
        description="field -> column name, e.g. "
        "{student_answer = 'Antwort', score = 'Punkte'}; fields: " + ", ".join(FIELDS),
    )
    scale_max: int | None = Field(
        None, ge=1, le=100, description="the scale when the file has no scale column"
    )
    sheet: str | None = Field(None, description="XLSX: the worksheet (default: the first)")

    @field_validator("map")
    @classmethod
    def _known_fields(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; fields are {', '.join(FIELDS)}")
        return v


@dataclass(frozen=True)
class _Table:
    header: list[str]
    rows: list[tuple[int, list[Any]]]  # (line or spreadsheet row, cells)


class GradebookImporter:
    """Reads a gradebook into ``answer_submitted`` / ``answer_graded`` events, in grading order."""

    def __init__(self, options: GradebookImportOptions | None = None) -> None:
        self.options = options or GradebookImportOptions()

    def read(self, path: Path) -> Iterator[SourcedEvent]:
        path = Path(path)
        if not path.is_file():
            raise EventError(f"no such file: {path}")
        table = (
            _read_xlsx(path, self.options.sheet)
            if path.suffix.lower() in (".xlsx", ".xlsm")
            else _read_text(path)
        )
        columns = self._columns(path, table.header)
        records = [
            self._record(path, line, cells, columns)
            for line, cells in table.rows
            if any(str(c or "").strip() for c in cells)
        ]
        if not records:
            raise EventError(f"{path}: no answers below the header", hint="is the header the last line?")
        scale = self._scale(records)
        now = datetime.now(timezone.utc)
        timed = [r["graded_at"] for r in records if r["graded_at"] is not None]
        start = (min(timed) - timedelta(seconds=1)) if timed else now
        for i, r in enumerate(records):
            for event in self._events(path, r, scale, start, now + timedelta(microseconds=i + 1)):
                yield SourcedEvent(self.options.subject, event, r["line"])

    def _columns(self, path: Path, header: Sequence[str]) -> dict[str, int]:
        """field -> column index, by the ``map`` option first, then by the usual names."""
        names = [_norm(h) for h in header]
        found: dict[str, int] = {}
        listed = ", ".join(repr(h) for h in header)
        for field, column in self.options.map.items():
            if _norm(column) not in names:
                raise EventError(
                    f"{path}:1: map {field}={column!r}: no such column; the columns are {listed}",
                    hint="name a column of the header row in the map option",
                )
            found[field] = names.index(_norm(column))
        taken = set(found.values())
        for field, aliases in ALIASES.items():
            if field in found:
                continue
            for alias in aliases:
                if alias in names and names.index(alias) not in taken:
                    found[field] = names.index(alias)
                    taken.add(found[field])
                    break
        if "answer_id" not in found and header and not header[0].strip() and 0 not in taken:
            found["answer_id"] = 0  # an unnamed first column: a spreadsheet's row index
        if "student_answer" not in found:
            raise EventError(
                f"{path}:1: no column with the students' answers; the columns are {listed}",
                hint="name it 'answer' or 'student_answer', or map it: map = {student_answer = '<column>'}",
            )
        return found

    def _record(self, path: Path, line: int, cells: list[Any], columns: Mapping[str, int]) -> dict[str, Any]:
        def cell(field: str) -> str:
            i = columns.get(field)
            value = cells[i] if i is not None and i < len(cells) else None
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            return "" if value is None else str(value).strip()

        question_text = cell("question")
        question = cell("question_id") or question_text[:128] or path.stem
        answer_id = cell("answer_id") or (
            f"{cell('student')}|{question}" if cell("student") else f"line{line}"
        )
        score: float | None = None
        if cell("score"):
            score = _finite(path, line, "score", cell("score"))
        elif cell("label_2way"):
            label = cell("label_2way").lower()
            if label not in _LABELS:
                raise EventError(f"{path}:{line}: label_2way {label!r} is neither 'correct' nor 'incorrect'")
            score = _LABELS[label]
        scale: int | None = None
        if cell("scale_max"):
            scale = int(_finite(path, line, "scale_max", cell("scale_max")))
        i = columns.get("graded_at")
        graded_at = (
            _time(path, line, cells[i] if i is not None and i < len(cells) else None)
            if score is not None
            else None
        )
        if score is not None and "graded_at" in columns and graded_at is None:
            raise EventError(f"{path}:{line}: a grade without a time in the graded_at column")
        return {
            "line": line,
            "answer_id": answer_id[:128],
            "question": question[:128],
            "question_text": question_text,
            "reference": cell("reference_answer"),
            "text": cell("student_answer"),
            "score": score,
            "scale": scale,
            "graded_at": graded_at,
            "label": "label_2way" if cell("label_2way") else "score",
        }

    def _scale(self, records: Sequence[Mapping[str, Any]]) -> int:
        """The scale of rows without one: the option, else 1 when every score is at most 1, else the top score."""
        if self.options.scale_max is not None:
            return self.options.scale_max
        top = max((r["score"] for r in records if r["score"] is not None and r["scale"] is None), default=1.0)
        return max(1, math.ceil(top))

    def _events(
        self, path: Path, r: Mapping[str, Any], scale: int, start: datetime, fallback: datetime
    ) -> list[Event]:
        # an ungraded row without a scale takes its question's from the grades (None here)
        row_scale = r["scale"] or (scale if r["score"] is not None or self.options.scale_max else None)
        try:
            submitted = AnswerSubmitted(
                answer_id=r["answer_id"],
                question=r["question"],
                reference=r["reference"],
                text=r["text"],
                question_text=r["question_text"] or None,
                scale_max=row_scale,
            )
            grade = (
                None
                if r["score"] is None or row_scale is None
                else AnswerGraded(answer_id=r["answer_id"], score=r["score"], scale_max=row_scale)
            )
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(map(str, first["loc"])) or r["label"]
            raise EventError(
                f"{path}:{r['line']}: field {field!r}: {first['msg']}",
                hint="a score must lie in 0..scale_max; texts are at most 4,000 characters",
            ) from None
        graded_at = r["graded_at"] or fallback
        key = f"gradebook|{self.options.subject}|{r['answer_id']}"
        where = f"{path}:{r['line']}"
        events = [
            parse_event(
                {
                    "type": ANSWER_SUBMITTED,
                    "time": min(start, graded_at - timedelta(microseconds=1)),
                    "data": submitted.model_dump(exclude_none=True),
                    "id": _id(key),
                },
                where,
            )
        ]
        if grade is not None:
            events.append(
                parse_event(
                    {
                        "type": ANSWER_GRADED,
                        "time": graded_at,
                        "data": grade.model_dump(),
                        "id": _id(f"{key}|grade|{graded_at.isoformat()}"),
                    },
                    where,
                )
            )
        return events


def _id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _finite(path: Path, line: int, field: str, text: str) -> float:
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


def _time(path: Path, line: int, value: Any) -> datetime | None:
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


def _read_text(path: Path) -> _Table:
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
    return _Table(header, rows)


def _read_xlsx(path: Path, sheet: str | None) -> _Table:
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
    return _Table(header, [(i + 2, list(cells)) for i, cells in enumerate(values[1:])])
