"""Grading assistant: on-device answer features, an ordinal grader (base trained on public data) adapted to a teacher's grades."""

from __future__ import annotations

from satchel_plugins.rubric.features import (
    FEATURES,
    AnswerFeaturizer,
    AnswerFeaturizerOptions,
    AnswerSamples,
)
from satchel_plugins.rubric.gradebook import GradebookImporter, GradebookImportOptions
from satchel_plugins.rubric.saf import SAF_DIR, load_saf
from satchel_plugins.rubric.semeval import SEMEVAL_CSV, GradedAnswer, answer_events, load_semeval
from satchel_plugins.rubric.simulate import (
    RUBRICS,
    SimulatedTeacher,
    rubric_score,
    simulate_teacher,
    synthetic_answers,
)
from satchel_plugins.rubric.task import BASE_WEIGHTS, RubricTask, RubricTaskOptions

__all__ = [
    "BASE_WEIGHTS",
    "FEATURES",
    "RUBRICS",
    "SAF_DIR",
    "SEMEVAL_CSV",
    "AnswerFeaturizer",
    "AnswerFeaturizerOptions",
    "AnswerSamples",
    "GradebookImportOptions",
    "GradebookImporter",
    "GradedAnswer",
    "RubricTask",
    "RubricTaskOptions",
    "SimulatedTeacher",
    "answer_events",
    "load_saf",
    "load_semeval",
    "rubric_score",
    "simulate_teacher",
    "synthetic_answers",
]
