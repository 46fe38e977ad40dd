"""Vocabulary review: per-learner half-life regression and review scheduling at a target retention."""

from __future__ import annotations

from typing import TYPE_CHECKING

from satchel_plugins._lazy import lazy_exports, listing

if TYPE_CHECKING:
    from satchel_plugins.language.anki import AnkiImportOptions, AnkiReviewImporter, write_anki_csv
    from satchel_plugins.language.features import (
        FEATURES,
        ReviewFeaturizer,
        ReviewFeaturizerOptions,
        ReviewSamples,
    )
    from satchel_plugins.language.simulate import (
        LearnerMemory,
        SimulatedVocabularyLearner,
        simulate_vocabulary_learners,
    )
    from satchel_plugins.language.task import (
        LanguageTask,
        LanguageTaskOptions,
        due_now,
        memory_loss,
        recall_probability,
    )

#: public name -> the submodule defining it
_EXPORTS = {
    "AnkiImportOptions": ".anki",
    "AnkiReviewImporter": ".anki",
    "write_anki_csv": ".anki",
    "FEATURES": ".features",
    "ReviewFeaturizer": ".features",
    "ReviewFeaturizerOptions": ".features",
    "ReviewSamples": ".features",
    "LearnerMemory": ".simulate",
    "SimulatedVocabularyLearner": ".simulate",
    "simulate_vocabulary_learners": ".simulate",
    "LanguageTask": ".task",
    "LanguageTaskOptions": ".task",
    "due_now": ".task",
    "memory_loss": ".task",
    "recall_probability": ".task",
}

__all__ = [
    "FEATURES",
    "AnkiImportOptions",
    "AnkiReviewImporter",
    "LanguageTask",
    "LanguageTaskOptions",
    "LearnerMemory",
    "ReviewFeaturizer",
    "ReviewFeaturizerOptions",
    "ReviewSamples",
    "SimulatedVocabularyLearner",
    "due_now",
    "memory_loss",
    "recall_probability",
    "simulate_vocabulary_learners",
    "write_anki_csv",
]


__getattr__ = lazy_exports(globals(), _EXPORTS)
__dir__ = listing(globals(), _EXPORTS)
