"""What a personalization task plugin provides: a featurizer and a model task.

The core drives them: it reads a subject's decrypted events (only the types the featurizer
declares), asks the featurizer for training data or for the rows to predict now, trains the
network the task describes, and hands raw predictions back to the task's decision policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from satchel.events import Event
from satchel.model.dataset import Dataset, FeatureSchema
from satchel.model.spec import ModelSpec


@dataclass(frozen=True)
class Rows:
    """Feature rows to predict, each identified by a key (a habit, a word, an answer)."""

    keys: tuple[str, ...]
    x: np.ndarray
    context: tuple[Mapping[str, object], ...] = ()

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Decision:
    """A task's decision for one key, e.g. ``remind`` / ``quiet``, a review time, a score."""

    key: str
    action: str
    score: float
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class SourcedEvent:
    """An event read by an importer, with the subject it belongs to and where it came from."""

    subject: str
    event: Event
    line: int


@runtime_checkable
class EventSource(Protocol):
    """An importer: reads a file into events. Raises EventError naming the line and field."""

    def read(self, path: Path) -> Iterator[SourcedEvent]: ...


@runtime_checkable
class Featurizer(Protocol):
    """Turns a subject's events (only the declared types) into training data and prediction rows."""

    schema: FeatureSchema

    def training_data(self, events: Sequence[Event], *, now: datetime) -> Dataset: ...

    def rows(self, events: Sequence[Event], *, now: datetime) -> Rows: ...


@runtime_checkable
class FoldingFeaturizer(Featurizer, Protocol):
    """A featurizer that can also work from a folded state, so a training reads only new events.

    Optional. ``fold(state, events)`` returns the state of the events folded so far (``state``, None at
    first) plus ``events``; it must be commutative: any split and order of the same event set gives
    the same bytes. ``training_data_from(state, now=)`` must equal ``training_data(all those events,
    now=)`` exactly, or return None when it cannot (e.g. the state dropped days ``now`` reads), and
    the core then reads everything. ``cache_version`` names the state's meaning: the core keeps the
    state in a sealed per-learner cache, rebuilt when it, the schema or the featurizer's options change.
    The conformance kit checks both rules (:class:`satchel.testing.conformance.FoldConformance`).
    """

    cache_version: str

    def fold(self, state: bytes | None, events: Sequence[Event]) -> bytes: ...

    def training_data_from(self, state: bytes, *, now: datetime) -> Dataset | None: ...


def folds(featurizer: object) -> bool:
    """Whether ``featurizer`` implements the optional fold protocol (:class:`FoldingFeaturizer`)."""
    return isinstance(featurizer, FoldingFeaturizer)


@runtime_checkable
class Baseline(Protocol):
    """A rule or population predictor a task's personal model is judged against.

    ``fit`` sees only samples whose labels were known before the prediction (it may ignore them);
    ``predict`` returns outputs in the space of the trainer's ``predict`` (what ``metrics`` scores).
    ``predict`` may read the labels' context columns a device knows when it predicts (e.g. the
    elapsed time of a review), never the outcome itself.
    """

    name: str

    def fit(self, past: Dataset) -> None: ...

    def predict(self, data: Dataset) -> np.ndarray: ...


@runtime_checkable
class ModelTask(Protocol):
    """A personalization model: its network, cold-start prior, decision policy and metrics.

    ``prior(rows)`` is the fallback served before (or instead of) a personal model; it must work
    from ``rows.x`` alone (``context`` may be empty), since it is scored on training samples too.
    Optional members, read with defaults: ``objective`` (default ``"log_loss"``) names the key of
    ``metrics`` that decides whether a candidate is promoted (lower is better); ``baselines()``
    (default none) lists the predictors ``satchel evaluate`` scores beside the model.
    """

    min_samples: int

    def model_spec(self, schema: FeatureSchema) -> ModelSpec: ...

    def base_params(self, schema: FeatureSchema) -> Mapping[str, np.ndarray] | None: ...

    def prior(self, rows: Rows) -> np.ndarray: ...

    def decide(self, rows: Rows, predictions: np.ndarray, *, now: datetime) -> tuple[Decision, ...]: ...

    def metrics(self, data: Dataset, predictions: np.ndarray) -> dict[str, float]: ...


def task_objective(task: object) -> str:
    """The metric that decides promotion for ``task`` (lower is better)."""
    return str(getattr(task, "objective", "log_loss"))


def task_baselines(task: object) -> tuple[Baseline, ...]:
    """The baselines ``task`` declares (none when it declares none)."""
    make = getattr(task, "baselines", None)
    return tuple(make()) if callable(make) else ()
