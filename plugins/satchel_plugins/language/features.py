"""Review log → one sample per review of an item seen before: its history as features,
``[recalled, elapsed days, ln S]`` as labels, where ``S`` is the item's FSRS-6 stability (default
parameters) just before the review.

The features describe only what happened before the review: the FSRS-6 memory state computed by
the recurrences from every earlier review (same-day learning steps included), the last rating,
answer time, kind (learn / review / relearn) and session, counts and ages. The elapsed time enters
the model through its forgetting curve (see :mod:`satchel_plugins.language.task`), never through
the network, so predicted recall always falls with time.

Samples are the reviews at least ``min_elapsed_days`` after the previous review of the same item
(a day by default: same-day learning steps shape the memory state but are neither trained on nor
scored, as in srs-benchmark); ``Dataset.times`` holds each review's instant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from satchel.events import Event
from satchel.model.dataset import Dataset, FeatureSchema
from satchel.model.export_contract import FeatureDoc, SampleEvents
from satchel.model.task import Rows
from satchel_plugins.language.events import WORD_REVIEWED
from satchel_plugins.language.fsrs6 import FSRS6, memory_states

FEATURES: tuple[str, ...] = (
    "log_stability",  # ln S (FSRS-6 default stability in days before the review) / 10
    "difficulty",  # (D - 1) / 9, FSRS-6 difficulty before the review
    "last_retrievability",  # FSRS-6 recall probability at the previous review (1 for a first review)
    "reviews",  # log-scaled number of earlier reviews
    "lapses",  # log-scaled number of earlier failures
    "last_again",  # previous rating, one-hot (Again, Hard, Good, Easy)
    "last_hard",
    "last_good",
    "last_easy",
    "last_interval",  # log-scaled days between the two previous reviews
    "last_response",  # log-scaled seconds to answer at the previous review
    "last_learning",  # 1 when the previous review was a learning or relearning step
    "session_reviews",  # log-scaled reviews in the previous review's same-day session
    "first_rating",  # rating at the first review, scaled to [0, 1]
    "age",  # log-scaled days from the first to the previous review
    "recall_rate",  # smoothed share of earlier reviews recalled
)
SCHEMA = FeatureSchema(FEATURES, version="review_history/2")
LABELS: tuple[str, ...] = ("recalled", "elapsed_days", "log_stability")
_DAY = 86400.0
LOG_STABILITY_SCALE = 10.0
_SCALE = {
    "reviews": np.log(21.0),
    "lapses": np.log(11.0),
    "interval": np.log(366.0),
    "response": np.log(61.0),
    "session": np.log(11.0),
}
_DEFAULT_RESPONSE_S = 8.0
_KINDS = {"learn": 0.0, "review": 1.0, "relearn": 2.0}
FSRS_DEFAULT = FSRS6()
_PREV = (
    "Over the item's reviews before this one (same-day learning steps included), in time order; "
    "'previous' = the item's latest earlier review. "
)
FEATURE_DOCS: tuple[FeatureDoc, ...] = (
    FeatureDoc(
        "log_stability",
        _PREV + "S = FSRS-6 stability (days) after the previous review, by the FSRS-6 "
        "recurrences with default parameters (1 before any review).",
        "ln(S) / 10",
        {"scale": 10.0},
    ),
    FeatureDoc("difficulty", "FSRS-6 difficulty D after the previous review (5 before any).", "(D - 1) / 9"),
    FeatureDoc(
        "last_retrievability",
        "FSRS-6 recall probability at the previous review, from the stability "
        "before it and the days since the review before it (1 for a first review).",
        "none",
    ),
    FeatureDoc("reviews", "Earlier reviews n.", "log1p(n) / ln(21)", {"divisor": float(np.log(21.0))}),
    FeatureDoc(
        "lapses", "Earlier reviews not recalled.", "log1p(n) / ln(11)", {"divisor": float(np.log(11.0))}
    ),
    FeatureDoc("last_again", "Previous rating == 1 (Again); 0 without a previous review.", "one-hot"),
    FeatureDoc("last_hard", "Previous rating == 2.", "one-hot"),
    FeatureDoc("last_good", "Previous rating == 3.", "one-hot"),
    FeatureDoc("last_easy", "Previous rating == 4.", "one-hot"),
    FeatureDoc(
        "last_interval",
        "Days between the two previous reviews (0 with fewer than two).",
        "min(log1p(days) / ln(366), 2)",
        {"divisor": float(np.log(366.0)), "cap": 2.0},
    ),
    FeatureDoc(
        "last_response",
        "Seconds to answer at the previous review (8 when unknown or none).",
        "min(log1p(s) / ln(61), 2)",
        {"divisor": float(np.log(61.0)), "cap": 2.0, "default_s": 8.0},
    ),
    FeatureDoc(
        "last_learning",
        "1 when the previous review was a learn/relearn step (given kind, else: before "
        "the item's first gap >= 1 day, or < 1 day after its predecessor).",
        "none",
    ),
    FeatureDoc(
        "session_reviews",
        "Position of the previous review in its same-day session (reviews < 1 day apart), counted from 1.",
        "min(log1p(n) / ln(11), 2)",
        {"divisor": float(np.log(11.0)), "cap": 2.0},
    ),
    FeatureDoc("first_rating", "Rating of the item's first review (1-4).", "(rating - 1) / 3"),
    FeatureDoc(
        "age",
        "Days from the item's first review to the previous review.",
        "min(log1p(days) / ln(366), 2)",
        {"divisor": float(np.log(366.0)), "cap": 2.0},
    ),
    FeatureDoc(
        "recall_rate",
        "Earlier reviews recalled (rating > 1 unless 'recalled' is given).",
        "(recalled + 1) / (n + 2)",
    ),
)


class ReviewFeaturizerOptions(BaseModel):
    """Options of the ``review_history`` featurizer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_elapsed_days: float = Field(
        1.0,
        ge=0.0,
        description="reviews sooner after the item's previous review "
        "(same-day learning steps) are history, not samples",
    )


