"""The rubric task: suggests a score for each ungraded answer and flags the ones a teacher should read.

The network predicts the fraction of full credit (sigmoid output, cross-entropy on score/scale).
It starts from base weights trained offline on SemEval-2013 (``train_base``) and is fine-tuned on
the teacher's corrections with an L2 pull toward the base (``ModelSpec.l2_to_reference``; the
trainer's reference is set to the base), so a few corrections nudge it and many reshape it.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Mapping

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from satchel import reference
from satchel.dataset import Dataset, FeatureSchema
from satchel.errors import PluginError
from satchel.metrics import accuracy, pearson, quadratic_weighted_kappa
from satchel.model_spec import Loss, ModelSpec, Optimizer, mlp
from satchel.task import Decision, Rows
from satchel_plugins.rubric.features import SCHEMA

PURPOSE = "grading_assistance"
METRICS: tuple[str, ...] = ("qwk", "pearson", "accuracy", "mean_abs_error")
BASE_WEIGHTS = Path(__file__).with_name("base_weights.npz")
_REBUILD = "rebuild it with `python -m satchel_plugins.rubric.train_base`"


class RubricTaskOptions(BaseModel):
    """Options of the ``rubric`` task: network, fine-tuning and the suggestion policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scale_max: int = Field(1, ge=1, le=100, description="top of the teacher's 0..K scale (1 = correct/incorrect)")
    hidden: tuple[int, ...] = Field((24, 12), min_length=1, description="hidden layer widths (the base uses the default)")
    learning_rate: float = Field(0.002, gt=0, le=1)
    batch_size: int = Field(16, ge=1, le=1024)
    l2_to_reference: float = Field(0.01, ge=0, description="pull toward the base weights while fine-tuning")
    seed: int = 0
    min_samples: int = Field(5, ge=0, description="corrections before the teacher's own model is used")
    review_below: float = Field(0.5, ge=0, le=1, description="confidence below which an answer needs the teacher")
    base_weights: Path = Field(BASE_WEIGHTS, description="base weights (.npz, with a .json beside it)")


class RubricTask:
    """Task ``rubric``: a grading assistant adapted to one teacher's rubric.

    Decisions, most uncertain first: ``needs_review`` (confidence below ``review_below``) or
    ``suggest``; ``details`` carry the suggested score on the teacher's scale.
    """

    def __init__(self, options: RubricTaskOptions | None = None) -> None:
        self.options = options or RubricTaskOptions()
        self.min_samples = self.options.min_samples
        self._base: dict[str, np.ndarray] | None = None

    def model_spec(self, schema: FeatureSchema) -> ModelSpec:
        o = self.options
        return mlp(schema.width, o.hidden, 1, loss=Loss.bce_logits(), optimizer=Optimizer(learning_rate=o.learning_rate),
                   batch_size=o.batch_size, l2_to_reference=o.l2_to_reference, seed=o.seed)

    def base_params(self, schema: FeatureSchema) -> Mapping[str, np.ndarray] | None:
        """The shipped base weights; None for a non-default architecture, which starts untrained."""
        if self.options.hidden != RubricTaskOptions().hidden:
            return None
        path = self.options.base_weights
        meta_path = path.with_suffix(".json")
        if not path.exists() or not meta_path.exists():
            raise PluginError(f"rubric base weights not found at {path} (or its .json)", hint=_REBUILD)
        meta = json.loads(meta_path.read_text())
        if meta.get("feature_schema_hash") != schema.hash:
            raise PluginError(f"rubric base weights at {path} were trained on another feature schema",
                              hint=_REBUILD)
        shapes = self.model_spec(schema).param_shapes
        if self._base is None:
            with np.load(path) as npz:
                self._base = {k: np.asarray(npz[k], np.float32) for k in npz.files}
        if {k: v.shape for k, v in self._base.items()} != shapes:
            raise PluginError(f"rubric base weights at {path} do not fit the network {shapes}", hint=_REBUILD)
        return self._base

    def prior(self, rows: Rows) -> np.ndarray:
        """Before enough corrections: the base grader's prediction (1/2 without a base)."""
        base = self.base_params(SCHEMA)
        if base is None or len(rows) == 0:
            return np.full((len(rows), 1), 0.5, np.float32)
        return reference.predict(self.model_spec(SCHEMA), base, rows.x).astype(np.float32)

    def suggest(self, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(suggested integer score, confidence in [0, 1]) from predicted fractions of full credit."""
        k = self.options.scale_max
        expected = np.clip(np.asarray(predictions, np.float64).reshape(-1), 0.0, 1.0) * k
        score = np.rint(expected)
        return score.astype(np.int64), 1.0 - 2.0 * np.abs(expected - score)

    def decide(self, rows: Rows, predictions: np.ndarray, *, now: datetime) -> tuple[Decision, ...]:
        p = np.asarray(predictions, np.float64).reshape(len(rows), -1)[:, 0]
        score, confidence = self.suggest(p)
        order = np.argsort(confidence, kind="stable")
        decisions = []
        for rank, i in enumerate(order):
            action = "needs_review" if confidence[i] < self.options.review_below else "suggest"
            details = {"suggested_score": int(score[i]), "scale_max": self.options.scale_max,
                       "expected_score": float(p[i] * self.options.scale_max), "review_rank": rank + 1}
            decisions.append(Decision(rows.keys[i], action, float(confidence[i]), details))
        return tuple(decisions)

    def metrics(self, data: Dataset, predictions: np.ndarray) -> dict[str, float]:
        k = self.options.scale_max
        truth = np.rint(data.y[:, 0] * k)
        suggested, _ = self.suggest(predictions)
        return {
            "qwk": quadratic_weighted_kappa(truth, suggested, 0, k),
            "pearson": pearson(data.y[:, 0], np.asarray(predictions, np.float64).reshape(-1)),
            "accuracy": accuracy(truth, suggested, data.weights),
            "mean_abs_error": float(np.average(np.abs(truth - suggested), weights=data.weights)),
        }
