from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from satchel.errors import EventError
from satchel.events import Event
from satchel.model.dataset import Dataset
from satchel.model.task import Rows
from satchel_plugins.language import (
    FEATURES,
    AnkiReviewImporter,
    LanguageTask,
    LanguageTaskOptions,
    ReviewFeaturizer,
    due_now,
    simulate_vocabulary_learners,
    write_anki_csv,
)
from satchel_plugins.language.baselines import ClassicHLRBaseline, ConstantBaseline, FSRS6DefaultBaseline
from satchel_plugins.language.evaluate import fsrs6_package_stabilities
from satchel_plugins.language.events import WordReviewed
from satchel_plugins.language.features import ReviewFeaturizerOptions
from satchel_plugins.language.fsrs6 import FSRS6, learning_step_due, memory_states
from satchel_plugins.language.task import outputs_for, recall_probability

T0 = datetime(2024, 5, 1, 9, tzinfo=timezone.utc)


def review(item: str, day: float, rating: int, **extra: object) -> Event:
    return Event(
        type="word_reviewed",
        time=T0 + timedelta(days=day),
        data={"item": item, "rating": rating, "response_ms": 2000, **extra},
    )


def labels(recalled: float, delta: float, log_s: float) -> list[float]:
    return [recalled, delta, log_s]


def test_loss_is_the_nll_of_the_fsrs6_curve_and_finite_everywhere():
    spec = LanguageTask().model_spec(ReviewFeaturizer.schema)
    z = np.array([[0.0], [1.5], [-2.0], [0.0]])
    y = np.array(
        [
            labels(1, 3.0, np.log(5.0)),
            labels(0, 10.0, np.log(2.0)),
            labels(1, 1.0, 0.0),
            labels(0, 30.0, np.log(30.0)),
        ]
    )
    data = Dataset.of(np.zeros((4, len(FEATURES))), y, schema=ReviewFeaturizer.schema)
    p = recall_probability(z, data)
    assert p[3] == pytest.approx(0.9, rel=1e-6)  # R(S) = 0.9 at S days
    assert p[0] == pytest.approx(FSRS6().retrievability(3.0, 5.0))
    nll = -(y[:, 0] * np.log(p) + (1 - y[:, 0]) * np.log(1 - p))
    assert spec.loss.per_sample(z, y) == pytest.approx(nll, rel=1e-6)
    far = np.array([[-80.0], [80.0], [80.0], [-80.0]])
    y_far = np.array([labels(1, 5.0, 0.0), labels(0, 5.0, 0.0), labels(0, 1e-9, 0.0), labels(1, 1e-9, 0.0)])
    assert np.isfinite(spec.loss.per_sample(far, y_far)).all()


@pytest.mark.parametrize("recalled, wrong_way", [(1.0, -1.0), (0.0, 1.0)])
def test_loss_gradient_never_vanishes_where_the_model_is_wrong(recalled, wrong_way):
    """Far out on the wrong side (recall predicted impossible but recalled, or certain but forgotten),
    the loss keeps a slope of order one back toward the data: no hard clip, no flat region."""
    spec = LanguageTask().model_spec(ReviewFeaturizer.schema)
    for delta in (1.0 / 1440, 1.0, 100.0):
        z = wrong_way * np.array([10.0, 20.0, 40.0])[:, None]
        y = np.array([labels(recalled, delta, np.log(3.0))] * 3)
        h = 1e-4
        slope = (spec.loss.per_sample(z + h, y) - spec.loss.per_sample(z - h, y)) / (2 * h)
        assert (np.sign(slope) == wrong_way).all() and (np.abs(slope) > 0.005).all(), (delta, slope)


def test_outputs_for_inverts_recall_probability():
    rng = np.random.default_rng(0)
    y = np.stack([np.ones(50), rng.uniform(1, 200, 50), rng.normal(1, 2, 50)], axis=1)
    data = Dataset.of(np.zeros((50, len(FEATURES))), y, schema=ReviewFeaturizer.schema)
    p = rng.uniform(0.05, 0.99, 50)
    assert recall_probability(outputs_for(p, data), data) == pytest.approx(p, rel=1e-6)


