"""The NumPy reference itself: analytic gradients agree with finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from specs import GRADIENT_SPECS, labels_for

from satchel.model import reference
from satchel.model.spec import initial_params


@pytest.mark.parametrize("name", sorted(GRADIENT_SPECS))
def test_analytic_gradient_matches_finite_differences(name: str) -> None:
    spec = GRADIENT_SPECS[name]
    rng = np.random.default_rng(0)
    params = {k: v + rng.normal(0, 0.2, v.shape) for k, v in initial_params(spec).items()}
    x = rng.normal(size=(7, spec.input_dim))
    y, w = labels_for(spec, 7, rng), rng.uniform(0.2, 2.0, 7)
    analytic = reference.gradient(spec, params, x, y, w)
    numeric = reference.finite_difference_gradient(spec, params, x, y, w)
    for k in spec.param_shapes:
        np.testing.assert_allclose(analytic[k], numeric[k], rtol=1e-5, atol=1e-7, err_msg=k)


def test_objective_is_weighted_mean_plus_l2_pull() -> None:
    spec = GRADIENT_SPECS["bce"]
    params = initial_params(spec)
    ref = {k: v + 1.0 for k, v in params.items()}
    x, y = np.zeros((2, spec.input_dim)), np.array([[1.0], [0.0]])
    # zero inputs and biases: logits 0, per-sample loss log(2) for both rows
    expected = np.log(2.0) + spec.l2_to_reference * spec.n_params
    assert reference.loss(spec, params, x, y, np.array([3.0, 1.0]), ref) == pytest.approx(expected)
    assert reference.loss(spec, params, x, y, np.zeros(2), params) == 0.0


def test_predict_applies_the_link() -> None:
    spec = GRADIENT_SPECS["softmax_ce"]
    x = np.random.default_rng(1).normal(size=(4, spec.input_dim))
    p = reference.predict(spec, initial_params(spec), x)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
