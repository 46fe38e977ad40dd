"""The row a vocabulary model predicts an item from is exactly the training row of its next review."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from satchel_plugins.language import ReviewFeaturizer, simulate_vocabulary_learners


def test_prediction_rows_equal_the_training_rows_of_the_next_reviews():
    learner = simulate_vocabulary_learners(1, days=60, words=15, seed=3)[0]
    events = sorted(learner.events, key=lambda e: e.time)
    featurizer = ReviewFeaturizer()
    later = featurizer.samples(events, now=events[-1].time + timedelta(days=1))
    compared = 0
    for j in range(0, len(later.data), max(1, len(later.data) // 40)):
        at = datetime.fromtimestamp(float(later.data.times[j]), timezone.utc)
        before = [e for e in events if e.time < at]
        rows = featurizer.rows(before, now=at)
        i = rows.keys.index(later.items[j])
        np.testing.assert_array_equal(rows.x[i], later.data.x[j], err_msg=f"{later.items[j]} at {at}")
        assert rows.context[i]["elapsed_days"] == pytest.approx(float(later.elapsed_days[j]), rel=1e-6)
        compared += 1
    assert compared >= 30
