"""A second shared model, the rubric grader: nothing in the federated package is habit-specific.
Teachers (simulated rubrics on synthetic answers) send standardisation statistics and clipped
updates of the rubric network (its custom ordinal loss and L2 pull) through the same gate and
ledger; the strategy folds the result back to raw features."""

from __future__ import annotations

import base64
import json
import os

import numpy as np
import pytest
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters

import satchel
from satchel.errors import ConsentError
from satchel.federated.client import contribute, contribute_statistics
from satchel.federated.flower import SharedModelStrategy
from satchel.federated.standardize import Standardization
from satchel.model import reference
from satchel.model.spec import initial_params
from satchel_plugins.rubric.simulate import simulate_teacher, synthetic_answers

CONFIG = """
[app]
id = "district"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = {{ name = "env", options = {{ variable = "SATCHEL_GRADING_KEY" }} }}

[pipelines.grading]
model = {{ name = "rubric" }}
purposes = ["grading_assistance"]

[pipelines.grading.federated]
rounds = 2
clients_per_round = 2
population = 3
clip_norm = 0.015
noise_multiplier = 2.0
epsilon_cap = 50.0
"""


@pytest.fixture
def district(tmp_path, monkeypatch):
    monkeypatch.setenv("SATCHEL_GRADING_KEY", base64.b64encode(os.urandom(32)).decode())
    path = tmp_path / "satchel.toml"
    path.write_text(CONFIG.format(data=(tmp_path / "data").as_posix(), keys=(tmp_path / "keys").as_posix()))
    answers = synthetic_answers(6, seed=3)
    teachers = [
        simulate_teacher(answers, r, seed=i) for i, r in enumerate(("partial_credit", "lenient", "strict"))
    ]
    app = satchel.open(path)
    for i, t in enumerate(teachers):
        events = t.events(len(answers))
        purposes = ["grading_assistance"] + (["model_improvement"] if i < 2 else [])
        app.consent.grant(
            f"teacher-{i}",
            purposes=purposes,
            notice="Grading assistant; optionally improve the district's shared grader.",
            policy_version="t",
            actor="self",
            age_band="18+",
            method="test",
            at=events[0].time,
        )
        app.record(f"teacher-{i}", list(events), at=events[0].time)
    yield app
    app.close()


def _ok(arrays):
    return (None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters(arrays), 1, {}))


def test_teachers_train_the_rubric_network_as_a_standardised_shared_model(district):
    app = district
    feat = app.component("grading", "featurizer")
    spec = app.component("grading", "model").model_spec(feat.schema)
    names = list(spec.param_shapes)
    start = initial_params(spec)
    s = SharedModelStrategy(
        [start[n] for n in names],
        2,
        3,
        clip_norm=0.015,
        noise_multiplier=0.0,
        run="g",
        kind="fedadam",
        lr=0.02,
        names=names,
        standardize_rounds=1,
        stats_clip=3.0,
    )
    teachers = ["teacher-0", "teacher-1"]
    for r in (1, 2, 3):
        config = s.fit_config(r)
        results = []
        for t in teachers:
            if config["stage"] == "train":
                st = Standardization.from_json(config["standardization"])
                out = contribute(
                    app, t, "grading", dict(zip(names, s.current)), run="g", round_=r, standardization=st
                )
                assert out.norm > 0 and set(out.delta) == set(names)
                results.append(_ok([out.delta[n] for n in names]))
            else:
                mean = np.asarray(json.loads(config["mean"])) if "mean" in config else None
                stats = contribute_statistics(
                    app, t, "grading", config["stage"], run="g", round_=r, mean=mean
                )
                assert stats.vector[0].shape == (spec.input_dim,)
                results.append(_ok(stats.vector))
        s.aggregate_fit(r, results, [])
    model = dict(zip(names, s.model()))
    trained = dict(zip(names, s.current))
    x = feat.training_data(app.events.read(app.pseudonym("teacher-0"), None), now=app.clock()).x
    np.testing.assert_allclose(
        reference.forward(spec, model, x),
        reference.forward(spec, trained, s.standardization.apply(x)),
        rtol=1e-4,
        atol=1e-4,
    )
    # the teacher who did not opt in to improving the shared grader is refused by the core gate
    with pytest.raises(ConsentError, match="model_improvement"):
        contribute_statistics(app, "teacher-2", "grading", "mean", run="g", round_=1)
