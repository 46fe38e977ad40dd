"""Frozen records that cross hook boundaries.

Registration hooks yield ``*Spec`` records: a unique ``name``, a ``factory`` called with the
component's validated options (a pydantic model with ``extra="forbid"``), and a description.
The registry validates each record once and remembers which distribution contributed it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:  # pydantic loads with the first component record, not with this module (CLI start-up)
    from pydantic import BaseModel


#: Data categories an event type may declare (what a privacy officer reads in the audit).
DATA_CATEGORIES: dict[str, str] = {
    "usage": "app usage: launches, screens, reminders shown or opened",
    "behavioral": "habits and routines: completions, skips, times of day",
    "learning_performance": "answers, recall outcomes, scores, response times",
    "free_text": "text written by the learner (e.g. answers to open questions)",
    "assessment": "a teacher's grades and rubric decisions",
}


def __getattr__(name: str) -> Any:
    if name == "NoOptions":  # PEP 562: built on first use
        from satchel.plugin._no_options import NoOptions

        return NoOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class ComponentSpec:
    """Common shape of every registered component."""

    kind: ClassVar[str] = "component"
    name: str
    factory: Callable[..., Any]
    options: type[BaseModel] = None  # type: ignore[assignment]  # None: NoOptions
    description: str = ""

    def __post_init__(self) -> None:
        if self.options is None:
            from satchel.plugin._no_options import NoOptions

            object.__setattr__(self, "options", NoOptions)

    def create(self, options: BaseModel | None = None, **context: Any) -> Any:
        """Build the component from validated options (defaults when ``None``)."""
        return self.factory(options if options is not None else self.options(), **context)


@dataclass(frozen=True)
class EventTypeSpec:
    """An event type: its payload model and the data categories it carries."""

    kind: ClassVar[str] = "event_type"
    name: str
    payload: type[BaseModel]
    categories: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class EventSourceSpec(ComponentSpec):
    """Where events come from: an importer (file → events) or a simulator."""

    kind: ClassVar[str] = "event_source"
    produces: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeaturizerSpec(ComponentSpec):
    """Events → :class:`~satchel.model.dataset.Dataset`. Receives only the event types in ``reads``."""

    kind: ClassVar[str] = "featurizer"
    reads: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelTaskSpec(ComponentSpec):
    """A personalization task: featurizer, network, loss, decision policy and metrics."""

    kind: ClassVar[str] = "model"
    featurizer: str = ""
    purposes: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackendSpec(ComponentSpec):
    """A training backend; its factory returns a :class:`~satchel.model.backend.TrainerBackend`."""

    kind: ClassVar[str] = "backend"


@dataclass(frozen=True)
class SchedulerSpec(ComponentSpec):
    """Decides when training may run."""

    kind: ClassVar[str] = "scheduler"


@dataclass(frozen=True)
class StoreSpec(ComponentSpec):
    """Persists encrypted, versioned checkpoints."""

    kind: ClassVar[str] = "checkpoint_store"


@dataclass(frozen=True)
class KeyProviderSpec(ComponentSpec):
    """Where the app's master key lives. ``insecure`` providers are reported as critical."""

    kind: ClassVar[str] = "key_provider"
    insecure: bool = False


@dataclass(frozen=True)
class CliCommandSpec:
    """A click command a plugin adds to ``satchel``."""

    kind: ClassVar[str] = "cli_command"
    name: str
    command: Any  # click.Command; typed loosely so records stay importable without click
    description: str = ""


Operation = Literal["record", "train", "predict", "export", "read", "contribute"]
Actor = Literal["self", "guardian", "school"]


@dataclass(frozen=True)
class ConsentEntry:
    """One change of a subject's consent: a grant or a withdrawal (the stored history is a list)."""

    action: Literal["granted", "withdrawn"]
    purposes: tuple[str, ...]
    at: datetime
    actor: Actor
    age_band: str = ""
    policy_version: str = ""
    notice_sha256: str = ""
    method: str = ""
    expires_at: datetime | None = None
    reason: str = ""


@dataclass(frozen=True)
class ConsentRequest:
    """What the core asks consent plugins before touching a subject's data.

    ``history`` is the subject's consent history (decrypted by the core, oldest first), so a
    consent plugin decides without opening any storage itself.
    """

    app_id: str
    subject: str
    purposes: tuple[str, ...]
    operation: Operation
    at: datetime
    pipeline: str = ""
    history: tuple[ConsentEntry, ...] = ()
    age_of_digital_consent: int = 13
    school_purposes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConsentVerdict:
    """One plugin's answer. Any deny wins; no answer at all means deny."""

    allow: bool
    reason: str
    source: str = ""


@dataclass(frozen=True)
class DeviceState:
    """What the device looks like now; ``None`` means unknown."""

    battery_percent: float | None = None
    charging: bool | None = None
    idle: bool | None = None
    unmetered_network: bool | None = None
    source: str = ""


@dataclass(frozen=True)
class TrainingContext:
    """Read-only facts about a training run (never payloads)."""

    app_id: str
    pipeline: str
    subject: str
    model: str
    backend: str
    samples: int
    started_at: datetime


@dataclass(frozen=True)
class TrainingReport:
    """How a training run ended: held-out metrics, the checkpoint version written, duration, and
    whether the candidate was promoted (``reason`` says why or why not)."""

    context: TrainingContext
    metrics: Mapping[str, float] = field(default_factory=dict)
    checkpoint_version: int | None = None
    seconds: float = 0.0
    promoted: bool = True
    reason: str = ""
