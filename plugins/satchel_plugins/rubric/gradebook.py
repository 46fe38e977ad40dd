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

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from satchel.errors import EventError
from satchel.events import Event
from satchel.events.ingest import parse_event
from satchel.model.task import SourcedEvent
from satchel_plugins.rubric.events import ANSWER_GRADED, ANSWER_SUBMITTED, AnswerGraded, AnswerSubmitted
from satchel_plugins.rubric.gradebook_columns import ALIASES, FIELDS, find_columns
from satchel_plugins.rubric.gradebook_reader import finite_number, grading_time, read_table

_LABELS = {"correct": 1.0, "incorrect": 0.0}


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


class GradebookImporter:
    """Reads a gradebook into ``answer_submitted`` / ``answer_graded`` events, in grading order."""

    def __init__(self, options: GradebookImportOptions | None = None) -> None:
        self.options = options or GradebookImportOptions()

    def read(self, path: Path) -> Iterator[SourcedEvent]:
        path = Path(path)
        if not path.is_file():
            raise EventError(f"no such file: {path}")
        table = read_table(path, self.options.sheet)
        columns = find_columns(path, table.header, self.options.map)
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
            score = finite_number(path, line, "score", cell("score"))
        elif cell("label_2way"):
            label = cell("label_2way").lower()
            if label not in _LABELS:
                raise EventError(f"{path}:{line}: label_2way {label!r} is neither 'correct' nor 'incorrect'")
            score = _LABELS[label]
        scale: int | None = None
        if cell("scale_max"):
            scale = int(finite_number(path, line, "scale_max", cell("scale_max")))
        i = columns.get("graded_at")
        graded_at = (
            grading_time(path, line, cells[i] if i is not None and i < len(cells) else None)
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


__all__ = ["ALIASES", "FIELDS", "GradebookImportOptions", "GradebookImporter"]
