"""srs-benchmark-style evaluation: every review is predicted before the model has seen it.

Reviews (of items seen before) are split in time order into ``n_folds + 1`` chunks; chunk ``k``
is predicted by a model fitted on chunks ``0 … k-1`` (chunk 0 is never scored). Baselines
score the same reviews: a constant (the recall rate seen so far) and FSRS-6 with its default
parameters (the ``fsrs`` package, replaying each card's reviews in order).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone
from typing import Callable, Sequence

import numpy as np

from satchel.dataset import Dataset
from satchel.events import Event
from satchel.metrics import auc, log_loss, rmse_bins, srs_bin_keys
from satchel_plugins.language.events import WORD_REVIEWED
from satchel_plugins.language.features import ReviewSamples

#: fits on the training reviews and returns recall probabilities for the test rows
FitPredict = Callable[[Dataset, Dataset], np.ndarray]


@dataclass(frozen=True)
class OnlineScores:
    """Scores of one predictor over the scored reviews."""

    log_loss: float
    auc: float
    rmse_bins: float
    n: int


def time_folds(n: int, n_folds: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """(train, test) index pairs over ``n`` time-ordered samples, growing-window style."""
    bounds = np.linspace(0, n, n_folds + 2).astype(np.int64)
    return tuple((np.arange(0, bounds[k]), np.arange(bounds[k], bounds[k + 1])) for k in range(1, n_folds + 1))


def online_predictions(samples: ReviewSamples, fit_predict: FitPredict, n_folds: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(scored indices, predictions) of ``fit_predict`` refitted at each fold boundary."""
    scored, preds = [], []
    for train, test in time_folds(len(samples.data), n_folds):
        scored.append(test)
        preds.append(np.asarray(fit_predict(samples.data.take(train), samples.data.take(test)), np.float64).reshape(-1))
    return np.concatenate(scored), np.concatenate(preds)


def constant_predictions(samples: ReviewSamples, n_folds: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The recall rate of all earlier reviews, refitted at each fold boundary."""
    return online_predictions(samples, lambda train, test: np.full(len(test), float(train.y[:, 0].mean())), n_folds)


def fsrs6_predictions(events: Sequence[Event], samples: ReviewSamples) -> np.ndarray:
    """FSRS-6 (default parameters, no learning steps) retrievability before each sampled review.

    The card state comes from the ``fsrs`` package; retrievability uses FSRS-6's forgetting curve
    ``(1 + factor·t/S)^-decay`` at the fractional elapsed days ``t`` (the package rounds ``t``
    down to whole days, which would predict certain recall within a day).
    """
    from fsrs import Card, Rating, Scheduler

    scheduler = Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)
    decay = -scheduler.parameters[20]
    factor = 0.9 ** (1.0 / decay) - 1.0
    reviews = sorted((e for e in events if e.type == WORD_REVIEWED), key=lambda e: e.time)
    cards: dict[str, Card] = {}
    retrievability: dict[str, float] = {}
    for e in reviews:
        item = str(e.data["item"])
        rating = e.data.get("rating")
        if rating is None:
            rating = 3 if e.data.get("recalled") else 1
        when = e.time.astimezone(timezone.utc)
        card = cards.get(item)
        if card is None:
            card = Card(card_id=len(cards) + 1)
        else:
            elapsed = (when - card.last_review).total_seconds() / 86400.0
            retrievability[e.id] = float((1.0 + factor * max(elapsed, 0.0) / card.stability) ** decay)
        cards[item], _ = scheduler.review_card(card, Rating(int(rating)), review_datetime=when)
    return np.array([retrievability[i] for i in samples.event_ids])


def score(samples: ReviewSamples, indices: np.ndarray, p: np.ndarray) -> OnlineScores:
    """log loss, AUC and RMSE(bins) of ``p`` on the reviews at ``indices``."""
    y = samples.recalled[indices]
    keys = srs_bin_keys(samples.elapsed_days[indices], samples.review_index[indices], samples.lapses[indices])
    return OnlineScores(log_loss(y, p), auc(y, p), rmse_bins(y, p, keys), int(len(indices)))
