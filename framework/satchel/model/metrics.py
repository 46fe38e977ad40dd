"""Evaluation metrics shared by task plugins, benchmarks and tests (NumPy only).

Binary metrics take labels ``y`` in {0, 1} (or soft labels in [0, 1]) and predicted probabilities
``p``; optional ``weights`` weight each sample. ``rmse_bins`` follows the open-spaced-repetition
benchmark (srs-benchmark): predictions and outcomes are averaged within bins of elapsed days,
review number and lapse count, and the RMSE is taken over bins weighted by their size.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "accuracy",
    "auc",
    "brier",
    "log_loss",
    "pearson",
    "quadratic_weighted_kappa",
    "rmse_bins",
    "srs_bin_keys",
]


def _vec(a: np.ndarray | list[float], name: str) -> np.ndarray:
    arr = np.asarray(a, np.float64).reshape(-1)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _weights(w: np.ndarray | None, n: int) -> np.ndarray:
    if w is None:
        return np.ones(n)
    arr = _vec(w, "weights")
    if arr.shape[0] != n:
        raise ValueError(f"weights has {arr.shape[0]} entries but there are {n} samples")
    return arr


def _pair(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    yv, pv = _vec(y, "y"), _vec(p, "p")
    if yv.shape != pv.shape:
        raise ValueError(f"y has {yv.shape[0]} entries but p has {pv.shape[0]}")
    return yv, pv


def log_loss(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy; ``p`` is clipped to ``[eps, 1 - eps]``."""
    yv, pv = _pair(y, p)
    w = _weights(weights, yv.size)
    pc = np.clip(pv, eps, 1.0 - eps)
    ll = -(yv * np.log(pc) + (1.0 - yv) * np.log(1.0 - pc))
    return float(np.sum(w * ll) / np.sum(w))


def brier(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean squared difference between probability and outcome."""
    yv, pv = _pair(y, p)
    w = _weights(weights, yv.size)
    return float(np.sum(w * np.square(pv - yv)) / np.sum(w))


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count one half); NaN when one class is absent."""
    yv, pv = _pair(y, p)
    pos = yv >= 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(pv, kind="mergesort")
    sorted_p = pv[order]
    ranks = np.empty(pv.size)
    # average ranks over ties
    boundaries = np.flatnonzero(np.diff(sorted_p)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [pv.size]))
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def accuracy(y: np.ndarray, pred: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Fraction of exact agreements between (integer or 0/1) labels and predicted labels."""
    yv, pv = _pair(y, pred)
    w = _weights(weights, yv.size)
    return float(np.sum(w * (np.rint(yv) == np.rint(pv))) / np.sum(w))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant."""
    av, bv = _pair(a, b)
    ac, bc = av - av.mean(), bv - bv.mean()
    denom = np.sqrt(np.sum(ac * ac) * np.sum(bc * bc))
    return float(np.sum(ac * bc) / denom) if denom > 0 else float("nan")


def quadratic_weighted_kappa(
    a: np.ndarray, b: np.ndarray, min_rating: int | None = None, max_rating: int | None = None
) -> float:
    """Cohen's kappa with quadratic weights between two integer ratings on one scale.

    The scale defaults to the range of the ratings seen; 1.0 is perfect agreement, 0.0 chance.
    When both raters give one constant rating the agreement is perfect (1.0) if they agree.
    """
    av, bv = _pair(a, b)
    ai, bi = np.rint(av).astype(np.int64), np.rint(bv).astype(np.int64)
    lo = int(min(ai.min(), bi.min())) if min_rating is None else min_rating
    hi = int(max(ai.max(), bi.max())) if max_rating is None else max_rating
    if ai.min() < lo or bi.min() < lo or ai.max() > hi or bi.max() > hi:
        raise ValueError(f"ratings fall outside the scale [{lo}, {hi}]")
    k = hi - lo + 1
    observed = np.zeros((k, k))
    np.add.at(observed, (ai - lo, bi - lo), 1.0)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / ai.size
    idx = np.arange(k)
    w = np.square(idx[:, None] - idx[None, :]) / max((k - 1) ** 2, 1)
    denom = np.sum(w * expected)
    if denom == 0:
        return 1.0 if np.array_equal(ai, bi) else 0.0
    return float(1.0 - np.sum(w * observed) / denom)


def srs_bin_keys(elapsed_days: np.ndarray, review_index: np.ndarray, lapses: np.ndarray) -> np.ndarray:
    """srs-benchmark bins: log-spaced buckets of elapsed days, review number (1-based) and lapses."""
    t = np.maximum(_vec(elapsed_days, "elapsed_days"), 1e-6)
    i = np.maximum(_vec(review_index, "review_index"), 1.0)
    lap = _vec(lapses, "lapses")
    t_bin = np.round(2.48 * np.power(3.62, np.floor(np.log(t) / np.log(3.62))), 2)
    i_bin = np.round(1.99 * np.power(1.89, np.floor(np.log(i) / np.log(1.89))), 0)
    with np.errstate(divide="ignore"):
        lap_bin = np.where(
            lap > 0,
            np.round(1.65 * np.power(1.73, np.floor(np.log(np.maximum(lap, 1.0)) / np.log(1.73))), 0),
            0.0,
        )
    return np.stack([t_bin, i_bin, lap_bin], axis=1)


def rmse_bins(
    y: np.ndarray, p: np.ndarray, keys: np.ndarray | None = None, weights: np.ndarray | None = None
) -> float:
    """RMSE between mean outcome and mean prediction per bin, weighted by each bin's total weight.

    ``keys`` (n,) or (n, k) names each sample's bin, e.g. :func:`srs_bin_keys`; without keys the
    samples are binned by predicted probability into 20 equal-width bins (a calibration RMSE).
    """
    yv, pv = _pair(y, p)
    w = _weights(weights, yv.size)
    if keys is None:
        k = np.minimum((np.clip(pv, 0.0, 1.0) * 20).astype(np.int64), 19)[:, None]
    else:
        k = np.asarray(keys).reshape(yv.size, -1)
    _, group = np.unique(k, axis=0, return_inverse=True)
    group = group.reshape(-1)
    wsum = np.bincount(group, weights=w)
    y_mean = np.bincount(group, weights=w * yv) / wsum
    p_mean = np.bincount(group, weights=w * pv) / wsum
    return float(np.sqrt(np.sum(wsum * np.square(y_mean - p_mean)) / np.sum(wsum)))
