"""The habit task: predicts whether each habit will be done today and decides whether to remind."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from satchel.model.dataset import Dataset, FeatureSchema
from satchel.model.metrics import accuracy, auc, brier, log_loss
from satchel.model.spec import Loss, ModelSpec, Optimizer, mlp
from satchel.model.task import Decision, Rows
from satchel_plugins.habit.features import FEATURES

PURPOSE = "habit_reminders"
METRICS: tuple[str, ...] = ("auc", "log_loss", "brier", "accuracy", "base_rate")


class HabitTaskOptions(BaseModel):
    """Options of the ``habit`` task: network, training and the reminder policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hidden: tuple[int, ...] = Field((16, 8), description="hidden layer widths; () for a logistic regression")
    learning_rate: float = Field(0.01, gt=0, le=1)
    batch_size: int = Field(32, ge=1, le=1024)
    seed: int = 0
    min_samples: int = Field(28, ge=0, description="habit-days needed before the learner's own model is used")
    remind_below: float = Field(0.5, ge=0, le=1, description="remind when P(done today) is below this")
    quiet_above: float = Field(0.8, ge=0, le=1, description="stay quiet when P(done today) is at least this")

    @model_validator(mode="after")
    def _ordered(self) -> HabitTaskOptions:
        if self.remind_below > self.quiet_above:
            raise ValueError(
                f"remind_below ({self.remind_below}) must not exceed quiet_above ({self.quiet_above})"
            )
        if self.hidden and min(self.hidden) < 1:
            raise ValueError("every hidden layer needs >= 1 unit (no hidden layer: a logistic regression)")
        return self


class HabitTask:
    """Task ``habit``: a small MLP on ``habit_daily`` features; reminder policy with two thresholds.

    Actions: ``quiet`` (done today, or likely to be done), ``remind`` (unlikely to be done) and
    ``nudge`` (in between: a gentle in-app hint rather than a notification).
    """

    def __init__(self, options: HabitTaskOptions | None = None) -> None:
        self.options = options or HabitTaskOptions()
        self.min_samples = self.options.min_samples

    def model_spec(self, schema: FeatureSchema) -> ModelSpec:
        o = self.options
        return mlp(
            schema.width,
            o.hidden,
            1,
            loss=Loss.bce_logits(),
            optimizer=Optimizer(learning_rate=o.learning_rate),
            batch_size=o.batch_size,
            seed=o.seed,
        )

    def base_params(self, schema: FeatureSchema) -> Mapping[str, np.ndarray] | None:
        return None

    def prior(self, rows: Rows) -> np.ndarray:
        """Cold start: a blend of the habit's recent, same-weekday and monthly completion rates."""
        x = np.asarray(rows.x, np.float64).reshape(len(rows), len(FEATURES))
        col = {name: x[:, i] for i, name in enumerate(FEATURES)}
        p = 0.5 * col["rate_7d"] + 0.3 * col["weekday_rate"] + 0.2 * col["rate_30d"]
        return np.clip(p, 0.02, 0.98).astype(np.float32).reshape(-1, 1)

    def decide(self, rows: Rows, predictions: np.ndarray, *, now: datetime) -> tuple[Decision, ...]:
        p = np.asarray(predictions, np.float64).reshape(len(rows), -1)[:, 0]
        o = self.options
        decisions = []
        for i, key in enumerate(rows.keys):
            ctx = rows.context[i] if rows.context else {}
            if ctx.get("done_today"):
                action, reason = "quiet", "already done today"
            elif p[i] < o.remind_below:
                action, reason = "remind", f"P(done today) {p[i]:.2f} < {o.remind_below}"
            elif p[i] >= o.quiet_above:
                action, reason = "quiet", f"P(done today) {p[i]:.2f} >= {o.quiet_above}"
            else:
                action, reason = "nudge", f"P(done today) {p[i]:.2f} between thresholds"
            details = {"p_done_today": float(p[i]), "reason": reason, "usual_hour": ctx.get("usual_hour")}
            decisions.append(Decision(key, action, float(p[i]), details))
        return tuple(decisions)

    def baselines(self) -> tuple[object, ...]:
        """Base rate, same-as-yesterday and a logistic regression (see :mod:`.baselines`)."""
        from satchel_plugins.habit.baselines import habit_baselines

        return habit_baselines()

    def metrics(self, data: Dataset, predictions: np.ndarray) -> dict[str, float]:
        y = data.y[:, 0]
        p = np.asarray(predictions, np.float64).reshape(len(data), -1)[:, 0]
        return {
            "auc": auc(y, p),
            "log_loss": log_loss(y, p, data.weights),
            "brier": brier(y, p, data.weights),
            "accuracy": accuracy(y, p >= 0.5, data.weights),
            "base_rate": float(np.average(y, weights=data.weights)) if len(y) else float("nan"),
        }

    def policy(self) -> dict[str, object]:
        """The reminder policy as data, for an app deciding on the device (export manifest)."""
        o = self.options
        return {
            "output": "p = output[0], P(habit done today)",
            "actions": ["remind", "nudge", "quiet"],
            "thresholds": {"remind_below": o.remind_below, "quiet_above": o.quiet_above},
            "rules": [
                {"when": "the habit is already done today", "action": "quiet"},
                {"when": "p < remind_below", "action": "remind"},
                {"when": "p >= quiet_above", "action": "quiet"},
                {"when": "otherwise", "action": "nudge"},
            ],
        }
