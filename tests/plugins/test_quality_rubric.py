"""Rubric quality on real data: the shipped base grader on held-out public splits, and a teacher's
replayed gradebook (SAF, graded 0..4) through satchel's device replay against the base grader and
the teacher's most frequent grade."""

import json

import numpy as np
import pytest
from shared_data import SEMEVAL_CSV, needs

from satchel.model import reference
from satchel.model.dataset import Dataset
from satchel_plugins.rubric.evaluate import learning_curve
from satchel_plugins.rubric.features import SCHEMA, without_teacher
from satchel_plugins.rubric.saf import SAF_DIR, load_saf
from satchel_plugins.rubric.semeval import load_semeval
from satchel_plugins.rubric.task import BASE_WEIGHTS, RubricTask
from satchel_plugins.rubric.train_base import graded_in_order, labels

TASK = RubricTask()
SPEC = TASK.model_spec(SCHEMA)


@needs(SEMEVAL_CSV)
@needs(SAF_DIR)
def test_shipped_base_weights_reproduce_their_recorded_held_out_scores():
    meta = json.loads(BASE_WEIGHTS.with_suffix(".json").read_text())
    assert meta["feature_schema_hash"] == SCHEMA.hash and meta["spec_hash"] == SPEC.hash
    assert meta["data"]["semeval"]["split"] == "train" and meta["data"]["saf"]["split"] == "training/english"
    base = TASK.base_params(SCHEMA)
    answers = load_saf(splits=("unseen_questions",))
    x = graded_in_order(answers, seed=None)
    m = TASK.metrics(Dataset.of(x, labels(answers), schema=SCHEMA), reference.predict(SPEC, base, x))
    assert m["pearson"] == pytest.approx(meta["scores"]["saf unseen_questions (blind)"]["pearson"], abs=1e-3)


@needs(SEMEVAL_CSV)
def test_the_two_way_semeval_path_still_grades_better_than_the_majority():
    base = TASK.base_params(SCHEMA)
    for split in ("test_ua", "test_uq"):
        answers = load_semeval(splits=(split,))
        y = np.array([a.label for a in answers])
        x = without_teacher(graded_in_order(answers, seed=None))
        suggested = TASK.suggestions(x, reference.predict(SPEC, base, x)).grade
        acc = float(np.mean(suggested == y))
        print(
            f"\nrubric base, SemEval {split}: accuracy {acc:.3f} (majority {max(y.mean(), 1 - y.mean()):.3f})"
        )
        assert acc > max(y.mean(), 1 - y.mean()) + 0.08


@needs(SEMEVAL_CSV)
@needs(SAF_DIR)
def test_after_50_corrections_satchel_beats_the_base_grader_and_the_most_frequent_grade():
    """SAF unseen questions (never trained on), a teacher grading 25 answers a day, replayed on the device."""
    curve = learning_curve(
        load_saf(splits=("unseen_questions",)), seeds=(0,), per_day=25, epochs=10, corrections=(0, 50)
    )
    print(
        "\n"
        + "\n".join(
            f"{p:20s} " + " ".join(f"{m} {curve.at(50, p, m):.3f}" for m in ("pearson", "qwk", "accuracy"))
            for p in ("satchel", "base_grader", "most_frequent_grade")
        )
    )
    for metric in ("pearson", "qwk", "accuracy"):
        ours = curve.at(50, "satchel", metric)
        assert ours > curve.at(50, "base_grader", metric)
        assert ours > curve.at(50, "most_frequent_grade", metric) + 0.05
    assert curve.at(50, "satchel", "pearson") >= 0.55
