"""The language task: a half-life-regression head learned per learner, and a review scheduler.

The network outputs ``z = log2 h`` (h, the item's half-life in days, from its history); the recall
probability after Δ days is ``p = 2^(-Δ/h)``. The loss is the binary cross-entropy of that
probability, written in the ModelSpec expression DSL so every backend trains the same objective::

    r = Δ · ln2 · exp(-ln2 · clip(z))        # r = -ln p
    loss = recalled · r − (1 − recalled) · ln(max(1 − exp(−r), ε))
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from satchel.dataset import Dataset, FeatureSchema
from satchel.metrics import auc, brier, log_loss, rmse_bins, srs_bin_keys
from satchel.model_spec import Expr, Label, Loss, ModelSpec, Optimizer, Out, initial_params, mlp
from satchel.task import Decision, Rows
from satchel_plugins.language.features import review_counts

PURPOSE = "vocabulary_scheduling"
METRICS: tuple[str, ...] = ("log_loss", "auc", "rmse_bins", "brier", "recall_rate", "mean_prediction")
LN2 = math.log(2.0)
Z_MIN, Z_MAX = -7.0, 12.0  # half-lives from ~11 minutes to ~11 years
_EPS = 1e-6


def half_life_loss() -> Expr:
    """Per-review negative log-likelihood of ``p = 2^(-Δ/2^z)``; labels are [recalled, Δ days]."""
    z = Out(0).clip(Z_MIN, Z_MAX)
    recalled, delta = Label(0), Label(1)
    r = delta * LN2 * (z * -LN2).exp()
    forgot_nll = -((1.0 - (-r).exp()).maximum(_EPS)).log()
    return recalled * r + (1.0 - recalled) * forgot_nll


def recall_probability(z: np.ndarray, elapsed_days: np.ndarray) -> np.ndarray:
    """``2^(-Δ/h)`` with ``h = 2^clip(z)``."""
    h = np.exp2(np.clip(np.asarray(z, np.float64).reshape(-1), Z_MIN, Z_MAX))
    return np.exp2(-np.maximum(np.asarray(elapsed_days, np.float64).reshape(-1), 0.0) / h)


class LanguageTaskOptions(BaseModel):
    """Options of the ``language`` task: network, training and the scheduling policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hidden: tuple[int, ...] = Field((16, 8), min_length=1, description="hidden layer widths")
    learning_rate: float = Field(0.01, gt=0, le=1)
    batch_size: int = Field(32, ge=1, le=1024)
    seed: int = 0
    min_samples: int = Field(30, ge=0, description="reviews (of items seen before) before the learner's model is used")
    target_retention: float = Field(0.9, gt=0.5, lt=1.0, description="recall probability at which a review is due")
    initial_half_life_days: float = Field(2.0, gt=0, description="half-life the untrained network starts from")
    max_interval_days: float = Field(365.0, gt=0)


class LanguageTask:
    """Task ``language``: learns this learner's forgetting; schedules reviews at a target retention.

    Decisions, due items first (least likely recalled first): ``review_now`` when the item's
    predicted recall has fallen to the target retention, else ``wait`` with the next review time.
    """

    def __init__(self, options: LanguageTaskOptions | None = None) -> None:
        self.options = options or LanguageTaskOptions()
        self.min_samples = self.options.min_samples

    def model_spec(self, schema: FeatureSchema) -> ModelSpec:
        o = self.options
        loss = Loss.custom("half_life_regression", half_life_loss(), label_dim=2)
        return mlp(schema.width, o.hidden, 1, loss=loss, optimizer=Optimizer(learning_rate=o.learning_rate),
                   batch_size=o.batch_size, seed=o.seed)

    def base_params(self, schema: FeatureSchema) -> Mapping[str, np.ndarray]:
        """The seeded initial network with its output bias at the initial half-life."""
        spec = self.model_spec(schema)
        params = initial_params(spec)
        last = len(spec.layers) - 1
        params[f"dense_{last}_bias"] = np.full((1,), math.log2(self.options.initial_half_life_days), np.float32)
        return params

    def prior(self, rows: Rows) -> np.ndarray:
        """Cold start: the half-life grows ×2.5 with each recall and halves with each lapse."""
        ctx = rows.context
        reviews = np.array([c["reviews"] for c in ctx], np.float64) if ctx else np.zeros(len(rows))
        lapses = np.array([c["lapses"] for c in ctx], np.float64) if ctx else np.zeros(len(rows))
        z = math.log2(self.options.initial_half_life_days) + (reviews - lapses - 1).clip(0) * math.log2(2.5) - lapses
        return np.clip(z, Z_MIN, Z_MAX).astype(np.float32).reshape(-1, 1)

    def decide(self, rows: Rows, predictions: np.ndarray, *, now: datetime) -> tuple[Decision, ...]:
        o = self.options
        z = np.asarray(predictions, np.float64).reshape(len(rows), -1)[:, 0]
        half_life = np.exp2(np.clip(z, Z_MIN, Z_MAX))
        interval = np.minimum(half_life * -math.log2(o.target_retention), o.max_interval_days)
        decisions = []
        for i, key in enumerate(rows.keys):
            ctx = rows.context[i]
            elapsed = float(ctx["elapsed_days"])
            p_now = float(recall_probability(z[i:i + 1], np.array([elapsed]))[0])
            due = elapsed >= interval[i]
            next_review = now + timedelta(days=max(float(interval[i]) - elapsed, 0.0))
            details = {"p_recall_now": p_now, "half_life_days": float(half_life[i]),
                       "interval_days": float(interval[i]), "next_review": next_review.isoformat(),
                       "last_review": ctx["last_review"]}
            order = (0, p_now) if due else (1, float(interval[i]) - elapsed)
            decisions.append((order, Decision(key, "review_now" if due else "wait", p_now, details)))
        return tuple(d for _, d in sorted(decisions, key=lambda od: od[0]))

    def metrics(self, data: Dataset, predictions: np.ndarray) -> dict[str, float]:
        y, delta = data.y[:, 0], data.y[:, 1]
        p = recall_probability(predictions, delta)
        review_index, lapses = review_counts(data.x)
        return {
            "log_loss": log_loss(y, p, data.weights),
            "auc": auc(y, p),
            "rmse_bins": rmse_bins(y, p, srs_bin_keys(delta, review_index, lapses), data.weights),
            "brier": brier(y, p, data.weights),
            "recall_rate": float(np.average(y, weights=data.weights)),
            "mean_prediction": float(np.average(p, weights=data.weights)),
        }


def due_now(decisions: tuple[Decision, ...]) -> tuple[str, ...]:
    """The items to review now, least likely recalled first."""
    return tuple(d.key for d in decisions if d.action == "review_now")
