"""Federated standardisation: the folding is exact, the statistics rounds estimate the features'
moments through the same clip-and-noise mechanism, and they are contributions like any other:
behind the consent gate, charged in the sealed ledger (epsilon counts them), refused over budget."""

from __future__ import annotations

import base64
import json
import math
import os

import numpy as np
import pytest
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays

import satchel
from satchel.errors import ConsentError
from satchel.federated import accounting
from satchel.federated.client import BudgetExceeded, contribute, contribute_statistics
from satchel.federated.fleet import FleetOptions, enroll, write_config
from satchel.federated.flower import SharedModelStrategy
from satchel.federated.standardize import (
    Standardization,
    decode,
    default_clip,
    device_statistic,
    encode,
    estimate,
    fold,
    standardize_data,
    unfold,
)
from satchel.federated.store import BudgetLedger
from satchel.model import reference
from satchel.model.dataset import Dataset, FeatureSchema
from satchel.model.spec import initial_params, mlp
from satchel_plugins.habit.simulate import simulate_habit_learners

SPEC = mlp(5, (7, 3), 2)


def _standardization(rng: np.random.Generator) -> Standardization:
    return Standardization(rng.normal(0.5, 2.0, 5), rng.uniform(0.05, 3.0, 5))


def _random_params(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(0, 1, v.shape).astype(np.float32) for k, v in initial_params(SPEC).items()}


def test_folded_model_on_raw_inputs_equals_the_standardised_model_on_standardised_inputs():
    rng = np.random.default_rng(0)
    st = _standardization(rng)
    params = _random_params(1)
    x = rng.normal(0.5, 2.0, (64, 5)).astype(np.float32)
    folded = fold(params, st)
    assert {k: v.shape for k, v in folded.items()} == SPEC.param_shapes  # an ordinary model of the spec
    np.testing.assert_allclose(
        reference.forward(SPEC, folded, x), reference.forward(SPEC, params, st.apply(x)), rtol=1e-4, atol=1e-4
    )
    for k in ("dense_1_kernel", "dense_1_bias", "dense_2_kernel", "dense_2_bias"):
        np.testing.assert_array_equal(folded[k], params[k])  # only the first layer changes
    back = unfold(folded, st)
    for k in params:
        np.testing.assert_allclose(back[k], params[k], rtol=1e-4, atol=1e-5)


def test_standardisation_rejects_non_positive_scales_and_round_trips_as_json():
    with pytest.raises(ValueError):
        Standardization(np.zeros(2), np.array([1.0, 0.0]))
    st = _standardization(np.random.default_rng(2))
    again = Standardization.from_json(st.to_json())
    np.testing.assert_array_equal(again.mean, st.mean)
    np.testing.assert_array_equal(again.scale, st.scale)


def _dataset(x: np.ndarray) -> Dataset:
    schema = FeatureSchema(tuple(f"f{i}" for i in range(x.shape[1])), version="t/1")
    return Dataset(x, np.zeros((len(x), 1)), np.ones(len(x)), schema)


def test_device_statistics_are_clipped_and_rescaled_to_the_runs_clip_norm():
    x = np.random.default_rng(3).normal(3.0, 1.0, (50, 4))
    data = _dataset(x)
    mean = device_statistic(data, "mean")
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-5)
    spread = device_statistic(data, "spread", np.zeros(4))
    np.testing.assert_allclose(spread, np.sqrt((x**2).mean(axis=0)), rtol=1e-5)
    vector, norm = encode(mean, 1.0, 0.02)
    assert norm == pytest.approx(float(np.linalg.norm(mean)), rel=1e-6) and norm > 1.0
    assert float(np.linalg.norm(vector[0])) == pytest.approx(0.02, rel=1e-5)  # SecAgg+'s range
    np.testing.assert_allclose(decode(vector, 1.0, 0.02), mean / norm, rtol=1e-5)
    np.testing.assert_allclose(
        standardize_data(data, Standardization(x.mean(0), x.std(0))).x.mean(0), 0, atol=1e-5
    )
    assert default_clip(16) == 2.0


