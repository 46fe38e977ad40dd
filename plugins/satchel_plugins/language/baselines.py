"""The language task's baselines (``LanguageTask.baselines()``), each predicting in the model's output
space (:func:`~satchel_plugins.language.task.outputs_for`):

- ``fsrs6_default``: FSRS-6 with its default parameters, from the memory state the featurizer
  computes with :mod:`.fsrs6` (the model with no correction);
- ``hlr``: Settles & Meeder's (2016) half-life regression on the review counts alone,
  ``h = 2^(θ·x)`` with ``x = (√(1+right), √(1+wrong), 1)``, fitted by maximum likelihood;
- ``constant``: the recall rate of the past reviews.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from satchel.model.dataset import Dataset
from satchel_plugins.language.features import review_counts
from satchel_plugins.language.task import outputs_for

#: Settles & Meeder's bounds on the half-life, in days (15 minutes to 9 months)
MIN_HALF_LIFE, MAX_HALF_LIFE = 15.0 / (24 * 60), 274.0
LN2 = float(np.log(2.0))


class FSRS6DefaultBaseline:
    """FSRS-6 with default parameters: nothing to fit."""

    name = "fsrs6_default"

    def fit(self, past: Dataset) -> None:
        return None

    def predict(self, data: Dataset) -> np.ndarray:
        return np.zeros((len(data), 1))


class ConstantBaseline:
    """The recall rate of the past reviews (0.9 before any)."""

    name = "constant"

    def __init__(self) -> None:
        self.rate = 0.9

    def fit(self, past: Dataset) -> None:
        if len(past):
            self.rate = float(np.clip(past.y[:, 0].mean(), 1e-3, 1.0 - 1e-3))

    def predict(self, data: Dataset) -> np.ndarray:
        return outputs_for(np.full(len(data), self.rate), data)


@dataclass(frozen=True)
class ClassicHLR:
    """Half-life regression on review counts: ``θ`` weighs √(1+right), √(1+wrong), 1."""

    theta: tuple[float, float, float]

    def half_life(self, x: np.ndarray) -> np.ndarray:
        """Half-lives in days of ``review_history`` feature rows, within the paper's bounds."""
        return np.clip(
            np.exp2(classic_hlr_features(x) @ np.asarray(self.theta)), MIN_HALF_LIFE, MAX_HALF_LIFE
        )

    def recall(self, data: Dataset) -> np.ndarray:
        """Recall probabilities ``2^(-Δ/h)`` of the reviews in ``data`` (labels: recalled, Δ days, …)."""
        return np.exp2(-np.maximum(data.y[:, 1].astype(np.float64), 0.0) / self.half_life(data.x))


class ClassicHLRBaseline:
    """Classic HLR refitted on the past reviews (two-day half-life before any)."""

    name = "hlr"

    def __init__(self) -> None:
        self.model = ClassicHLR((0.0, 0.0, 1.0))

    def fit(self, past: Dataset) -> None:
        if len(past):
            self.model = fit_classic_hlr(past)

    def predict(self, data: Dataset) -> np.ndarray:
        return outputs_for(self.model.recall(data), data)


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
        fisher_z = LN2**2 * r**2 / np.expm1(r)  # E[(d nll / d z)²]
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
    return np.minimum(delta * LN2 * np.exp2(-np.clip(z, -60.0, 60.0)), 700.0)
