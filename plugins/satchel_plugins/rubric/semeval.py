"""The SemEval-2013 Task 7 two-way data (read from the shared data folder, never copied)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from satchel.events import Event
from satchel_plugins.rubric.events import ANSWER_GRADED, ANSWER_SUBMITTED

#: ``../shared/data/...`` relative to the repository root.
SEMEVAL_CSV = (
    Path(__file__).resolve().parents[3].parent
    / "shared"
    / "data"
    / "semeval2013_2way"
    / "semeval2013_task7_2way_flat.csv"
)
SPLITS: tuple[str, ...] = ("train", "test_ua", "test_uq", "test_ud")


@dataclass(frozen=True)
class GradedAnswer:
    """A student answer with its reference answer, a binary gold label (1 = correct) and, on a
    graded data set, the grader's ``score`` on a 0..``scale_max`` scale (default: the label on 0..1)."""

    answer_id: str
    question: str
    question_text: str
    reference: str
    text: str
    label: int
    split: str = ""
    corpus: str = ""
    score: float | None = None
    scale_max: int = 1

    @property
    def grade(self) -> float:
        """The gold grade on ``0..scale_max``."""
        return float(self.label if self.score is None else self.score)


def load_semeval(path: Path = SEMEVAL_CSV, splits: Iterable[str] = SPLITS) -> tuple[GradedAnswer, ...]:
    """Answers of the given splits, in file order."""
    wanted = set(splits)
    with Path(path).open(newline="", encoding="utf-8") as f:
        return tuple(
            GradedAnswer(
                r["student_answer_id"],
                r["question_id"],
                r["question"],
                r["reference_answer"],
                r["student_answer"],
                int(r["label_2way"] == "correct"),
                r["split"],
                r["corpus"],
            )
            for r in csv.DictReader(f)
            if r["split"] in wanted
        )


def answer_events(
    answers: Sequence[GradedAnswer],
    scores: Sequence[float] | None = None,
    *,
    scale_max: int = 1,
    start: datetime = datetime(2024, 9, 2, 8, tzinfo=timezone.utc),
) -> tuple[Event, ...]:
    """``answer_submitted`` for every answer, and ``answer_graded`` with ``scores[i]`` where given."""
    events: list[Event] = []
    for i, a in enumerate(answers):
        at = start + timedelta(minutes=i)
        events.append(
            Event(
                type=ANSWER_SUBMITTED,
                time=at,
                id=f"submitted:{a.answer_id}"[:128],
                data={
                    "answer_id": a.answer_id,
                    "question": a.question,
                    "reference": a.reference,
                    "text": a.text,
                    "question_text": a.question_text or None,
                },
            )
        )
        if scores is not None and i < len(scores):
            events.append(
                Event(
                    type=ANSWER_GRADED,
                    time=at + timedelta(seconds=30),
                    id=f"graded:{a.answer_id}"[:128],
                    data={"answer_id": a.answer_id, "score": float(scores[i]), "scale_max": scale_max},
                )
            )
    return tuple(events)
