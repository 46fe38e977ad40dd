"""Habit quality on a real backend: the learner's own model beats non-personalized baselines."""

import numpy as np
from shared_data import LOOP_CSV, needs

from satchel.dataset import Dataset
from satchel_plugins.habit.evaluate import (
    FEATURIZER,
    SPEC,
    TASK,
    evaluate_loop_export,
    evaluate_simulated,
    fit_global_model,
    pool,
    same_as_yesterday,
)
from satchel_plugins.habit.simulate import simulate_habit_learners

EPOCHS = 15
BASELINES = ("global_model", "base_rate", "same_as_yesterday", "cold_start_prior")


def report(name: str, scores: dict) -> None:
    print(f"\n{name}: " + ", ".join(f"{k} AUC {s.auc:.3f} LL {s.log_loss:.3f} Brier {s.brier:.3f}"
                                    for k, s in scores.items()))


def test_personalized_beats_global_base_rate_and_yesterday_on_held_out_learners(open_trainer):
    learners = simulate_habit_learners(12, days=150, seed=11)
    global_model = fit_global_model(open_trainer, learners[:6], epochs=EPOCHS)
    s = pool(evaluate_simulated(open_trainer, learners[6:], global_model, split_day=100, epochs=EPOCHS)).scores()
    report("habit, 6 held-out simulated learners, days 100-149", s)
    for baseline in BASELINES:
        assert s["personalized"].auc > s[baseline].auc + 0.03, baseline
        assert s["personalized"].log_loss < s[baseline].log_loss, baseline
        assert s["personalized"].brier < s[baseline].brier, baseline


@needs(LOOP_CSV)
def test_personalized_beats_base_rate_and_yesterday_on_the_real_loop_export(open_trainer):
    global_model = fit_global_model(open_trainer, simulate_habit_learners(6, days=150, seed=11), epochs=EPOCHS)
    evaluation = evaluate_loop_export(open_trainer, LOOP_CSV, global_model, epochs=EPOCHS)
    s = evaluation.scores()
    report(f"habit, real Loop export ({evaluation.n_train} train / {len(evaluation.y)} test habit-days)", s)
    for baseline in BASELINES:
        assert s["personalized"].auc > s[baseline].auc, baseline
        assert s["personalized"].log_loss < s[baseline].log_loss, baseline


def test_same_as_yesterday_takes_both_rates_from_the_training_days():
    streak = FEATURIZER.schema.names.index("streak")
    x = np.zeros((6, FEATURIZER.schema.width), np.float32)
    x[:3, streak] = 0.5  # done on the feature day
    train = Dataset.of(x, np.array([1, 1, 0, 0, 0, 1]), schema=FEATURIZER.schema)
    p = same_as_yesterday(train, train)
    assert np.allclose(p, [2.5 / 4] * 3 + [1.5 / 4] * 3)


def test_trained_predictions_drive_reminders(open_trainer):
    learner = simulate_habit_learners(1, days=60, seed=2)[0]
    own = open_trainer(SPEC)
    own.fit(FEATURIZER.training_data(learner.events, now=learner.day(60)), epochs=EPOCHS, seed=0)
    rows = FEATURIZER.rows(learner.events, now=learner.day(60))
    decisions = TASK.decide(rows, own.predict(rows.x), now=learner.day(60))
    assert [d.key for d in decisions] == list(learner.habits)
    assert all(0 <= d.score <= 1 and d.action in {"remind", "nudge", "quiet"} for d in decisions)
    assert TASK.metrics(FEATURIZER.training_data(learner.events, now=learner.day(60)),
                        own.predict(FEATURIZER.training_data(learner.events, now=learner.day(60)).x))["auc"] > 0.6
