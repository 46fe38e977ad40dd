"""Rubric quality: the shipped SemEval base grader, and its adaptation to teachers with other rubrics."""

import json

import numpy as np
import pytest
from shared_data import SEMEVAL_CSV, needs

from satchel import reference
from satchel.metrics import accuracy
from satchel_plugins.rubric.evaluate import SEMEVAL_TEACHER, SPEC, TASK, adaptation_curve, features, teacher
from satchel_plugins.rubric.features import SCHEMA
from satchel_plugins.rubric.semeval import load_semeval
from satchel_plugins.rubric.simulate import RUBRICS, synthetic_answers
from satchel_plugins.rubric.task import BASE_WEIGHTS

HELD_OUT = 350


@needs(SEMEVAL_CSV)
def test_shipped_base_weights_reproduce_their_recorded_test_scores():
    meta = json.loads(BASE_WEIGHTS.with_suffix(".json").read_text())
    assert meta["feature_schema_hash"] == SCHEMA.hash and meta["spec_hash"] == SPEC.hash
    base = TASK.base_params(SCHEMA)
    for split in ("test_ua", "test_uq", "test_ud"):
        answers = load_semeval(splits=(split,))
        y = np.array([a.label for a in answers])
        p = reference.predict(SPEC, base, features(answers))[:, 0]
        acc = accuracy(y, p >= 0.5)
        print(f"\nrubric base, SemEval {split}: accuracy {acc:.3f} (majority {max(y.mean(), 1 - y.mean()):.3f})")
        assert acc == pytest.approx(meta["scores"][f"{split}/all"]["accuracy"], abs=5e-3)  # float32 ties at 0.5
        assert acc > max(y.mean(), 1 - y.mean()) + 0.05


@needs(SEMEVAL_CSV)
def test_qwk_rises_with_corrections_for_teachers_whose_rubric_differs(open_trainer):
    answers = load_semeval(splits=("test_ua",))
    x = features(answers)
    curves = {}
    for rubric in RUBRICS:
        curve = adaptation_curve(open_trainer, answers, x, rubric, seeds=(0, 1), held_out=HELD_OUT)
        curves[rubric] = np.array(curve.qwk)
        print(f"\nrubric QWK vs corrections {curve.corrections}, teacher '{rubric}' (0..{RUBRICS[rubric]}): "
              + " ".join(f"{v:.3f}" for v in curve.qwk))
    mean_curve = np.mean(list(curves.values()), axis=0)
    print("mean QWK curve: " + " ".join(f"{v:.3f}" for v in mean_curve))
    assert mean_curve[-1] > mean_curve[0] + 0.03
    assert mean_curve[3] > mean_curve[0]
    assert all(later >= earlier - 0.03 for earlier, later in zip(mean_curve, mean_curve[1:]))
    assert all(curve[-1] > curve[0] for curve in curves.values())


def test_the_semeval_teacher_grades_with_the_gold_labels_in_a_seeded_order():
    answers = synthetic_answers(10, seed=0)
    graded = teacher(answers, SEMEVAL_TEACHER, seed=3)
    assert graded.scale_max == 1 and sorted(a.answer_id for a in graded.answers) == sorted(a.answer_id for a in answers)
    assert [a.answer_id for a in graded.answers] != [a.answer_id for a in answers]
    assert graded.scores.tolist() == [a.label for a in graded.answers]
    assert teacher(answers, SEMEVAL_TEACHER, seed=3).answers == graded.answers


def test_base_weights_on_the_backend_match_the_numpy_reference(open_trainer):
    base = TASK.base_params(SCHEMA)
    x = np.random.default_rng(0).normal(0, 0.5, (20, SCHEMA.width)).astype(np.float32)
    trainer = open_trainer(SPEC, base)
    assert np.allclose(trainer.predict(x), reference.predict(SPEC, base, x), atol=1e-5)
