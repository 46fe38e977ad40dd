"""Synthetic vocabulary learners with known forgetting, deterministic by seed.

Each learner has a memory scale (slow to fast forgetter), a growth factor for successful recalls
and a lapse penalty; each word has a difficulty. The true half-life of a word evolves with its
reviews, and each review is recalled with probability ``2^(-Δ/h)``. Reviews are scheduled the
way a simple app would (Leitner boxes with jittered intervals), so elapsed times vary widely.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from satchel.events import Event
from satchel_plugins.language.events import WORD_REVIEWED

_BOX_DAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


@dataclass(frozen=True)
class LearnerMemory:
    """The ground truth of one learner: memory scale, growth on recall, factor on lapse."""

    scale: float
    growth: float
    lapse_factor: float
    difficulty: dict[str, float]


@dataclass(frozen=True)
class SimulatedVocabularyLearner:
    """A learner's review events; ``p_true[event_id]`` is the true recall probability of each review."""

    subject: str
    memory: LearnerMemory
    events: tuple[Event, ...]
    p_true: dict[str, float]
    end: datetime


def simulate_vocabulary_learners(
    n_learners: int,
    *,
    days: int = 120,
    words: int = 80,
    seed: int = 0,
    start: datetime = datetime(2024, 1, 1, tzinfo=timezone.utc),
) -> tuple[SimulatedVocabularyLearner, ...]:
    """Learners whose memory scales span fast (0.5×) to slow (4×) forgetters."""
    scales = np.geomspace(0.5, 4.0, max(n_learners, 1))
    return tuple(
        _learner(i, float(scales[i]), days, words, np.random.default_rng([seed, i]), start)
        for i in range(n_learners)
    )


def _learner(
    index: int, scale: float, days: int, n_words: int, rng: np.random.Generator, start: datetime
) -> SimulatedVocabularyLearner:
    words = tuple(f"word_{k:03d}" for k in range(n_words))
    memory = LearnerMemory(
        scale,
        float(rng.uniform(1.8, 3.2)),
        float(rng.uniform(0.2, 0.5)),
        {w: float(rng.normal(0.0, 0.8)) for w in words},
    )
    introduced = np.sort(rng.uniform(0.0, days * 0.4, n_words))
    events: list[Event] = []
    p_true: dict[str, float] = {}
    end = start + timedelta(days=days)
    for word, t0 in zip(words, introduced):
        d = memory.difficulty[word]
        first_half_life = 2.0 * scale * float(np.exp(-d))
        half_life = first_half_life
        t, box, last = float(t0), 0, None
        while t < days:
            when = start + timedelta(days=t)
            if last is None:
                p = 0.7
            else:
                p = float(2.0 ** (-(t - last) / half_life))
            recalled = bool(rng.random() < p)
            rating = _rating(recalled, p, rng)
            response = float(1500.0 + 6000.0 * (1.0 - p) * rng.lognormal(0.0, 0.3))
            event = Event(
                type=WORD_REVIEWED,
                time=when,
                id=f"learner_{index}-{word}-{len(events):06d}",
                data={"item": word, "rating": rating, "response_ms": round(response)},
            )
            events.append(event)
            if last is not None:
                p_true[event.id] = p
                if recalled:
                    # harder-won recalls (low p) strengthen memory more: the spacing effect
                    half_life *= 1.0 + (memory.growth - 1.0) * (1.2 - p) * float(np.exp(-0.3 * d))
                else:
                    half_life = max(half_life * memory.lapse_factor, first_half_life)  # relearnt
            elif not recalled:
                half_life *= 0.5
            box = min(box + 1, len(_BOX_DAYS) - 1) if recalled else 0
            last = t
            t += _BOX_DAYS[box] * float(rng.lognormal(0.0, 0.5)) + float(rng.uniform(-0.1, 0.1))
    events.sort(key=lambda e: e.time)
    return SimulatedVocabularyLearner(f"learner_{index}", memory, tuple(events), p_true, end)


def _rating(recalled: bool, p: float, rng: np.random.Generator) -> int:
    if not recalled:
        return 1
    noisy = p + float(rng.normal(0.0, 0.1))
    return 2 if noisy < 0.6 else 3 if noisy < 0.92 else 4
