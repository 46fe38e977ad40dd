"""Rubric quality: the shipped SemEval base grader, and its adaptation to teachers with other rubrics."""

import json

import numpy as np
import pytest
from shared_data import SEMEVAL_CSV, needs

from satchel import reference
from satchel.dataset import Dataset
from satchel.metrics import accuracy, quadratic_weighted_kappa
from satchel_plugins.rubric import BASE_WEIGHTS, RUBRICS, RubricTask, load_semeval, simulate_teacher
from satchel_plugins.rubric.features import SCHEMA, featurize

CURVE = (0, 10, 25, 50, 100)
EPOCHS = 50
HELD_OUT = 350
TASK = RubricTask()
SPEC = TASK.model_spec(SCHEMA)


@needs(SEMEVAL_CSV)
def test_shipped_base_weights_reproduce_their_recorded_test_scores():
    meta = json.loads(BASE_WEIGHTS.with_suffix(".json").read_text())
    assert meta["feature_schema_hash"] == SCHEMA.hash and meta["spec_hash"] == SPEC.hash
    base = TASK.base_params(SCHEMA)
    for split in ("test_ua", "test_uq", "test_ud"):
        answers = load_semeval(splits=(split,))
        y = np.array([a.label for a in answers])
        p = reference.predict(SPEC, base, featurize([(a.reference, a.text, a.question_text) for a in answers]))[:, 0]
        acc = accuracy(y, p >= 0.5)
        print(f"\nrubric base, SemEval {split}: accuracy {acc:.3f} (majority {max(y.mean(), 1 - y.mean()):.3f})")
        assert acc == pytest.approx(meta["scores"][f"{split}/all"]["accuracy"], abs=5e-3)  # float32 ties at 0.5
        assert acc > max(y.mean(), 1 - y.mean()) + 0.05


@needs(SEMEVAL_CSV)
def test_qwk_rises_with_corrections_for_teachers_whose_rubric_differs(open_trainer):
    base = TASK.base_params(SCHEMA)
    answers = load_semeval(splits=("test_ua",))
    curves = {}
    for rubric, k in RUBRICS.items():
        runs = []
        for seed in (0, 1):
            teacher = simulate_teacher(answers, rubric, seed=seed)
            x = featurize([(a.reference, a.text, a.question_text) for a in teacher.answers])
            y = teacher.scores / k
            test_x, truth = x[-HELD_OUT:], teacher.scores[-HELD_OUT:]
            run = []
            for n in CURVE:
                trainer = open_trainer(SPEC, base)
                trainer.set_reference(base)
                if n:
                    trainer.fit(Dataset.of(x[:n], y[:n], schema=SCHEMA), epochs=EPOCHS, seed=seed)
                suggested = np.rint(np.clip(trainer.predict(test_x)[:, 0], 0, 1) * k)
                run.append(quadratic_weighted_kappa(truth, suggested, 0, k))
            runs.append(run)
        curves[rubric] = np.mean(runs, axis=0)
        print(f"\nrubric QWK vs corrections {CURVE}, teacher '{rubric}' (0..{k}): "
              + " ".join(f"{v:.3f}" for v in curves[rubric]))
    mean_curve = np.mean(list(curves.values()), axis=0)
    print("mean QWK curve: " + " ".join(f"{v:.3f}" for v in mean_curve))
    assert mean_curve[-1] > mean_curve[0] + 0.03
    assert mean_curve[3] > mean_curve[0]
    assert all(later >= earlier - 0.03 for earlier, later in zip(mean_curve, mean_curve[1:]))


def test_base_weights_on_the_backend_match_the_numpy_reference(open_trainer):
    base = TASK.base_params(SCHEMA)
    x = np.random.default_rng(0).normal(0, 0.5, (20, SCHEMA.width)).astype(np.float32)
    trainer = open_trainer(SPEC, base)
    assert np.allclose(trainer.predict(x), reference.predict(SPEC, base, x), atol=1e-5)
