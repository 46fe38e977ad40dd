"""The device side, tested as an attacker would: a learner forced to take part is refused by the
core gate or the sealed budget, nothing is trained or sent, and the audit log shows the refusal."""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import os

import numpy as np
import pytest

import satchel
from satchel.errors import ConsentError, IntegrityError
from satchel.federated import accounting
from satchel.federated.client import BudgetExceeded, contribute
from satchel.federated.fleet import FleetOptions, enroll, write_config
from satchel.federated.store import BudgetLedger, load_shared, save_shared
from satchel.model.spec import initial_params
from satchel_plugins.habit.simulate import simulate_habit_learners


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    monkeypatch.setenv("SATCHEL_FLEET_KEY", base64.b64encode(os.urandom(32)).decode())
    learners = simulate_habit_learners(4, days=40, seed=1)
    now = learners[0].day(40)

    def make(**options):
        options = {"standardize": False, **options}  # the raw path (test_standardize: the default)
        path = write_config(tmp_path / "fleet", FleetOptions(learners=4, days=40, **options))
        app = satchel.open(path, clock=lambda: now)
        return app, learners

    yield make


def _params(app):
    spec = app.component("habits", "model").model_spec(app.component("habits", "featurizer").schema)
    return initial_params(spec), spec


def _audit(app, action):
    return [
        json.loads(line)
        for line in (app.config.data_dir / "audit.jsonl").read_text().splitlines()
        if json.loads(line).get("action") == action
    ]


def test_consented_learner_sends_a_clipped_delta_and_is_charged(fleet):
    app, learners = fleet(rounds=3, clients_per_round=2, noise_multiplier=1.0, clip_norm=0.002)
    enroll(app, learners[:1])
    params, spec = _params(app)
    out = contribute(app, learners[0].subject, "habits", params, run="r", round_=1)
    norm = math.sqrt(sum(float(np.sum(d.astype(np.float64) ** 2)) for d in out.delta.values()))
    assert set(out.delta) == set(spec.param_shapes)
    assert norm <= 0.002 * (1 + 1e-5) and out.norm > 0.002  # clipped
    expected = accounting.epsilon([accounting.Steps(1.0, 0.5, 3)], 1e-5)
    assert out.epsilon_spent == pytest.approx(expected)
    row = _audit(app, "federated.contributed")[-1]
    assert row["fields"]["round"] == 1 and row["fields"]["bytes"] == out.nbytes
    # a second round of the same run is already charged; a new run is charged again
    assert contribute(
        app, learners[0].subject, "habits", params, run="r", round_=2
    ).epsilon_spent == pytest.approx(expected)
    assert contribute(app, learners[0].subject, "habits", params, run="r2", round_=1).epsilon_spent > expected


def test_learner_without_the_purpose_is_refused_by_the_core_gate(fleet):
    app, learners = fleet()
    enroll(app, learners[:1], contribute=False)  # habit reminders only
    params, _ = _params(app)
    with pytest.raises(ConsentError, match="model_improvement"):
        contribute(app, learners[0].subject, "habits", params, run="r", round_=1)
    refused = _audit(app, "consent.refused")[-1]
    assert refused["fields"]["operation"] == "contribute"
    assert not _audit(app, "federated.contributed")
    pseudo = app.pseudonym(learners[0].subject)
    assert BudgetLedger(app, pseudo, "habits", 1e-5).charges() == ()  # nothing charged, nothing trained


def test_minor_needs_a_guardian_and_withdrawal_stops_the_next_round(fleet):
    app, learners = fleet()
    with pytest.raises(ConsentError, match="guardian"):  # a child cannot opt in alone
        enroll(app, learners[:1], age_band="8-12", actor="self")
    params, _ = _params(app)
    enroll(app, learners[1:2], age_band="8-12", actor="guardian")
    contribute(app, learners[1].subject, "habits", params, run="r", round_=1)
    app.consent.withdraw(learners[1].subject, purposes=["model_improvement"])
    with pytest.raises(ConsentError, match="withdrawn"):
        contribute(app, learners[1].subject, "habits", params, run="r", round_=2)


def test_over_budget_is_refused_before_training_and_audited(fleet):
    app, learners = fleet(rounds=5, clients_per_round=4, noise_multiplier=1.0, epsilon_cap=3.0)
    enroll(app, learners[:1])
    params, _ = _params(app)
    with pytest.raises(BudgetExceeded):
        contribute(app, learners[0].subject, "habits", params, run="r", round_=1)
    row = _audit(app, "federated.refused")[-1]
    assert row["fields"]["reason"] == "budget" and row["fields"]["epsilon_cap"] == 3.0
    assert not _audit(app, "federated.contributed")


def test_ledger_rollback_is_refused(fleet):
    app, learners = fleet(noise_multiplier=2.0, clients_per_round=2)
    enroll(app, learners[:1])
    params, _ = _params(app)
    contribute(app, learners[0].subject, "habits", params, run="a", round_=1)
    pseudo = app.pseudonym(learners[0].subject)
    ledger_file = app.config.data_dir / "checkpoints" / pseudo / "habits.federated" / "dp-ledger"
    old = ledger_file.read_bytes()
    contribute(app, learners[0].subject, "habits", params, run="b", round_=1)
    ledger_file.write_bytes(old)  # restore the cheaper ledger to spend the budget again
    with pytest.raises(IntegrityError):
        contribute(app, learners[0].subject, "habits", params, run="c", round_=1)


