"""Importer ``graded_answers_csv``: a gradebook of answers, with optional grades, as CSV.

Columns (header names): ``answer_id`` (or ``student_answer_id``), ``question_id``,
``reference_answer``, ``student_answer``; optional ``question`` (its text), and a grade as
``score`` (+ optional ``scale_max``, default 1) or as SemEval's ``label_2way``
(``correct`` = 1, ``incorrect`` = 0). The SemEval-2013 flat CSV imports as is. Event ids derive
from (subject, answer id), so importing a file twice stores it once.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from satchel.errors import EventError
from satchel.events import Event
from satchel.task import SourcedEvent
from satchel_plugins.rubric.events import ANSWER_GRADED, ANSWER_SUBMITTED, AnswerGraded, AnswerSubmitted

_REQUIRED = ("question_id", "reference_answer", "student_answer")
_FIX = "give the columns answer_id, question_id, reference_answer, student_answer and optionally score, scale_max"
_LABELS = {"correct": 1.0, "incorrect": 0.0}


class GradebookImportOptions(BaseModel):
    """Options of the ``graded_answers_csv`` importer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    subject: str = Field("teacher", min_length=1, description="subject (the teacher) the gradebook belongs to")


class GradebookImporter:
    """Reads answers (and grades) from CSV into ``answer_submitted`` / ``answer_graded`` events."""

    def __init__(self, options: GradebookImportOptions | None = None) -> None:
        self.options = options or GradebookImportOptions()

    def read(self, path: Path) -> Iterator[SourcedEvent]:
        path = Path(path)
        at = datetime.now(timezone.utc)
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            fields = set(reader.fieldnames or ())
            missing = [c for c in _REQUIRED if c not in fields]
            if "answer_id" not in fields and "student_answer_id" not in fields:
                missing.insert(0, "answer_id")
            if missing:
                raise EventError(f"{path}:1: missing column(s) {', '.join(missing)}", hint=_FIX)
            for row in reader:
                line = reader.line_num
                for event in self._events(path, line, row, at):
                    yield SourcedEvent(self.options.subject, event, line)

    def _events(self, path: Path, line: int, row: dict[str, str], at: datetime) -> list[Event]:
        answer_id = (row.get("answer_id") or row.get("student_answer_id") or "").strip()
        try:
            submitted = AnswerSubmitted(answer_id=answer_id, question=row["question_id"].strip(),
                                        reference=row["reference_answer"], text=row["student_answer"] or "",
                                        question_text=row.get("question") or None)
            grade = self._grade(path, line, row, answer_id)
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(map(str, first["loc"])) or "score"
            raise EventError(f"{path}:{line}: field {field!r}: {first['msg']}", hint=_FIX) from None
        key = f"gradebook|{self.options.subject}|{answer_id}"
        events = [Event(type=ANSWER_SUBMITTED, time=at, data=submitted.model_dump(exclude_none=True),
                        id=hashlib.sha256(key.encode()).hexdigest()[:32])]
        if grade is not None:
            events.append(Event(type=ANSWER_GRADED, time=at + timedelta(microseconds=1), data=grade.model_dump(),
                                id=hashlib.sha256((key + "|grade").encode()).hexdigest()[:32]))
        return events

    @staticmethod
    def _grade(path: Path, line: int, row: dict[str, str], answer_id: str) -> AnswerGraded | None:
        score_text = (row.get("score") or "").strip()
        if score_text:
            scale_text = (row.get("scale_max") or "1").strip()
            try:
                score, scale = float(score_text), int(scale_text)
            except ValueError:
                raise EventError(f"{path}:{line}: field 'score'/'scale_max': {score_text!r}/{scale_text!r} "
                                 "is not a number", hint=_FIX) from None
            return AnswerGraded(answer_id=answer_id, score=score, scale_max=scale)
        label = (row.get("label_2way") or "").strip().lower()
        if not label:
            return None
        if label not in _LABELS:
            raise EventError(f"{path}:{line}: field 'label_2way': {label!r} is neither 'correct' nor 'incorrect'",
                             hint=_FIX)
        return AnswerGraded(answer_id=answer_id, score=_LABELS[label], scale_max=1)
