"""``satchel evaluate``: a device replay of an export, through the CLI and the Python API."""

import json
from datetime import date

import pytest
from click.testing import CliRunner

from satchel.cli import cli
from satchel.evaluation.replay import replay
from satchel.testing import isolated_registry
from satchel_plugins.habit import simulate_habit_learners

CONFIG = """
[app]
id = "replay-test"
[privacy]
key_provider = "env"
[pipelines.habits]
model = { name = "habit", options = { min_samples = 14 } }
purposes = ["habit_reminders"]
scheduler = { name = "conditions", options = { min_interval = "7d" } }
epochs = 5
"""


@pytest.fixture
def export(tmp_path):
    learners = simulate_habit_learners(2, days=80, habits=2, seed=4, start=date(2024, 1, 1))
    path = tmp_path / "export.jsonl"
    with path.open("w") as f:
        for i, learner in enumerate(learners):
            for e in learner.events:
                f.write(json.dumps({"subject": f"learner{i}", **e.model_dump(mode="json")}) + "\n")
    config = tmp_path / "satchel.toml"
    config.write_text(CONFIG)
    return path, config


def test_every_item_is_predicted_before_it_is_seen_by_satchel_and_each_baseline(export):
    path, config = export
    result = replay(config, path, curve=(0, 14, 50), registry=isolated_registry())
    p = result.pipeline("habits")
    assert result.steps >= 80 and p.subjects == 2
    assert set(p.predictors) == {"satchel", "fallback", "base_rate", "same_as_yesterday", "logistic"}
    assert p.n > 100 and sum(c.n for c in p.curve) == p.n
    assert p.trainings >= 2 and 0 < p.served_model < 1  # the fallback served until a model was promoted
    assert set(p.within_subject["satchel"]) == set(p.metrics["satchel"])
    first = p.curve[0]  # before min_samples labelled samples, no model can exist: the fallback serves
    assert first.hi == 14 and first.metrics["satchel"]["log_loss"] == pytest.approx(
        first.metrics["fallback"]["log_loss"]
    )


def test_cli_prints_tables_json_and_a_calibration_plot(export, tmp_path, monkeypatch):
    path, config = export
    monkeypatch.setattr("satchel.cli._registry", lambda ctx: isolated_registry())
    monkeypatch.setattr("satchel.cli.evaluate._registry", lambda ctx: isolated_registry())
    plot = tmp_path / "calibration.png"
    out = CliRunner().invoke(
        cli, ["evaluate", str(path), "-c", str(config), "--curve", "0,50", "--plot", str(plot)]
    )
    assert out.exit_code == 0, out.output
    assert (
        "pipeline habits" in out.output
        and "same_as_yesterday" in out.output
        and "best baseline" in out.output
    )
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = CliRunner().invoke(cli, ["evaluate", str(path), "-c", str(config), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout if hasattr(out, "stdout") else out.output)
    assert data["pipelines"][0]["metrics"]["satchel"]["log_loss"] > 0


def test_cli_errors_are_one_clear_line(export, tmp_path):
    path, config = export
    bad = CliRunner().invoke(cli, ["evaluate", str(path), "-c", str(config), "--curve", "a,b"])
    assert bad.exit_code == 2 and "--curve" in bad.output
    missing = CliRunner().invoke(cli, ["evaluate", str(path), "-c", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 1 and "satchel init" in missing.output
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"subject": "a", "type": "habit_completed"}\n')
    out = CliRunner().invoke(cli, ["evaluate", str(garbage), "-c", str(config)])
    assert out.exit_code == 1 and "garbage.jsonl line 1" in out.output and "Traceback" not in out.output
