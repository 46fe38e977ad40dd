"""Registrations of the rubric plugin: answer and grade events, the gradebook importer, featurizer and task."""

from __future__ import annotations

from typing import Iterator

from satchel.hookspecs import hookimpl
from satchel.records import EventSourceSpec, EventTypeSpec, FeaturizerSpec, ModelTaskSpec
from satchel_plugins.rubric.events import ANSWER_GRADED, ANSWER_SUBMITTED, event_type_specs
from satchel_plugins.rubric.features import AnswerFeaturizer, AnswerFeaturizerOptions
from satchel_plugins.rubric.gradebook import GradebookImporter, GradebookImportOptions
from satchel_plugins.rubric.task import METRICS, PURPOSE, RubricTask, RubricTaskOptions


@hookimpl
def satchel_event_types() -> Iterator[EventTypeSpec]:
    yield from event_type_specs()


@hookimpl
def satchel_event_sources() -> Iterator[EventSourceSpec]:
    yield EventSourceSpec(
        name="graded_answers_csv", factory=GradebookImporter, options=GradebookImportOptions,
        description="answers with reference answers and optional grades (SemEval-2013 flat CSV works as is)",
        produces=(ANSWER_SUBMITTED, ANSWER_GRADED),
    )


@hookimpl
def satchel_featurizers() -> Iterator[FeaturizerSpec]:
    yield FeaturizerSpec(
        name="answer_text", factory=AnswerFeaturizer, options=AnswerFeaturizerOptions,
        description="on-device text features of an answer against its reference answer",
        reads=(ANSWER_SUBMITTED, ANSWER_GRADED),
    )


@hookimpl
def satchel_models() -> Iterator[ModelTaskSpec]:
    yield ModelTaskSpec(
        name="rubric", factory=RubricTask, options=RubricTaskOptions,
        description="suggests scores on the teacher's rubric and flags answers that need the teacher",
        featurizer="answer_text", purposes=(PURPOSE,), metrics=METRICS,
    )
