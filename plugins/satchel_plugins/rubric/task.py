"""The rubric task: suggests a grade for each ungraded answer, with the probability of every grade,
and flags the ones the teacher should check.

An ordinal (cumulative-link) model on the fraction of full credit, for any integer scale: the
network gives each answer a location ``μ`` (Out 0) and a spread ``s = softplus(Out 1) + S_MIN``
(Out 1) of a logistic latent credit; grade ``g`` on ``0..K`` is the latent credit falling in
``((g - ½)/K, (g + ½)/K)`` (open at both ends), so

    P(grade = g) = σ((upper_g - μ) / s) - σ((lower_g - μ) / s)

The loss is that probability's negative log (the labels carry the grade's interval, so answers on
different scales and partial credit train together) plus a squared pull of ``μ`` toward the credit,
which keeps gradients alive where the probability floors. A suggestion is the most probable grade;
its probability below ``review_below`` flags it. The network starts from base weights trained
offline on public data (``train_base``) and is fine-tuned on the teacher's grades with an L2 pull
toward the base; the teacher's own grades also reach it as features (the nearest graded answers).
Until a fine-tuned model wins promotion (never before ~100 grades: 20 held out), the prior serves:
the base reading those features, weighed by how many answers to the same question were graded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from satchel.errors import PluginError
from satchel.model import reference
from satchel.model.dataset import Dataset, FeatureSchema
from satchel.model.metrics import accuracy, pearson, quadratic_weighted_kappa
from satchel.model.spec import Label, Loss, ModelSpec, Optimizer, Out, mlp
from satchel.model.task import Baseline, Decision, Rows
from satchel_plugins.rubric.features import SCALE_COLUMN, SCHEMA, question_grades, without_teacher

PURPOSE = "grading_assistance"
METRICS: tuple[str, ...] = ("qwk", "pearson", "accuracy", "mean_abs_error", "grade_nll")
BASE_WEIGHTS = Path(__file__).with_name("base_weights.npz")
_REBUILD = "rebuild it with `python -m satchel_plugins.rubric.train_base`"
#: smallest spread of the latent credit (fraction of full marks)
S_MIN = 0.02
#: floor of a grade's probability inside the loss's log
P_FLOOR = 1e-6
#: weight of the squared pull of the location toward the credit
PULL = 1.0
#: grades of the same question at which the prior weighs the teacher's evidence as much as the blind base
QUESTION_EVIDENCE = 1.0


def ordinal_loss() -> Loss:
    """The cumulative-link negative log-likelihood of the grade's interval (+ the location pull)."""
    mu, spread = Out(0), Out(1).softplus() + S_MIN
    credit, lower, upper = Label(0), Label(1), Label(2)
    p = ((upper - mu) / spread).sigmoid() - ((lower - mu) / spread).sigmoid()
    return Loss.custom(
        "ordinal_credit", -(p.maximum(P_FLOOR).log()) + PULL * (mu - credit).square(), label_dim=3
    )


def grade_probabilities(outputs: np.ndarray, scale: int) -> np.ndarray:
    """(n, scale + 1) probabilities of grades 0..scale from raw outputs (μ, spread logit)."""
    out = np.asarray(outputs, np.float64).reshape(-1, 2)
    mu = out[:, :1]
    spread = np.logaddexp(0.0, out[:, 1:]) + S_MIN
    edges = (np.arange(scale) + 0.5) / scale
    cdf = 0.5 * (1.0 + np.tanh(0.5 * (edges[None, :] - mu) / spread))
    cdf = np.concatenate([np.zeros((len(out), 1)), cdf, np.ones((len(out), 1))], axis=1)
    return np.diff(cdf, axis=1)


