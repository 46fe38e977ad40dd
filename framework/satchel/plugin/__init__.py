"""Everything a plugin author needs, in one namespace.

A plugin module implements hooks (marked with :data:`hookimpl`) that yield records (``*Spec``).
The base classes here give every component sensible defaults, so a plugin states only what is
particular to it; each has a ``spec()`` class method returning the record its hook yields::

    @hookimpl
    def satchel_models():
        yield QuizTask.spec()

See docs/plugins.md for a complete plugin in under 30 lines.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from satchel.errors import EventError, PluginError
from satchel.events import Event
from satchel.model.dataset import Dataset, FeatureSchema
from satchel.model.metrics import accuracy, auc, brier, log_loss
from satchel.model.spec import Loss, ModelSpec, Optimizer, mlp
from satchel.model.task import Decision, Rows, SourcedEvent
from satchel.plugin._no_options import NoOptions
from satchel.plugin.hookspecs import hookimpl
from satchel.plugin.records import (
    BackendSpec,
    CliCommandSpec,
    EventSourceSpec,
    EventTypeSpec,
    FeaturizerSpec,
    KeyProviderSpec,
    ModelTaskSpec,
    SchedulerSpec,
    StoreSpec,
)

__all__ = [
    "BackendSpec",
    "CliCommandSpec",
    "Dataset",
    "Decision",
    "Event",
    "EventError",
    "EventSource",
    "EventSourceSpec",
    "EventTypeSpec",
    "FeatureSchema",
    "Featurizer",
    "FeaturizerSpec",
    "KeyProviderSpec",
    "Loss",
    "ModelSpec",
    "ModelTask",
    "ModelTaskSpec",
    "NoOptions",
    "Optimizer",
    "PluginError",
    "Rows",
    "SchedulerSpec",
    "SequenceFeaturizer",
    "SourcedEvent",
    "StoreSpec",
    "hookimpl",
    "mlp",
]

#: What :class:`ModelTask` reports for a binary outcome.
BINARY_METRICS: tuple[str, ...] = ("auc", "log_loss", "brier", "accuracy")


def _summary(cls: type) -> str:
    return (cls.__doc__ or "").strip().split("\n", 1)[0]


class _Component(ABC):
    """Shared by the base classes: a name, an options model and the options given."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, options: BaseModel | None = None, **context: Any) -> None:
        self.options = options if options is not None else self.Options()

    @classmethod
    def _check(cls, *attributes: str) -> None:
        missing = [a for a in ("name", *attributes) if not getattr(cls, a, None)]
        if missing:
            raise PluginError(
                f"{cls.__module__}.{cls.__name__} does not set {', '.join(missing)}",
                hint='set them as class attributes, e.g. name = "quiz"',
            )


class Featurizer(_Component):
    """Base featurizer: ``name``, the event types it ``reads`` and the ``features`` it produces.

    Subclasses implement ``training_data(events, now=)`` and ``rows(events, now=)`` (events arrive
    oldest first, only of the types in ``reads``), or use :class:`SequenceFeaturizer`.

    Optionally, so a training reads only the events since the last one, also implement
    ``fold(state, events) -> bytes`` (commutative: any split and order of the same events gives the
    same state) and ``training_data_from(state, *, now) -> Dataset | None`` (exactly
    ``training_data(all the events, now=now)``, or None when the state cannot tell); bump
    ``cache_version`` when the state's meaning changes (see
    :class:`satchel.model.task.FoldingFeaturizer`, checked by
    :class:`satchel.testing.conformance.FoldConformance`).
    """

    reads: ClassVar[tuple[str, ...]] = ()
    features: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "1"
    cache_version: ClassVar[str] = "1"

    @property
    def schema(self) -> FeatureSchema:
        return FeatureSchema(tuple(self.features), self.version)

    @abstractmethod
    def training_data(self, events: Sequence[Event], *, now: datetime) -> Dataset:
        """Training samples from a learner's events (oldest first), with ``times`` when labels became known."""

    @abstractmethod
    def rows(self, events: Sequence[Event], *, now: datetime) -> Rows:
        """The rows to predict at ``now``, one per key."""

    @classmethod
    def spec(cls) -> FeaturizerSpec:
        cls._check("reads", "features")
        return FeaturizerSpec(
            name=cls.name,
            factory=cls,
            options=cls.Options,
            reads=tuple(cls.reads),
            description=cls.description or _summary(cls),
        )


