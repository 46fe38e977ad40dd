"""The server step, on Flower's own result types: what the strategy applies is the (noised) mean
of the clipped deltas, no noise is added when DP is off, and FedAdam is bias-corrected Adam."""

from __future__ import annotations

import math

import numpy as np
import pytest
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

from satchel.federated.flower import SERVER_ADAM, SharedModelStrategy


def _strategy(kind: str, lr: float, sigma: float = 0.0, clip: float = 1.0, shape: tuple[int, ...] = (3, 2)):
    return SharedModelStrategy(
        [np.zeros(shape, np.float32)],
        clients_per_round=4,
        min_available=4,
        clip_norm=clip,
        noise_multiplier=sigma,
        run="t",
        kind=kind,
        lr=lr,
    )


def _results(deltas: list[np.ndarray]) -> list:
    return [
        (None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters([d]), 1, {"bytes": d.nbytes}))
        for d in deltas
    ]


def _deltas(seed: int, k: int = 4, shape: tuple[int, ...] = (3, 2)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.1, shape).astype(np.float32) for _ in range(k)]


def test_fedavg_without_dp_applies_exactly_the_server_step_times_the_mean_delta():
    s = _strategy("fedavg", lr=2.0)
    deltas = _deltas(0)
    params, _ = s.aggregate_fit(1, _results(deltas), [])
    np.testing.assert_allclose(
        parameters_to_ndarrays(params)[0], 2.0 * np.mean(deltas, axis=0), rtol=1e-6, atol=1e-7
    )
    assert s.rounds[-1].received == 4 and s.rounds[-1].bytes_per_client == deltas[0].nbytes


def test_fedadam_is_bias_corrected_adam_on_the_mean_delta():
    b1, b2, tau = SERVER_ADAM
    s = _strategy("fedadam", lr=0.03)
    m = v = np.zeros((3, 2))
    x = np.zeros((3, 2))
    for t in (1, 2, 3):
        mean = np.mean(_deltas(t), axis=0).astype(np.float64)
        params, _ = s.aggregate_fit(t, _results(_deltas(t)), [])
        m, v = b1 * m + (1 - b1) * mean, b2 * v + (1 - b2) * mean**2
        x = x + 0.03 * math.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + tau)
        np.testing.assert_allclose(parameters_to_ndarrays(params)[0], x, rtol=1e-4, atol=1e-7)
    # the first step of bias-corrected Adam is the server learning rate times the sign
    first = _strategy("fedadam", lr=0.03)
    p, _ = first.aggregate_fit(1, _results(_deltas(1)), [])
    np.testing.assert_allclose(np.abs(parameters_to_ndarrays(p)[0]), 0.03, rtol=2e-3)


def test_dp_noise_on_the_mean_has_std_sigma_clip_over_received():
    s = _strategy("fedavg", lr=1.0, sigma=2.0, clip=0.5, shape=(200, 100))
    zeros = [np.zeros((200, 100), np.float32)] * 4
    params, _ = s.aggregate_fit(1, _results(zeros), [])
    noise = parameters_to_ndarrays(params)[0]
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.01)
    assert float(noise.std()) == pytest.approx(2.0 * 0.5 / 4, rel=0.03)
