"""The language task: this learner's corrections to the FSRS-6 memory model, and a review scheduler.

The network sees an item's FSRS-6 memory state and history (:mod:`.features`) and outputs ``z``,
a correction to the log of its FSRS-6 stability ``S0`` (default parameters). The recall
probability after ``Δ`` days follows FSRS-6's power-law forgetting curve::

    ln S = r - 0.99·softplus(r - C),  r = ln S0 + z    # a leaky ceiling at S = e^C days: never flat
    p    = (1 + factor·Δ/S)^-decay = exp(-a),  a = decay·softplus(ln(factor·Δ) - ln S)

so an untrained network (``z = 0``, the base parameters) *is* FSRS-6 with default parameters, the
cold-start prior, and training learns how this learner departs from it; an L2 pull toward the base
parameters keeps a learner with few reviews close to FSRS-6. Recall always falls with ``Δ``.

The loss is the binary cross-entropy of ``p``, written in the ModelSpec DSL so every backend
trains the same objective. Nothing in it is clipped: ``a`` is computed accurate to relative
precision even where ``softplus`` underflows, and ``-ln(1 - e^-a)`` never divides by zero, so
every output has a gradient pointing back toward the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from satchel.model.dataset import Dataset, FeatureSchema
from satchel.model.metrics import auc, brier, log_loss, rmse_bins, srs_bin_keys
from satchel.model.spec import Expr, Label, Loss, ModelSpec, Optimizer, Out, initial_params, mlp
from satchel.model.task import Decision, Rows
from satchel_plugins.language.features import FSRS_DEFAULT, log_stability, review_counts
from satchel_plugins.language.fsrs6 import learning_step_due

if TYPE_CHECKING:
    from satchel.model.task import Baseline

PURPOSE = "vocabulary_scheduling"
METRICS: tuple[str, ...] = ("log_loss", "auc", "rmse_bins", "brier", "recall_rate", "mean_prediction")
DECAY, FACTOR = FSRS_DEFAULT.decay, FSRS_DEFAULT.factor
#: soft ceiling of the stability, ln days (a billion days: S0 up to 36,500 days moves by < 1e-4), and the
#: slope left above it (so ln S keeps a gradient and u = ln(factor·Δ) - ln S stays far from float32 underflow)
LOG_STABILITY_CEILING, CEILING_LEAK = math.log(1e9), 0.01
#: elapsed days below this count as this (one second) in the loss: the curve needs ln Δ
MIN_ELAPSED_DAYS = 1.0 / 86400.0


def _log_stability(base: Expr, z: Expr) -> Expr:
    raw = base + z
    return raw - (1.0 - CEILING_LEAK) * (raw - LOG_STABILITY_CEILING).softplus()


def _log_stability_np(raw: np.ndarray) -> np.ndarray:
    return raw - (1.0 - CEILING_LEAK) * np.logaddexp(0.0, raw - LOG_STABILITY_CEILING)


def _softplus_accurate(u: Expr) -> Expr:
    """``ln(1 + e^u)`` to relative precision for every ``u``: float32 softplus rounds to 0 below
    u ≈ -17, so it is held between the bounds ``x - x²/2 ≤ ln(1+x) ≤ x - x²/2 + x³/3`` (x = e^u)."""
    x = u.minimum(10.0).exp()
    lower = x - 0.5 * x.square()
    upper = lower + x * x.square() / 3.0
    return u.softplus().maximum(lower).minimum(upper)


def memory_loss() -> Expr:
    """Per-review negative log-likelihood; labels are [recalled, Δ days, ln S0]."""
    recalled, delta, base = Label(0), Label(1), Label(2)
    u = (delta.maximum(MIN_ELAPSED_DAYS) * FACTOR).log() - _log_stability(base, Out(0))
    a = _softplus_accurate(u) * DECAY  # -ln p
    e = (-a).exp()
    forgot_nll = -((1.0 - e).maximum(a * e).minimum(a)).log()  # -ln(1 - e^-a), a·e^-a ≤ 1 - e^-a ≤ a
    return recalled * a + (1.0 - recalled) * forgot_nll


def stability_days(z: np.ndarray, base_log_stability: np.ndarray) -> np.ndarray:
    """The model's stability in days from its outputs and the FSRS-6 default ``ln S0``."""
    base = np.asarray(base_log_stability, np.float64).reshape(-1)
    return np.exp(_log_stability_np(base + np.asarray(z, np.float64).reshape(base.size, -1)[:, 0]))


