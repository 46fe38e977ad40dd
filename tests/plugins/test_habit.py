from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from shared_data import LOOP_CSV, needs

from satchel.errors import ConfigError, EventError
from satchel.events import Event
from satchel.model.task import Rows
from satchel.testing.conformance import FoldConformance
from satchel_plugins.habit import (
    FEATURES,
    HabitFeaturizer,
    HabitFeaturizerOptions,
    HabitTask,
    HabitTaskOptions,
    LoopHabitsImporter,
    LoopImportOptions,
    simulate_habit_learners,
)

T0 = datetime(2024, 3, 4, tzinfo=timezone.utc)  # a Monday


def done(day: int, habit: str = "run", hour: float = 8.0) -> Event:
    return Event(type="habit_completed", time=T0 + timedelta(days=day, hours=hour), data={"habit": habit})


def col(x: np.ndarray, name: str) -> np.ndarray:
    return x[:, FEATURES.index(name)]


def test_samples_are_labelled_by_next_day_and_features_are_exact():
    events = (
        [done(d) for d in (0, 1, 2, 4, 5)]
        + [Event(type="app_opened", time=T0 + timedelta(days=2, hours=h)) for h in (7, 9, 20)]
        + [Event(type="reminder_tapped", time=T0 + timedelta(days=2, hours=7), data={"habit": "run"})]
    )
    s = HabitFeaturizer().samples(events, now=T0 + timedelta(days=7, hours=12))
    assert s.habits == ("run",) * 6  # days 0..5 (day 6 is labelled by today, still running)
    assert s.data.y[:, 0].tolist() == [1, 1, 0, 1, 1, 0]
    x = s.data.x
    streaks = np.expm1(col(x, "streak") * np.log1p(30.0))
    assert np.round(streaks).tolist() == [1, 2, 3, 0, 1, 2]
    assert col(x, "rate_7d")[2] == pytest.approx((3 + 0.5) / (3 + 1))
    assert col(x, "app_opens")[2] == pytest.approx(np.log1p(3) / np.log1p(10))
    assert col(x, "reminders_opened")[2] > 0 and col(x, "reminders_opened")[1] == 0
    assert col(x, "hour_cos")[0] == pytest.approx(np.cos(8 / 24 * 2 * np.pi), abs=1e-5)
    assert col(x, "days_since_done")[3] == pytest.approx(np.log1p(1) / np.log1p(30))
    assert np.abs(x).max() <= 1.5


def test_time_zone_moves_events_to_the_local_day():
    late = [
        Event(
            type="habit_completed", time=T0 + timedelta(days=d, hours=23, minutes=30), data={"habit": "read"}
        )
        for d in range(5)
    ]
    utc = HabitFeaturizer().samples(late, now=T0 + timedelta(days=8))
    tokyo = HabitFeaturizer(HabitFeaturizerOptions(timezone="Asia/Tokyo")).samples(
        late, now=T0 + timedelta(days=8)
    )
    assert utc.days[0] + 1 == tokyo.days[0]  # 23:30 UTC is the next morning in Tokyo
    with pytest.raises(ConfigError, match="timezone"):
        HabitFeaturizer(HabitFeaturizerOptions(timezone="Mars/Olympus"))


def test_rows_predict_today_and_decisions_follow_thresholds():
    events = (
        [done(d, "run") for d in range(10)] + [done(d, "swim") for d in range(0, 10, 5)] + [done(10, "run")]
    )
    now = T0 + timedelta(days=10, hours=18)
    rows = HabitFeaturizer().rows(events, now=now)
    assert rows.keys == ("run", "swim") and rows.x.shape == (2, len(FEATURES))
    assert rows.context[0]["done_today"] is True and rows.context[1]["done_today"] is False
    assert rows.context[0]["usual_hour"] == pytest.approx(8.0, abs=0.01)
    task = HabitTask(HabitTaskOptions(remind_below=0.4, quiet_above=0.7))
    prior = task.prior(rows)
    assert prior.shape == (2, 1) and prior[0, 0] > prior[1, 0]
    decisions = task.decide(rows, np.array([[0.1], [0.1]]), now=now)
    assert [d.action for d in decisions] == ["quiet", "remind"]  # run is already done today
    fake = Rows(("a", "b", "c"), np.zeros((3, len(FEATURES))), ({}, {}, {}))
    assert [d.action for d in task.decide(fake, np.array([0.2, 0.5, 0.9]), now=now)] == [
        "remind",
        "nudge",
        "quiet",
    ]
    with pytest.raises(ValueError, match="remind_below"):
        HabitTaskOptions(remind_below=0.9, quiet_above=0.5)