def test_memory_states_equal_the_fsrs_package_including_same_day_steps():
    learner = simulate_vocabulary_learners(1, days=40, words=15, seed=5)[0]
    events = list(learner.events) + [
        review("x", 0, 1),
        review("x", 0.001, 3),
        review("x", 0.01, 3),
        review("x", 1.5, 2),
        review("x", 1.6, 1),
        review("x", 9, 4),
    ]
    events.sort(key=lambda e: e.time)
    names = sorted({e.data["item"] for e in events})
    card = np.array([names.index(e.data["item"]) for e in events])
    states = memory_states(
        card, np.array([e.time.timestamp() for e in events]), np.array([e.data["rating"] for e in events])
    )
    expected = fsrs6_package_stabilities(events)
    assert states.stability_after == pytest.approx(np.array([expected[e.id][0] for e in events]), rel=1e-9)
    assert states.difficulty_after == pytest.approx(np.array([expected[e.id][1] for e in events]), rel=1e-9)


def test_samples_are_reviews_a_day_apart_with_the_state_from_all_earlier_reviews():
    events = [
        review("hund", 0, 3),
        review("hund", 0.01, 1),
        review("hund", 0.02, 3),
        review("hund", 2, 1, kind="relearn"),
        review("hund", 3.5, 4),
        review("katze", 1, 3),
    ]
    s = ReviewFeaturizer().samples(events, now=T0 + timedelta(days=10))
    assert s.items == ("hund", "hund")  # the two same-day steps are history only
    assert s.recalled.tolist() == [0, 1] and s.elapsed_days.tolist() == pytest.approx([2.0 - 0.02, 1.5])
    assert s.times.tolist() == [e.time.timestamp() for e in (events[3], events[4])]
    assert s.review_index.tolist() == [4, 5] and s.lapses.tolist() == [1, 2]
    model = FSRS6()
    s0 = model.short_term_stability(model.short_term_stability(model.initial_stability(3), 1), 3)
    assert np.exp(s.data.y[0, 2]) == pytest.approx(float(s0), rel=1e-5)
    x = s.data.x
    # a learning step before the first sample; the kind the log gives (else a review: a day after the last)
    assert x[0, FEATURES.index("last_learning")] == 1 and x[1, FEATURES.index("last_learning")] == 1
    untyped = [e if i != 3 else review("hund", 2, 1) for i, e in enumerate(events)]
    assert (
        ReviewFeaturizer()
        .samples(untyped, now=T0 + timedelta(days=10))
        .data.x[1, FEATURES.index("last_learning")]
        == 0
    )
    assert x[0, FEATURES.index("last_good")] == 1 and x[1, FEATURES.index("last_again")] == 1
    assert (
        ReviewFeaturizer(ReviewFeaturizerOptions(min_elapsed_days=0))
        .samples(events, now=T0 + timedelta(days=10))
        .items
        == ("hund",) * 4
    )
    assert (
        len(ReviewFeaturizer().samples(events, now=T0 + timedelta(days=2.5)).data) == 1
    )  # the future is unseen


def test_decisions_respect_learning_steps_and_schedule_at_target_retention():
    events = [
        review("a", 0, 3),
        review("a", 1, 3),
        review("a", 3, 3),
        review("b", 4 - 5 / 1440, 1),
        review("c", 4 - 2 / 1440, 1),
    ]
    now = T0 + timedelta(days=4)
    rows = ReviewFeaturizer().rows(events, now=now)
    assert rows.keys == ("a", "b", "c")
    task = LanguageTask(LanguageTaskOptions(target_retention=0.9, learning_steps_minutes=(3.0, 10.0)))
    decisions = {d.key: d for d in task.decide(rows, task.prior(rows), now=now)}
    assert due_now(tuple(decisions.values())) == ("b",)  # its 3-minute step has come; c's has not
    assert decisions["c"].details["learning_step"] and decisions["c"].details[
        "interval_days"
    ] == pytest.approx(3 / 1440)
    a = decisions["a"]
    assert a.action == "wait" and not a.details["learning_step"]
    assert a.details["interval_days"] == pytest.approx(a.details["stability_days"])  # R = 0.9 after S days
    assert a.score == pytest.approx(FSRS6().retrievability(1.0, a.details["stability_days"]))
    longer = task.decide(rows, task.prior(rows) + 1.0, now=now)
    assert {d.key: d for d in longer}["a"].details["interval_days"] > a.details["interval_days"]


