"""srs-benchmark-style evaluation: every review is predicted before the model has seen it.

Reviews (of items seen before) are split in time order into ``n_folds + 1`` chunks; chunk ``k``
is predicted by a model fitted on chunks ``0 … k-1`` (chunk 0 is never scored). Predictors
(:data:`PREDICTORS`) score the same reviews:

- ``hlr``: the language task's neural half-life regression, trained on a training backend;
- ``fsrs6``: FSRS-6 with its default parameters (the ``fsrs`` package, replaying each card's
  reviews in order; nothing fitted);
- ``classic_hlr``: Settles & Meeder's (2016) half-life regression on the review counts alone,
  ``h = 2^(θ·x)`` with ``x = (√(1+right), √(1+wrong), 1)``, fitted in NumPy on the same folds;
- ``constant``: the recall rate of all earlier reviews.

As in srs-benchmark, scores are computed per learner and averaged weighted by reviews.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence

import numpy as np

from satchel.backend import OpenTrainer
from satchel.dataset import Dataset
from satchel.events import Event
from satchel.metrics import auc, log_loss, rmse_bins, srs_bin_keys
from satchel_plugins.language.events import WORD_REVIEWED
from satchel_plugins.language.features import ReviewFeaturizer, ReviewSamples, review_counts
from satchel_plugins.language.task import LN2, LanguageTask, recall_probability

#: fits on the training reviews and returns recall probabilities for the test rows
FitPredict = Callable[[Dataset, Dataset], np.ndarray]
PREDICTORS: tuple[str, ...] = ("hlr", "fsrs6", "classic_hlr", "constant")
FEATURIZER, TASK = ReviewFeaturizer(), LanguageTask()
SPEC = TASK.model_spec(FEATURIZER.schema)
#: Settles & Meeder's bounds on the half-life, in days (15 minutes to 9 months)
MIN_HALF_LIFE, MAX_HALF_LIFE = 15.0 / (24 * 60), 274.0


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
    return _scores(samples.recalled[indices], p, _bin_keys(samples, indices))


def _bin_keys(samples: ReviewSamples, indices: np.ndarray) -> np.ndarray:
    return srs_bin_keys(samples.elapsed_days[indices], samples.review_index[indices], samples.lapses[indices])


def _scores(y: np.ndarray, p: np.ndarray, keys: np.ndarray) -> OnlineScores:
    return OnlineScores(log_loss(y, p), auc(y, p), rmse_bins(y, p, keys), int(len(y)))


@dataclass(frozen=True)
class ClassicHLR:
    """Settles & Meeder's half-life regression on review counts: ``θ`` weighs √(1+right), √(1+wrong), 1."""

    theta: tuple[float, float, float]

    def half_life(self, x: np.ndarray) -> np.ndarray:
        """Half-lives in days of ``review_history`` feature rows, within the paper's bounds."""
        return np.clip(np.exp2(classic_hlr_features(x) @ np.asarray(self.theta)), MIN_HALF_LIFE, MAX_HALF_LIFE)

    def predict(self, data: Dataset) -> np.ndarray:
        """Recall probabilities ``2^(-Δ/h)`` of the reviews in ``data`` (labels: recalled, Δ days)."""
        return np.exp2(-np.maximum(data.y[:, 1].astype(np.float64), 0.0) / self.half_life(data.x))


def classic_hlr_features(x: np.ndarray) -> np.ndarray:
    """``(√(1+right), √(1+wrong), 1)`` per row: earlier recalls and lapses of the reviewed item."""
    review_number, lapses = review_counts(x)
    right = np.maximum(review_number - 1.0 - lapses, 0.0)
    return np.stack([np.sqrt(1.0 + right), np.sqrt(1.0 + lapses), np.ones_like(right)], axis=1)