@dataclass(frozen=True)
class ReviewSamples:
    """Training samples in time order, with what evaluation needs about each review."""

    data: Dataset
    items: tuple[str, ...]
    review_index: np.ndarray  # 1-based number of this review of its item
    lapses: np.ndarray  # earlier failures of the item
    event_ids: tuple[str, ...]

    @property
    def times(self) -> np.ndarray:
        """Review instants, epoch seconds."""
        assert self.data.times is not None
        return self.data.times

    @property
    def recalled(self) -> np.ndarray:
        return self.data.y[:, 0]

    @property
    def elapsed_days(self) -> np.ndarray:
        return self.data.y[:, 1]


@dataclass(frozen=True)
class _Log:
    item: np.ndarray  # int index into names
    names: tuple[str, ...]
    t: np.ndarray  # epoch seconds
    recalled: np.ndarray  # 0/1
    rating: np.ndarray  # 1..4
    response_s: np.ndarray
    kind: np.ndarray  # 0 learn, 1 review, 2 relearn, NaN unknown
    ids: tuple[str, ...]


@dataclass(frozen=True)
class _History:
    x: np.ndarray
    n_prev: np.ndarray
    lapses: np.ndarray
    delta_s: np.ndarray
    log_stability: np.ndarray


class ReviewFeaturizer:
    """Featurizer ``review_history``: FSRS-6 memory state and review history of each reviewed item."""

    schema: FeatureSchema = SCHEMA

    def __init__(self, options: ReviewFeaturizerOptions | None = None) -> None:
        self.options = options or ReviewFeaturizerOptions()

    def samples(self, events: Sequence[Event], *, now: datetime) -> ReviewSamples:
        log = _parse(events, now)
        h = _history(log)
        keep = np.flatnonzero((h.n_prev >= 1) & (h.delta_s >= self.options.min_elapsed_days * _DAY))
        keep = keep[np.argsort(log.t[keep], kind="stable")]
        y = np.stack([log.recalled[keep], h.delta_s[keep] / _DAY, h.log_stability[keep]], axis=1)
        return ReviewSamples(
            Dataset.of(h.x[keep], y, schema=SCHEMA, times=log.t[keep]),
            tuple(log.names[i] for i in log.item[keep]),
            h.n_prev[keep] + 1,
            h.lapses[keep],
            tuple(log.ids[i] for i in keep),
        )

    def training_data(self, events: Sequence[Event], *, now: datetime) -> Dataset:
        return self.samples(events, now=now).data

    def rows(self, events: Sequence[Event], *, now: datetime) -> Rows:
        """One row per item: its whole history, as if it were reviewed again at ``now``.

        Each row's context carries what scheduling needs: the last review, the elapsed days, the
        item's ratings and review instants (for learning steps), its counts.
        """
        log = _parse(events, now)
        n_items = len(log.names)
        t_now = now.timestamp()
        probe = _Log(
            np.concatenate([log.item, np.arange(n_items)]),
            log.names,
            np.concatenate([log.t, np.full(n_items, t_now)]),
            np.concatenate([log.recalled, np.zeros(n_items)]),
            np.concatenate([log.rating, np.ones(n_items)]),
            np.concatenate([log.response_s, np.zeros(n_items)]),
            np.concatenate([log.kind, np.full(n_items, np.nan)]),
            log.ids + ("",) * n_items,
        )
        h = _history(probe)
        at = np.arange(len(log.t), len(probe.t))
        order = np.lexsort((log.t, log.item))
        ends = np.searchsorted(log.item[order], np.arange(n_items + 1))
        context = tuple(
            {
                "item": log.names[i],
                "last_review": datetime.fromtimestamp(t_now - h.delta_s[j], timezone.utc).isoformat(),
                "elapsed_days": float(h.delta_s[j] / _DAY),
                "reviews": int(h.n_prev[j]),
                "lapses": int(h.lapses[j]),
                "ratings": tuple(int(r) for r in log.rating[order[ends[i] : ends[i + 1]]]),
                "times": tuple(float(t) for t in log.t[order[ends[i] : ends[i + 1]]]),
            }
            for i, j in enumerate(at)
        )
        return Rows(log.names, h.x[at].astype(np.float32), context)

    def describe(self) -> tuple[FeatureDoc, ...]:
        """Each feature's definition and scaling (the export contract; see docs/mobile.md)."""
        return FEATURE_DOCS

    def sample_events(self) -> SampleEvents:
        """Synthetic reviews (one simulated learner, 12 words, 40 days) for the export's golden vectors."""
        from satchel_plugins.language.simulate import simulate_vocabulary_learners

        learner = simulate_vocabulary_learners(1, days=40, words=12, seed=19)[0]
        return SampleEvents(learner.events, learner.end)


