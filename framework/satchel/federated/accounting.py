"""Privacy accounting for DP-FedAvg with Google's ``dp-accounting`` (RDP, sampled Gaussian).

One round is a Gaussian mechanism on the average of clipped updates (noise multiplier ``sigma``:
noise std = sigma * clip / clients) applied to a sample of learners at rate ``q``; a run's
standardisation rounds (:mod:`satchel.federated.standardize`) are rounds of the same mechanism
and are counted with the training rounds. The accountant
composes rounds with Poisson subsampling at ``q = clients_per_round / population``, the usual
approximation of Flower's fixed-size uniform sampling (McMahan et al., 2018). ``q = 1`` is
plain composition: no amplification is claimed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from satchel.app.config import FederatedSection

#: the RDP orders searched; dp-accounting's default plus a few low ones for large epsilon
ORDERS: tuple[float, ...] = tuple(
    [1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0, 3.5, 4.0, 4.5]
    + [float(a) for a in range(5, 64)]
    + [128.0, 256.0, 512.0]
)


@dataclass(frozen=True)
class Steps:
    """``count`` rounds of the sampled Gaussian mechanism (rate ``q``, noise multiplier ``sigma``)."""

    sigma: float
    q: float
    count: int


def epsilon(steps: Iterable[Steps], delta: float) -> float:
    """The (epsilon, ``delta``)-DP epsilon of composing ``steps``; inf when any has no noise.

    Memoized: the RDP of a subsampled Gaussian at fractional orders costs ~60 ms, and every
    device asks the same few questions every round (it was 90% of a client's time)."""
    return _epsilon(tuple(s for s in steps if s.count > 0 and s.q > 0), float(delta))


@lru_cache(maxsize=4096)
def _epsilon(steps: tuple[Steps, ...], delta: float) -> float:
    import dp_accounting
    from dp_accounting import rdp

    if not steps:
        return 0.0
    if any(s.sigma <= 0 for s in steps):
        return math.inf
    absl = logging.getLogger("absl")
    level, absl.level = absl.level, logging.ERROR  # "failed to converge" notes for orders it then skips
    try:
        accountant = rdp.RdpAccountant(list(ORDERS))
        for s in steps:
            event = dp_accounting.GaussianDpEvent(s.sigma)
            if s.q < 1:
                event = dp_accounting.PoissonSampledDpEvent(s.q, event)
            accountant.compose(dp_accounting.SelfComposedDpEvent(event, s.count))
        return float(accountant.get_epsilon(delta))
    finally:
        absl.setLevel(level)


@lru_cache(maxsize=256)
def noise_for_epsilon(target: float, q: float, rounds: int, delta: float, *, tol: float = 1e-3) -> float:
    """The smallest noise multiplier whose ``rounds`` rounds at rate ``q`` stay within ``target``."""
    if math.isinf(target):
        return 0.0
    lo, hi = 0.0, 1.0
    while epsilon([Steps(hi, q, rounds)], delta) > target:
        lo, hi = hi, hi * 2
        if hi > 1e4:
            raise ValueError(f"no noise multiplier reaches epsilon {target} in {rounds} rounds at q={q}")
    while hi - lo > tol * hi:
        mid = (lo + hi) / 2
        if epsilon([Steps(mid, q, rounds)], delta) > target:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class Plan:
    """A shared model's DP parameters, resolved from its config section."""

    rounds: int
    clients_per_round: int
    q: float
    clip_norm: float
    noise_multiplier: float
    delta: float
    epsilon_cap: float
    trust_sampling: bool
    #: rounds per standardisation stage (mean, spread) before training; 0: none
    standardize_rounds: int = 0
    #: the stages' L2 clip in feature units (None: ``standardize.default_clip`` of the input width)
    stats_clip: float | None = None

    @property
    def total_rounds(self) -> int:
        """Every DP round of a run: the training rounds and the standardisation stages' rounds."""
        return self.rounds + 2 * self.standardize_rounds

    @property
    def epsilon(self) -> float:
        """Epsilon of the whole run for any one learner (the shared model's guarantee)."""
        return epsilon([Steps(self.noise_multiplier, self.q, self.total_rounds)], self.delta)

    def charge(self) -> Steps:
        """What one learner is charged when it first contributes to a run: the run's every round
        (standardisation stages included) at the sampling rate, or (``trust_sampling = false``) one
        full Gaussian step per contribution, a statistics contribution like any other."""
        if self.trust_sampling:
            return Steps(self.noise_multiplier, self.q, self.total_rounds)
        return Steps(self.noise_multiplier, 1.0, 1)


def plan(section: FederatedSection, *, population: int | None = None) -> Plan:
    """Resolve a ``FederatedSection`` (``population`` overrides its own) into a :class:`Plan`."""
    pop = population or getattr(section, "population", None)
    per_round = int(section.clients_per_round)
    q = min(1.0, per_round / pop) if pop else 1.0
    rounds = int(section.rounds)
    std_rounds = int(section.standardize_rounds) if getattr(section, "standardize", False) else 0
    delta = float(section.delta)
    sigma = section.noise_multiplier
    if sigma is None:
        target = section.target_epsilon
        total = rounds + 2 * std_rounds
        sigma = noise_for_epsilon(float(target), q, total, delta) if target is not None else 1.0
    clip = getattr(section, "standardize_clip", None)
    return Plan(
        rounds,
        per_round,
        q,
        float(section.clip_norm),
        float(sigma),
        delta,
        float(section.epsilon_cap),
        bool(section.trust_sampling),
        std_rounds,
        float(clip) if clip is not None else None,
    )
