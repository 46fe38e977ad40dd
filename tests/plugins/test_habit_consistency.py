"""The rows a habit model predicts from are exactly its training rows of the same days."""

from datetime import datetime, time, timedelta, timezone

import numpy as np
import pytest
from shared_data import LOOP_CSV, needs

from satchel_plugins._timeline import day_to_date, local_day
from satchel_plugins.habit import (
    HabitFeaturizer,
    HabitFeaturizerOptions,
    LoopHabitsImporter,
    simulate_habit_learners,
)


def assert_rows_equal_training_rows(events, featurizer, days_back=range(3, 120, 5)):
    end = max(e.time for e in events)
    later = featurizer.samples(events, now=end + timedelta(days=2))
    index = {(h, int(d)): i for i, (h, d) in enumerate(zip(later.habits, later.days))}
    compared = 0
    for back in days_back:
        today = local_day(end, featurizer._tz) - back
        now = datetime.combine(day_to_date(today), time(6), tzinfo=featurizer._tz)
        rows = featurizer.rows(events, now=now)
        for i, habit in enumerate(rows.keys):
            j = index.get((habit, today - 1))
            if j is not None:
                np.testing.assert_array_equal(
                    rows.x[i], later.data.x[j], err_msg=f"{habit} on day {today - 1}"
                )
                compared += 1
    assert compared > 50


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles"])
def test_prediction_rows_equal_training_rows_on_simulated_learners(zone):
    learner = simulate_habit_learners(1, days=200, habits=3, seed=5)[0]
    assert_rows_equal_training_rows(
        list(learner.events), HabitFeaturizer(HabitFeaturizerOptions(timezone=zone))
    )


@needs(LOOP_CSV)
def test_prediction_rows_equal_training_rows_on_the_real_loop_export():
    events = [s.event for s in LoopHabitsImporter().read(LOOP_CSV)]
    assert_rows_equal_training_rows(events, HabitFeaturizer())


def test_sample_times_are_when_the_label_day_ended():
    learner = simulate_habit_learners(1, days=30, habits=2, seed=1)[0]
    f = HabitFeaturizer()
    s = f.samples(list(learner.events), now=datetime(2024, 2, 15, tzinfo=timezone.utc))
    expected = [
        datetime.combine(day_to_date(d + 2), time(0), tzinfo=timezone.utc).timestamp() for d in s.days
    ]
    assert s.data.times.tolist() == expected
    assert np.all(np.diff(s.data.times) >= 0)
