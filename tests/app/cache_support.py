"""Helpers of the sample-cache tests: a simulated learner, the data a training fits on, a full read."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from app_support import grant

from satchel.app import Pseudonym
from satchel.app import _sample_cache as sample_cache
from satchel.events import Event

TODAY = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = 90


def year(days: int = DAYS, seed: int = 5) -> list[Event]:
    """A simulated learner's ``days`` days of three habits, ending yesterday."""
    from satchel_plugins.habit import simulate_habit_learners

    learner = simulate_habit_learners(
        1, days=days, habits=3, start=(TODAY - timedelta(days=days)).date(), seed=seed
    )
    return [e for e in learner[0].events if e.time < TODAY]


def enrol(app: Any, subject: str, events: list[Event]) -> Pseudonym:
    grant(app, subject, at=TODAY - timedelta(days=400))
    app.record(subject, events, at=TODAY - timedelta(days=1))
    return Pseudonym(app.pseudonym(subject))


def fitted(app: Any) -> list[Any]:
    """Every training's data (what ``_fit_candidate`` receives), appended as they run."""
    seen: list[Any] = []
    fit = app._fit_candidate

    def spy(pseudo: str, p: Any, data: Any, *args: Any) -> Any:
        seen.append(data)
        return fit(pseudo, p, data, *args)

    app._fit_candidate = spy
    return seen


def reads(app: Any) -> list[Any]:
    """Every ``read_since`` result (a Delta), appended as they happen."""
    seen: list[Any] = []
    read_since = app.events.read_since

    def spy(subject: str, mark: Any, types: Any = None) -> Any:
        delta = read_since(subject, mark, types)
        seen.append(delta)
        return delta

    app.events.read_since = spy
    return seen


def full_data(app: Any, pseudo: str, now: datetime, pipeline: str = "habits") -> Any:
    """The training data of a full read, the path without any cache."""
    p = app.pipeline(pipeline)
    events = app.events.read(pseudo, p.featurizer.spec.reads)
    return app.component(pipeline, "featurizer").training_data(events, now=now)


def same(a: Any, b: Any) -> bool:
    return (
        all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("x", "y", "weights", "times"))
        and a.schema == b.schema
    )


def cache_path(app: Any, pseudo: str, pipeline: str = "habits") -> Path:
    return app.config.data_dir / "checkpoints" / pseudo / pipeline / sample_cache.NAME


def db(app: Any) -> sqlite3.Connection:
    return sqlite3.connect(app.config.data_dir / "satchel.db", isolation_level=None)
