"""What a personalization task plugin provides: a featurizer and a model task.

The core drives them: it reads a subject's decrypted events (only the types the featurizer
declares), asks the featurizer for training data or for the rows to predict now, trains the
network the task describes, and hands raw predictions back to the task's decision policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from satchel.dataset import Dataset, FeatureSchema
from satchel.events import Event
from satchel.model_spec import ModelSpec


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
class ModelTask(Protocol):
    """A personalization model: its network, cold-start prior, decision policy and metrics."""

    min_samples: int

    def model_spec(self, schema: FeatureSchema) -> ModelSpec: ...

    def base_params(self, schema: FeatureSchema) -> Mapping[str, np.ndarray] | None: ...

    def prior(self, rows: Rows) -> np.ndarray: ...

    def decide(self, rows: Rows, predictions: np.ndarray, *, now: datetime) -> tuple[Decision, ...]: ...

    def metrics(self, data: Dataset, predictions: np.ndarray) -> dict[str, float]: ...