def test_the_scale_is_never_below_what_the_noise_resolves():
    st = estimate([np.array([1.0, 2.0])], [np.array([0.5, 0.001])], noise_std=0.05)
    assert st.scale[0] == 0.5 and st.scale[1] == pytest.approx(0.1)


def _ok(arrays: list[np.ndarray]):
    return (None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters(arrays), 1, {}))


def test_strategy_estimates_the_moments_then_trains_standardised_and_returns_the_folded_model():
    rng = np.random.default_rng(4)
    devices = [
        _dataset(rng.normal([2.0, -1.0, 0.0, 5.0, 0.3], [0.5, 2.0, 1.0, 0.1, 0.3], (40, 5))) for _ in range(6)
    ]
    start = initial_params(SPEC)
    names = list(SPEC.param_shapes)
    s = SharedModelStrategy(
        [start[n] for n in names],
        6,
        6,
        clip_norm=0.02,
        noise_multiplier=0.0,
        run="t",
        kind="fedavg",
        lr=1.0,
        names=names,
        standardize_rounds=2,
        stats_clip=100.0,
    )
    assert [s.stage(r) for r in range(1, 7)] == ["mean", "mean", "spread", "spread", "train", "train"]
    assert s.fit_config(1)["stage"] == "mean" and "standardization" not in s.fit_config(1)
    for r in (1, 2):
        s.aggregate_fit(r, [_ok(encode(device_statistic(d, "mean"), 100.0, 0.02)[0]) for d in devices], [])
    mean = np.asarray(json.loads(s.fit_config(3)["mean"]))
    pooled = np.concatenate([d.x for d in devices])
    np.testing.assert_allclose(mean, pooled.mean(axis=0), rtol=1e-4, atol=1e-5)
    for r in (3, 4):
        s.aggregate_fit(
            r, [_ok(encode(device_statistic(d, "spread", mean), 100.0, 0.02)[0]) for d in devices], []
        )
    assert s.standardization is not None
    np.testing.assert_allclose(s.standardization.scale, pooled.std(axis=0), rtol=0.02)
    np.testing.assert_allclose(s.current[0], start["dense_0_kernel"])  # a fresh start is not unfolded
    st = Standardization.from_json(s.fit_config(5)["standardization"])
    np.testing.assert_allclose(st.mean, s.standardization.mean)
    delta = [np.full(SPEC.param_shapes[n], 0.001, np.float32) for n in names]
    params, _ = s.aggregate_fit(5, [_ok(delta)] * 6, [])
    trained = dict(zip(names, parameters_to_ndarrays(params)))
    model = dict(zip(names, s.model()))
    np.testing.assert_allclose(
        reference.forward(SPEC, model, pooled),
        reference.forward(SPEC, trained, st.apply(pooled)),
        rtol=1e-4,
        atol=1e-4,
    )
    assert [r.stage for r in s.rounds] == ["mean", "mean", "spread", "spread", "train"]


