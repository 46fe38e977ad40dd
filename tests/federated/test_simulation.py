"""Flower's Simulation Engine end to end (Ray, 2 CPUs): every round completes, a learner who did
not consent to contributing never sends an update (the round gets one result fewer and the core
gate audits the refusal), epsilon is the accountant's, and the global model is sealed on the app."""

from __future__ import annotations

import base64
import json
import math
import os

import numpy as np
import pytest

import satchel
from satchel.federated import accounting
from satchel.federated.fleet import FleetOptions, build_fleet
from satchel.federated.simulate import install, simulate
from satchel.federated.store import load_shared

pytest.importorskip("ray")


def test_simulation_rounds_complete_and_refusals_send_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SATCHEL_FLEET_KEY", base64.b64encode(os.urandom(32)).decode())
    o = FleetOptions(
        learners=5,
        days=40,
        rounds=2,
        clients_per_round=5,
        target_epsilon=6.0,
        epsilon_cap=7.0,
        contributors=0.6,
        secure_aggregation=True,
        clip_norm=0.5,
        standardize=False,
    )
    path, learners = build_fleet(tmp_path / "fleet", o)
    now = learners[0].day(40)
    # the config asks for SecAgg+; this run turns it off (the noise, and so epsilon, are unchanged)
    result = simulate(path, "habits", population=5, run="t1", now=now, secure_aggregation=False)
    assert [r.round for r in result.rounds] == [1, 2]
    assert [(r.received, r.refused) for r in result.rounds] == [(3, 2), (3, 2)]
    assert not result.secure_aggregation
    sigma = accounting.noise_for_epsilon(6.0, 1.0, 2, 1e-5)
    assert result.noise_multiplier == pytest.approx(sigma) and 5.9 < result.epsilon <= 6.0
    version = install(path, "habits", result, run="t1")
    with satchel.open(path, clock=lambda: now) as app:
        params, meta = load_shared(app, "habits")
        assert all(np.allclose(params[k], result.params[k]) for k in params)
        assert meta["participants"] == 6 and meta["secure_aggregation"] is False and version == 1
        rows = [json.loads(line) for line in (app.config.data_dir / "audit.jsonl").read_text().splitlines()]
        sent = [r for r in rows if r["action"] == "federated.contributed"]
        refused = [
            r for r in rows if r["action"] == "consent.refused" and r["fields"]["operation"] == "contribute"
        ]
        consenting = {app.pseudonym(learner.subject) for learner in learners[:3]}
        assert {r["fields"]["subject"] for r in sent} == consenting and len(sent) == 6
        assert len(refused) == 4 and not {r["fields"]["subject"] for r in refused} & consenting
        assert math.isfinite(result.epsilon)


def test_a_standardised_run_on_the_simulation_engine_ships_a_raw_feature_model(tmp_path, monkeypatch):
    """The mean and spread stages run as rounds on Flower (SecAgg+ on), are counted in epsilon,
    and the installed model is the folded one: an ordinary model of the spec on raw features."""
    from satchel.federated.standardize import fold, unfold
    from satchel.model import reference

    monkeypatch.setenv("SATCHEL_FLEET_KEY", base64.b64encode(os.urandom(32)).decode())
    o = FleetOptions(
        learners=4,
        days=40,
        rounds=1,
        clients_per_round=4,
        noise_multiplier=3.0,
        epsilon_cap=20.0,
        secure_aggregation=True,
        standardize=True,
    )
    path, learners = build_fleet(tmp_path / "fleet", o)
    now = learners[0].day(40)
    result = simulate(path, "habits", population=4, run="s1", now=now)
    assert [(r.stage, r.received) for r in result.rounds] == [("mean", 4), ("spread", 4), ("train", 4)]
    assert result.epsilon == pytest.approx(accounting.epsilon([accounting.Steps(3.0, 1.0, 3)], 1e-5))
    st = result.standardization
    assert st is not None and st.mean.shape == (12,) and np.all(st.scale > 0)
    with satchel.open(path, clock=lambda: now) as app:
        feat = app.component("habits", "featurizer")
        spec = app.component("habits", "model").model_spec(feat.schema)
        x = feat.training_data(list(learners[0].events), now=now).x
        trained = unfold(result.params, st)  # the model the server trained, on standardised inputs
        np.testing.assert_allclose(
            reference.predict(spec, result.params, x),
            reference.predict(spec, trained, st.apply(x)),
            rtol=1e-4,
            atol=1e-5,
        )
        assert all(np.allclose(fold(trained, st)[k], result.params[k], atol=1e-5) for k in result.params)
        assert json.loads(json.dumps(result.to_json()))["standardization"]["scale"] == st.scale.tolist()
    install(path, "habits", result, run="s1")
    with satchel.open(path, clock=lambda: now) as app:
        params, meta = load_shared(app, "habits")
        assert meta["standardized"] is True and meta["rounds"] == 1 and meta["participants"] == 4
        assert all(np.allclose(params[k], result.params[k]) for k in params)  # the folded model
