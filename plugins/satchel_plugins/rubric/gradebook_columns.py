"""A gradebook's columns: the fields an import reads, their usual column names, and finding them in a
header row."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from satchel.errors import EventError

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


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9#]", "", name.strip().lower())


def find_columns(path: Path, header: Sequence[str], mapped: Mapping[str, str]) -> dict[str, int]:
    """field -> column index, by ``mapped`` (field -> column name) first, then by the usual names."""
    names = [_norm(h) for h in header]
    found: dict[str, int] = {}
    listed = ", ".join(repr(h) for h in header)
    for field, column in mapped.items():
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
