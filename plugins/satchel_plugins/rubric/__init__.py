"""Grading assistant: on-device answer features, a SemEval base grader fine-tuned to a teacher's rubric."""

from satchel_plugins.rubric.features import FEATURES, AnswerFeaturizer, AnswerFeaturizerOptions, AnswerSamples
from satchel_plugins.rubric.gradebook import GradebookImporter, GradebookImportOptions
from satchel_plugins.rubric.semeval import SEMEVAL_CSV, GradedAnswer, answer_events, load_semeval
from satchel_plugins.rubric.simulate import RUBRICS, SimulatedTeacher, rubric_score, simulate_teacher, synthetic_answers
from satchel_plugins.rubric.task import BASE_WEIGHTS, RubricTask, RubricTaskOptions

__all__ = [
    "BASE_WEIGHTS",
    "FEATURES",
    "RUBRICS",
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
    "load_semeval",
    "rubric_score",
    "simulate_teacher",
    "synthetic_answers",
]