def test_shared_model_is_sealed_bound_to_the_spec_and_becomes_the_training_base(fleet):
    app, learners = fleet()
    params, spec = _params(app)
    shifted = {k: v + 0.25 for k, v in params.items()}
    save_shared(app, "habits", shifted, spec_hash=spec.hash, meta={"epsilon": 8.0})
    loaded, meta = load_shared(app, "habits", spec.hash)
    assert all(np.allclose(loaded[k], shifted[k]) for k in shifted) and meta["epsilon"] == 8.0
    assert load_shared(app, "habits", "another-spec") is None
    raw = (app.config.data_dir / "shared" / "habits.model").read_bytes()
    assert b"dense_0_kernel" not in raw  # sealed, not plain npz
    enroll(app, learners[:1], contribute=False)
    app.train(learners[0].subject, "habits")
    ckpt = app.load_checkpoint(learners[0].subject, "habits")
    if ckpt.served == "prior":  # the base itself is what serves
        assert all(np.allclose(ckpt.weights.params[k], shifted[k]) for k in shifted)


def test_noise_for_epsilon_meets_the_target():
    sigma = accounting.noise_for_epsilon(4.0, 0.05, 20, 1e-5)
    assert accounting.epsilon([accounting.Steps(sigma, 0.05, 20)], 1e-5) <= 4.0
    assert accounting.epsilon([accounting.Steps(sigma * 0.9, 0.05, 20)], 1e-5) > 4.0
    assert accounting.epsilon([accounting.Steps(0.0, 0.05, 20)], 1e-5) == math.inf


def test_a_reused_trainer_carries_nothing_from_one_learner_to_the_next(fleet):
    """A worker reuses one opened trainer per spec; the delta must equal a freshly opened one's."""
    from satchel.federated import client

    app, learners = fleet(noise_multiplier=2.0, clients_per_round=1, clip_norm=100.0)
    enroll(app, learners[:2])
    params, _ = _params(app)
    contribute(
        app, learners[0].subject, "habits", params, run="a", round_=3
    )  # leaves trained weights and Adam state
    reused = contribute(app, learners[1].subject, "habits", params, run="a", round_=3)
    client._TRAINERS.clear()
    fresh = contribute(app, learners[1].subject, "habits", params, run="b", round_=3)
    assert reused.norm > 0
    for k in params:
        np.testing.assert_allclose(reused.delta[k], fresh.delta[k], rtol=1e-5, atol=1e-6)


def test_epsilon_is_memoized_but_exact():
    steps = [accounting.Steps(1.1, 0.1, 30)]
    first = accounting.epsilon(steps, 1e-5)
    assert accounting.epsilon(iter(steps), 1e-5) == first  # iterables are fine, same answer
    assert accounting.epsilon([accounting.Steps(1.1, 0.1, 31)], 1e-5) > first
    assert accounting.epsilon([*steps, accounting.Steps(0.0, 0.1, 1)], 1e-5) == math.inf


def test_without_dp_a_learner_still_contributes_and_the_audit_says_inf(fleet):
    """noise_multiplier = 0 (an explicit no-DP run, as the epsilon = inf benchmark row) spends inf;
    the audit log takes finite numbers only, so it records "inf" rather than failing the round."""
    app, learners = fleet(noise_multiplier=0.0, epsilon_cap=math.inf)
    enroll(app, learners[:1])
    params, _ = _params(app)
    out = contribute(app, learners[0].subject, "habits", params, run="r", round_=1)
    assert out.epsilon_spent == math.inf and out.norm > 0
    row = _audit(app, "federated.contributed")[-1]["fields"]
    assert row["epsilon_spent"] == "inf" and row["epsilon_cap"] == "inf" and row["noise_multiplier"] == 0


def test_fedadam_devices_train_plain_sgd_at_the_pipelines_learning_rate(fleet):
    """FedAdam's devices send SGD steps (the server adapts); FedAvg's run the pipeline's own Adam."""
    from satchel.model.backend import Weights
    from satchel.model.spec import Optimizer

    app, learners = fleet(strategy="fedadam", noise_multiplier=4.0, clip_norm=100.0)
    enroll(app, learners[:1])
    params, spec = _params(app)
    sent = contribute(app, learners[0].subject, "habits", params, run="a", round_=2)
    sgd = dataclasses.replace(spec, optimizer=Optimizer("sgd", spec.optimizer.learning_rate))
    backend = app.component("habits", "backend")
    trainer = backend.open(backend.compile(sgd, app.config.data_dir / "compiled"), Weights(dict(params)))
    data = app.component("habits", "featurizer").training_data(list(learners[0].events), now=app.clock())
    trainer.fit(data, 1, seed=2)
    for k, v in trainer.get_weights().params.items():
        np.testing.assert_allclose(sent.delta[k], v - params[k], rtol=1e-4, atol=1e-7)
    adam, _ = fleet(strategy="fedavg", noise_multiplier=4.0, clip_norm=100.0)
    other = contribute(adam, learners[0].subject, "habits", params, run="b", round_=2)
    assert (
        other.norm > 5 * sent.norm
    )  # a fresh Adam's first steps are ~lr per weight; SGD's are lr * gradient
