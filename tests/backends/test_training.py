"""Training behaviour of both backends: accuracy parity, shared Adam, stability, progress, metrics."""

from __future__ import annotations

import numpy as np
import pytest
from specs import BACKENDS, GRADIENT_SPECS, HOT, TASK, labels_for, separable

from satchel.model import reference
from satchel.model.backend import TrainingProgress
from satchel.model.dataset import Dataset


def test_both_backends_learn_a_separable_task_equally(open_trainer) -> None:
    train, test = separable(800, seed=1), separable(400, seed=2)
    accuracy = {}
    for name in BACKENDS:
        trainer = open_trainer(name, TASK)
        trainer.fit(train, epochs=15, seed=5)
        accuracy[name] = trainer.evaluate(test)["accuracy"]
    assert min(accuracy.values()) > 0.95, accuracy
    assert abs(accuracy["litert"] - accuracy["onnx"]) <= 0.02, accuracy


def test_adam_runs_and_state_agree_across_backends(open_trainer) -> None:
    data = separable(300, seed=3)
    litert, onnx = open_trainer("litert", TASK), open_trainer("onnx", TASK)
    for trainer in (litert, onnx):
        trainer.fit(data, epochs=3, seed=1)
    a, b = litert.get_weights(), onnx.get_weights()
    assert a.optimizer_format == b.optimizer_format == "satchel-adam/1"
    assert int(a.optimizer["step"]) == int(b.optimizer["step"]) == 3 * -(-len(data) // TASK.batch_size)
    for k in TASK.param_shapes:
        np.testing.assert_allclose(a.params[k], b.params[k], atol=2e-4, err_msg=k)
    # ONNX continues from LiteRT's parameters and Adam moments exactly as LiteRT itself does
    moved = open_trainer("onnx", TASK, a)
    litert.fit(data, epochs=1, seed=9)
    moved.fit(data, epochs=1, seed=9)
    for k in TASK.param_shapes:
        np.testing.assert_allclose(moved.get_weights().params[k], litert.get_weights().params[k], atol=2e-4)


@pytest.mark.parametrize("name", ["bce", "softmax_ce"])
def test_saturated_logits_give_finite_losses(backend: str, name: str, open_trainer) -> None:
    spec = GRADIENT_SPECS[name]
    rng = np.random.default_rng(4)
    data = Dataset.of(
        rng.normal(size=(spec.batch_size, spec.input_dim)) * 1e4, labels_for(spec, spec.batch_size, rng)
    )  # logits in the thousands
    trainer = open_trainer(backend, spec)
    start = trainer.get_weights().params
    expected = reference.loss(spec, start, data.x, data.y, reference=start)

    result = trainer.fit(data, epochs=1)

    assert expected > 100 and result.final_loss == pytest.approx(expected, rel=1e-4)
    assert all(np.isfinite(v).all() for v in trainer.get_weights().params.values())
    assert np.isfinite(list(trainer.evaluate(data).values())).all()
    pred = trainer.predict(data.x)
    assert np.isfinite(pred).all() and (pred >= 0).all() and (pred <= 1).all()


def test_no_nan_after_50_epochs_at_a_high_learning_rate(backend: str, open_trainer) -> None:
    data = separable(256, seed=6)
    trainer = open_trainer(backend, HOT)

    result = trainer.fit(data, epochs=50, seed=2)

    assert np.isfinite(result.epoch_losses).all()
    assert all(np.isfinite(v).all() for v in trainer.get_weights().params.values())
    assert np.isfinite(trainer.predict(data.x)).all()
    assert trainer.evaluate(data)["accuracy"] > 0.9


def test_progress_ticks_per_batch_and_per_epoch(backend: str, open_trainer) -> None:
    data = separable(200, seed=7).take(slice(0, 70))  # 3 batches of 32: the last one padded
    ticks: list[TrainingProgress] = []

    result = open_trainer(backend, TASK).fit(data, epochs=2, progress=ticks.append)

    expected = [(1, 1), (1, 2), (1, 3), (1, 3), (2, 1), (2, 2), (2, 3), (2, 3)]
    assert [(t.epoch, t.batch) for t in ticks] == expected
    assert all(t.batches == 3 and t.epochs == 2 for t in ticks)
    assert [ticks[3].loss, ticks[7].loss] == pytest.approx(list(result.epoch_losses))
    assert result.steps == 6 and result.samples == 140


def test_shuffling_is_seeded(backend: str, open_trainer) -> None:
    data = separable(100, seed=8)
    runs = []
    for seed in (3, 3, 4):
        trainer = open_trainer(backend, TASK)
        trainer.fit(data, epochs=2, seed=seed)
        runs.append(trainer.get_weights().params["dense_0_kernel"])
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("name", sorted(GRADIENT_SPECS))
def test_predict_and_evaluate_match_reference(backend: str, name: str, open_trainer) -> None:
    spec = GRADIENT_SPECS[name]
    rng = np.random.default_rng(9)
    data = Dataset.of(
        rng.normal(size=(30, spec.input_dim)),
        labels_for(spec, 30, rng),
        rng.uniform(0.1, 2.0, 30).astype(np.float32),
    )
    trainer = open_trainer(backend, spec)
    trainer.fit(data, epochs=2)
    params = trainer.get_weights().params

    pred = trainer.predict(data.x)
    single, row = trainer.predict(data.x[3]), trainer.predict(data.x[3:4])
    metrics = trainer.evaluate(data)

    assert pred.dtype == np.float32 and pred.shape == (30, spec.output_dim)
    np.testing.assert_allclose(pred, reference.predict(spec, params, data.x), rtol=1e-4, atol=1e-5)
    assert single.shape == row.shape == (1, spec.output_dim)
    np.testing.assert_allclose(single, pred[3:4], rtol=1e-5, atol=1e-6)
    per = spec.loss.per_sample(reference.forward(spec, params, data.x), data.y)
    w = data.weights.astype(np.float64)
    assert metrics["loss"] == pytest.approx(float((w * per).sum() / w.sum()), rel=1e-4)
    if spec.loss.kind == "softmax_ce":
        hit = pred.argmax(axis=1) == data.y.argmax(axis=1)
        assert metrics["accuracy"] == pytest.approx(float((w * hit).sum() / w.sum()))
    elif spec.loss.kind == "bce_logits":
        assert 0.0 <= metrics["accuracy"] <= 1.0
    else:
        assert "accuracy" not in metrics