def _parse(events: Sequence[Event], now: datetime) -> _Log:
    t_now = now.timestamp()
    reviews = [e for e in events if e.type == WORD_REVIEWED and e.time.timestamp() <= t_now]
    n = len(reviews)
    names = sorted({str(e.data["item"]) for e in reviews})
    index = {name: i for i, name in enumerate(names)}
    item = np.fromiter((index[str(e.data["item"])] for e in reviews), np.int64, n)
    t = np.fromiter((e.time.timestamp() for e in reviews), np.float64, n)

    def column(read: Callable[[Event], Any]) -> np.ndarray:
        return np.fromiter((np.nan if v is None else float(v) for v in map(read, reviews)), np.float64, n)

    rating_raw = column(lambda e: e.data.get("rating"))
    recalled_raw = column(lambda e: None if e.data.get("recalled") is None else bool(e.data["recalled"]))
    recalled = np.where(np.isnan(recalled_raw), (rating_raw > 1).astype(np.float64), recalled_raw)
    rating = np.where(np.isnan(rating_raw), np.where(recalled > 0, 3.0, 1.0), rating_raw)
    response = column(lambda e: e.data.get("response_ms")) / 1000.0
    response = np.where(np.isnan(response), _DEFAULT_RESPONSE_S, response)
    kind = column(lambda e: _KINDS.get(str(e.data.get("kind"))))
    return _Log(item, tuple(names), t, recalled, rating, response, kind, tuple(e.id for e in reviews))