class SequenceFeaturizer(Featurizer):
    """Each event of a key (a topic, a word, a habit) is a sample: its features come from that key's
    earlier events, its label from the event itself. Implement ``key``, ``label`` and ``features_of``.

    A prediction row for a key is ``features_of`` its whole history at ``now``, so what is served
    is computed exactly as what was trained on. ``label`` may return ``None`` for an event that only
    shapes the history. Cost is quadratic in a key's history: fine for hundreds of events per key.
    """

    @abstractmethod
    def key(self, event: Event) -> str:
        """The key an event belongs to (a topic, a word, a habit)."""

    @abstractmethod
    def label(self, event: Event) -> float | None:
        """The outcome an event records, or ``None`` when it only shapes the history."""

    @abstractmethod
    def features_of(self, history: Sequence[Event], now: datetime) -> Sequence[float]:
        """The features of a key at ``now`` from its events before, one value per name in ``features``."""

    def _histories(self, events: Sequence[Event]) -> dict[str, list[Event]]:
        by_key: dict[str, list[Event]] = {}
        for event in events:
            by_key.setdefault(self.key(event), []).append(event)
        return by_key

    def training_data(self, events: Sequence[Event], *, now: datetime) -> Dataset:
        x: list[Sequence[float]] = []
        y: list[float] = []
        times: list[float] = []
        for history in self._histories(events).values():
            for i, event in enumerate(history):
                label = self.label(event)
                if label is not None:
                    x.append(self.features_of(history[:i], event.time))
                    y.append(float(label))
                    times.append(event.time.timestamp())
        width = len(self.features)
        return Dataset.of(
            np.asarray(x, np.float32).reshape(len(x), width),
            np.asarray(y, np.float32),
            schema=self.schema,
            times=np.asarray(times, np.float64),
        )

    def rows(self, events: Sequence[Event], *, now: datetime) -> Rows:
        histories = self._histories(events)
        x = [self.features_of(history, now) for history in histories.values()]
        return Rows(tuple(histories), np.asarray(x, np.float32).reshape(len(x), len(self.features)))


class ModelTask(_Component):
    """Base model task: predicts a binary outcome per key with a small network.

    Defaults: a 16-8 ReLU network with a sigmoid output and binary cross-entropy, a prior of 0.5
    until ``min_samples`` samples exist, AUC/log loss/Brier/accuracy as metrics, and one decision
    per key (``action`` ``"predict"``, ``score`` = the probability). Override what differs.
    """

    featurizer: ClassVar[str] = ""
    purposes: ClassVar[tuple[str, ...]] = ()
    hidden: ClassVar[tuple[int, ...]] = (16, 8)
    metric_names: ClassVar[tuple[str, ...]] = BINARY_METRICS
    objective: ClassVar[str] = "log_loss"
    min_samples: int = 20

    def model_spec(self, schema: FeatureSchema) -> ModelSpec:
        return mlp(schema.width, tuple(self.hidden), 1, loss=Loss.bce_logits())

    def base_params(self, schema: FeatureSchema) -> dict[str, np.ndarray] | None:
        return None

    def prior(self, rows: Rows) -> np.ndarray:
        return np.full((len(rows), 1), 0.5, np.float32)

    def decide(self, rows: Rows, predictions: np.ndarray, *, now: datetime) -> tuple[Decision, ...]:
        p = np.asarray(predictions, np.float64).reshape(len(rows), -1)[:, 0]
        return tuple(Decision(key, "predict", float(p[i])) for i, key in enumerate(rows.keys))

    def metrics(self, data: Dataset, predictions: np.ndarray) -> dict[str, float]:
        y = data.y[:, 0]
        p = np.asarray(predictions, np.float64).reshape(len(data), -1)[:, 0]
        return {
            "auc": auc(y, p),
            "log_loss": log_loss(y, p, data.weights),
            "brier": brier(y, p, data.weights),
            "accuracy": accuracy(y, p >= 0.5, data.weights),
        }

    @classmethod
    def spec(cls) -> ModelTaskSpec:
        cls._check("featurizer", "purposes")
        return ModelTaskSpec(
            name=cls.name,
            factory=cls,
            options=cls.Options,
            featurizer=cls.featurizer,
            purposes=tuple(cls.purposes),
            metrics=tuple(cls.metric_names),
            description=cls.description or _summary(cls),
        )


class EventSource(_Component):
    """Base importer: ``name``, the event types it ``produces``, and ``read(path)`` yielding
    :class:`SourcedEvent` records (raise :class:`EventError` naming the line and field)."""

    produces: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def read(self, path: Path) -> Iterator[SourcedEvent]:
        """Every event in ``path``; raise :class:`EventError` naming the line and field of a bad one."""

    @classmethod
    def spec(cls) -> EventSourceSpec:
        cls._check("produces")
        return EventSourceSpec(
            name=cls.name,
            factory=cls,
            options=cls.Options,
            produces=tuple(cls.produces),
            description=cls.description or _summary(cls),
        )
