"""Review log → one sample per review of an item seen before: its history as features,
``[recalled, days since the previous review]`` as labels (the half-life loss needs both).

Features describe only what happened before the review, so the elapsed time enters the model
through the loss (p = 2^(-Δ/h)), never through the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from satchel.dataset import Dataset, FeatureSchema
from satchel.events import Event
from satchel.task import Rows
from satchel_plugins.language.events import WORD_REVIEWED

FEATURES: tuple[str, ...] = (
    "reviews",          # log-scaled number of earlier reviews
    "recalls",          # log-scaled number of earlier successful recalls
    "lapses",           # log-scaled number of earlier failures
    "last_recalled",    # 1 when the previous review succeeded
    "last_rating",      # previous rating scaled to [0, 1] (Again … Easy)
    "last_interval",    # log-scaled days between the two previous reviews
    "last_response",    # log-scaled seconds to answer at the previous review
    "first_rating",     # rating at the first review, scaled to [0, 1]
    "age",              # log-scaled days from the first to the previous review
    "recall_rate",      # smoothed share of earlier reviews recalled
)
SCHEMA = FeatureSchema(FEATURES, version="review_history/1")
_DAY = 86400.0
_SCALE = {"reviews": np.log(21.0), "recalls": np.log(21.0), "lapses": np.log(11.0),
          "interval": np.log(366.0), "response": np.log(61.0)}
_DEFAULT_RESPONSE_S = 8.0


class ReviewFeaturizerOptions(BaseModel):
    """Options of the ``review_history`` featurizer (none yet; unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ReviewSamples:
    """Training samples in time order, with what evaluation needs about each review."""

    data: Dataset
    items: tuple[str, ...]
    times: np.ndarray         # review instants, epoch seconds
    review_index: np.ndarray  # 1-based number of this review of its item
    lapses: np.ndarray        # earlier failures of the item
    event_ids: tuple[str, ...]

    @property
    def recalled(self) -> np.ndarray:
        return self.data.y[:, 0]

    @property
    def elapsed_days(self) -> np.ndarray:
        return self.data.y[:, 1]


@dataclass(frozen=True)
class _Log:
    item: np.ndarray      # int index into names
    names: tuple[str, ...]
    t: np.ndarray         # epoch seconds
    recalled: np.ndarray  # 0/1
    rating: np.ndarray    # 1..4
    response_s: np.ndarray
    ids: tuple[str, ...]


class ReviewFeaturizer:
    """Featurizer ``review_history``: half-life-regression features from a learner's reviews."""

    schema: FeatureSchema = SCHEMA

    def __init__(self, options: ReviewFeaturizerOptions | None = None) -> None:
        self.options = options or ReviewFeaturizerOptions()

    def samples(self, events: Sequence[Event], *, now: datetime) -> ReviewSamples:
        log = _parse(events, now)
        x, n_prev, lapses, delta = _history(log)
        keep = np.flatnonzero(n_prev >= 1)
        keep = keep[np.argsort(log.t[keep], kind="stable")]
        y = np.stack([log.recalled[keep], delta[keep] / _DAY], axis=1)
        return ReviewSamples(
            Dataset.of(x[keep], y, schema=SCHEMA), tuple(log.names[i] for i in log.item[keep]),
            log.t[keep], n_prev[keep] + 1, lapses[keep], tuple(log.ids[i] for i in keep),
        )

    def training_data(self, events: Sequence[Event], *, now: datetime) -> Dataset:
        return self.samples(events, now=now).data

    def rows(self, events: Sequence[Event], *, now: datetime) -> Rows:
        """One row per item: its whole history, as if it were reviewed again at ``now``."""
        log = _parse(events, now)
        n_items = len(log.names)
        t_now = now.timestamp()
        probe = _Log(
            np.concatenate([log.item, np.arange(n_items)]), log.names,
            np.concatenate([log.t, np.full(n_items, t_now)]), np.concatenate([log.recalled, np.zeros(n_items)]),
            np.concatenate([log.rating, np.ones(n_items)]), np.concatenate([log.response_s, np.zeros(n_items)]),
            log.ids + ("",) * n_items,
        )
        x, n_prev, lapses, delta = _history(probe)
        at = np.arange(len(log.t), len(probe.t))
        context = tuple(
            {"item": log.names[i], "last_review": datetime.fromtimestamp(t_now - delta[j], timezone.utc).isoformat(),
             "elapsed_days": float(delta[j] / _DAY), "reviews": int(n_prev[j]), "lapses": int(lapses[j])}
            for i, j in enumerate(at)
        )
        return Rows(log.names, x[at].astype(np.float32), context)


def _parse(events: Sequence[Event], now: datetime) -> _Log:
    t_now = now.timestamp()
    reviews = [e for e in events if e.type == WORD_REVIEWED and e.time.timestamp() <= t_now]
    n = len(reviews)
    names = sorted({str(e.data["item"]) for e in reviews})
    index = {name: i for i, name in enumerate(names)}
    item = np.fromiter((index[str(e.data["item"])] for e in reviews), np.int64, n)
    t = np.fromiter((e.time.timestamp() for e in reviews), np.float64, n)
    rating_raw = np.fromiter((np.nan if e.data.get("rating") is None else float(e.data["rating"]) for e in reviews),
                             np.float64, n)
    recalled_raw = np.fromiter((np.nan if e.data.get("recalled") is None else float(bool(e.data["recalled"]))
                                for e in reviews), np.float64, n)
    recalled = np.where(np.isnan(recalled_raw), (rating_raw > 1).astype(np.float64), recalled_raw)
    rating = np.where(np.isnan(rating_raw), np.where(recalled > 0, 3.0, 1.0), rating_raw)
    response = np.fromiter((np.nan if e.data.get("response_ms") is None else float(e.data["response_ms"]) / 1000.0
                            for e in reviews), np.float64, n)
    response = np.where(np.isnan(response), _DEFAULT_RESPONSE_S, response)
    return _Log(item, tuple(names), t, recalled, rating, response, tuple(e.id for e in reviews))


def _history(log: _Log) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features of each review from its item's earlier reviews, with counts and elapsed seconds."""
    order = np.lexsort((log.t, log.item))
    item, t = log.item[order], log.t[order]
    ok, rating, response = log.recalled[order], log.rating[order], log.response_s[order]
    n = item.size
    pos = np.arange(n)
    first = np.ones(n, bool)
    first[1:] = item[1:] != item[:-1]
    start = np.maximum.accumulate(np.where(first, pos, 0))
    n_prev = pos - start
    cum_ok = np.cumsum(ok) - ok
    ok_prev = cum_ok - cum_ok[start]
    fail_prev = n_prev - ok_prev

    def prev(a: np.ndarray, lag: int = 1, fill: float = 0.0) -> np.ndarray:
        out = np.full(n, fill)
        out[lag:] = a[:-lag]
        return np.where(n_prev >= lag, out, fill)

    delta = np.maximum(t - prev(t), 0.0)
    last_interval = np.where(n_prev >= 2, np.maximum(prev(t) - prev(t, 2), 0.0), 0.0) / _DAY
    age = np.where(n_prev >= 1, prev(t) - t[start], 0.0) / _DAY
    columns = (
        np.log1p(n_prev) / _SCALE["reviews"],
        np.log1p(ok_prev) / _SCALE["recalls"],
        np.log1p(fail_prev) / _SCALE["lapses"],
        prev(ok),
        (prev(rating, fill=1.0) - 1.0) / 3.0,
        np.log1p(last_interval) / _SCALE["interval"],
        np.log1p(prev(response, fill=_DEFAULT_RESPONSE_S)) / _SCALE["response"],
        (rating[start] - 1.0) / 3.0,
        np.log1p(age) / _SCALE["interval"],
        (ok_prev + 1.0) / (n_prev + 2.0),
    )
    x_sorted = np.minimum(np.stack(columns, axis=1), 2.0)
    inverse = np.empty(n, np.int64)
    inverse[order] = pos
    return x_sorted[inverse], n_prev[inverse], fail_prev[inverse], delta[inverse]


def review_counts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1-based review number, earlier lapses) recovered from feature rows (for srs-style bins)."""
    x = np.asarray(x, np.float64)
    reviews = np.rint(np.expm1(x[:, FEATURES.index("reviews")] * _SCALE["reviews"]))
    lapses = np.rint(np.expm1(x[:, FEATURES.index("lapses")] * _SCALE["lapses"]))
    return reviews + 1, lapses
