"""Wrong shapes, dtypes and values are refused with errors that name what was expected."""

from __future__ import annotations

import numpy as np
import pytest
from specs import GRADIENT_SPECS, TASK, separable

from satchel.errors import BackendError, ShapeError
from satchel.model.backend import Weights
from satchel.model.dataset import Dataset
from satchel.model.spec import Const, Label, Loss, mlp


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((2, 9), np.float32), r"expected shape \(10,\) or \(n, 10\)"),
        (np.zeros(11, np.float32), r"got \(1, 11\)"),
        (np.zeros((2, 5, 10), np.float32), r"got \(2, 5, 10\)"),
        (np.zeros((0, 10), np.float32), "n >= 1"),
        (np.array([["a"] * 10]), "dtype <U1"),
        (np.zeros((1, 10), np.complex64), "dtype complex64"),
        (np.full((1, 10), np.nan, np.float32), "NaN or infinite"),
        (np.full((1, 10), np.inf), "NaN or infinite"),
    ],
)
def test_predict_refuses_bad_input(backend: str, open_trainer, bad: np.ndarray, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        open_trainer(backend, TASK).predict(bad)


def test_predict_accepts_other_real_dtypes(backend: str, open_trainer) -> None:
    trainer = open_trainer(backend, TASK)
    ints = np.arange(10).reshape(1, 10)
    np.testing.assert_array_equal(trainer.predict(ints), trainer.predict(ints.astype(np.float32)))
    assert trainer.predict(np.asfortranarray(np.ones((3, 10)))).shape == (3, 1)


def test_fit_and_evaluate_check_dataset_widths(backend: str, open_trainer) -> None:
    trainer = open_trainer(backend, TASK)
    narrow = Dataset.of(np.zeros((4, 9)), np.zeros(4))
    with pytest.raises(ShapeError, match=r"x has 9 columns, expected \(n, 10\)"):
        trainer.fit(narrow)
    with pytest.raises(ShapeError, match=r"y has 2 columns, expected \(n, 1\)"):
        trainer.evaluate(Dataset.of(np.zeros((4, 10)), np.zeros((4, 2))))
    with pytest.raises(ShapeError, match="Dataset"):
        trainer.fit((np.zeros((4, 10)), np.zeros(4)))  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match="4 feature names"):
        trainer.export(".", feature_names=("a", "b", "c", "d"), feature_schema_hash="h")


def test_custom_loss_must_use_the_outputs(backends, cache_dir) -> None:
    spec = mlp(3, (), 1, loss=Loss.custom("const", Label(0) * 2.0 + Const(1.0), label_dim=1))
    for backend in backends.values():
        with pytest.raises(BackendError, match="does not use any Out"):
            backend.compile(spec, cache_dir)


def test_artifacts_of_another_backend_are_refused(backends, compile_spec) -> None:
    with pytest.raises(BackendError, match="compile the spec again with the onnx backend"):
        backends["onnx"].open(compile_spec("litert", GRADIENT_SPECS["bce"]))


def test_non_finite_loss_is_reported(backend: str, open_trainer) -> None:
    spec = GRADIENT_SPECS["custom"]
    data = separable(10, d=spec.input_dim)
    trainer = open_trainer(backend, spec)
    poisoned = {**trainer.get_weights().params}
    poisoned["dense_1_bias"] = np.array([1e30, 1e30], np.float32)  # exp() and square() overflow
    trainer.set_weights(Weights(poisoned))
    with pytest.raises(BackendError, match="non-finite"):
        trainer.fit(Dataset.of(data.x, np.zeros((len(data), 2))))
