"""Federated standardisation: the shared model trains on standardised inputs, and ships on raw ones.

Inputs whose features sit at different offsets and scales (rates around 0.5 with a spread of 0.2
next to cyclic features in [-1, 1]) make the shared model's optimisation ill-conditioned, and under
DP every extra round costs noise. So a run may start with two short DP stages, before training:

1. ``mean``: each sampled device sends the mean of its feature rows, clipped in L2 to ``clip``;
2. ``spread``: each sends the root mean square deviation of its rows from the stage-1 estimate
   (per feature), clipped the same way.

Both go through the same mechanism as a training round (the clipped vector, scaled to the run's
``clip_norm`` so SecAgg+ and Flower's DP wrapper treat it exactly like a delta; Gaussian noise of
multiplier sigma on the mean), so the accountant charges them as ``2 * rounds`` more rounds of the
run. The server then trains the shared :class:`~satchel.model.spec.ModelSpec` on
``z = (x - mean) / scale`` (devices standardise their own rows) and, at the end, folds the
standardisation into the first dense layer::

    W' = W / scale[:, None]        b' = b - (mean / scale) @ W

so the global model that flows back to the devices is an ordinary model of the same spec on raw
features: ``folded(x) == model((x - mean) / scale)`` for every ``x``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

#: the stages of a standardised run, in order; ``train`` rounds follow them
STAGES: tuple[str, ...] = ("mean", "spread")
FIRST_KERNEL, FIRST_BIAS = "dense_0_kernel", "dense_0_bias"


@dataclass(frozen=True)
class Standardization:
    """Per-feature ``mean`` and ``scale`` (> 0): the model sees ``(x - mean) / scale``."""

    mean: np.ndarray
    scale: np.ndarray

    def __post_init__(self) -> None:
        m = np.asarray(self.mean, np.float64).reshape(-1)
        s = np.asarray(self.scale, np.float64).reshape(-1)
        if m.shape != s.shape:
            raise ValueError(f"mean has {m.size} features but scale has {s.size}")
        if not (np.all(np.isfinite(m)) and np.all(np.isfinite(s)) and np.all(s > 0)):
            raise ValueError("a standardisation needs finite means and positive finite scales")
        object.__setattr__(self, "mean", m)
        object.__setattr__(self, "scale", s)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``(x - mean) / scale`` as float32."""
        return ((np.asarray(x, np.float64) - self.mean) / self.scale).astype(np.float32)

    def to_json(self) -> str:
        return json.dumps({"mean": self.mean.tolist(), "scale": self.scale.tolist()})

    @staticmethod
    def from_json(raw: str | bytes) -> Standardization:
        d = json.loads(raw)
        return Standardization(np.asarray(d["mean"], np.float64), np.asarray(d["scale"], np.float64))


def standardize_data(data: Any, st: Standardization) -> Any:
    """``data`` (a :class:`~satchel.model.dataset.Dataset`) with standardised rows."""
    return replace(data, x=st.apply(data.x))


def fold(params: Mapping[str, np.ndarray], st: Standardization) -> dict[str, np.ndarray]:
    """A model on standardised inputs → the same function on raw inputs (first dense layer only)."""
    out = {k: np.asarray(v, np.float32) for k, v in params.items()}
    w = np.asarray(params[FIRST_KERNEL], np.float64)
    b = np.asarray(params[FIRST_BIAS], np.float64)
    out[FIRST_KERNEL] = (w / st.scale[:, None]).astype(np.float32)
    out[FIRST_BIAS] = (b - (st.mean / st.scale) @ w).astype(np.float32)
    return out


def unfold(params: Mapping[str, np.ndarray], st: Standardization) -> dict[str, np.ndarray]:
    """The inverse of :func:`fold`: a model on raw inputs → the same function on standardised ones."""
    out = {k: np.asarray(v, np.float32) for k, v in params.items()}
    w = np.asarray(params[FIRST_KERNEL], np.float64)
    b = np.asarray(params[FIRST_BIAS], np.float64)
    out[FIRST_KERNEL] = (w * st.scale[:, None]).astype(np.float32)
    out[FIRST_BIAS] = (b + st.mean @ w).astype(np.float32)
    return out


def default_clip(width: int) -> float:
    """The stages' L2 clip when the config gives none: ``0.5 * sqrt(width)``, a vector whose
    entries have an RMS of 0.5 (features scaled to about unit range, as the featurizers do)."""
    return 0.5 * math.sqrt(width)


def device_statistic(data: Any, stage: str, mean: np.ndarray | None = None) -> np.ndarray:
    """What a device computes for ``stage`` from its own rows (weighted by the sample weights):
    the mean row (``mean``) or the root mean square deviation from ``mean`` per feature (``spread``)."""
    x = np.asarray(data.x, np.float64)
    w = np.asarray(data.weights, np.float64)
    w = w / w.sum() if w.sum() > 0 else np.full(len(x), 1.0 / max(1, len(x)))
    if stage == "mean":
        return np.asarray(w @ x)
    if stage == "spread":
        if mean is None:
            raise ValueError("the spread stage needs the mean stage's estimate")
        return np.asarray(np.sqrt(w @ np.square(x - np.asarray(mean, np.float64))))
    raise ValueError(f"unknown standardisation stage {stage!r}")


def encode(statistic: np.ndarray, clip: float, clip_norm: float) -> tuple[list[np.ndarray], float]:
    """The update a device sends for a stage: ``statistic`` clipped to L2 ``clip`` and rescaled so
    its norm is at most the run's ``clip_norm`` (what SecAgg+ and the DP wrapper are set for).
    Returns it (one float32 array) and the statistic's norm before clipping."""
    v = np.asarray(statistic, np.float64)
    norm = float(np.linalg.norm(v))
    scale = min(1.0, clip / norm) if norm > 0 else 1.0
    return [(v * scale * (clip_norm / clip)).astype(np.float32)], norm


def decode(noisy_mean: Sequence[np.ndarray], clip: float, clip_norm: float) -> np.ndarray:
    """The server's side of :func:`encode`: the noisy mean back in feature units."""
    return np.asarray(noisy_mean[0], np.float64) * (clip / clip_norm)


def estimate(
    means: Sequence[np.ndarray], spreads: Sequence[np.ndarray], *, noise_std: float
) -> Standardization:
    """The standardisation from the stages' noisy means (one per round, averaged). A scale is
    never below twice the noise's std on it (nor 1e-3 of the largest): a feature the noise cannot
    resolve is scaled down less, never blown up."""
    mean = np.mean(np.asarray(means, np.float64), axis=0)
    spread = np.mean(np.asarray(spreads, np.float64), axis=0)
    floor = max(2.0 * noise_std / math.sqrt(max(1, len(spreads))), 1e-3 * float(np.max(np.abs(spread))), 1e-6)
    return Standardization(mean, np.maximum(spread, floor))
