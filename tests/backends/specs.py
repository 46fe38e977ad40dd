"""Specs and data shared by the backend tests (importable, unlike conftest modules)."""

from __future__ import annotations

import numpy as np

from satchel.model.dataset import Dataset
from satchel.model.spec import Dense, Label, Loss, ModelSpec, Optimizer, Out, mlp

BACKENDS = ("litert", "onnx")
SGD = Optimizer("sgd", learning_rate=0.1)

# Gradient-parity specs: SGD (so one step reveals the gradient), an L2 pull, a partial batch of 8.
_CUSTOM = (
    (Out(0) - Label(0)).abs()
    + Out(1).softplus() * Label(1)
    + (Out(0).sigmoid().maximum(0.3) - Out(1).exp().minimum(2.0)).square()
    + (Out(1).square() + 1.0).log() / 2.0
    - (Out(0) * Label(1)).relu()
    + Out(1) / (Out(0).square() + 2.0)
    - (-Out(0)).relu()
)
GRADIENT_SPECS: dict[str, ModelSpec] = {
    "bce": mlp(6, (8, 5), 1, batch_size=8, optimizer=SGD, l2_to_reference=0.05, seed=3),
    "mse": ModelSpec(
        5,
        (Dense(7, "tanh"), Dense(4, "sigmoid"), Dense(2, "linear")),
        loss=Loss.mse(),
        batch_size=8,
        optimizer=SGD,
        l2_to_reference=0.05,
        seed=4,
    ),
    "softmax_ce": mlp(
        6, (8,), 3, loss=Loss.softmax_ce(), batch_size=8, optimizer=SGD, l2_to_reference=0.05, seed=5
    ),
    "custom": mlp(
        6,
        (8,),
        2,
        loss=Loss.custom("zoo", _CUSTOM, label_dim=2),
        batch_size=8,
        optimizer=SGD,
        l2_to_reference=0.05,
        seed=6,
    ),
}
#: The 10-16-8-1 network with Adam on a separable task.
TASK = mlp(10, (16, 8), 1, batch_size=32, optimizer=Optimizer("adam", learning_rate=0.01), seed=7)
#: Adam at a learning rate that saturates logits quickly.
HOT = mlp(10, (16, 8), 1, batch_size=32, optimizer=Optimizer("adam", learning_rate=0.5), seed=8)


def separable(n: int, d: int = 10, seed: int = 0, scale: float = 1.0) -> Dataset:
    """A linearly separable binary task (one fixed direction per width) with a margin and
    non-uniform sample weights; ``seed`` draws the rows."""
    direction = np.random.default_rng(d).normal(size=d)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    score = x @ direction
    keep = np.abs(score) > 0.3 * np.std(score)
    x, score = x[keep], score[keep]
    weights = rng.uniform(0.5, 1.5, len(x)).astype(np.float32)
    return Dataset.of(x * scale, (score > 0).astype(np.float32), weights)


def labels_for(spec: ModelSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    if spec.loss.kind == "softmax_ce":
        return np.eye(spec.output_dim, dtype=np.float32)[rng.integers(0, spec.output_dim, n)]
    if spec.loss.kind == "bce_logits":
        return rng.integers(0, 2, size=(n, spec.label_dim)).astype(np.float32)
    return rng.normal(size=(n, spec.label_dim)).astype(np.float32)
