"""Rubric evaluation on real graded data: a teacher grades answers one after another, and satchel's
suggestion for each answer — made before the teacher's grade, by what the device serves then — is
compared with that grade, beside the base grader and the teacher's most frequent grade so far.

The replay is satchel's own (:func:`satchel.evaluation.replay.replay`, the engine behind ``satchel
evaluate``): this module only writes a graded data set as a teacher's gradebook — a CSV in grading
order, a seeded random order, ``per_day`` grades a day — and the grading pipeline's configuration.
Tests and benchmarks share it.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from satchel_plugins.rubric.semeval import GradedAnswer

CORRECTIONS: tuple[int, ...] = (0, 10, 25, 50, 100, 200)
METRICS: tuple[str, ...] = ("pearson", "qwk", "accuracy")
PREDICTORS: tuple[str, ...] = ("satchel", "base_grader", "most_frequent_grade")
SOURCE = "graded_answers_csv"
START = datetime(2024, 9, 2, 16, tzinfo=timezone.utc)


def write_gradebook(answers: Sequence[GradedAnswer], path: Path, *, seed: int, per_day: int = 10) -> Path:
    """``answers`` as a teacher's gradebook CSV, rows in a seeded random grading order, ``per_day``
    grades each afternoon, one minute apart."""
    order = np.random.default_rng(seed).permutation(len(answers))
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "answer_id",
                "question_id",
                "question",
                "reference_answer",
                "student_answer",
                "score",
                "scale_max",
                "graded_at",
            ]
        )
        for rank, i in enumerate(order):
            a = answers[i]
            at = START + timedelta(days=rank // per_day, minutes=rank % per_day)
            w.writerow(
                [
                    a.answer_id,
                    a.question,
                    a.question_text,
                    a.reference,
                    a.text,
                    f"{a.grade:g}",
                    a.scale_max,
                    at.isoformat(),
                ]
            )
    return Path(path)


def pipeline_config(
    *, backend: str = "onnx", epochs: int = 30, options: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A grading app's configuration with the rubric task's ``options`` (the replay supplies its own
    directories and key)."""
    return {
        "app": {
            "id": "grading-replay",
            "name": "grading assistant replay",
            "data_dir": "unused",
            "key_dir": "unused",
        },
        "privacy": {"key_provider": {"name": "env", "options": {"variable": "SATCHEL_REPLAY_UNUSED"}}},
        "pipelines": {
            "grading": {
                "model": {"name": "rubric", "options": dict(options or {})},
                "purposes": ["grading_assistance"],
                "backend": backend,
                "epochs": epochs,
            }
        },
    }


@dataclass(frozen=True)
class LearningCurve:
    """Metrics per predictor per curve bin (``[from, to)`` corrections known), averaged over seeds."""

    bins: tuple[tuple[int, int | None], ...]
    n: tuple[int, ...]  # items per bin, summed over seeds
    values: Mapping[str, Mapping[str, tuple[float, ...]]]  # predictor -> metric -> per bin
    seeds: tuple[int, ...]
    trainings: int
    promoted: int

    def at(self, corrections: int, predictor: str, metric: str) -> float:
        return self.values[predictor][metric][[lo for lo, _ in self.bins].index(corrections)]


def learning_curve(
    answers: Sequence[GradedAnswer],
    *,
    seeds: Sequence[int] = (0,),
    per_day: int = 10,
    backend: str = "onnx",
    epochs: int = 30,
    options: Mapping[str, Any] | None = None,
    corrections: Sequence[int] = CORRECTIONS,
) -> LearningCurve:
    """Replay a teacher grading ``answers`` (once per seed: grading order) through satchel's replay."""
    from satchel.evaluation.replay import replay

    per_seed = []
    trainings = promoted = 0
    with tempfile.TemporaryDirectory(prefix="satchel-rubric-") as tmp:
        for seed in seeds:
            book = write_gradebook(answers, Path(tmp) / f"gradebook-{seed}.csv", seed=seed, per_day=per_day)
            result = replay(
                pipeline_config(backend=backend, epochs=epochs, options=options),
                book,
                source=SOURCE,
                curve=tuple(corrections),
            ).pipeline("grading")
            per_seed.append(result.curve)
            trainings += result.trainings
            promoted += result.promoted
    bins = tuple((c.lo, c.hi) for c in per_seed[0])
    values = {
        p: {
            m: tuple(
                float(np.nanmean([_nan0(run[b].metrics[p][m]) for run in per_seed])) for b in range(len(bins))
            )
            for m in (*METRICS, "grade_nll")
        }
        for p in (*PREDICTORS, "fallback")
    }
    n = tuple(sum(run[b].n for run in per_seed) for b in range(len(bins)))
    return LearningCurve(bins, n, values, tuple(seeds), trainings, promoted)


def _nan0(v: float) -> float:
    """An undefined correlation (a constant predictor) counts as none."""
    return 0.0 if np.isnan(v) else float(v)
