"""The audit report's shared-model section: mechanism, epsilon spent vs cap from the learners'
sealed ledgers, participants, and findings for no DP, no secure aggregation, and a high epsilon."""

from __future__ import annotations

import base64
import json
import os

import pytest

import satchel
from satchel.audit.report import build_report, render_html, render_text
from satchel.federated.client import contribute
from satchel.federated.fleet import FleetOptions, enroll, write_config
from satchel.federated.store import BudgetLedger
from satchel.model.spec import initial_params
from satchel_plugins.habit.simulate import simulate_habit_learners


@pytest.fixture
def make(tmp_path, monkeypatch):
    monkeypatch.setenv("SATCHEL_FLEET_KEY", base64.b64encode(os.urandom(32)).decode())
    learners = simulate_habit_learners(3, days=40, seed=2)
    now = learners[0].day(40)
    opened = []

    def _make(**options):
        path = write_config(tmp_path / f"fleet{len(opened)}", FleetOptions(learners=3, days=40, **options))
        app = satchel.open(path, clock=lambda: now)
        opened.append(app)
        enroll(app, learners)
        return app, learners, now

    yield _make
    for app in opened:
        app.close()


def _codes(report, pipeline="habits"):
    return {f.code for f in report.findings if f.pipeline == pipeline and f.code.startswith("federated")}


def test_protected_shared_model_reports_spend_and_no_findings(make):
    app, learners, now = make(rounds=4, clients_per_round=2, target_epsilon=2.0, epsilon_cap=3.0)
    report = build_report(app, now=now)
    (m,) = report.shared_models
    assert m.differential_privacy and m.secure_aggregation and m.participants == 0
    assert m.epsilon_per_run == pytest.approx(2.0, abs=0.01) and m.epsilon_cap == 3.0
    assert _codes(report) == set()
    spec = app.component("habits", "model").model_spec(app.component("habits", "featurizer").schema)
    out = contribute(app, learners[0].subject, "habits", initial_params(spec), run="r1", round_=1)
    report = build_report(app, now=now)
    (m,) = report.shared_models
    assert m.participants == 1 and m.contributions_logged == 1 and m.refusals_logged == 0
    assert m.epsilon_spent_max == pytest.approx(out.epsilon_spent)
    assert m.epsilon_spent_max == pytest.approx(
        BudgetLedger(app, app.pseudonym(learners[0].subject), "habits", 1e-5).spent()
    )
    assert _codes(report) == set()
    text = render_text(report)
    assert "SHARED MODEL habits" in text and "DP-FedAdam" in text and "1 learners charged" in text
    assert 'id="shared-habits"' in render_html(report)
    assert json.loads(json.dumps(report.to_dict()))["shared_models"][0]["participants"] == 1


def test_no_dp_and_no_secure_aggregation_are_findings(make):
    app, _, now = make(
        noise_multiplier=0.0, target_epsilon=None, secure_aggregation=False, epsilon_cap=float("inf")
    )
    report = build_report(app, now=now)
    (m,) = report.shared_models
    assert not m.differential_privacy and m.epsilon_per_run is None
    assert _codes(report) == {"federated-no-dp", "federated-no-secure-aggregation"}
    sev = {f.code: f.severity.label for f in report.findings}
    assert sev["federated-no-dp"] == "high" and sev["federated-no-secure-aggregation"] == "medium"


def test_epsilon_above_threshold_is_a_finding(make):
    app, _, now = make(target_epsilon=8.0, epsilon_cap=20.0)
    assert _codes(build_report(app, now=now)) == {"federated-epsilon-high"}
