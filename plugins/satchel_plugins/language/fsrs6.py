"""FSRS-6 memory model in NumPy: the recurrences of difficulty and stability over a card's reviews,
its power-law forgetting curve and the interval at a target retention.

Follows py-fsrs 6 (``fsrs.Scheduler``) exactly, so the ``fsrs`` package is needed only to test it:
the first review sets ``S = w[rating-1]`` and ``D = w4 - e^(w5·(rating-1)) + 1``; a review less
than a whole day after the previous one (same-day learning steps) applies the short-term stability
``S·e^(w17·(rating-3+w18))·S^-w19``; a later one applies the recall or forget stability at the
retrievability of the whole elapsed days. Every review then updates ``D`` (linear damping and
mean reversion toward the initial difficulty of Easy). Recall after ``t`` days is
``R = (1 + factor·t/S)^-decay`` with ``decay = w20`` and ``factor = 0.9^(-1/decay) - 1``, so
``R(S) = 0.9``.

All functions are vectorised over cards: :func:`memory_states` walks the k-th reviews of every
card at once, so a learner's whole log costs as many NumPy steps as their most reviewed card.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: FSRS-6 default parameters w0 … w20 (py-fsrs 6 ``DEFAULT_PARAMETERS``)
DEFAULT_PARAMETERS: tuple[float, ...] = (
    0.212,
    1.2931,
    2.3065,
    8.2956,
    6.4133,
    0.8334,
    3.0194,
    0.001,
    1.8722,
    0.1666,
    0.796,
    1.4835,
    0.0614,
    0.2629,
    1.6483,
    0.6014,
    1.8729,
    0.5425,
    0.0912,
    0.0658,
    0.1542,
)
STABILITY_MIN = 0.001
MIN_DIFFICULTY, MAX_DIFFICULTY = 1.0, 10.0
_DAY = 86400.0


@dataclass(frozen=True)
class FSRS6:
    """FSRS-6 with parameters ``w`` (21 values; the defaults unless given)."""

    w: tuple[float, ...] = DEFAULT_PARAMETERS

    def __post_init__(self) -> None:
        if len(self.w) != 21:
            raise ValueError(f"FSRS-6 takes 21 parameters, got {len(self.w)}")

    @property
    def decay(self) -> float:
        return float(self.w[20])

    @property
    def factor(self) -> float:
        return float(0.9 ** (-1.0 / self.decay) - 1.0)

    def retrievability(self, elapsed_days: np.ndarray, stability: np.ndarray) -> np.ndarray:
        """Recall probability ``(1 + factor·t/S)^-decay`` after ``t`` days (negative ``t`` counts as 0)."""
        t = np.maximum(np.asarray(elapsed_days, np.float64), 0.0)
        return np.power(1.0 + self.factor * t / np.asarray(stability, np.float64), -self.decay)

    def interval(self, stability: np.ndarray, retention: float) -> np.ndarray:
        """Days until recall falls to ``retention`` (unrounded)."""
        return np.asarray(stability, np.float64) / self.factor * (retention ** (-1.0 / self.decay) - 1.0)

    def initial_stability(self, rating: np.ndarray) -> np.ndarray:
        return np.maximum(np.asarray(self.w[:4])[np.asarray(rating, np.int64) - 1], STABILITY_MIN)

    def initial_difficulty(self, rating: np.ndarray, *, clamp: bool = True) -> np.ndarray:
        d = self.w[4] - np.exp(self.w[5] * (np.asarray(rating, np.float64) - 1.0)) + 1.0
        return np.clip(d, MIN_DIFFICULTY, MAX_DIFFICULTY) if clamp else d

    def next_difficulty(self, difficulty: np.ndarray, rating: np.ndarray) -> np.ndarray:
        delta = -self.w[6] * (np.asarray(rating, np.float64) - 3.0)
        damped = difficulty + (10.0 - difficulty) * delta / 9.0
        easy = self.initial_difficulty(np.array(4), clamp=False)
        return np.clip(self.w[7] * easy + (1.0 - self.w[7]) * damped, MIN_DIFFICULTY, MAX_DIFFICULTY)

    def short_term_stability(self, stability: np.ndarray, rating: np.ndarray) -> np.ndarray:
        r = np.asarray(rating, np.float64)
        increase = np.exp(self.w[17] * (r - 3.0 + self.w[18])) * np.power(stability, -self.w[19])
        increase = np.where(r > 1, np.maximum(increase, 1.0), increase)
        return np.maximum(stability * increase, STABILITY_MIN)

    def next_stability(
        self, difficulty: np.ndarray, stability: np.ndarray, retrievability: np.ndarray, rating: np.ndarray
    ) -> np.ndarray:
        w, r = self.w, np.asarray(rating, np.float64)
        hard = np.where(r == 2, w[15], 1.0)
        easy = np.where(r == 4, w[16], 1.0)
        recall = stability * (
            1.0
            + np.exp(w[8])
            * (11.0 - difficulty)
            * np.power(stability, -w[9])
            * np.expm1((1.0 - retrievability) * w[10])
            * hard
            * easy
        )
        forget = np.minimum(
            w[11]
            * np.power(difficulty, -w[12])
            * (np.power(stability + 1.0, w[13]) - 1.0)
            * np.exp((1.0 - retrievability) * w[14]),
            stability / np.exp(w[17] * w[18]),
        )
        return np.maximum(np.where(r == 1, forget, recall), STABILITY_MIN)


@dataclass(frozen=True)
class MemoryStates:
    """Per review (in the order given): the card's state just before it, and just after it."""

    stability: np.ndarray  # S before the review (NaN at a card's first review)
    difficulty: np.ndarray  # D before the review (NaN at a card's first review)
    stability_after: np.ndarray
    difficulty_after: np.ndarray


