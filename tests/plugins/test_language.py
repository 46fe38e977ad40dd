from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from satchel.errors import EventError
from satchel.events import Event
from satchel_plugins.language import (
    FEATURES,
    AnkiReviewImporter,
    LanguageTask,
    LanguageTaskOptions,
    ReviewFeaturizer,
    due_now,
    recall_probability,
    simulate_vocabulary_learners,
    write_anki_csv,
)
from satchel_plugins.language.events import WordReviewed
from satchel_plugins.language.evaluate import constant_predictions, fsrs6_predictions, score, time_folds

T0 = datetime(2024, 5, 1, 9, tzinfo=timezone.utc)


def review(item: str, day: float, rating: int) -> Event:
    return Event(type="word_reviewed", time=T0 + timedelta(days=day), data={"item": item, "rating": rating,
                                                                            "response_ms": 2000})


def test_half_life_loss_is_the_nll_of_two_to_the_minus_delta_over_h():
    spec = LanguageTask().model_spec(ReviewFeaturizer.schema)
    z = np.array([[0.0], [2.0], [1.0], [40.0], [-40.0]])
    y = np.array([[1, 1.0], [0, 3.0], [1, 0.0], [1, 5.0], [0, 5.0]])
    p = recall_probability(z[:2], y[:2, 1])
    nll = -(y[:2, 0] * np.log(p) + (1 - y[:2, 0]) * np.log(1 - p))
    got = spec.loss.per_sample(z, y)
    assert got[:2] == pytest.approx(nll)
    assert got[2] == 0.0  # recalled right away: p = 1
    assert np.isfinite(got).all()  # clipped far outside the half-life range
    assert spec.loss.expr.max_out() == 0 and spec.loss.expr.max_label() == 1


def test_samples_use_only_earlier_history():
    events = [review("hund", 0, 3), review("hund", 2, 1), review("hund", 3, 4), review("katze", 1, 3)]
    s = ReviewFeaturizer().samples(events, now=T0 + timedelta(days=10))
    assert s.items == ("hund", "hund")
    assert s.recalled.tolist() == [0, 1] and s.elapsed_days.tolist() == pytest.approx([2.0, 1.0])
    assert s.review_index.tolist() == [2, 3] and s.lapses.tolist() == [0, 1]
    x = s.data.x
    assert x[1, FEATURES.index("last_recalled")] == 0 and x[0, FEATURES.index("last_recalled")] == 1
    assert x[1, FEATURES.index("last_interval")] == pytest.approx(np.log1p(2.0) / np.log(366.0))
    later = ReviewFeaturizer().samples(events, now=T0 + timedelta(days=2.5))
    assert len(later.data) == 1  # reviews after "now" are not seen


def test_rows_schedule_at_target_retention_and_list_due_items():
    events = [review("a", 0, 3), review("a", 1, 3), review("b", 0, 3), review("c", 0, 1)]
    now = T0 + timedelta(days=4)
    rows = ReviewFeaturizer().rows(events, now=now)
    assert rows.keys == ("a", "b", "c")
    assert rows.context[0]["elapsed_days"] == pytest.approx(3.0) and rows.context[0]["reviews"] == 2
    task = LanguageTask(LanguageTaskOptions(target_retention=0.9))
    z = np.array([[np.log2(100.0)], [np.log2(1.0)], [np.log2(0.5)]])  # half-lives 100, 1, 0.5 days
    decisions = task.decide(rows, z, now=now)
    assert due_now(decisions) == ("c", "b")  # least likely recalled first
    wait = decisions[-1]
    assert wait.key == "a" and wait.action == "wait"
    assert wait.details["interval_days"] == pytest.approx(100 * -np.log2(0.9))
    assert wait.score == pytest.approx(2 ** (-3 / 100))
    prior = task.prior(rows)
    assert prior.shape == (3, 1) and prior[0, 0] > prior[2, 0]
    base = task.base_params(ReviewFeaturizer.schema)
    assert base["dense_2_bias"][0] == pytest.approx(1.0)  # log2 of the 2-day initial half-life


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
    for a, b in zip(imported, learner.events):
        assert a.data["item"] == b.data["item"] and a.data["rating"] == b.data["rating"]
        assert abs((a.time - b.time).total_seconds()) < 0.001
    now = learner.end
    f = ReviewFeaturizer()
    assert np.allclose(f.samples(imported, now=now).data.x, f.samples(learner.events, now=now).data.x, atol=1e-5)
    again = [s.event.id for s in AnkiReviewImporter().read(path)]
    assert again == [e.id for e in imported]


def test_anki_import_accepts_revlog_names_and_reports_bad_cells(tmp_path):
    path = tmp_path / "revlog.csv"
    path.write_text("id,cid,ease,time\n1714550400000,42,3,5200\n1714636800000,42,0,0\n"
                    "2024-05-03T10:00:00+02:00,42,1,\n")
    events = [s.event for s in AnkiReviewImporter().read(path)]
    assert [e.data["rating"] for e in events] == [3, 1]  # rating 0 (manual reschedule) skipped
    assert events[0].data["response_ms"] == 5200
    path.write_text("card_id,rating,review_time\n7,5,1714550400000\n")
    with pytest.raises(EventError, match=r"revlog.csv:2: field 'rating'"):
        list(AnkiReviewImporter().read(path))
    path.write_text("card_id,rating,review_time\n7,3,yesterday\n")
    with pytest.raises(EventError, match=r":2: field 'review_time'"):
        list(AnkiReviewImporter().read(path))
    path.write_text("card,rating\n")
    with pytest.raises(EventError, match="missing column"):
        list(AnkiReviewImporter().read(path))


def test_simulator_is_deterministic_and_baselines_score_the_same_reviews():
    a = simulate_vocabulary_learners(2, days=60, words=30, seed=4)
    b = simulate_vocabulary_learners(2, days=60, words=30, seed=4)
    assert a[0].events == b[0].events and a[1].p_true == b[1].p_true
    learner = a[0]
    s = ReviewFeaturizer().samples(learner.events, now=learner.end)
    folds = time_folds(len(s.data), 5)
    assert folds[0][0].size > 0 and folds[-1][1][-1] == len(s.data) - 1
    idx, p_const = constant_predictions(s)
    p_fsrs = fsrs6_predictions(learner.events, s)[idx]
    truth = np.array([learner.p_true[i] for i in s.event_ids])[idx]
    assert ((p_fsrs > 0) & (p_fsrs <= 1)).all()
    oracle, constant = score(s, idx, truth), score(s, idx, p_const)
    assert oracle.log_loss < constant.log_loss and oracle.auc > 0.65