def recall_probability(z: np.ndarray, data: Dataset) -> np.ndarray:
    """The model's recall probabilities for the samples of ``data`` (labels: recalled, Δ, ln S0)."""
    s = stability_days(z, data.y[:, 2])
    return FSRS_DEFAULT.retrievability(np.maximum(data.y[:, 1].astype(np.float64), MIN_ELAPSED_DAYS), s)


def outputs_for(p: np.ndarray, data: Dataset) -> np.ndarray:
    """The outputs ``z`` at which the model predicts ``p`` for the samples of ``data`` (how a
    baseline's probabilities enter the model's output space); inverse of :func:`recall_probability`."""
    p = np.clip(np.asarray(p, np.float64).reshape(-1), 1e-6, 1.0 - 1e-7)
    delta = np.maximum(data.y[:, 1].astype(np.float64), MIN_ELAPSED_DAYS)
    target = np.log(FACTOR * delta) - np.log(np.expm1(-np.log(p) / DECAY))
    raw = target.copy()
    for _ in range(50):  # Newton on the increasing, convex-concave ceiling (slope between 0.01 and 1)
        slope = 1.0 - (1.0 - CEILING_LEAK) / (1.0 + np.exp(LOG_STABILITY_CEILING - raw))
        raw = raw - (_log_stability_np(raw) - target) / slope
    return (raw - data.y[:, 2]).reshape(-1, 1)