def test_an_installed_raw_model_is_unfolded_so_training_starts_from_the_same_function():
    names = list(SPEC.param_shapes)
    raw = _random_params(5)
    s = SharedModelStrategy(
        [raw[n] for n in names],
        1,
        1,
        clip_norm=1.0,
        noise_multiplier=0.0,
        run="t",
        names=names,
        standardize_rounds=1,
        stats_clip=100.0,
        initial_is_raw=True,
    )
    s.aggregate_fit(1, [_ok([np.full(5, 0.005, np.float32)])], [])  # x 100 / 1: mean = 0.5
    s.aggregate_fit(2, [_ok([np.full(5, 0.002, np.float32)])], [])  # spread = 0.2
    np.testing.assert_allclose(s.standardization.mean, 0.5, rtol=1e-5)
    np.testing.assert_allclose(s.standardization.scale, 0.2, rtol=1e-5)
    for k, v in zip(names, s.model()):  # no training yet: the same raw model comes back
        np.testing.assert_allclose(v, raw[k], rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ on the device


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    monkeypatch.setenv("SATCHEL_FLEET_KEY", base64.b64encode(os.urandom(32)).decode())
    learners = simulate_habit_learners(3, days=40, seed=1)
    now = learners[0].day(40)

    def make(**options):
        path = write_config(tmp_path / "fleet", FleetOptions(learners=3, days=40, **options))
        return satchel.open(path, clock=lambda: now), learners

    yield make


def _audit(app, action):
    rows = [json.loads(line) for line in (app.config.data_dir / "audit.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("action") == action]


def test_the_standardisation_rounds_are_accounted_in_epsilon():
    from satchel.app.config import FederatedSection

    plain = accounting.plan(
        FederatedSection(
            rounds=20, clients_per_round=10, population=100, noise_multiplier=1.0, standardize=False
        )
    )
    std = accounting.plan(
        FederatedSection(
            rounds=20,
            clients_per_round=10,
            population=100,
            noise_multiplier=1.0,
            standardize=True,
            standardize_rounds=3,
        )
    )
    assert std.total_rounds == 26 and plain.total_rounds == 20
    assert std.epsilon == pytest.approx(accounting.epsilon([accounting.Steps(1.0, 0.1, 26)], 1e-5))
    assert std.epsilon > plain.epsilon
    target = accounting.plan(
        FederatedSection(
            rounds=20, clients_per_round=10, population=100, target_epsilon=4.0, standardize=True
        )
    )
    assert target.epsilon <= 4.0 and target.noise_multiplier == accounting.noise_for_epsilon(
        4.0, 0.1, 22, 1e-5
    )


def test_statistics_go_through_the_gate_and_the_ledger_like_an_update(fleet):
    app, learners = fleet(rounds=3, clients_per_round=3, noise_multiplier=2.0, standardize=True)
    enroll(app, learners[:1])
    out = contribute_statistics(app, learners[0].subject, "habits", "mean", run="r", round_=1)
    width = app.component("habits", "featurizer").schema.width
    assert out.clip == default_clip(width) and out.vector[0].shape == (width,)
    assert float(np.linalg.norm(out.vector[0])) <= 0.02 * (1 + 1e-5)  # the run's clip_norm
    expected = accounting.epsilon([accounting.Steps(2.0, 1.0, 5)], 1e-5)  # 3 rounds + mean + spread
    assert out.epsilon_spent == pytest.approx(expected)
    row = _audit(app, "federated.contributed")[-1]["fields"]
    assert row["stage"] == "mean" and row["round"] == 1 and row["bytes"] == out.nbytes
    # the spread and training rounds of the same run cost nothing more
    spread = contribute_statistics(
        app, learners[0].subject, "habits", "spread", run="r", round_=2, mean=np.zeros(width)
    )
    st = Standardization(np.zeros(width), np.ones(width))
    params = initial_params(
        app.component("habits", "model").model_spec(app.component("habits", "featurizer").schema)
    )
    trained = contribute(app, learners[0].subject, "habits", params, run="r", round_=3, standardization=st)
    assert spread.epsilon_spent == trained.epsilon_spent == pytest.approx(expected)


def test_statistics_are_refused_without_consent_and_over_budget(fleet):
    app, learners = fleet(
        rounds=3, clients_per_round=3, noise_multiplier=1.0, standardize=True, epsilon_cap=3.0
    )
    enroll(app, learners[:1], contribute=False)
    with pytest.raises(ConsentError, match="model_improvement"):
        contribute_statistics(app, learners[0].subject, "habits", "mean", run="r", round_=1)
    assert _audit(app, "consent.refused")[-1]["fields"]["operation"] == "contribute"
    pseudo = app.pseudonym(learners[0].subject)
    assert BudgetLedger(app, pseudo, "habits", 1e-5).charges() == ()
    enroll(app, learners[1:2])
    # 5 rounds at q = 1, sigma 1 (epsilon 12) are over the cap of 3: refused before anything is computed
    with pytest.raises(BudgetExceeded):
        contribute_statistics(app, learners[1].subject, "habits", "mean", run="r", round_=1)
    assert _audit(app, "federated.refused")[-1]["fields"]["reason"] == "budget"
    assert not _audit(app, "federated.contributed")
    assert BudgetLedger(app, app.pseudonym(learners[1].subject), "habits", 1e-5).charges() == ()
    assert 3.0 < accounting.epsilon([accounting.Steps(1.0, 1.0, 5)], 1e-5) < math.inf
