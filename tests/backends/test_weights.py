"""Weights and optimizer state: identical starts, exact round trips, checked loading."""

from __future__ import annotations

import numpy as np
import pytest
from specs import BACKENDS, GRADIENT_SPECS, TASK, separable

from satchel.errors import BackendError, ShapeError
from satchel.model.backend import Weights
from satchel.model.spec import initial_params


def test_both_backends_start_from_initial_params(open_trainer) -> None:
    expected = initial_params(TASK)
    x = separable(20).x
    preds = []
    for name in BACKENDS:
        trainer = open_trainer(name, TASK)
        got = trainer.get_weights()
        assert all(np.array_equal(got.params[k], expected[k]) for k in expected)
        assert int(got.optimizer["step"]) == 0 and not got.optimizer["m/dense_0_kernel"].any()
        preds.append(trainer.predict(x))
    np.testing.assert_allclose(preds[0], preds[1], rtol=1e-5, atol=1e-6)


def test_weights_round_trip_through_plain_dicts_bit_for_bit(backend: str, open_trainer) -> None:
    data = separable(200, seed=2)
    trained = open_trainer(backend, TASK)
    trained.fit(data, epochs=2)
    w = trained.get_weights()
    plain = {
        "params": {k: np.array(v) for k, v in w.params.items()},
        "optimizer": {k: np.array(v) for k, v in w.optimizer.items()},
        "format": w.optimizer_format,
    }

    fresh = open_trainer(backend, TASK)
    fresh.set_weights(Weights(plain["params"], plain["optimizer"], plain["format"]))

    assert np.array_equal(fresh.predict(data.x), trained.predict(data.x))
    for trainer in (trained, fresh):
        trainer.fit(data, epochs=1, seed=4)
    after_a, after_b = trained.get_weights(), fresh.get_weights()
    assert all(np.array_equal(after_a.params[k], after_b.params[k]) for k in after_a.params)
    assert all(np.array_equal(after_a.optimizer[k], after_b.optimizer[k]) for k in after_a.optimizer)


def test_params_without_optimizer_state_start_a_fresh_optimizer(backend: str, open_trainer) -> None:
    trainer = open_trainer(backend, TASK)
    trainer.fit(separable(100, seed=3), epochs=1)
    params = trainer.get_weights().params

    trainer.set_weights(Weights(params))

    state = trainer.get_weights()
    assert int(state.optimizer["step"]) == 0 and not any(v.any() for v in state.optimizer.values())
    assert all(np.array_equal(state.params[k], params[k]) for k in params)


def test_sgd_has_no_optimizer_state(backend: str, open_trainer) -> None:
    w = open_trainer(backend, GRADIENT_SPECS["bce"]).get_weights()
    assert w.optimizer == {} and w.optimizer_format == "satchel-sgd/1"


def test_foreign_optimizer_state_is_refused(backend: str, open_trainer) -> None:
    trainer = open_trainer(backend, TASK)
    params = initial_params(TASK)
    with pytest.raises(BackendError, match="satchel-adam/1"):
        trainer.set_weights(Weights(params, {"momentum": np.zeros(3)}, "torch-adam/1"))
    state = trainer.get_weights().optimizer
    with pytest.raises(ShapeError, match="step"):
        trainer.set_weights(Weights(params, {**state, "step": np.zeros(2)}, "satchel-adam/1"))


def test_bad_parameters_are_refused(backend: str, open_trainer) -> None:
    trainer = open_trainer(backend, TASK)
    params = initial_params(TASK)
    with pytest.raises(ShapeError, match="missing \\['dense_2_bias'\\]"):
        trainer.set_weights(Weights({k: v for k, v in params.items() if k != "dense_2_bias"}))
    with pytest.raises(ShapeError, match=r"dense_0_kernel must be a float32 array of shape \(10, 16\)"):
        trainer.set_weights(Weights({**params, "dense_0_kernel": np.zeros((16, 10))}))
    with pytest.raises(ShapeError, match="NaN"):
        trainer.set_reference({**params, "dense_1_bias": np.full(8, np.nan)})
