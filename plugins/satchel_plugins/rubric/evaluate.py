"""Rubric evaluation: how a teacher's corrections adapt the shipped SemEval base grader.

A teacher grades answers in a random order; after their first ``n`` grades (the corrections) the
grader is fine-tuned from the base weights, with the L2 pull toward them, and suggests scores for
held-out answers at the end of the order, which are compared with the teacher's own scores
(quadratic weighted kappa, exact accuracy). ``n = 0`` is the base grader itself.

Teachers (:data:`TEACHERS`): ``semeval_2way`` grades with the SemEval gold labels (0/1); the
others are the simulated rubrics of :mod:`satchel_plugins.rubric.simulate`, which differ from it.
Trainers come from ``open_trainer`` (any training backend), so tests and benchmarks share this code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from satchel.backend import OpenTrainer
from satchel.dataset import Dataset
from satchel.metrics import accuracy, quadratic_weighted_kappa
from satchel_plugins.rubric.features import SCHEMA, featurize
from satchel_plugins.rubric.semeval import GradedAnswer
from satchel_plugins.rubric.simulate import RUBRICS, SimulatedTeacher, simulate_teacher
from satchel_plugins.rubric.task import RubricTask, RubricTaskOptions

SEMEVAL_TEACHER = "semeval_2way"
TEACHERS: tuple[str, ...] = (SEMEVAL_TEACHER, *RUBRICS)
CORRECTIONS: tuple[int, ...] = (0, 10, 25, 50, 100)
TASK = RubricTask()
SPEC = TASK.model_spec(SCHEMA)


@dataclass(frozen=True)
class AdaptationCurve:
    """Scores on held-out answers after each number of corrections, averaged over seeds."""

    teacher: str
    corrections: tuple[int, ...]
    qwk: tuple[float, ...]
    accuracy: tuple[float, ...]
    qwk_sd: tuple[float, ...]  # spread over seeds
    held_out: int
    seeds: tuple[int, ...]


def teacher(answers: Sequence[GradedAnswer], name: str, *, seed: int) -> SimulatedTeacher:
    """Teacher ``name`` grading ``answers`` in a seeded random order."""
    if name != SEMEVAL_TEACHER:
        return simulate_teacher(answers, name, seed=seed)
    order = np.random.default_rng(seed).permutation(len(answers))
    shuffled = tuple(answers[i] for i in order)
    return SimulatedTeacher(name, 1, shuffled, np.array([a.label for a in shuffled], np.float64))


def features(answers: Sequence[GradedAnswer]) -> np.ndarray:
    """Feature rows of ``answers`` (computed once, reused for every teacher and seed)."""
    return featurize([(a.reference, a.text, a.question_text) for a in answers])


def correction_run(open_trainer: OpenTrainer, graded_by: SimulatedTeacher, x: np.ndarray, *,
                   corrections: Sequence[int] = CORRECTIONS, held_out: int | None = None, epochs: int = 50,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(QWK, accuracy) per number of corrections; ``x`` holds the features of ``graded_by.answers``.

    Held out: the last ``held_out`` answers of the teacher's order (default: all after the most
    corrections), never among the corrections.
    """
    k = graded_by.scale_max
    n_test = len(x) - max(corrections) if held_out is None else held_out
    if n_test <= 0 or n_test > len(x) - max(corrections):
        raise ValueError(f"{len(x)} answers cannot hold {max(corrections)} corrections and {n_test} held out")
    base = TASK.base_params(SCHEMA)
    suggest = RubricTask(RubricTaskOptions(scale_max=k)).suggest
    y = graded_by.scores / k
    test_x, truth = x[-n_test:], graded_by.scores[-n_test:]
    qwk, acc = [], []
    for n in corrections:
        trainer = open_trainer(SPEC, base)
        trainer.set_reference(base)
        if n:
            trainer.fit(Dataset.of(x[:n], y[:n], schema=SCHEMA), epochs=epochs, seed=seed)
        suggested, _ = suggest(trainer.predict(test_x))
        qwk.append(quadratic_weighted_kappa(truth, suggested, 0, k))
        acc.append(accuracy(truth, suggested))
    return np.array(qwk), np.array(acc)


def adaptation_curve(open_trainer: OpenTrainer, answers: Sequence[GradedAnswer], x: np.ndarray, teacher_name: str,
                     *, seeds: Sequence[int] = (0, 1), corrections: Sequence[int] = CORRECTIONS,
                     held_out: int | None = None, epochs: int = 50) -> AdaptationCurve:
    """:func:`correction_run` for teacher ``teacher_name`` averaged over ``seeds`` (order, noise, shuffling).

    ``x`` holds the features of ``answers`` (see :func:`features`).
    """
    row = {a.answer_id: i for i, a in enumerate(answers)}
    if len(row) != len(answers):
        raise ValueError("answer ids must be unique (evaluate one SemEval split at a time)")
    runs = []
    for seed in seeds:
        graded_by = teacher(answers, teacher_name, seed=seed)
        order = np.array([row[a.answer_id] for a in graded_by.answers])
        runs.append(correction_run(open_trainer, graded_by, x[order], corrections=corrections, held_out=held_out,
                                   epochs=epochs, seed=seed))
    qwk = np.array([r[0] for r in runs])
    acc = np.array([r[1] for r in runs])
    n_test = len(answers) - max(corrections) if held_out is None else held_out
    return AdaptationCurve(teacher_name, tuple(corrections), tuple(qwk.mean(axis=0).tolist()),
                           tuple(acc.mean(axis=0).tolist()), tuple(qwk.std(axis=0).tolist()), n_test, tuple(seeds))