def _history(log: _Log) -> _History:
    """Features of each review from its item's earlier reviews, with counts, elapsed seconds and ln S."""
    order = np.lexsort((np.arange(log.t.size), log.t, log.item))
    item, t = log.item[order], log.t[order]
    ok, rating, response, kind = (
        log.recalled[order],
        log.rating[order],
        log.response_s[order],
        log.kind[order],
    )
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

    states = memory_states(item, t, rating.astype(np.int64), FSRS_DEFAULT)
    stability = np.where(n_prev >= 1, states.stability, 1.0)
    difficulty = np.where(n_prev >= 1, states.difficulty, 5.0)
    delta = np.maximum(t - prev(t), 0.0)
    # retrievability each review was taken at (1 at a first review)
    r_at = np.where(n_prev >= 1, FSRS_DEFAULT.retrievability(delta / _DAY, stability), 1.0)
    same_day = (n_prev >= 1) & (delta < _DAY)
    # a review's kind: as given, else learn until the item's first gap of a day, then review after a gap of a
    # day and relearn the same day
    long_gap = np.cumsum((n_prev >= 1) & (delta >= _DAY))
    graduated = long_gap - long_gap[start] > 0
    derived = np.where(~graduated, 0.0, np.where(same_day, 2.0, 1.0))
    kind = np.where(np.isnan(kind), derived, kind)
    learning = (kind != 1.0).astype(np.float64)
    # length of the same-day session each review belongs to, counted up to and including it
    session_start = np.maximum.accumulate(np.where(~same_day, pos, 0))
    session = pos - session_start + 1
    last_rating = prev(rating, fill=3.0)
    last_interval = np.where(n_prev >= 2, np.maximum(prev(t) - prev(t, 2), 0.0), 0.0) / _DAY
    age = np.where(n_prev >= 1, prev(t) - t[start], 0.0) / _DAY
    columns = (
        np.log(stability) / LOG_STABILITY_SCALE,
        (difficulty - 1.0) / 9.0,
        prev(r_at, fill=1.0),
        np.log1p(n_prev) / _SCALE["reviews"],
        np.log1p(fail_prev) / _SCALE["lapses"],
        *((last_rating == r).astype(np.float64) * (n_prev >= 1) for r in (1, 2, 3, 4)),
        np.minimum(np.log1p(last_interval) / _SCALE["interval"], 2.0),
        np.minimum(np.log1p(prev(response, fill=_DEFAULT_RESPONSE_S)) / _SCALE["response"], 2.0),
        prev(learning),
        np.minimum(np.log1p(prev(session.astype(np.float64))) / _SCALE["session"], 2.0),
        (rating[start] - 1.0) / 3.0,
        np.minimum(np.log1p(age) / _SCALE["interval"], 2.0),
        (ok_prev + 1.0) / (n_prev + 2.0),
    )
    x_sorted = np.stack(columns, axis=1)
    inverse = np.empty(n, np.int64)
    inverse[order] = pos
    return _History(
        x_sorted[inverse], n_prev[inverse], fail_prev[inverse], delta[inverse], np.log(stability)[inverse]
    )


def review_counts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(1-based review number, earlier lapses) recovered from feature rows (for srs-style bins)."""
    x = np.asarray(x, np.float64)
    reviews = np.rint(np.expm1(x[:, FEATURES.index("reviews")] * _SCALE["reviews"]))
    lapses = np.rint(np.expm1(x[:, FEATURES.index("lapses")] * _SCALE["lapses"]))
    return reviews + 1, lapses


def log_stability(x: np.ndarray) -> np.ndarray:
    """ln S, the FSRS-6 default stability in days, recovered from feature rows."""
    return np.asarray(x, np.float64)[:, FEATURES.index("log_stability")] * LOG_STABILITY_SCALE
