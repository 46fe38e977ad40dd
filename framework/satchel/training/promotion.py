"""The promotion rule of safe online training: a candidate serves only if it beats what serves now.

A training run fits a *candidate* on every sample but a held-out slice of the newest ones — those
the model in service never trained on — and scores the candidate, the model in service and the
task's fallback (its prior) on that slice with the task's objective. The candidate's recipe is
promoted only if it beats both; the run then refits it on all samples. Otherwise the model in
service stays — unless the fallback beats it too, and then the fallback serves again (the model
is demoted): no pipeline keeps serving a personal model worse than not personalizing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from satchel.model.dataset import Dataset

#: share of the samples held out to validate a candidate (at most the ones the served model never saw)
HOLDOUT_FRACTION = 0.2
#: fewer held-out samples than this cannot tell a better candidate from a lucky one: keep what serves
MIN_HOLDOUT = 20
#: a model in service is demoted only when the fallback beats it on this share of bootstrap
#: resamples of the held-out samples: one noisy slice must not undo a model that is better on average
DEMOTE_CONFIDENCE = 0.95
BOOTSTRAP_ROUNDS = 200


@dataclass(frozen=True)
class Split:
    """Indices of the samples a candidate trains on and of the held-out newest ones."""

    train: np.ndarray
    holdout: np.ndarray


@dataclass(frozen=True)
class Verdict:
    """Whether the candidate serves (or the model in service is demoted to the fallback), why, and
    the held-out objective of each contender."""

    promote: bool
    reason: str
    objective: str
    scores: Mapping[str, float]
    holdout: int
    demote: bool = False


def holdout_split(data: Dataset, *, trained_until: float | None) -> Split:
    """The newest ``HOLDOUT_FRACTION`` of the samples (by label time), limited to those newer than
    ``trained_until`` (what the model in service was trained on). Without times, the last rows."""
    n = len(data)
    order = np.arange(n) if data.times is None else np.argsort(data.times, kind="stable")
    k = max(1, math.ceil(HOLDOUT_FRACTION * n)) if n > 1 else 0
    if trained_until is not None and data.times is not None:
        k = min(k, int(np.count_nonzero(data.times > trained_until)))
    return Split(np.sort(order[: n - k]), np.sort(order[n - k :]))


def decide(
    objective: str,
    candidate: float,
    fallback: float,
    in_service: float | None,
    holdout: int,
    fallback_clearly_better: Callable[[], bool] = lambda: True,
) -> Verdict:
    """Promote when the candidate's held-out ``objective`` (lower is better) beats the fallback and
    the model in service; a tie keeps what serves. When the candidate loses and the fallback beats
    the model in service — clearly, as ``fallback_clearly_better()`` judges (see :func:`win_share`)
    — demote: the fallback serves."""
    scores = {"candidate": candidate, "fallback": fallback}
    if in_service is not None:
        scores["in_service"] = in_service
    if holdout == 0:
        return Verdict(
            False, "kept previous: no new samples to validate a candidate on", objective, scores, 0
        )
    if holdout < MIN_HOLDOUT:
        return Verdict(
            False,
            f"kept previous: {holdout} held-out samples, {MIN_HOLDOUT} are needed to judge a candidate",
            objective,
            scores,
            holdout,
        )
    if not math.isfinite(candidate):
        return Verdict(
            False, f"kept previous: candidate {objective} is not finite", objective, scores, holdout
        )
    rivals = (
        {"fallback": fallback}
        if in_service is None
        else {"model in service": in_service, "fallback": fallback}
    )
    beaten_by = [(name, v) for name, v in rivals.items() if not candidate < v]
    if beaten_by and in_service is not None and fallback < in_service and fallback_clearly_better():
        return Verdict(
            False,
            f"demoted: fallback {objective} {fallback:.4f} vs model in service {in_service:.4f} "
            f"(candidate {candidate:.4f}) on {holdout} held-out samples",
            objective,
            scores,
            holdout,
            demote=True,
        )
    if beaten_by:
        name, v = beaten_by[0]
        return Verdict(
            False,
            f"kept previous: candidate {objective} {candidate:.4f} vs {name} {v:.4f} "
            f"on {holdout} held-out samples",
            objective,
            scores,
            holdout,
        )
    return Verdict(
        True,
        f"promoted: candidate {objective} {candidate:.4f} vs "
        + ", ".join(f"{name} {v:.4f}" for name, v in rivals.items())
        + f" on {holdout} held-out samples",
        objective,
        scores,
        holdout,
    )


def win_share(
    score: Callable[[np.ndarray, np.ndarray], float], a: np.ndarray, b: np.ndarray, n: int, *, seed: int
) -> float:
    """Share of bootstrap resamples of ``n`` held-out samples on which predictions ``a`` score lower
    than ``b``; ``score(predictions, indices)`` is the objective on those samples."""
    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(BOOTSTRAP_ROUNDS):
        index = rng.integers(0, n, n)
        wins += score(a, index) < score(b, index)
    return wins / BOOTSTRAP_ROUNDS


def training_seed(spec_hash: str, data: Dataset) -> int:
    """A seed fixed by the spec and the training data's content, so the same data and config train
    bit-identical weights — on this device, in a replay, or in a bisection elsewhere."""
    digest = hashlib.sha256(spec_hash.encode())
    for array in (data.x, data.y, data.weights, data.times):
        if array is not None:
            digest.update(array.tobytes())
    return int.from_bytes(digest.digest()[:4], "big") & 0x7FFFFFFF


def platt_scaling(
    p: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, strength: float = 2.0
) -> tuple[float, float]:
    """``(a, b)`` so that ``sigmoid(a * logit(p) + b)`` is calibrated on ``(p, y)``.

    Fitted by Newton's method on the log likelihood with a Gaussian pull of ``strength`` toward the
    identity ``(1, 0)``, so a small held-out slice can only nudge the probabilities.
    """
    q = np.clip(np.asarray(p, np.float64).reshape(-1), 1e-6, 1 - 1e-6)
    z = np.log(q / (1 - q))
    t = np.asarray(y, np.float64).reshape(-1)
    w = np.ones_like(z) if weights is None else np.asarray(weights, np.float64)
    theta = np.array([1.0, 0.0])
    for _ in range(50):
        s = 1.0 / (1.0 + np.exp(-(theta[0] * z + theta[1])))
        r = w * (s - t)
        grad = np.array([r @ z, r.sum()]) + strength * (theta - np.array([1.0, 0.0]))
        h = w * s * (1 - s)
        hess = np.array([[h @ (z * z), h @ z], [h @ z, h.sum()]]) + strength * np.eye(2)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-9:
            break
    return float(theta[0]), float(theta[1])
