"""The hooks satchel defines (pluggy project name ``satchel``).

Registration hooks take no arguments and return an iterable of frozen ``*Spec`` records from
:mod:`satchel.plugin.records`; the registry validates them once. Runtime hooks receive read-only records.
Every hook is documented in ``docs/hooks.md`` (a test keeps the two in step).

A plugin is a module or object with functions marked by :data:`hookimpl`::

    from satchel import hookimpl
    from satchel.plugin.records import SchedulerSpec

    @hookimpl
    def satchel_schedulers():
        yield SchedulerSpec(name="always", factory=lambda options: AlwaysNow())
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from satchel.model.backend import TrainingProgress
    from satchel.plugin.records import (
        BackendSpec,
        CliCommandSpec,
        ConsentRequest,
        ConsentVerdict,
        DeviceState,
        EventSourceSpec,
        EventTypeSpec,
        FeaturizerSpec,
        KeyProviderSpec,
        ModelTaskSpec,
        SchedulerSpec,
        StoreSpec,
        TrainingContext,
        TrainingReport,
    )

PROJECT = "satchel"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# ------------------------------------------------------------------ registration hooks


@hookspec
def satchel_event_types() -> Iterable[EventTypeSpec]:
    """Declare event types: payload model and data categories.

    Example: ``yield EventTypeSpec("habit_completed", HabitPayload, ("behavioral",))``
    """


@hookspec
def satchel_event_sources() -> Iterable[EventSourceSpec]:
    """Declare event sources (file importers, simulators).

    Example: ``yield EventSourceSpec("loop_habits_csv", factory=LoopImporter, produces=("habit_completed",))``
    """


@hookspec
def satchel_featurizers() -> Iterable[FeaturizerSpec]:
    """Declare featurizers (events → Dataset) and the event types each reads.

    Example: ``yield FeaturizerSpec("habit_daily", factory=HabitFeaturizer, reads=("habit_completed",))``
    """


@hookspec
def satchel_models() -> Iterable[ModelTaskSpec]:
    """Declare personalization tasks (featurizer + network + loss + decision policy + metrics).

    Example: ``yield ModelTaskSpec("habit", factory=HabitTask, featurizer="habit_daily", purposes=("reminders",))``
    """


@hookspec
def satchel_trainer_backends() -> Iterable[BackendSpec]:
    """Declare training backends; each factory returns a ``satchel.model.backend.TrainerBackend``.

    Example: ``yield BackendSpec("litert", factory=lambda options: LiteRTBackend())``
    """


@hookspec
def satchel_schedulers() -> Iterable[SchedulerSpec]:
    """Declare schedulers that decide when training may run.

    Example: ``yield SchedulerSpec("conditions", factory=ConditionsScheduler, options=ConditionsOptions)``
    """


@hookspec
def satchel_checkpoint_stores() -> Iterable[StoreSpec]:
    """Declare checkpoint stores (encrypted, versioned weights).

    Example: ``yield StoreSpec("encrypted_files", factory=EncryptedFileStore, options=StoreOptions)``
    """


@hookspec
def satchel_key_providers() -> Iterable[KeyProviderSpec]:
    """Declare key providers (where the app's master key lives).

    Example: ``yield KeyProviderSpec("env", factory=EnvKeyProvider, options=EnvOptions)``
    """


@hookspec
def satchel_cli_commands() -> Iterable[CliCommandSpec]:
    """Deprecated: register the click command in the ``satchel.cli`` entry-point group instead.

    Still honoured for one release (the command runs, with a ``DeprecationWarning``; ``--help`` does
    not list it, since listing would import every plugin).

    Example: ``yield CliCommandSpec("hello", command=hello_click_command)``
    """


# ------------------------------------------------------------------ runtime hooks


@hookspec
def satchel_consent_verdict(request: ConsentRequest) -> ConsentVerdict | None:
    """Answer whether ``request`` may proceed. All answers are collected; any deny wins;
    when no plugin answers, the request is denied.

    Example: ``return ConsentVerdict(allow=False, reason="withdrawn 2026-03-01", source="my_gate")``
    """


@hookspec(firstresult=True)
def satchel_device_state() -> DeviceState | None:
    """Report the device's battery, power, idleness and network (first non-None answer wins).

    Example: ``return DeviceState(battery_percent=80, charging=True, idle=True, source="psutil")``
    """


@hookspec
def satchel_before_training(context: TrainingContext) -> None:
    """Called before a training run starts. Read-only; no payloads.

    Example: ``log.info("training %s for %s", context.pipeline, context.subject)``
    """


@hookspec
def satchel_after_training(report: TrainingReport) -> None:
    """Called after a training run finished and its checkpoint was saved.

    Example: ``metrics_sink.gauge("loss", report.metrics["loss"])``
    """


@hookspec
def satchel_on_training_error(context: TrainingContext, error: BaseException) -> None:
    """Called when a training run failed; the previous checkpoint stays in force.

    Example: ``log.warning("training failed for %s: %s", context.pipeline, error)``
    """


@hookspec
def satchel_training_progress(progress: TrainingProgress) -> None:
    """Called after each batch and epoch while training (CLI progress bars listen here).

    Example: ``bar.update(progress.batch)``
    """
