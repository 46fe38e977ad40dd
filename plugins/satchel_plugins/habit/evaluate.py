"""Habit evaluation: the learner's own next-day model against non-personalized predictors.

Every predictor scores the same held-out habit-days, the ones after a learner's split day (a time
split: nothing after the split is used to fit anything of that learner's):

- ``personalized``: the habit MLP fitted on this learner's days before the split;
- ``global_model``: the same network fitted once on a population of *other* learners;
- ``base_rate``: the share of this learner's training habit-days that were done;
- ``same_as_yesterday``: tomorrow repeats today, with P(done | done today) and
  P(done | not done today) taken from this learner's training days;
- ``cold_start_prior``: the habit task's fallback before a learner's model exists (a blend of
  recent, same-weekday and monthly completion rates; nothing fitted).

Trainers come from ``open_trainer`` (any training backend), so tests and benchmarks share this code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from satchel.events import Event
from satchel.model.backend import OpenTrainer, Trainer
from satchel.model.dataset import Dataset
from satchel.model.metrics import auc, brier, log_loss
from satchel.model.task import Rows
from satchel_plugins._timeline import local_day, zone
from satchel_plugins.habit.features import FEATURES, HabitFeaturizer
from satchel_plugins.habit.simulate import SimulatedHabitLearner
from satchel_plugins.habit.task import HabitTask

PREDICTORS: tuple[str, ...] = (
    "personalized",
    "global_model",
    "base_rate",
    "same_as_yesterday",
    "cold_start_prior",
)
FEATURIZER, TASK = HabitFeaturizer(), HabitTask()
SPEC = TASK.model_spec(FEATURIZER.schema)
_TZ = zone(FEATURIZER.options.timezone, "featurizer.options.timezone")
_DONE_TODAY = FEATURES.index("streak")  # > 0 exactly when the habit was done on the feature day


@dataclass(frozen=True)
class BinaryScores:
    """AUC, log loss and Brier score of one predictor over ``n`` habit-days."""

    auc: float
    log_loss: float
    brier: float
    n: int


@dataclass(frozen=True)
class HabitEvaluation:
    """Outcomes of the held-out habit-days and each predictor's probabilities for them."""

    y: np.ndarray
    predictions: Mapping[str, np.ndarray]
    n_train: int

    def scores(self) -> dict[str, BinaryScores]:
        return {
            name: BinaryScores(auc(self.y, p), log_loss(self.y, p), brier(self.y, p), int(self.y.size))
            for name, p in self.predictions.items()
        }


def time_split(events: Sequence[Event], *, now: datetime, first_test_day: int) -> tuple[Dataset, Dataset]:
    """Samples whose label day (a local day number) is before ``first_test_day`` train; the rest test."""
    s = FEATURIZER.samples(events, now=now)
    test = s.days + 1 >= first_test_day
    return s.data.take(np.flatnonzero(~test)), s.data.take(np.flatnonzero(test))


def same_as_yesterday(train: Dataset, test: Dataset) -> np.ndarray:
    """P(done tomorrow) given only whether the habit was done today, both rates fitted on ``train``."""
    done_train = train.x[:, _DONE_TODAY] > 0
    rates = [
        (float(train.y[mask, 0].sum()) + 0.5) / (int(mask.sum()) + 1.0) for mask in (~done_train, done_train)
    ]
    return np.where(test.x[:, _DONE_TODAY] > 0, rates[1], rates[0])


def fit(open_trainer: OpenTrainer, data: Dataset, *, epochs: int, seed: int) -> Trainer:
    """A fresh habit model fitted on ``data``."""
    trainer = open_trainer(SPEC, None)
    trainer.fit(data, epochs=epochs, seed=seed)
    return trainer


def fit_global_model(
    open_trainer: OpenTrainer, population: Sequence[SimulatedHabitLearner], *, epochs: int, seed: int = 0
) -> Trainer:
    """One model fitted on every simulated day of a population of learners."""
    parts = [FEATURIZER.training_data(p.events, now=p.day(p.done.shape[1])) for p in population]
    pooled = Dataset.of(
        np.concatenate([d.x for d in parts]), np.concatenate([d.y for d in parts]), schema=FEATURIZER.schema
    )
    return fit(open_trainer, pooled, epochs=epochs, seed=seed)


def evaluate_learner(
    open_trainer: OpenTrainer,
    events: Sequence[Event],
    global_model: Trainer,
    *,
    now: datetime,
    first_test_day: int,
    epochs: int,
    seed: int = 0,
) -> HabitEvaluation:
    """Every predictor on one learner's habit-days from ``first_test_day`` on."""
    train, test = time_split(events, now=now, first_test_day=first_test_day)
    own = fit(open_trainer, train, epochs=epochs, seed=seed)
    predictions = {
        "personalized": own.predict(test.x)[:, 0],
        "global_model": global_model.predict(test.x)[:, 0],
        "base_rate": np.full(len(test), float(train.y.mean())),
        "same_as_yesterday": same_as_yesterday(train, test),
        "cold_start_prior": TASK.prior(Rows(("",) * len(test), test.x))[:, 0],
    }
    return HabitEvaluation(
        test.y[:, 0].astype(np.float64),
        {k: np.asarray(v, np.float64) for k, v in predictions.items()},
        len(train),
    )


def evaluate_simulated(
    open_trainer: OpenTrainer,
    held_out: Sequence[SimulatedHabitLearner],
    global_model: Trainer,
    *,
    split_day: int,
    epochs: int,
    seed: int = 0,
) -> tuple[HabitEvaluation, ...]:
    """Each held-out learner split at simulated day ``split_day`` (:func:`pool` them to score all at once)."""
    return tuple(
        evaluate_learner(
            open_trainer,
            learner.events,
            global_model,
            now=learner.day(learner.done.shape[1]),
            first_test_day=local_day(learner.day(split_day), _TZ),
            epochs=epochs,
            seed=seed,
        )
        for learner in held_out
    )


def pool(evaluations: Sequence[HabitEvaluation]) -> HabitEvaluation:
    """Habit-days of several evaluations as one."""
    return HabitEvaluation(
        np.concatenate([e.y for e in evaluations]),
        {k: np.concatenate([e.predictions[k] for e in evaluations]) for k in evaluations[0].predictions},
        sum(e.n_train for e in evaluations),
    )
