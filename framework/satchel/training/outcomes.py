"""What the training runner reports: each model's status, each training's outcome, and a pass's summary."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from satchel.model.backend import TrainingProgress

log = logging.getLogger("satchel.training.runner")  # the runner's logger: `satchel run -v` shows it

EXIT_OK = 0
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130

INTERRUPTED = "interrupted: training abandoned, the previous version stays in force"
NOT_STARTED = "interrupted before it started"
PASS_BUDGET = "pass time budget exhausted"


@dataclass(frozen=True)
class ModelStatus:
    """Where one learner's pipeline stands: last training, samples, and why it is (not) due.

    ``next_eligible_at`` is the earliest time it may train (``now`` when due; ``None`` when only
    conditions without a known end, such as charging or new samples, hold it back).
    """

    subject: str
    pipeline: str
    due: bool
    reasons: tuple[str, ...] = ()
    last_trained_at: datetime | None = None
    version: int | None = None
    samples: int | None = None
    new_samples: int | None = None
    next_eligible_at: datetime | None = None
    time_budget_s: float | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "due"

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "pipeline": self.pipeline,
            "due": self.due,
            "reasons": list(self.reasons),
            "last_trained_at": _iso(self.last_trained_at),
            "version": self.version,
            "samples": self.samples,
            "new_samples": self.new_samples,
            "next_eligible_at": _iso(self.next_eligible_at),
            "time_budget_s": self.time_budget_s,
        }


@dataclass(frozen=True)
class Trained:
    subject: str
    pipeline: str
    version: int
    samples: int
    seconds: float
    promoted: bool = True


@dataclass(frozen=True)
class Skipped:
    subject: str
    pipeline: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Failed:
    subject: str
    pipeline: str
    error: str
    message: str


Outcome = Trained | Skipped | Failed


@dataclass(frozen=True)
class PassSummary:
    """What one pass did. ``exit_code``: 0 ok, 3 some learners failed, 130 interrupted."""

    started_at: datetime
    seconds: float
    trained: tuple[Trained, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    failed: tuple[Failed, ...] = ()
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.failed else EXIT_OK

    def line(self) -> str:
        end = ", interrupted" if self.interrupted else ""
        return (
            f"trained {len(self.trained)}, skipped {len(self.skipped)}, failed {len(self.failed)} "
            f"in {self.seconds:.1f}s{end}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": _iso(self.started_at),
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "exit_code": self.exit_code,
            "trained": [vars(t) for t in self.trained],
            "skipped": [{**vars(s), "reasons": list(s.reasons)} for s in self.skipped],
            "failed": [vars(f) for f in self.failed],
        }


ProgressObserver = Callable[[ModelStatus, TrainingProgress], None]


def log_outcome(outcome: Outcome) -> Outcome:
    """Log ``outcome`` (trained: info, failed: error, skipped: debug) and return it."""
    extra = {"subject": outcome.subject, "pipeline": outcome.pipeline}
    if isinstance(outcome, Trained):
        log.info(
            "trained subject=%s pipeline=%s version=%d samples=%d seconds=%.2f",
            outcome.subject,
            outcome.pipeline,
            outcome.version,
            outcome.samples,
            outcome.seconds,
            extra=extra,
        )
    elif isinstance(outcome, Failed):
        log.error(
            "failed subject=%s pipeline=%s error=%s: %s",
            outcome.subject,
            outcome.pipeline,
            outcome.error,
            outcome.message,
            extra=extra,
        )
    else:
        log.debug(
            "skipped subject=%s pipeline=%s reason=%s",
            outcome.subject,
            outcome.pipeline,
            "; ".join(outcome.reasons),
            extra=extra,
        )
    return outcome


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None
