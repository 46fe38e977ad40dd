"""Language quality as a device runs it: reviews replayed day by day through a temporary app
(:func:`satchel_plugins.language.evaluate.device_replay`), each review a day or more after the
previous one of its card predicted by what serves before it is recorded, against FSRS-6 with
default parameters, classic HLR and a constant on the same reviews."""

from datetime import timedelta

import numpy as np
import pytest
from tests.plugins.shared_data import ANKI_CSV, needs

from satchel.evaluation.replay import FALLBACK, SATCHEL
from satchel.events import Event
from satchel.model.task import Rows
from satchel_plugins.language import (
    AnkiReviewImporter,
    LanguageTask,
    ReviewFeaturizer,
    simulate_vocabulary_learners,
    write_anki_csv,
)
from satchel_plugins.language.evaluate import device_replay, fsrs6_package_stabilities, oldest_days
from satchel_plugins.language.features import ReviewFeaturizerOptions
from satchel_plugins.language.fsrs6 import memory_states

#: the test replays the real log's oldest reviews (the benchmark replays all of it)
REAL_DAYS = 240


@needs(ANKI_CSV)
def test_fsrs6_recurrences_equal_the_fsrs_package_on_the_real_log():
    events = [s.event for s in AnkiReviewImporter().read(ANKI_CSV)]
    names = {name: i for i, name in enumerate(sorted({e.data["item"] for e in events}))}
    states = memory_states(
        np.array([names[e.data["item"]] for e in events]),
        np.array([e.time.timestamp() for e in events]),
        np.array([e.data["rating"] for e in events]),
    )
    expected = fsrs6_package_stabilities(events)
    assert states.stability_after == pytest.approx(np.array([expected[e.id][0] for e in events]), rel=1e-9)
    assert states.difficulty_after == pytest.approx(np.array([expected[e.id][1] for e in events]), rel=1e-9)


@needs(ANKI_CSV)
def test_device_replay_beats_fsrs6_defaults_on_the_real_log(tmp_path, backend_name):
    result = device_replay(oldest_days(ANKI_CSV, REAL_DAYS, tmp_path), backend=backend_name)
    m = result.metrics
    print(
        f"\nlanguage, real Anki log (oldest {REAL_DAYS} days), device replay on {backend_name}, {result.n} reviews: "
        + ", ".join(
            f"{k} LL {v['log_loss']:.4f} AUC {v['auc']:.3f} RMSE(bins) {v['rmse_bins']:.3f}"
            for k, v in m.items()
        )
    )
    assert result.trainings > 0 and result.failed == 0 and result.served_model > 0.5
    assert m[SATCHEL]["log_loss"] < m["fsrs6_default"]["log_loss"]
    # in these first months the model serves from a few hundred reviews: it must not rank worse than FSRS-6
    # (the benchmark's replay of the whole log shows it ranking better)
    assert m[SATCHEL]["auc"] > m["fsrs6_default"]["auc"] - 0.01
    assert (
        m[SATCHEL]["log_loss"] < m["constant"]["log_loss"] and m[SATCHEL]["log_loss"] < m["hlr"]["log_loss"]
    )
    assert m[FALLBACK] == m["fsrs6_default"]  # the cold-start prior is FSRS-6 with default parameters


def test_device_replay_on_simulated_learner_beats_fsrs6_defaults(tmp_path, backend_name):
    learner = simulate_vocabulary_learners(1, days=150, words=80, seed=1)[0]
    path = tmp_path / "revlog.csv"
    write_anki_csv(path, learner.events)
    m = device_replay(path, backend=backend_name, min_interval="1d").metrics
    assert m[SATCHEL]["log_loss"] < min(m[k]["log_loss"] for k in ("fsrs6_default", "hlr", "constant"))
    assert m[SATCHEL]["auc"] > m["constant"]["auc"] + 0.1


def test_first_training_on_same_minute_steps_recovers(open_trainer):
    """Issue 11: a learner's first training sees only day one's learning steps, minutes apart. The
    loss has no flat region, so a warm start on later reviews lands where a fresh fit does."""
    learner = simulate_vocabulary_learners(1, days=120, words=60, seed=7)[0]
    t0 = learner.events[0].time
    steps = [
        Event(
            type="word_reviewed",
            time=t0 + timedelta(minutes=10 * w + m),
            data={"item": f"day1_{w}", "rating": r},
        )
        for w in range(40)
        for m, r in ((0, 1 if w % 4 == 0 else 3), (1, 1 if w % 5 == 0 else 3), (3, 3))
    ]
    degenerate = ReviewFeaturizer(ReviewFeaturizerOptions(min_elapsed_days=0)).training_data(
        steps, now=t0 + timedelta(days=1)
    )
    assert len(degenerate) == 80 and (degenerate.y[:, 1] < 0.01).all()
    task, featurizer = LanguageTask(), ReviewFeaturizer()
    spec, base = task.model_spec(featurizer.schema), task.base_params(featurizer.schema)
    data = featurizer.training_data(learner.events, now=learner.end)
    split = len(data) * 3 // 4
    train, test = data.take(np.arange(split)), data.take(np.arange(split, len(data)))

    stuck = open_trainer(spec, base)
    stuck.set_reference(base)
    stuck.fit(degenerate, 200, seed=0)  # fit hard to the same-minute steps
    warm_before = task.metrics(test, stuck.predict(test.x))["log_loss"]
    stuck.fit(train, 15, seed=0)
    fresh = open_trainer(spec, base)
    fresh.set_reference(base)
    fresh.fit(train, 15, seed=0)
    warm, cold = (task.metrics(test, t.predict(test.x))["log_loss"] for t in (stuck, fresh))
    prior = task.metrics(test, task.prior(Rows(("",) * len(test), test.x)))["log_loss"]
    assert np.isfinite([warm_before, warm, cold]).all()
    assert warm < prior and warm < cold + 0.02, (warm_before, warm, cold, prior)
