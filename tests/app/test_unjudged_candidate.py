"""A training with fewer new samples than promotion needs to judge a candidate fits none: what serves
stays, with the same verdict, and the run costs no fit (issue 15: a retrain after a day of events)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from app_support import grant

from satchel.events import Event
from satchel.training.promotion import MIN_HOLDOUT

T0 = datetime(2024, 3, 4, tzinfo=timezone.utc)


def done(d: int, habit: str) -> bool:
    return (d % 7 < 5) if habit == "run" else (d % 3 != 0)


def habit_days(days: range) -> list[Event]:
    return [
        Event(
            type="habit_completed" if done(d, h) else "habit_skipped",
            time=T0 + timedelta(days=d, hours=9),
            data={"habit": h},
        )
        for d in days
        for h in ("run", "read")
    ]


@pytest.mark.parametrize("backend", ["litert", "onnx"])
def test_a_day_of_new_samples_keeps_what_serves_without_fitting(make_app, backend: str) -> None:
    app = make_app(backend)
    grant(app, "ada", at=T0 - timedelta(days=1))
    app.record("ada", habit_days(range(60)))
    ticks: list[object] = []
    first = app.train("ada", "habits", now=T0 + timedelta(days=61), progress=ticks.append)
    assert first.promoted and ticks  # a candidate and the refit trained
    served = app.load_checkpoint("ada", "habits")

    ticks.clear()
    app.record("ada", habit_days(range(61, 62)))
    report = app.train("ada", "habits", now=T0 + timedelta(days=62, hours=12), progress=ticks.append)
    assert ticks == []  # nothing was fitted
    assert not report.promoted and f"2 held-out samples, {MIN_HOLDOUT} are needed" in report.reason
    assert report.metrics["holdout_samples"] == 2 and "holdout_log_loss" not in report.metrics
    kept = app.load_checkpoint("ada", "habits")
    assert kept.version == 2 and kept.served == "model" and kept.data_until == served.data_until
    for name, value in served.weights.params.items():
        np.testing.assert_array_equal(kept.weights.params[name], value)

    app.record("ada", habit_days(range(62, 62 + MIN_HOLDOUT // 2)))  # enough new samples: judged again
    ticks.clear()
    judged = app.train("ada", "habits", now=T0 + timedelta(days=63 + MIN_HOLDOUT // 2), progress=ticks.append)
    assert ticks and judged.metrics["holdout_samples"] >= MIN_HOLDOUT and "holdout_log_loss" in judged.metrics
