"""Registrations of the language plugin: ``word_reviewed``, the Anki importer, featurizer and task."""

from __future__ import annotations

from typing import Iterator

from satchel.hookspecs import hookimpl
from satchel.records import EventSourceSpec, EventTypeSpec, FeaturizerSpec, ModelTaskSpec
from satchel_plugins.language.anki import AnkiImportOptions, AnkiReviewImporter
from satchel_plugins.language.events import WORD_REVIEWED, event_type_specs
from satchel_plugins.language.features import ReviewFeaturizer, ReviewFeaturizerOptions
from satchel_plugins.language.task import METRICS, PURPOSE, LanguageTask, LanguageTaskOptions


@hookimpl
def satchel_event_types() -> Iterator[EventTypeSpec]:
    yield from event_type_specs()


@hookimpl
def satchel_event_sources() -> Iterator[EventSourceSpec]:
    yield EventSourceSpec(
        name="anki_revlog_csv", factory=AnkiReviewImporter, options=AnkiImportOptions,
        description="Anki-style review log CSV (card id, rating 1-4, review time, duration)", produces=(WORD_REVIEWED,),
    )


@hookimpl
def satchel_featurizers() -> Iterator[FeaturizerSpec]:
    yield FeaturizerSpec(
        name="review_history", factory=ReviewFeaturizer, options=ReviewFeaturizerOptions,
        description="one sample per review of a known item: its history, the outcome and elapsed days",
        reads=(WORD_REVIEWED,),
    )


@hookimpl
def satchel_models() -> Iterator[ModelTaskSpec]:
    yield ModelTaskSpec(
        name="language", factory=LanguageTask, options=LanguageTaskOptions,
        description="learns this learner's forgetting (half-life regression) and schedules reviews",
        featurizer="review_history", purposes=(PURPOSE,), metrics=METRICS,
    )
