"""Safe online training through the real app: promotion, determinism, replayable time."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from app_support import grant

from satchel.events import Event
from satchel.plugin.records import DeviceState
from satchel.training.runner import Runner, use_host_device_state

T0 = datetime(2024, 3, 4, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def habit_days(days, done, habits=("run", "read")):
    """Events of ``habits`` on ``days``; ``done(day, habit)`` says whether it was done."""
    out = []
    for d in days:
        for h in habits:
            kind = "habit_completed" if done(d, h) else "habit_skipped"
            out.append(Event(type=kind, time=T0 + timedelta(days=d, hours=9), data={"habit": h}))
    return out


def rhythm(d: int, h: str) -> bool:
    return (d % 7 < 5) if h == "run" else (d % 3 != 0)


@pytest.mark.parametrize("backend", ["litert", "onnx"])
def test_the_same_data_and_config_train_bit_identical_weights(make_app, tmp_path, backend):
    weights = []
    for run in range(2):
        app = make_app(backend, data=tmp_path / f"d{run}", keys=tmp_path / f"k{run}")
        grant(app, "ada", at=T0 - timedelta(days=1))
        app.record("ada", habit_days(range(60), rhythm))
        report = app.train("ada", "habits", now=T0 + timedelta(days=61))
        assert report.promoted, report.reason
        weights.append(app.load_checkpoint("ada", "habits").weights.params)
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        assert np.array_equal(weights[0][name], weights[1][name]), name


def test_a_run_without_new_samples_keeps_what_serves_and_says_why(make_app):
    app = make_app()
    grant(app, "ada", at=T0 - timedelta(days=1))
    app.record("ada", habit_days(range(60), rhythm))
    first = app.train("ada", "habits", now=T0 + timedelta(days=61))
    second = app.train("ada", "habits", now=T0 + timedelta(days=61, hours=1))
    assert first.promoted and not second.promoted
    assert "no new samples" in second.reason
    a, b = (
        app.load_checkpoint("ada", "habits", v) for v in (first.checkpoint_version, second.checkpoint_version)
    )
    assert b.served == "model" and all(
        np.array_equal(a.weights.params[k], b.weights.params[k]) for k in a.weights.params
    )
    assert set(first.metrics) >= {
        "holdout_log_loss",
        "holdout_auc",
        "holdout_samples",
        "holdout_fallback_log_loss",
    }
    entry = [e for e in app.audit_log.entries() if e.action == "training.completed"][-1]
    assert entry.fields["promoted"] is False


def test_a_degenerate_first_training_is_never_served_against_the_evidence(make_app):
    """Every day done for a month: whatever the first run learns, once misses appear a candidate
    must beat the fallback on them to serve, so the learner ends no worse than the fallback."""
    clock = Clock(T0)
    app = make_app(clock=clock)
    grant(app, "ada", at=T0 - timedelta(days=1))
    app.record("ada", habit_days(range(30), lambda d, h: True))
    app.train("ada", "habits", now=T0 + timedelta(days=31))
    rng = np.random.default_rng(3)
    later = habit_days(range(31, 90), lambda d, h: rng.random() < 0.4)
    app.record("ada", later)
    report = app.train("ada", "habits", now=T0 + timedelta(days=91))
    ckpt = app.load_checkpoint("ada", "habits")
    assert report.metrics["holdout_samples"] > 0
    if ckpt.served == "model":
        assert report.metrics["holdout_log_loss"] < report.metrics["holdout_fallback_log_loss"]


def test_a_model_the_fallback_beats_on_new_samples_is_demoted(make_app):
    """A weekday rhythm for two months, then the learner changes completely (runs every day, stops
    reading): the prior, which follows the last days, beats the model trained on the old rhythm and
    the candidate, so the fallback serves again."""
    app = make_app()
    grant(app, "ada", at=T0 - timedelta(days=1))
    app.record("ada", habit_days(range(60), rhythm))
    assert app.train("ada", "habits", now=T0 + timedelta(days=61)).promoted
    app.record("ada", habit_days(range(61, 101), lambda d, h: h == "run"))
    report = app.train("ada", "habits", now=T0 + timedelta(days=102))
    assert not report.promoted and report.reason.startswith("demoted: fallback"), report.reason
    assert report.metrics["holdout_fallback_log_loss"] < report.metrics["holdout_in_service_log_loss"]
    assert app.load_checkpoint("ada", "habits").served == "prior"
    assert not app.predict("ada", "habits", now=T0 + timedelta(days=102)).personalized
    entry = [e for e in app.audit_log.entries() if e.action == "training.completed"][-1]
    assert entry.fields["served"] == "prior" and entry.fields["promoted"] is False


def test_the_runner_replays_history_on_an_injected_clock(make_app):
    clock = Clock(T0 + timedelta(days=61))
    app = make_app(clock=clock)
    use_host_device_state(app, DeviceState(100.0, True, True, True, source="test"))
    grant(app, "ada", at=T0 - timedelta(days=1))
    app.record("ada", habit_days(range(60), rhythm))
    runner = Runner(app)
    assert len(runner.tick().trained) == 1
    ckpt = app.load_checkpoint("ada", "habits")
    assert ckpt.created_at == clock.now  # checkpoints carry the simulated time
    clock.now += timedelta(hours=1)
    app.record("ada", habit_days(range(60, 61), rhythm))
    skipped = runner.tick().skipped
    assert skipped and any("trained 1.0h ago" in r for r in skipped[0].reasons)
    clock.now += timedelta(days=2)
    assert len(runner.tick().trained) == 1
    times = [
        datetime.fromisoformat(e.time) if isinstance(e.time, str) else e.time for e in app.audit_log.entries()
    ]
    assert max(times) <= clock.now  # audit timestamps follow the simulated clock, not the wall clock