def test_spec_metrics_and_empty_history():
    task, feat = HabitTask(), HabitFeaturizer()
    spec = task.model_spec(feat.schema)
    assert [layer.units for layer in spec.layers] == [16, 8, 1] and spec.input_dim == len(FEATURES)
    assert task.base_params(feat.schema) is None
    empty = feat.samples([], now=T0)
    assert len(empty.data) == 0 and len(feat.rows([], now=T0)) == 0
    data = feat.training_data([done(d) for d in range(0, 30, 2)], now=T0 + timedelta(days=31))
    m = task.metrics(data, np.full(len(data), 0.5))
    assert set(m) == {"auc", "log_loss", "brier", "accuracy", "base_rate"}
    assert m["log_loss"] == pytest.approx(np.log(2))


def test_a_year_of_events_featurizes_quickly_and_deterministically():
    a = simulate_habit_learners(2, days=365, seed=5)
    b = simulate_habit_learners(2, days=365, seed=5)
    assert a[1].events == b[1].events and np.array_equal(a[1].p_true, b[1].p_true)
    learner = a[0]
    s = HabitFeaturizer().samples(learner.events, now=learner.day(365))
    assert len(s.data) == 3 * 364  # days 0..363, each labelled by the next day
    assert s.data.y[:, 0].mean() == pytest.approx(learner.done[:, 1:365].mean(), abs=1e-6)


@needs(LOOP_CSV)
def test_loop_import_of_the_real_export():
    events = list(LoopHabitsImporter(LoopImportOptions(subject="etienne")).read(LOOP_CSV))
    kinds = {e.event.type for e in events}
    assert kinds == {"habit_completed", "habit_skipped"} and {e.subject for e in events} == {"etienne"}
    sleep = [e.event for e in events if e.event.data["habit"] == "Durée sommeil"]
    assert len(sleep) == 107 and all(4 < e.data["value"] < 12 for e in sleep)  # hours, numeric habit /1000
    implied = [e for e in events if e.event.data.get("implied")]
    assert implied and all(e.event.type == "habit_completed" for e in implied)
    again = list(LoopHabitsImporter(LoopImportOptions(subject="etienne")).read(LOOP_CSV))
    assert [e.event.id for e in events] == [e.event.id for e in again]  # idempotent ids
    assert events[0].line >= 2


def test_loop_import_errors_name_line_and_field(tmp_path):
    path = tmp_path / "Checkmarks.csv"
    path.write_text("Date,Run,Read\n2024-01-02,2,-1\n2024-01-01,x,0\n")
    with pytest.raises(EventError, match=r"Checkmarks.csv:3: field 'Run': 'x' is not an integer"):
        list(LoopHabitsImporter().read(path))
    path.write_text("Date,Run\n01/02/2024,2\n")
    with pytest.raises(EventError, match=r":2: field 'Date'"):
        list(LoopHabitsImporter().read(path))
    path.write_text("Day,Run\n")
    with pytest.raises(EventError, match="first column must be 'Date'"):
        list(LoopHabitsImporter().read(path))
    path.write_text("Date,Run,Read\n2024-01-02,2\n")
    with pytest.raises(EventError, match=":2: 2 fields but the header names 3"):
        list(LoopHabitsImporter().read(path))


@pytest.mark.parametrize(
    "options",
    [HabitFeaturizerOptions(), HabitFeaturizerOptions(timezone="America/New_York", max_history_days=14)],
    ids=["default", "short-history-new-york"],
)
class TestHabitFold(FoldConformance):
    """The habit featurizer's fold (issue 15 item 2): a year and a half of events, so the short history
    prunes the state; the reminders and app launches of the simulation included."""

    @pytest.fixture
    def featurizer(self, options: HabitFeaturizerOptions) -> HabitFeaturizer:
        return HabitFeaturizer(options)

    @pytest.fixture
    def fold_events(self) -> list[Event]:
        return list(simulate_habit_learners(1, days=500, habits=4, seed=8, start=T0.date())[0].events)

    @pytest.fixture
    def fold_now(self) -> datetime:
        return T0 + timedelta(days=501, hours=7)


def test_a_folded_state_that_dropped_the_days_a_training_reads_answers_none() -> None:
    featurizer = HabitFeaturizer(HabitFeaturizerOptions(max_history_days=14))
    events = [done(d) for d in range(200)]
    state = featurizer.fold(None, events)
    assert featurizer.training_data_from(state, now=T0 + timedelta(days=100)) is None
    past = featurizer.training_data(events, now=T0 + timedelta(days=100))  # the full path still answers
    assert len(past) > 0
    with pytest.raises(ValueError):
        featurizer.training_data_from(state[:-9], now=T0 + timedelta(days=201))
