"""Habit quality on a real backend: the learner's own model beats non-personalized baselines."""

from datetime import date, datetime, timezone

import numpy as np
from shared_data import LOOP_CSV, needs

from satchel.dataset import Dataset
from satchel.metrics import auc, log_loss
from satchel_plugins.habit import FEATURES, HabitFeaturizer, HabitTask, LoopHabitsImporter, simulate_habit_learners

EPOCHS = 15
SPLIT_DAY = 100
FEATURIZER, TASK = HabitFeaturizer(), HabitTask()
SPEC = TASK.model_spec(FEATURIZER.schema)
_EPOCH = date(1970, 1, 1)


def split(events, now: datetime, first_test_day: int) -> tuple[Dataset, Dataset]:
    """Samples labelled before ``first_test_day`` (a local day number) train; the later ones test."""
    s = FEATURIZER.samples(events, now=now)
    test = s.days + 1 >= first_test_day
    return s.data.take(np.flatnonzero(~test)), s.data.take(np.flatnonzero(test))


def same_as_yesterday(data: Dataset) -> np.ndarray:
    done_today = data.x[:, FEATURES.index("streak")] > 0
    return np.where(done_today, 0.9, 0.1)


def report(name: str, y: np.ndarray, **preds: np.ndarray) -> dict[str, tuple[float, float]]:
    scores = {k: (auc(y, p), log_loss(y, p)) for k, p in preds.items()}
    print(f"\n{name}: " + ", ".join(f"{k} AUC {a:.3f} LL {ll:.3f}" for k, (a, ll) in scores.items()))
    return scores


def test_personalized_beats_global_base_rate_and_yesterday_on_held_out_learners(open_trainer):
    learners = simulate_habit_learners(12, days=150, seed=11)
    population, held_out = learners[:6], learners[6:]
    pooled = [split(l.events, l.day(150), (l.start - _EPOCH).days + SPLIT_DAY) for l in population]
    global_data = Dataset.of(np.concatenate([d.x for pair in pooled for d in pair]),
                             np.concatenate([d.y for pair in pooled for d in pair]), schema=FEATURIZER.schema)
    global_model = open_trainer(SPEC)
    global_model.fit(global_data, epochs=EPOCHS, seed=0)
    base_rate = float(global_data.y.mean())
    ys, mine, glob, rate, yesterday = [], [], [], [], []
    for learner in held_out:
        train, test = split(learner.events, learner.day(150), (learner.start - _EPOCH).days + SPLIT_DAY)
        own = open_trainer(SPEC)
        own.fit(train, epochs=EPOCHS, seed=0)
        ys.append(test.y[:, 0])
        mine.append(own.predict(test.x)[:, 0])
        glob.append(global_model.predict(test.x)[:, 0])
        rate.append(np.full(len(test), base_rate))
        yesterday.append(same_as_yesterday(test))
    y = np.concatenate(ys)
    s = report("habit, 6 held-out simulated learners, days 100-149", y, personalized=np.concatenate(mine),
               global_model=np.concatenate(glob), base_rate=np.concatenate(rate),
               same_as_yesterday=np.concatenate(yesterday))
    for baseline in ("global_model", "base_rate", "same_as_yesterday"):
        assert s["personalized"][0] > s[baseline][0] + 0.03, baseline
        assert s["personalized"][1] < s[baseline][1], baseline


@needs(LOOP_CSV)
def test_personalized_beats_base_rate_and_yesterday_on_the_real_loop_export(open_trainer):
    events = [s.event for s in LoopHabitsImporter().read(LOOP_CSV)]
    first, last = date(2023, 12, 31), date(2024, 6, 16)
    now = datetime(2024, 6, 17, tzinfo=timezone.utc)
    cut = (first - _EPOCH).days + int(0.7 * (last - first).days)
    train, test = split(events, now, cut)
    own = open_trainer(SPEC)
    own.fit(train, epochs=EPOCHS, seed=0)
    y = test.y[:, 0]
    s = report(f"habit, real Loop export ({len(train)} train / {len(test)} test habit-days)", y,
               personalized=own.predict(test.x)[:, 0], base_rate=np.full(len(y), float(train.y.mean())),
               same_as_yesterday=same_as_yesterday(test))
    for baseline in ("base_rate", "same_as_yesterday"):
        assert s["personalized"][0] > s[baseline][0], baseline
        assert s["personalized"][1] < s[baseline][1], baseline


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
