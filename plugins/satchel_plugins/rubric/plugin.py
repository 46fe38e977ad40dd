"""Registrations of the rubric plugin: answer and grade events, the gradebook importer, featurizer and task.

This is the ``rubric`` entry point, imported whenever satchel loads its plugins (even for
``satchel --help``), so it imports nothing at the top: each hook imports what it registers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from satchel.plugin.hookspecs import hookimpl

if TYPE_CHECKING:
    from satchel.plugin.records import EventSourceSpec, EventTypeSpec, FeaturizerSpec, ModelTaskSpec


@hookimpl
def satchel_event_types() -> Iterator[EventTypeSpec]:
    from satchel_plugins.rubric.events import event_type_specs

    yield from event_type_specs()


@hookimpl
def satchel_event_sources() -> Iterator[EventSourceSpec]:
    from satchel.plugin.records import EventSourceSpec
    from satchel_plugins.rubric.events import ANSWER_GRADED, ANSWER_SUBMITTED
    from satchel_plugins.rubric.gradebook import GradebookImporter, GradebookImportOptions

    yield EventSourceSpec(
        name="graded_answers_csv",
        factory=GradebookImporter,
        options=GradebookImportOptions,
        description="answers with reference answers and optional grades (SemEval-2013 flat CSV works as is)",
        produces=(ANSWER_SUBMITTED, ANSWER_GRADED),
    )


@hookimpl
def satchel_featurizers() -> Iterator[FeaturizerSpec]:
    from satchel.plugin.records import FeaturizerSpec
    from satchel_plugins.rubric.events import ANSWER_GRADED, ANSWER_SUBMITTED
    from satchel_plugins.rubric.features import AnswerFeaturizer, AnswerFeaturizerOptions

    yield FeaturizerSpec(
        name="answer_text",
        factory=AnswerFeaturizer,
        options=AnswerFeaturizerOptions,
        description="on-device text features of an answer against its reference answer",
        reads=(ANSWER_SUBMITTED, ANSWER_GRADED),
    )


@hookimpl
def satchel_models() -> Iterator[ModelTaskSpec]:
    from satchel.plugin.records import ModelTaskSpec
    from satchel_plugins.rubric.task import METRICS, PURPOSE, RubricTask, RubricTaskOptions

    yield ModelTaskSpec(
        name="rubric",
        factory=RubricTask,
        options=RubricTaskOptions,
        description="suggests scores on the teacher's rubric and flags answers that need the teacher",
        featurizer="answer_text",
        purposes=(PURPOSE,),
        metrics=METRICS,
    )
