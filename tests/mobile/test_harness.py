"""The export as a mobile app sees it: ``harness.py`` runs in a fresh ``python -I`` process with
only NumPy and the runtime, reads nothing but the export directory, and must reproduce every golden
vector (features, predictions of every artifact, a padded training step) on both formats."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import satchel
from satchel.model import export_contract
from satchel.model.backend import Weights
from satchel.testing import isolated_registry
from satchel_plugins.backends import satchel_trainer_backends
from satchel_plugins.habit.simulate import simulate_habit_learners
from satchel_plugins.language.features import ReviewFeaturizer
from satchel_plugins.language.task import LanguageTask
from satchel_plugins.rubric.features import AnswerFeaturizer
from satchel_plugins.rubric.task import RubricTask

HARNESS = Path(__file__).with_name("harness.py")
BACKENDS = ("litert", "onnx")
CONFIG = """
[app]
id = "mobile-test"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = {{ name = "env", options = {{ variable = "SATCHEL_MOBILE_KEY" }} }}

[pipelines.habits]
model = {{ name = "habit", options = {{ min_samples = 10 }} }}
purposes = ["habit_reminders"]
backend = "{backend}"
epochs = 3
"""


def harness(directory: Path) -> dict:
    """Run the harness as an app would: isolated interpreter, the export directory only."""
    proc = subprocess.run(
        [sys.executable, "-I", str(HARNESS), str(directory)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=directory,
    )
    report = json.loads(proc.stdout)
    assert (proc.returncode == 0) == report["ok"]
    return report


def failed(report: dict) -> list:
    return [c for c in report["checks"] if not c["ok"]]


@pytest.fixture(scope="module", params=BACKENDS)
def habit_export(request, tmp_path_factory) -> Path:
    """A real app: consent, a simulated learner's events, safe training, ``export_model``."""
    root = tmp_path_factory.mktemp(f"habit-{request.param}")
    os.environ["SATCHEL_MOBILE_KEY"] = base64.b64encode(os.urandom(32)).decode()
    (root / "satchel.toml").write_text(
        CONFIG.format(data=(root / "data").as_posix(), keys=(root / "keys").as_posix(), backend=request.param)
    )
    learner = simulate_habit_learners(1, days=60, habits=3, seed=3)[0]
    app = satchel.open(root / "satchel.toml", registry=isolated_registry())
    try:
        app.consent.grant(
            "ada",
            purposes=["habit_reminders"],
            notice="Habit reminders on this device.",
            policy_version="2026-01",
            actor="self",
            age_band="18+",
            method="in_app_checkbox",
        )
        app.record("ada", list(learner.events))
        app.train("ada", "habits", now=learner.day(60) + timedelta(hours=1))
        out = app.export_model("ada", "habits", root / "export")
    finally:
        app.close()
    return out


def _direct_export(pipeline: str, backend_name: str, out: Path, cache: Path) -> Path:
    featurizer, task = {
        "language": (ReviewFeaturizer(), LanguageTask()),
        "rubric": (AnswerFeaturizer(), RubricTask()),
    }[pipeline]
    backend = {s.name: s for s in satchel_trainer_backends()}[backend_name].create()
    spec = task.model_spec(featurizer.schema)
    base = task.base_params(featurizer.schema)
    trainer = backend.open(backend.compile(spec, cache), Weights(dict(base)) if base is not None else None)
    sample = featurizer.sample_events()
    trainer.fit(featurizer.training_data(sample.events, now=sample.now), epochs=2)
    manifest = trainer.export(
        out, feature_names=featurizer.schema.names, feature_schema_hash=featurizer.schema.hash
    )
    export_contract.complete(out, manifest, trainer, featurizer, task)
    return out


def test_habit_export_from_the_app_passes_the_mobile_harness(habit_export: Path) -> None:
    report = harness(habit_export)
    assert not failed(report), failed(report)
    names = [c["check"] for c in report["checks"]]
    # the harness's own featurizer (an independent port) reproduced the golden features
    assert "featurize golden events: features" in names
    assert any(n.startswith("train step") and "padded to 32" in n for n in names)
    assert any("int8" in n for n in names) and any("float32" in n for n in names)


def test_manifest_follows_its_schema_and_states_the_contract(habit_export: Path) -> None:
    manifest = json.loads((habit_export / "manifest.json").read_text())
    jsonschema.validate(manifest, json.loads((habit_export / "manifest.schema.json").read_text()))
    assert manifest["contract_version"] == export_contract.CONTRACT_VERSION
    assert manifest["training"]["batch_size"] == 32 and "weight w = 0" in manifest["training"]["padding"]
    assert manifest["decision_policy"]["thresholds"] == {"remind_below": 0.5, "quiet_above": 0.8}
    assert [f["name"] for f in manifest["features"]] == manifest["feature_names"]
    assert all(
        f["definition"] and not f["definition"].startswith("undocumented") for f in manifest["features"]
    )
    precisions = {a["precision"] for a in manifest["artifacts"] if a["purpose"] == "infer"}
    assert {"float32", "int8"} <= precisions
    assert all(a["bytes"] > 0 and len(a["sha256"]) == 64 for a in manifest["artifacts"])


def test_golden_vectors_come_from_synthetic_events_not_the_learner(habit_export: Path) -> None:
    golden = json.loads((habit_export / "golden.json").read_text())
    learner = {e.time for e in simulate_habit_learners(1, days=60, habits=3, seed=3)[0].events}
    sample = {datetime.fromisoformat(e["time"]) for e in golden["events"]["events"]}
    assert sample and not learner & sample


@pytest.mark.parametrize("pipeline", ["language", "rubric"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_other_pipelines_pass_the_mobile_harness(pipeline: str, backend: str, tmp_path: Path) -> None:
    out = _direct_export(pipeline, backend, tmp_path / "export", tmp_path / "cache")
    report = harness(out)
    assert not failed(report), failed(report)
    assert any(c["check"].startswith("train step") for c in report["checks"])


def test_the_harness_fails_on_a_wrong_golden_vector(habit_export: Path, tmp_path: Path) -> None:
    copy = tmp_path / "export"
    copy.mkdir()
    for f in habit_export.iterdir():
        copy.joinpath(f.name).write_bytes(f.read_bytes())
    golden = json.loads((copy / "golden.json").read_text())
    golden["train"]["loss"] *= 1.01
    golden["features"]["x"][0][1] += 0.01
    (copy / "golden.json").write_text(json.dumps(golden))
    bad = {c["check"] for c in failed(harness(copy))}
    assert "featurize golden events: features" in bad and any("loss" in c for c in bad)


def test_export_restores_the_trainer_state(tmp_path: Path) -> None:
    """Computing the golden training step must not change the model the app keeps serving."""
    featurizer, task = AnswerFeaturizer(), RubricTask()
    backend = {s.name: s for s in satchel_trainer_backends()}["litert"].create()
    trainer = backend.open(backend.compile(task.model_spec(featurizer.schema), tmp_path / "cache"))
    before = trainer.get_weights()
    manifest = trainer.export(tmp_path / "e", feature_names=featurizer.schema.names, feature_schema_hash="h")
    export_contract.complete(tmp_path / "e", manifest, trainer, featurizer, task)
    after = trainer.get_weights()
    assert all(np.array_equal(before.params[k], after.params[k]) for k in before.params)
    assert all(np.array_equal(before.optimizer[k], after.optimizer[k]) for k in before.optimizer)
