"""Predictors the habit model is judged against (``satchel evaluate``): each sees only past days.

- ``base_rate``: the learner's smoothed share of done habit-days;
- ``same_as_yesterday``: P(done | done yesterday) and P(done | not done yesterday), smoothed;
- ``logistic``: an L2-regularised logistic regression on the same features, refitted on the
  learner's past (a strong non-neural personal model).
"""

from __future__ import annotations

import numpy as np

from satchel.model.dataset import Dataset
from satchel_plugins.habit.features import FEATURES

_DONE_YESTERDAY = FEATURES.index("streak")  # > 0 exactly when the habit was done on the feature day


class BaseRate:
    name = "base_rate"

    def __init__(self) -> None:
        self.p = 0.5

    def fit(self, past: Dataset) -> None:
        self.p = (float(past.y[:, 0].sum()) + 1.0) / (len(past) + 2.0)

    def predict(self, data: Dataset) -> np.ndarray:
        return np.full((len(data), 1), self.p)


class SameAsYesterday:
    name = "same_as_yesterday"

    def __init__(self) -> None:
        self.p = (0.5, 0.5)

    def fit(self, past: Dataset) -> None:
        done = past.x[:, _DONE_YESTERDAY] > 0
        y = past.y[:, 0]
        self.p = tuple((float(y[m].sum()) + 0.5) / (int(m.sum()) + 1.0) for m in (~done, done))  # type: ignore[assignment]

    def predict(self, data: Dataset) -> np.ndarray:
        done = data.x[:, _DONE_YESTERDAY] > 0
        return np.where(done, self.p[1], self.p[0]).reshape(-1, 1)


class Logistic:
    name = "logistic"

    def __init__(self, l2: float = 1.0, iterations: int = 25) -> None:
        self.l2, self.iterations = l2, iterations
        self.w = np.zeros(len(FEATURES) + 1)

    def fit(self, past: Dataset) -> None:
        if not len(past):
            return
        x = np.hstack([past.x.astype(np.float64), np.ones((len(past), 1))])
        y = past.y[:, 0].astype(np.float64)
        w = np.zeros(x.shape[1])
        penalty = self.l2 * np.eye(x.shape[1])
        penalty[-1, -1] = 1e-6
        for _ in range(self.iterations):  # Newton steps on the penalised log-likelihood
            p = 1.0 / (1.0 + np.exp(-x @ w))
            grad = x.T @ (p - y) + penalty @ w
            hess = (x * (p * (1 - p))[:, None]).T @ x + penalty
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        self.w = w

    def predict(self, data: Dataset) -> np.ndarray:
        z = data.x.astype(np.float64) @ self.w[:-1] + self.w[-1]
        return (1.0 / (1.0 + np.exp(-z))).reshape(-1, 1)


def habit_baselines() -> tuple[BaseRate, SameAsYesterday, Logistic]:
    return BaseRate(), SameAsYesterday(), Logistic()
