"""Vocabulary review: per-learner half-life regression and review scheduling at a target retention."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
        half_life_loss,
        recall_probability,
    )

#: public name -> the submodule defining it
_EXPORTS = {
    "AnkiImportOptions": "anki",
    "AnkiReviewImporter": "anki",
    "write_anki_csv": "anki",
    "FEATURES": "features",
    "ReviewFeaturizer": "features",
    "ReviewFeaturizerOptions": "features",
    "ReviewSamples": "features",
    "LearnerMemory": "simulate",
    "SimulatedVocabularyLearner": "simulate",
    "simulate_vocabulary_learners": "simulate",
    "LanguageTask": "task",
    "LanguageTaskOptions": "task",
    "due_now": "task",
    "half_life_loss": "task",
    "recall_probability": "task",
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
    "half_life_loss",
    "recall_probability",
    "simulate_vocabulary_learners",
    "write_anki_csv",
]


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first use (PEP 562): the registration module
    ``satchel_plugins.language.plugin`` imports this package, and must not pay for numpy and the models."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