def test_learning_step_state_machine_follows_py_fsrs():
    from fsrs import Card, Rating, Scheduler, State

    steps, relearn = (60.0, 600.0), (600.0,)
    scheduler = Scheduler(
        learning_steps=[timedelta(seconds=s) for s in steps],
        relearning_steps=[timedelta(seconds=s) for s in relearn],
        enable_fuzzing=False,
    )
    for ratings in [(1,), (3,), (2,), (3, 3), (1, 3, 1), (3, 3, 1), (4, 1), (3, 3, 1, 3), (3, 3, 3)]:
        card, when = Card(), T0
        for r in ratings:
            card, _ = scheduler.review_card(card, Rating(r), review_datetime=when)
            when = card.due
        due = learning_step_due(ratings, steps, relearn)
        if card.state == State.Review:
            assert due is None, ratings
        else:
            assert due == pytest.approx((card.due - card.last_review).total_seconds()), ratings


def test_prior_and_baselines_work_from_features_alone_in_the_models_output_space():
    learner = simulate_vocabulary_learners(1, days=60, words=20, seed=3)[0]
    data = ReviewFeaturizer().training_data(learner.events, now=learner.end)
    task = LanguageTask()
    prior = task.prior(Rows(("",) * len(data), data.x))
    assert prior.shape == (len(data), 1) and not prior.any()
    past, new = data.take(np.arange(len(data) // 2)), data.take(np.arange(len(data) // 2, len(data)))
    names = set()
    for b in task.baselines():
        b.fit(past)
        p = task.probabilities(new, b.predict(new))
        assert p.shape == (len(new), 1) and ((p > 0) & (p < 1)).all(), b.name
        names.add(b.name)
    assert names == {"fsrs6_default", "hlr", "constant"}
    constant = ConstantBaseline()
    constant.fit(past)
    assert task.probabilities(new, constant.predict(new)) == pytest.approx(past.y[:, 0].mean(), rel=1e-5)
    fsrs = FSRS6DefaultBaseline()
    assert task.metrics(new, fsrs.predict(new)) == task.metrics(new, prior[len(past) :])
    assert isinstance(ClassicHLRBaseline().name, str)


def test_payload_validation():
    assert WordReviewed(item="x", rating=1).recalled is None
    with pytest.raises(ValueError, match="give the rating"):
        WordReviewed(item="x")
    with pytest.raises(ValueError, match="contradicts"):
        WordReviewed(item="x", rating=1, recalled=True)


def test_anki_round_trip_of_simulated_reviews(tmp_path):
    learner = simulate_vocabulary_learners(1, days=30, words=10, seed=2)[0]
    path = tmp_path / "revlog.csv"
    assert write_anki_csv(path, learner.events) == len(learner.events)
    imported = [s.event for s in AnkiReviewImporter().read(path)]
    assert len(imported) == len(learner.events)
    now = learner.end
    f = ReviewFeaturizer()
    assert np.allclose(
        f.samples(imported, now=now).data.x, f.samples(learner.events, now=now).data.x, atol=1e-5
    )


def test_anki_import_reports_bad_cells(tmp_path):
    path = tmp_path / "revlog.csv"
    path.write_text("card_id,rating,review_time\n7,5,1714550400000\n")
    with pytest.raises(EventError, match=r"revlog.csv:2"):
        list(AnkiReviewImporter().read(path))


def test_simulator_is_deterministic():
    a = simulate_vocabulary_learners(2, days=60, words=30, seed=4)
    b = simulate_vocabulary_learners(2, days=60, words=30, seed=4)
    assert a[0].events == b[0].events and a[1].p_true == b[1].p_true