def memory_states(
    card: np.ndarray, t: np.ndarray, rating: np.ndarray, model: FSRS6 = FSRS6()
) -> MemoryStates:
    """FSRS-6 states around each review; ``card`` integer ids, ``t`` epoch seconds, ``rating`` 1-4.

    Reviews of a card are taken in time order (ties keep the given order); the elapsed days of
    the recurrences are whole days, as py-fsrs counts them (``timedelta.days``).
    """
    card = np.asarray(card, np.int64)
    t = np.asarray(t, np.float64)
    rating = np.asarray(rating, np.int64)
    n = card.size
    order = np.lexsort((np.arange(n), t, card))
    c, ts, r = card[order], t[order], rating[order]
    first = np.ones(n, bool)
    first[1:] = c[1:] != c[:-1]
    pos = np.arange(n)
    k = pos - np.maximum.accumulate(np.where(first, pos, 0))
    s_before, d_before = np.full(n, np.nan), np.full(n, np.nan)
    s_after, d_after = np.empty(n), np.empty(n)
    for step in range(int(k.max()) + 1 if n else 0):
        at = np.flatnonzero(k == step)
        if step == 0:
            s_after[at] = model.initial_stability(r[at])
            d_after[at] = model.initial_difficulty(r[at])
            continue
        s, d = s_after[at - 1], d_after[at - 1]
        days = np.floor((ts[at] - ts[at - 1]) / _DAY)
        same_day = days < 1
        long_term = model.next_stability(d, s, model.retrievability(days, s), r[at])
        s_after[at] = np.where(same_day, model.short_term_stability(s, r[at]), long_term)
        d_after[at] = model.next_difficulty(d, r[at])
        s_before[at], d_before[at] = s, d
    out = [np.empty(n) for _ in range(4)]
    for dst, src in zip(out, (s_before, d_before, s_after, d_after)):
        dst[order] = src
    return MemoryStates(*out)


def learning_step_due(
    ratings: tuple[int, ...], learning_steps: tuple[float, ...], relearning_steps: tuple[float, ...]
) -> float | None:
    """Seconds after a card's last review at which its next (re)learning step is due, or None once
    it has graduated to review: py-fsrs's learning-step state machine over the card's ratings."""
    state, step, wait = "learning", 0, 0.0
    for r in ratings:
        if state == "review":
            if r == 1 and relearning_steps:
                state, step, wait = "relearning", 0, relearning_steps[0]
            continue
        steps = learning_steps if state == "learning" else relearning_steps
        if not steps or (step >= len(steps) and r > 1) or r == 4 or (r == 3 and step + 1 >= len(steps)):
            state = "review"
        elif r == 1:
            step, wait = 0, steps[0]
        elif r == 2:
            wait = (
                steps[step]
                if step > 0
                else (steps[0] * 1.5 if len(steps) == 1 else (steps[0] + steps[1]) / 2.0)
            )
        else:
            step += 1
            wait = steps[step]
    return None if state == "review" else wait
