"""Answer text → features, computed on the device (no network, no downloaded model).

Two kinds of measures, all independent of the grading scale:

- against the reference answer (:data:`REFERENCE`): alignment of the answer's content words to
  the reference's and back (exact, same stem, or a similar spelling by character trigrams),
  weighted by IDF over the answers at hand, with the words the question already gives demoted;
  bigram, character n-gram, TF-IDF and subsequence overlap, length, negation, numbers, parroting;
- against this teacher's own grades (:data:`TEACHER`): the grades of the most similar answers to
  the same question that the teacher had graded *before* (k nearest neighbours by TF-IDF and
  character-trigram cosine), similarity to their full- and no-credit answers, and the question's
  and the teacher's mean credit so far. A training sample sees only grades known before its own
  (``Dataset.times``), exactly what the device knew when it suggested that grade.

The last column is ``1 / scale_max`` of the answer's scale (0 when unknown: the task's own scale).
Labels (three columns) are the fraction of full credit and the edges of the grade's interval on
that fraction (see :mod:`satchel_plugins.rubric.task`).

This module is the featurizer (events → answers → rows); the measures are in
:mod:`satchel_plugins.rubric.measures`, the columns and their definitions in
:mod:`satchel_plugins.rubric.feature_columns`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from satchel.events import Event
from satchel.model.dataset import Dataset, FeatureSchema
from satchel.model.export_contract import FeatureDoc, SampleEvents
from satchel.model.task import Rows
from satchel_plugins.rubric.events import ANSWER_GRADED, ANSWER_SUBMITTED
from satchel_plugins.rubric.feature_columns import (
    FEATURE_DOCS,
    FEATURES,
    OPEN_EDGE,
    QUESTION_GRADED_COLUMN,
    QUESTION_GRADED_DIVISOR,
    REFERENCE,
    SCALE_COLUMN,
    SCHEMA,
    TEACHER,
    TEACHER_COLUMNS,
    grade_labels,
    question_grades,
    without_teacher,
)
from satchel_plugins.rubric.measures import Item, featurize


class AnswerFeaturizerOptions(BaseModel):
    """Options of the ``answer_text`` featurizer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    neighbours: int = Field(5, ge=1, le=50, description="graded answers to the same question averaged (k)")


@dataclass(frozen=True)
class AnswerSamples:
    """Graded answers as training data, with their ids and questions."""

    data: Dataset
    answer_ids: tuple[str, ...]
    questions: tuple[str, ...]


class AnswerFeaturizer:
    """Featurizer ``answer_text``: graded answers for training, ungraded ones to suggest grades for."""

    schema: FeatureSchema = SCHEMA

    def __init__(self, options: AnswerFeaturizerOptions | None = None) -> None:
        self.options = options or AnswerFeaturizerOptions()

    def samples(self, events: Sequence[Event], *, now: datetime) -> AnswerSamples:
        items = _items(events, now)
        x = featurize(items, neighbours=self.options.neighbours)
        rows = [i for i, it in enumerate(items) if it.credit is not None]
        graded = [items[i] for i in rows]
        y = grade_labels(np.array([it.credit for it in graded]), np.array([it.scale or 1 for it in graded]))
        data = Dataset(
            x[rows].reshape(len(rows), len(FEATURES)),
            y.reshape(len(rows), 3),
            np.ones(len(rows)),
            SCHEMA,
            np.array([it.known for it in graded], np.float64),
        )
        return AnswerSamples(data, tuple(it.answer_id for it in graded), tuple(it.question for it in graded))

    def training_data(self, events: Sequence[Event], *, now: datetime) -> Dataset:
        return self.samples(events, now=now).data

    def rows(self, events: Sequence[Event], *, now: datetime) -> Rows:
        """One row per answer not graded yet; its teacher features use every grade known now."""
        items = _items(events, now)
        x = featurize(items, neighbours=self.options.neighbours)
        keep = [i for i, it in enumerate(items) if it.credit is None]
        context = tuple({"answer_id": items[i].answer_id, "question": items[i].question} for i in keep)
        return Rows(
            tuple(items[i].answer_id for i in keep), x[keep].reshape(len(keep), len(FEATURES)), context
        )

    def describe(self) -> tuple[FeatureDoc, ...]:
        """Each feature's definition and scaling (the export contract; see docs/mobile.md)."""
        return FEATURE_DOCS

    def sample_events(self) -> SampleEvents:
        """Synthetic answers (8 questions x 4, 24 graded by a simulated teacher) for golden vectors."""
        from satchel_plugins.rubric.simulate import simulate_teacher, synthetic_answers

        teacher = simulate_teacher(synthetic_answers(4, seed=19), "partial_credit", seed=19)
        events = teacher.events(24)
        return SampleEvents(events, max(e.time for e in events))


def _items(events: Sequence[Event], now: datetime) -> list[Item]:
    """Answers up to ``now`` with their latest grade (a regrade replaces the earlier grade).

    An answer's scale is its grade's, else the submission's, else the last one graded on its question.
    """
    answers: dict[str, Event] = {}
    grades: dict[str, Event] = {}
    for e in sorted(events, key=lambda e: e.time):
        if e.time > now:
            continue
        if e.type == ANSWER_SUBMITTED:
            answers[str(e.data["answer_id"])] = e
        elif e.type == ANSWER_GRADED:
            grades[str(e.data["answer_id"])] = e
    question_scale = {
        str(answers[a].data["question"]): int(cast(float, g.data.get("scale_max", 1)))
        for a, g in grades.items()
        if a in answers
    }
    items = []
    for answer_id, e in answers.items():
        d, g = e.data, grades.get(answer_id)
        question = str(d["question"])
        q_text = d.get("question_text")
        if g is not None:
            scale: int | None = int(cast(float, g.data.get("scale_max", 1)))
        else:
            scale = int(cast(float, d["scale_max"])) if d.get("scale_max") else question_scale.get(question)
        items.append(
            Item(
                answer_id,
                question,
                str(d.get("reference") or q_text or ""),
                str(d["text"]),
                None if q_text is None else str(q_text),
                scale,
                None if g is None else float(cast(float, g.data["score"])) / max(scale or 1, 1),
                math.inf if g is None else g.time.timestamp(),
            )
        )
    return items


__all__ = [
    "FEATURES",
    "FEATURE_DOCS",
    "OPEN_EDGE",
    "QUESTION_GRADED_COLUMN",
    "QUESTION_GRADED_DIVISOR",
    "REFERENCE",
    "SCALE_COLUMN",
    "SCHEMA",
    "TEACHER",
    "TEACHER_COLUMNS",
    "AnswerFeaturizer",
    "AnswerFeaturizerOptions",
    "AnswerSamples",
    "Item",
    "featurize",
    "grade_labels",
    "question_grades",
    "without_teacher",
]