class LanguageTaskOptions(BaseModel):
    """Options of the ``language`` task: network, training and the scheduling policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    hidden: tuple[int, ...] = Field((16, 8), min_length=1, description="hidden layer widths")
    learning_rate: float = Field(0.003, gt=0, le=1)
    batch_size: int = Field(64, ge=1, le=1024)
    l2_to_prior: float = Field(1e-3, ge=0, description="pull toward the base parameters (FSRS-6 defaults)")
    seed: int = 0
    min_samples: int = Field(
        300, ge=0, description="reviews (a day or more apart) before the learner's model is trained"
    )
    target_retention: float = Field(
        0.9, gt=0.5, lt=1.0, description="recall probability at which a review is due"
    )
    learning_steps_minutes: tuple[float, ...] = Field((1.0, 10.0), description="same-day steps of a new item")
    relearning_steps_minutes: tuple[float, ...] = Field((10.0,), description="same-day steps after a lapse")
    max_interval_days: float = Field(36500.0, gt=0)


class LanguageTask:
    """Task ``language``: learns this learner's memory; schedules reviews at a target retention.

    Decisions, due items first (least likely recalled first): ``review_now`` when the item's next
    learning step has come or its predicted recall has fallen to the target retention, else
    ``wait`` with the next review time. Details carry the predicted recall now, the stability, the
    interval at the target retention and whether the item is in (re)learning steps.
    """

    objective = "log_loss"

    def __init__(self, options: LanguageTaskOptions | None = None) -> None:
        self.options = options or LanguageTaskOptions()
        self.min_samples = self.options.min_samples

    def model_spec(self, schema: FeatureSchema) -> ModelSpec:
        o = self.options
        loss = Loss.custom("fsrs6_correction", memory_loss(), label_dim=3)
        return mlp(
            schema.width,
            o.hidden,
            1,
            loss=loss,
            optimizer=Optimizer(learning_rate=o.learning_rate),
            batch_size=o.batch_size,
            l2_to_reference=o.l2_to_prior,
            seed=o.seed,
        )

    def base_params(self, schema: FeatureSchema) -> Mapping[str, np.ndarray]:
        """The seeded network with a zero output layer: no correction, FSRS-6 with default parameters."""
        spec = self.model_spec(schema)
        params = initial_params(spec)
        last = len(spec.layers) - 1
        params[f"dense_{last}_kernel"] = np.zeros_like(params[f"dense_{last}_kernel"])
        params[f"dense_{last}_bias"] = np.zeros_like(params[f"dense_{last}_bias"])
        return params

    def prior(self, rows: Rows) -> np.ndarray:
        """Cold start: no correction, i.e. FSRS-6 with its default parameters."""
        return np.zeros((len(rows.x), 1), np.float32)

    def baselines(self) -> tuple[Baseline, ...]:
        from satchel_plugins.language.baselines import (
            ClassicHLRBaseline,
            ConstantBaseline,
            FSRS6DefaultBaseline,
        )

        return FSRS6DefaultBaseline(), ClassicHLRBaseline(), ConstantBaseline()

    def decide(self, rows: Rows, predictions: np.ndarray, *, now: datetime) -> tuple[Decision, ...]:
        o = self.options
        s = stability_days(predictions, log_stability(rows.x))
        interval = np.minimum(FSRS_DEFAULT.interval(s, o.target_retention), o.max_interval_days)
        half_life = FSRS_DEFAULT.interval(s, 0.5)
        steps = tuple(60.0 * m for m in o.learning_steps_minutes)
        relearn = tuple(60.0 * m for m in o.relearning_steps_minutes)
        decisions = []
        for i, key in enumerate(rows.keys):
            ctx = rows.context[i]
            elapsed = float(cast(float, ctx["elapsed_days"]))
            p_now = float(FSRS_DEFAULT.retrievability(np.array([elapsed]), s[i : i + 1])[0])
            step = learning_step_due(tuple(ctx["ratings"]), steps, relearn)  # type: ignore[arg-type]
            wait_days = float(interval[i]) if step is None else step / 86400.0
            due = elapsed >= wait_days
            next_review = now + timedelta(days=max(wait_days - elapsed, 0.0))
            details = {
                "p_recall_now": p_now,
                "stability_days": float(s[i]),
                "half_life_days": float(half_life[i]),
                "interval_days": wait_days,
                "learning_step": step is not None,
                "next_review": next_review.isoformat(),
                "last_review": ctx["last_review"],
            }
            order = (0, p_now) if due else (1, wait_days - elapsed)
            decisions.append((order, Decision(key, "review_now" if due else "wait", p_now, details)))
        return tuple(d for _, d in sorted(decisions, key=lambda od: od[0]))

    def probabilities(self, data: Dataset, predictions: np.ndarray) -> np.ndarray:
        """Recall probabilities (n, 1) of the samples of ``data`` from outputs of the network's space."""
        return recall_probability(predictions, data).reshape(-1, 1)

    def metrics(self, data: Dataset, predictions: np.ndarray) -> dict[str, float]:
        y, delta = data.y[:, 0], data.y[:, 1]
        p = recall_probability(predictions, data)
        review_index, lapses = review_counts(data.x)
        return {
            "log_loss": log_loss(y, p, data.weights),
            "auc": auc(y, p),
            "rmse_bins": rmse_bins(y, p, srs_bin_keys(delta, review_index, lapses), data.weights),
            "brier": brier(y, p, data.weights),
            "recall_rate": float(np.average(y, weights=data.weights)),
            "mean_prediction": float(np.average(p, weights=data.weights)),
        }

    def policy(self) -> dict[str, object]:
        """The scheduling policy as data, for an app deciding on the device (export manifest)."""
        o = self.options
        return {
            "output": "z = output[0], a correction to ln S0 (S0 = FSRS-6 default stability = exp(10 * "
            "feature log_stability))",
            "stability": "r = ln S0 + z; S = exp(r - (1 - ceiling_leak) * softplus(r - log_stability_ceiling))",
            "recall": "p(elapsed_days) = (1 + factor * elapsed_days / S) ^ -decay",
            "interval": "min(S / factor * (target_retention ^ (-1 / decay) - 1), max_interval_days)",
            "actions": ["review_now", "wait"],
            "thresholds": {
                "target_retention": o.target_retention,
                "max_interval_days": o.max_interval_days,
                "decay": DECAY,
                "factor": FACTOR,
                "log_stability_ceiling": LOG_STABILITY_CEILING,
                "ceiling_leak": CEILING_LEAK,
            },
            "learning_steps_minutes": list(o.learning_steps_minutes),
            "relearning_steps_minutes": list(o.relearning_steps_minutes),
            "rules": [
                {"when": "the item's next (re)learning step is due", "action": "review_now"},
                {"when": "elapsed_days >= interval", "action": "review_now"},
                {"when": "otherwise", "action": "wait", "next_review": "last review + interval"},
            ],
        }


def due_now(decisions: tuple[Decision, ...]) -> tuple[str, ...]:
    """The items to review now, least likely recalled first."""
    return tuple(d.key for d in decisions if d.action == "review_now")
