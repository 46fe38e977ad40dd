"""What the audit report reads from an app: the narrow protocols :func:`build_report` takes.

:class:`satchel.app.App` satisfies :class:`AuditedApp` (and its config, pipelines and components the
protocols below), so the audit package needs no import of ``satchel.app``. Members are read-only
properties: the report never changes the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from satchel.audit.log import AuditLog
from satchel.plugin.records import FeaturizerSpec, KeyProviderSpec
from satchel.plugin.registry import Registry
from satchel.privacy.consent import ConsentLedger
from satchel.privacy.key_provider import KeyProvider
from satchel.privacy.vault import Vault
from satchel.storage.event_store import EventStore


class AuditedComponent(Protocol):
    """A configured component (model, backend, scheduler, store): the report names it."""

    @property
    def name(self) -> str: ...


class AuditedFeaturizer(AuditedComponent, Protocol):
    """The pipeline's featurizer, whose spec lists the event types it reads."""

    @property
    def spec(self) -> FeaturizerSpec: ...


class AuditedKeyProviderConfig(AuditedComponent, Protocol):
    """The configured key provider, whose spec says whether it keeps the key insecurely."""

    @property
    def spec(self) -> KeyProviderSpec: ...


class AuditedSharedModel(Protocol):
    """A pipeline's ``[federated]`` section: what the report names, and what
    :func:`satchel.federated.accounting.plan` reads to resolve its privacy parameters."""

    @property
    def purpose(self) -> str: ...
    @property
    def strategy(self) -> str: ...
    @property
    def secure_aggregation(self) -> bool: ...
    @property
    def rounds(self) -> int: ...
    @property
    def clients_per_round(self) -> int: ...
    @property
    def population(self) -> int | None: ...
    @property
    def clip_norm(self) -> float: ...
    @property
    def noise_multiplier(self) -> float | None: ...
    @property
    def target_epsilon(self) -> float | None: ...
    @property
    def delta(self) -> float: ...
    @property
    def epsilon_cap(self) -> float: ...
    @property
    def trust_sampling(self) -> bool: ...


class AuditedPipeline(Protocol):
    """A configured pipeline: its purposes, components and (optional) shared model."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def purposes(self) -> tuple[str, ...]: ...
    @property
    def model(self) -> AuditedComponent: ...
    @property
    def featurizer(self) -> AuditedFeaturizer: ...
    @property
    def backend(self) -> AuditedComponent: ...
    @property
    def scheduler(self) -> AuditedComponent: ...
    @property
    def store(self) -> AuditedComponent: ...
    @property
    def federated(self) -> AuditedSharedModel | None: ...


class AuditedConfig(Protocol):
    """The app's configuration: identity, directories and privacy settings."""

    @property
    def app_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def data_dir(self) -> Path: ...
    @property
    def key_dir(self) -> Path: ...
    @property
    def key_provider(self) -> AuditedKeyProviderConfig: ...
    @property
    def age_of_digital_consent(self) -> int: ...
    @property
    def retention_days(self) -> int | None: ...
    @property
    def purge_on_withdrawal(self) -> bool: ...
    @property
    def school_consent_purposes(self) -> tuple[str, ...]: ...


class AuditedApp(Protocol):
    """An open app: its config and pipelines, plugin registry, key vault and provider, consent
    ledger, event store and audit log. ``app_id`` is read by :mod:`satchel.federated.store`."""

    @property
    def app_id(self) -> str: ...
    @property
    def config(self) -> AuditedConfig: ...
    @property
    def pipelines(self) -> Mapping[str, AuditedPipeline]: ...
    @property
    def registry(self) -> Registry: ...
    @property
    def key_provider(self) -> KeyProvider: ...
    @property
    def vault(self) -> Vault: ...
    @property
    def ledger(self) -> ConsentLedger: ...
    @property
    def events(self) -> EventStore: ...
    @property
    def audit_log(self) -> AuditLog: ...
