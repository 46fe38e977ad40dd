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