class RubricTaskOptions(BaseModel):
    """Options of the ``rubric`` task: network, fine-tuning and the suggestion policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    scale_max: int = Field(
        1, ge=1, le=100, description="the teacher's 0..K scale where an answer does not give one"
    )
    hidden: tuple[int, ...] = Field(
        (24, 12), min_length=1, description="hidden layer widths (the base uses the default)"
    )
    learning_rate: float = Field(0.002, gt=0, le=1)
    batch_size: int = Field(16, ge=1, le=1024)
    l2_to_reference: float = Field(0.3, ge=0, description="pull toward the base weights while fine-tuning")
    seed: int = 0
    min_samples: int = Field(20, ge=0, description="grades before the teacher's own model trains")
    review_below: float = Field(
        0.5,
        ge=0,
        le=1,
        description="probability of the suggested grade below which the teacher should check it",
    )
    base_weights: Path = Field(BASE_WEIGHTS, description="base weights (.npz, with a .json beside it)")


class Suggestions:
    """Grades suggested for feature rows: the most probable grade, its probability, the expected
    grade and every grade's probability, each on the row's own scale."""

    def __init__(self, x: np.ndarray, outputs: np.ndarray, default_scale: int) -> None:
        inverse = np.asarray(x, np.float64).reshape(len(outputs), -1)[:, SCALE_COLUMN]
        self.scale = np.where(
            inverse > 0, np.rint(1.0 / np.where(inverse > 0, inverse, 1.0)), default_scale
        ).astype(np.int64)
        self.probabilities: list[np.ndarray] = [np.empty(0)] * len(outputs)
        self.grade = np.zeros(len(outputs), np.int64)
        self.expected = np.zeros(len(outputs))
        for k in np.unique(self.scale):
            rows = np.flatnonzero(self.scale == k)
            p = grade_probabilities(np.asarray(outputs)[rows], int(k))
            self.grade[rows] = p.argmax(axis=1)
            self.expected[rows] = p @ np.arange(k + 1)
            for r, pr in zip(rows, p):
                self.probabilities[r] = pr

    @property
    def confidence(self) -> np.ndarray:
        return np.array([p[g] for p, g in zip(self.probabilities, self.grade)])


class RubricTask:
    """Task ``rubric``: a grading assistant adapted to one teacher's rubric.

    Decisions, least certain first: ``needs_review`` (the suggested grade's probability below
    ``review_below``) or ``suggest``; ``details`` carry the suggested grade, the expected grade and
    the probability of each grade on the answer's scale.
    """

    objective = "grade_nll"

    def __init__(self, options: RubricTaskOptions | None = None) -> None:
        self.options = options or RubricTaskOptions()
        self.min_samples = self.options.min_samples
        self._base: dict[str, np.ndarray] | None = None

    def model_spec(self, schema: FeatureSchema) -> ModelSpec:
        o = self.options
        return mlp(
            schema.width,
            o.hidden,
            2,
            loss=ordinal_loss(),
            optimizer=Optimizer(learning_rate=o.learning_rate),
            batch_size=o.batch_size,
            l2_to_reference=o.l2_to_reference,
            seed=o.seed,
        )

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
            raise PluginError(
                f"rubric base weights at {path} were trained on another feature schema", hint=_REBUILD
            )
        shapes = self.model_spec(schema).param_shapes
        if self._base is None:
            with np.load(path) as npz:
                self._base = {k: np.asarray(npz[k], np.float32) for k in npz.files}
        if {k: v.shape for k, v in self._base.items()} != shapes:
            raise PluginError(f"rubric base weights at {path} do not fit the network {shapes}", hint=_REBUILD)
        return self._base

    def _base_outputs(self, x: np.ndarray) -> np.ndarray:
        base = self.base_params(SCHEMA)
        if base is None:
            return np.tile(np.array([[0.5, 0.0]], np.float32), (len(x), 1))
        return reference.predict(self.model_spec(SCHEMA), base, x).astype(np.float32)

    def prior(self, rows: Rows) -> np.ndarray:
        """Before the teacher's own model: the base grader reading the teacher's grades, shrunk toward the
        blind base by the question's evidence: with ``n`` grades of the same question the outputs are
        ``blind + n / (n + QUESTION_EVIDENCE) * (reading - blind)`` (the blind base with none, so the
        teacher's grades on other questions alone never move a suggestion)."""
        x = np.asarray(rows.x, np.float32).reshape(len(rows), SCHEMA.width)
        blind, reading = self._base_outputs(without_teacher(x)), self._base_outputs(x)
        n = question_grades(x)[:, None]
        return (blind + n / (n + QUESTION_EVIDENCE) * (reading - blind)).astype(np.float32)

    def suggestions(self, x: np.ndarray, predictions: np.ndarray) -> Suggestions:
        return Suggestions(x, predictions, self.options.scale_max)

    def decide(self, rows: Rows, predictions: np.ndarray, *, now: datetime) -> tuple[Decision, ...]:
        s = self.suggestions(rows.x, predictions)
        confidence = s.confidence
        decisions = []
        for rank, i in enumerate(np.argsort(confidence, kind="stable")):
            action = "needs_review" if confidence[i] < self.options.review_below else "suggest"
            details = {
                "suggested_score": int(s.grade[i]),
                "scale_max": int(s.scale[i]),
                "expected_score": round(float(s.expected[i]), 3),
                "probabilities": [round(float(p), 3) for p in s.probabilities[i]],
                "review_rank": rank + 1,
            }
            decisions.append(Decision(rows.keys[i], action, float(confidence[i]), details))
        return tuple(decisions)

    def metrics(self, data: Dataset, predictions: np.ndarray) -> dict[str, float]:
        """Agreement with the teacher: QWK, Pearson of the expected grade, exact accuracy, mean
        absolute error (fraction of full marks), and the grades' negative log-likelihood."""
        s = self.suggestions(data.x, predictions)
        credit = data.y[:, 0].astype(np.float64)
        truth = np.floor(credit * s.scale + 0.5).astype(np.int64)
        top = int(s.scale.max()) if len(s.scale) else 1
        same_scale = (s.scale == top).all()
        to_top = (lambda g: g) if same_scale else (lambda g: np.rint(g * top / s.scale))
        p_truth = np.array([p[min(t, len(p) - 1)] for p, t in zip(s.probabilities, truth)])
        return {
            "qwk": quadratic_weighted_kappa(to_top(truth), to_top(s.grade), 0, top),
            "pearson": pearson(credit, s.expected / s.scale),
            "accuracy": accuracy(truth, s.grade, data.weights),
            "mean_abs_error": float(np.average(np.abs(credit - s.grade / s.scale), weights=data.weights)),
            "grade_nll": float(np.average(-np.log(np.maximum(p_truth, P_FLOOR)), weights=data.weights)),
        }

    def baselines(self) -> tuple[Baseline, ...]:
        """The base grader as shipped (blind to this teacher) and the teacher's most frequent grade."""
        return (BaseGrader(self), MostFrequentGrade())

    def policy(self) -> dict[str, object]:
        """The suggestion policy as data, for an app deciding on the device (export manifest)."""
        o = self.options
        return {
            "output": "mu = output[0]; spread = softplus(output[1]) + s_min (latent credit, fraction of full marks)",
            "scale": "K = round(1 / feature inverse_scale) when > 0, else scale_max",
            "grade_probability": "P(g) = sigmoid((hi_g - mu) / spread) - sigmoid((lo_g - mu) / spread), "
            "lo_g = (g - 0.5) / K, hi_g = (g + 0.5) / K, open below 0 and above K",
            "actions": ["needs_review", "suggest"],
            "thresholds": {"review_below": o.review_below, "s_min": S_MIN, "scale_max": o.scale_max},
            "rules": [
                {"when": "P(most probable grade) < review_below", "action": "needs_review"},
                {"when": "otherwise", "action": "suggest", "grade": "the most probable grade"},
            ],
        }


class BaseGrader:
    """The shipped base grader on the answer alone, without this teacher's grades."""

    name = "base_grader"

    def __init__(self, task: RubricTask) -> None:
        self._task = task

    def fit(self, past: Dataset) -> None:
        """Nothing to fit: the base grader does not learn."""

    def predict(self, data: Dataset) -> np.ndarray:
        return self._task._base_outputs(without_teacher(data.x))


class MostFrequentGrade:
    """Always the teacher's most frequent grade (as a fraction of full marks) so far; half marks before any."""

    name = "most_frequent_grade"

    def __init__(self) -> None:
        self.credit = 0.5

    def fit(self, past: Dataset) -> None:
        if len(past):
            values, counts = np.unique(np.round(past.y[:, 0], 4), return_counts=True)
            self.credit = float(values[np.argmax(counts)])

    def predict(self, data: Dataset) -> np.ndarray:
        return np.tile(np.array([[self.credit, -20.0]], np.float32), (len(data), 1))