def fit_classic_hlr(data: Dataset, *, l2: float = 1e-3, iterations: int = 50) -> ClassicHLR:
    """Maximum-likelihood ``θ`` (mean binary cross-entropy plus ``l2/2·|θ|²``) by Fisher scoring.

    The paper fits squared errors of per-session recall *rates*; with one outcome per review the
    likelihood is the natural objective (srs-benchmark fits its HLR baseline the same way). The
    fit starts from a two-day half-life and halves each step until the objective decreases.
    """
    f = classic_hlr_features(data.x)
    y = data.y[:, 0].astype(np.float64)
    delta = np.maximum(data.y[:, 1].astype(np.float64), 0.0)

    def objective(theta: np.ndarray) -> float:
        r = _neg_log_recall(f @ theta, delta)
        nll = y * r - (1.0 - y) * np.log(np.maximum(-np.expm1(-r), 1e-12))
        return float(nll.mean() + 0.5 * l2 * theta @ theta)

    theta = np.array([0.0, 0.0, 1.0])
    current = objective(theta)
    for _ in range(iterations):
        r = np.maximum(_neg_log_recall(f @ theta, delta), 1e-9)
        grad_z = -LN2 * r * (y - (1.0 - y) / np.expm1(r))  # d nll / d z, z = θ·x = log2 h
        fisher_z = LN2**2 * r**2 / np.expm1(r)            # E[(d nll / d z)²]
        grad = f.T @ grad_z / len(y) + l2 * theta
        hessian = (f * fisher_z[:, None]).T @ f / len(y) + l2 * np.eye(3)
        step = np.linalg.solve(hessian, grad)
        for _ in range(30):
            candidate = theta - step
            value = objective(candidate)
            if value <= current:
                break
            step = step / 2.0
        else:
            break
        converged = current - value < 1e-10
        theta, current = candidate, value
        if converged:
            break
    return ClassicHLR((float(theta[0]), float(theta[1]), float(theta[2])))


def _neg_log_recall(z: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``-ln p = Δ·ln2 / 2^z``, capped where ``p`` underflows anyway."""
    return np.minimum(delta * LN2 * np.exp2(-z), 700.0)


def classic_hlr_predictions(samples: ReviewSamples, n_folds: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(scored indices, predictions) of classic HLR refitted at each fold boundary."""
    return online_predictions(samples, lambda train, test: fit_classic_hlr(train).predict(test), n_folds)


def neural_hlr(open_trainer: OpenTrainer, *, epochs: int, seed: int = 0) -> FitPredict:
    """The language task's network, fitted from its base parameters on each fold's training reviews."""
    base = TASK.base_params(FEATURIZER.schema)

    def fit_predict(train: Dataset, test: Dataset) -> np.ndarray:
        trainer = open_trainer(SPEC, base)
        trainer.fit(train, epochs=epochs, seed=seed)
        return recall_probability(trainer.predict(test.x), test.y[:, 1])

    return fit_predict


@dataclass(frozen=True)
class LearnerComparison:
    """One learner's scored reviews: outcomes, srs-benchmark bins and every predictor's probabilities."""

    y: np.ndarray
    bin_keys: np.ndarray
    predictions: Mapping[str, np.ndarray]

    def scores(self) -> dict[str, OnlineScores]:
        return {name: _scores(self.y, p, self.bin_keys) for name, p in self.predictions.items()}


def compare_on_learner(open_trainer: OpenTrainer, events: Sequence[Event], *, now: datetime, epochs: int,
                       n_folds: int = 5, seed: int = 0) -> LearnerComparison:
    """Every predictor of :data:`PREDICTORS` on the reviews of one learner, each predicted before seen."""
    samples = FEATURIZER.samples(events, now=now)
    idx, hlr = online_predictions(samples, neural_hlr(open_trainer, epochs=epochs, seed=seed), n_folds)
    predictions = {
        "hlr": hlr,
        "fsrs6": fsrs6_predictions(events, samples)[idx],
        "classic_hlr": classic_hlr_predictions(samples, n_folds)[1],
        "constant": constant_predictions(samples, n_folds)[1],
    }
    return LearnerComparison(samples.recalled[idx].astype(np.float64), _bin_keys(samples, idx), predictions)


def mean_scores(comparisons: Sequence[LearnerComparison]) -> dict[str, OnlineScores]:
    """Per-learner scores averaged weighted by each learner's scored reviews (as srs-benchmark reports)."""
    per_learner = [c.scores() for c in comparisons]
    out = {}
    for name in per_learner[0]:
        rows = [s[name] for s in per_learner]
        n = np.array([r.n for r in rows], np.float64)

        def mean(values: list[float]) -> float:
            v = np.array(values)
            ok = np.isfinite(v)
            return float(np.average(v[ok], weights=n[ok])) if ok.any() else float("nan")

        out[name] = OnlineScores(mean([r.log_loss for r in rows]), mean([r.auc for r in rows]),
                                 mean([r.rmse_bins for r in rows]), int(n.sum()))
    return out
