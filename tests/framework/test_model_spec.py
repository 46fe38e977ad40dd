import numpy as np
import pytest

from satchel.errors import ConfigError
from satchel.model.spec import Dense, Label, Loss, ModelSpec, Out, initial_params, mlp


def test_hash_is_stable_and_sensitive():
    a, b = mlp(10, (16, 8)), mlp(10, (16, 8))
    assert a == b and a.hash == b.hash and hash(a) == hash(b)
    assert mlp(10, (16, 9)).hash != a.hash
    assert mlp(10, (16, 8), seed=1).hash != a.hash


def test_json_round_trip_including_custom_loss():
    z, y, dt = Out(0), Label(0), Label(1)
    expr = ((-dt * (-z).exp()).minimum(-1e-6) * y).square() + (z - 1.0).softplus()
    spec = mlp(4, (8,), loss=Loss.custom("toy", expr, label_dim=2))
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec and again.hash == spec.hash


def test_initial_params_are_deterministic_and_named():
    spec = mlp(10, (16, 8))
    p1, p2 = initial_params(spec), initial_params(spec)
    assert list(p1) == [
        "dense_0_kernel",
        "dense_0_bias",
        "dense_1_kernel",
        "dense_1_bias",
        "dense_2_kernel",
        "dense_2_bias",
    ]
    assert all(np.array_equal(p1[k], p2[k]) and p1[k].dtype == np.float32 for k in p1)
    assert spec.n_params == 10 * 16 + 16 + 16 * 8 + 8 + 8 + 1


def test_invalid_specs_say_where():
    with pytest.raises(ConfigError, match="model_spec.layers\\[-1\\].activation"):
        ModelSpec(4, (Dense(3, "relu"),))
    with pytest.raises(ConfigError, match="uses Label\\(2\\) but label_dim is 1"):
        mlp(4, (8,), loss=Loss.custom("bad", Out(0) - Label(2), label_dim=1))
    with pytest.raises(ConfigError, match="softmax_ce needs at least 2"):
        mlp(4, (8,), loss=Loss.softmax_ce())


def test_builtin_losses_reference_values_are_stable_when_saturated():
    logits = np.array([[1000.0], [-1000.0], [0.0]])
    labels = np.array([[1.0], [1.0], [0.0]])
    bce = Loss.bce_logits().per_sample(logits, labels)
    assert np.allclose(bce, [0.0, 1000.0, np.log(2)])
    ce = Loss.softmax_ce().per_sample(np.array([[1000.0, 0.0]]), np.array([[0.0, 1.0]]))
    assert np.allclose(ce, [1000.0])
