"""Registrations of the language plugin: ``word_reviewed``, the Anki importer, featurizer and task.

This is the ``language`` entry point, imported whenever satchel loads its plugins (even for
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
    from satchel_plugins.language.events import event_type_specs

    yield from event_type_specs()


@hookimpl
def satchel_event_sources() -> Iterator[EventSourceSpec]:
    from satchel.plugin.records import EventSourceSpec
    from satchel_plugins.language.anki import AnkiImportOptions, AnkiReviewImporter
    from satchel_plugins.language.anki_collection import AnkiCollectionImporter
    from satchel_plugins.language.events import WORD_REVIEWED

    yield EventSourceSpec(
        name="anki_revlog_csv",
        factory=AnkiReviewImporter,
        options=AnkiImportOptions,
        description="review log CSV: Anki's revlog table, the FSRS tools' layouts, or satchel's",
        produces=(WORD_REVIEWED,),
    )
    yield EventSourceSpec(
        name="anki_collection",
        factory=AnkiCollectionImporter,
        options=AnkiImportOptions,
        description="Anki collection.anki2/.anki21, .colpkg or .apkg (its revlog, read-only)",
        produces=(WORD_REVIEWED,),
    )


@hookimpl
def satchel_featurizers() -> Iterator[FeaturizerSpec]:
    from satchel.plugin.records import FeaturizerSpec
    from satchel_plugins.language.events import WORD_REVIEWED
    from satchel_plugins.language.features import ReviewFeaturizer, ReviewFeaturizerOptions

    yield FeaturizerSpec(
        name="review_history",
        factory=ReviewFeaturizer,
        options=ReviewFeaturizerOptions,
        description="one sample per review of a known item: its history, the outcome and elapsed days",
        reads=(WORD_REVIEWED,),
    )


@hookimpl
def satchel_models() -> Iterator[ModelTaskSpec]:
    from satchel.plugin.records import ModelTaskSpec
    from satchel_plugins.language.task import METRICS, PURPOSE, LanguageTask, LanguageTaskOptions

    yield ModelTaskSpec(
        name="language",
        factory=LanguageTask,
        options=LanguageTaskOptions,
        description="learns this learner's forgetting (half-life regression) and schedules reviews",
        featurizer="review_history",
        purposes=(PURPOSE,),
        metrics=METRICS,
    )
