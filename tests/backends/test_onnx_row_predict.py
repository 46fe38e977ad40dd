"""The ONNX trainer's one-row predict (buffers bound to the session) answers exactly as its batch path,
follows new weights, refuses non-finite rows, and is safe from other threads; weights set after a
fit (in place when the optimizer state is unchanged) continue exactly as a freshly opened trainer."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from specs import TASK, separable

from satchel.errors import ShapeError
from satchel.model.spec import Loss, mlp

SOFTMAX = mlp(10, (8,), 3, loss=Loss.softmax_ce(), seed=5)


def batch_predict(trainer, row: np.ndarray) -> np.ndarray:
    """The row's prediction through the batch path (two rows, no binding)."""
    return trainer.predict(np.vstack([row.reshape(1, -1)] * 2))[:1]


@pytest.mark.parametrize("spec", [TASK, SOFTMAX], ids=["sigmoid", "softmax"])
def test_one_row_equals_the_batch_path(open_trainer, spec) -> None:
    trainer = open_trainer("onnx", spec)
    rows = np.random.default_rng(0).normal(size=(50, 10)).astype(np.float32)
    for row in rows:
        for shaped in (row, row.reshape(1, -1)):
            out = trainer.predict(shaped)
            assert out.shape == (1, spec.output_dim) and out.dtype == np.float32
            np.testing.assert_array_equal(out, batch_predict(trainer, row))
    first = trainer.predict(rows[0])
    trainer.predict(rows[1])
    np.testing.assert_array_equal(first, trainer.predict(rows[0]))  # a returned row is not the reused buffer


def test_one_row_follows_training_and_new_weights(open_trainer) -> None:
    trainer = open_trainer("onnx", TASK)
    row = separable(1).x[0]
    before = trainer.predict(row)
    trainer.fit(separable(200), 3, seed=1)
    after = trainer.predict(row)
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, batch_predict(trainer, row))
    fresh = open_trainer("onnx", TASK)
    trainer.set_weights(fresh.get_weights())
    np.testing.assert_array_equal(trainer.predict(row), before)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_one_non_finite_feature_is_refused(open_trainer, value: float) -> None:
    trainer = open_trainer("onnx", TASK)
    row = np.ones(10, np.float32)
    trainer.predict(row)  # the binding exists
    row[4] = value
    with pytest.raises(ShapeError, match="NaN or infinite"):
        trainer.predict(row)


def test_finite_row_with_an_overflowing_sum_is_predicted(open_trainer) -> None:
    trainer = open_trainer("onnx", TASK)
    row = np.full(10, 3e38, np.float32)  # every value finite, their sum is not
    np.testing.assert_array_equal(trainer.predict(row), batch_predict(trainer, row))


def test_other_threads_get_the_same_answers(open_trainer) -> None:
    trainer = open_trainer("onnx", TASK)
    rows = np.random.default_rng(1).normal(size=(200, 10)).astype(np.float32)
    expected = [trainer.predict(r) for r in rows]  # this thread owns the binding
    results: dict[int, list[np.ndarray]] = {}

    def worker(k: int) -> None:
        results[k] = [trainer.predict(r) for r in rows]

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    own = [trainer.predict(r) for r in rows]
    for t in threads:
        t.join()
    for answers in [own, *results.values()]:
        for got, want in zip(answers, expected):
            np.testing.assert_array_equal(got, want)


def continue_training(trainer) -> np.ndarray:
    trainer.fit(separable(64, seed=3), 2, seed=4)
    return trainer.predict(separable(8, seed=5).x)


@pytest.mark.parametrize("change_optimizer", [False, True], ids=["same-optimizer", "changed-optimizer"])
def test_set_weights_after_training_matches_a_fresh_trainer(open_trainer, change_optimizer: bool) -> None:
    """Parameters set in place (the module already holds the optimizer state) or a reloaded module
    continue exactly as a trainer opened on the same weights."""
    from satchel.model.backend import Weights

    trainer = open_trainer("onnx", TASK)
    trainer.fit(separable(200), 3, seed=1)
    weights = trainer.get_weights()
    params = {**weights.params, "dense_2_bias": weights.params["dense_2_bias"] + np.float32(0.5)}
    optimizer = dict(weights.optimizer)
    if change_optimizer:
        optimizer["step"] = optimizer["step"] + 7
    changed = Weights(params, optimizer, weights.optimizer_format)
    trainer.set_weights(changed)
    fresh = open_trainer("onnx", TASK, changed)
    np.testing.assert_array_equal(
        trainer.predict(separable(8, seed=5).x), fresh.predict(separable(8, seed=5).x)
    )
    np.testing.assert_array_equal(continue_training(trainer), continue_training(fresh))
