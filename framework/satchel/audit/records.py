"""The audit report's records: severities, findings, the report's sections, and their JSON form."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Any


class Severity(IntEnum):
    """How urgent a finding is; compares as ``critical > high > medium > low > info``."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | Severity) -> Severity:
        """``"high"`` (any case) → ``Severity.HIGH``; a Severity is returned as is."""
        if isinstance(value, Severity):
            return value
        try:
            return cls[value.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in sorted(cls, reverse=True))
            raise ValueError(f"unknown severity {value!r}; choose one of: {choices}") from None

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class Finding:
    """Something to fix: how urgent, a stable ``code``, what is wrong, and how to fix it.

    ``subjects`` lists affected learners' pseudonyms (never their ids), when the finding is about learners.
    """

    severity: Severity
    code: str
    title: str
    detail: str
    fix: str
    pipeline: str | None = None
    subjects: tuple[str, ...] = ()


@dataclass(frozen=True)
class PluginAccess:
    """A component or plugin of the app, where it comes from, and the data it may read."""

    role: str
    name: str
    plugin: str
    distribution: str
    version: str
    builtin: bool
    reads: str
    personal_data: bool


@dataclass(frozen=True)
class KeyProviderInfo:
    name: str
    description: str
    insecure: bool
    settings: Mapping[str, str]
    origin: PluginAccess


@dataclass(frozen=True)
class AppSection:
    app_id: str
    name: str
    generated_at: datetime
    satchel_version: str
    data_dir: str
    key_dir: str
    encryption: str
    key_provider: KeyProviderInfo
    master_key_id: str
    master_key_created_at: datetime
    master_key_rotated_at: datetime | None
    retired_keys: int
    subjects: int
    erased_subjects: int
    age_of_digital_consent: int
    retention_days: int | None
    purge_on_withdrawal: bool
    school_consent_purposes: tuple[str, ...]


@dataclass(frozen=True)
class AuditLogStatus:
    path: str
    ok: bool
    entries: int
    problem: str | None


@dataclass(frozen=True)
class EventTypeInfo:
    name: str
    description: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class CategoryInfo:
    name: str
    description: str


@dataclass(frozen=True)
class ConsentCoverage:
    """Counts of learners for one pipeline.

    Consent means grants in force covering all the pipeline's purposes; minors (age band below the age
    of digital consent) are counted among the consented learners.
    """

    subjects_with_data: int
    subjects_with_consent: int
    consent_by_actor: Mapping[str, int]
    minors: int
    minors_guardian_or_school_consent: int
    minors_self_consent: int
    subjects_with_data_without_consent: int


@dataclass(frozen=True)
class PipelineSection:
    name: str
    description: str
    purposes: tuple[str, ...]
    model: PluginAccess
    featurizer: PluginAccess
    backend: PluginAccess
    scheduler: PluginAccess
    store: PluginAccess
    event_types: tuple[EventTypeInfo, ...]
    categories: tuple[CategoryInfo, ...]
    coverage: ConsentCoverage
    plugins: tuple[PluginAccess, ...]


@dataclass(frozen=True)
class SharedModelSection:
    """A pipeline's federated shared model: the mechanism protecting what leaves devices, the
    privacy spent so far per learner (from their sealed ledgers), and the installed global model."""

    pipeline: str
    purpose: str
    mechanism: str
    differential_privacy: bool
    secure_aggregation: bool
    noise_multiplier: float | None
    clip_norm: float
    delta: float
    epsilon_per_run: float | None
    epsilon_cap: float
    participants: int
    epsilon_spent_max: float | None
    epsilon_spent_median: float | None
    learners_at_cap: int
    unreadable_ledgers: int
    contributions_logged: int
    refusals_logged: int
    installed: Mapping[str, Any] | None


@dataclass(frozen=True)
class AuditReport:
    """The whole audit; findings are ranked, most severe first."""

    app: AppSection
    audit_log: AuditLogStatus
    pipelines: tuple[PipelineSection, ...]
    findings: tuple[Finding, ...]
    shared_models: tuple[SharedModelSection, ...] = ()

    def findings_at_or_above(self, severity: Severity | str) -> tuple[Finding, ...]:
        """The findings at least as severe as ``severity`` (e.g. for ``--strict --fail-on``)."""
        floor = Severity.parse(severity)
        return tuple(f for f in self.findings if f.severity >= floor)

    def summary(self) -> dict[str, int]:
        """How many findings per severity, most severe first."""
        return {s.label: sum(f.severity == s for f in self.findings) for s in sorted(Severity, reverse=True)}

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (severities as labels, times as ISO 8601, paths as strings)."""
        return {"summary": self.summary(), **_plain(self)}


def _plain(value: Any) -> Any:
    """Dataclasses, severities, times and paths as JSON-ready values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Severity):
        return value.label
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def render_json(report: AuditReport) -> str:
    return json.dumps(report.to_dict(), indent=2)
