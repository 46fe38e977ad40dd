"""Vocabulary review: per-learner half-life regression and review scheduling at a target retention."""

from __future__ import annotations

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
