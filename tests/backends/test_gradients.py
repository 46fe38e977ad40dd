"""Both backends compute the reference gradient and objective (one SGD step reveals them)."""

from __future__ import annotations

import numpy as np
import pytest
from specs import GRADIENT_SPECS, labels_for

from satchel.model import reference
from satchel.model.backend import Weights
from satchel.model.dataset import Dataset
from satchel.model.spec import initial_params


@pytest.mark.parametrize("name", sorted(GRADIENT_SPECS))
def test_one_sgd_step_matches_reference_gradient(backend: str, name: str, open_trainer) -> None:
    spec = GRADIENT_SPECS[name]
    rng = np.random.default_rng(11)
    start = {k: (v + rng.normal(0, 0.3, v.shape)).astype(np.float32) for k, v in initial_params(spec).items()}
    ref = {k: (v + rng.normal(0, 0.3, v.shape)).astype(np.float32) for k, v in initial_params(spec).items()}
    n = spec.batch_size - 3  # one padded, partially masked batch
    data = Dataset.of(
        rng.normal(size=(n, spec.input_dim)),
        labels_for(spec, n, rng),
        rng.uniform(0.2, 3.0, n).astype(np.float32),
    )
    trainer = open_trainer(backend, spec, Weights(start))
    trainer.set_reference(ref)

    result = trainer.fit(data, epochs=1, shuffle=False)

    after = trainer.get_weights().params
    lr = spec.optimizer.learning_rate
    expected = reference.gradient(spec, start, data.x, data.y, data.weights, ref)
    assert result.steps == 1 and result.samples == n
    assert result.final_loss == pytest.approx(
        reference.loss(spec, start, data.x, data.y, data.weights, ref), rel=1e-5
    )
    for k in spec.param_shapes:
        got = (start[k].astype(np.float64) - after[k]) / lr
        scale = max(1.0, float(np.abs(expected[k]).max()))
        np.testing.assert_allclose(got, expected[k], rtol=1e-3, atol=2e-5 * scale, err_msg=f"{backend} {k}")


def test_default_reference_is_the_opening_weights(backend: str, open_trainer) -> None:
    spec = GRADIENT_SPECS["bce"]
    rng = np.random.default_rng(12)
    start = {k: (v + rng.normal(0, 0.3, v.shape)).astype(np.float32) for k, v in initial_params(spec).items()}
    data = Dataset.of(rng.normal(size=(8, spec.input_dim)), labels_for(spec, 8, rng))
    trainer = open_trainer(backend, spec, Weights(start))

    trainer.fit(data, epochs=1, shuffle=False)

    # at the reference the L2 term contributes no gradient
    expected = reference.gradient(spec, start, data.x, data.y, data.weights, start)
    after = trainer.get_weights().params
    for k in spec.param_shapes:
        got = (start[k].astype(np.float64) - after[k]) / spec.optimizer.learning_rate
        np.testing.assert_allclose(got, expected[k], rtol=1e-3, atol=5e-5, err_msg=k)
