"""The privacy audit report (``satchel audit``): what an app collects, why, under which consent,
how it is protected, how long it is kept, and what needs fixing.

:func:`build_report` reads an open :class:`~satchel.app.App` (config, registry, key vault, consent
ledger, event store, audit log) and returns a frozen :class:`AuditReport`; ``render_text``,
``render_json`` and ``render_html`` print it. The report holds no personal data: learners appear
only as counts and keyed pseudonyms, and key material only as fingerprints.
"""

from __future__ import annotations

import html
import json
import os
import stat
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime, timezone
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from satchel._version import __version__
from satchel.plugin.records import DATA_CATEGORIES, ConsentEntry
from satchel.privacy.consent import ACTORS, active_purposes, may_self_consent
from satchel.privacy.key_provider import RotatableKeyProvider

if TYPE_CHECKING:
    from satchel.app import App
    from satchel.app.config import Component, PipelineConfig

ENCRYPTION = (
    "AES-256-GCM envelope encryption: per-object data keys wrapped by per-subject keys wrapped by "
    "the master key; AAD binds app/subject/pipeline/kind/version/key id"
)
LONG_RETENTION_DAYS = 3 * 365
ROTATION_DAYS = 365
MAX_LISTED = 10
_ROLES = ("model", "featurizer", "backend", "scheduler", "store")
_CONSENT_READS = "each learner's consent history (purposes, actor, age band, dates; pseudonym only)"
_KIND_OF_ROLE = {
    "model": "model",
    "featurizer": "featurizer",
    "backend": "backend",
    "scheduler": "scheduler",
    "store": "checkpoint_store",
    "key provider": "key_provider",
    "event source": "event_source",
}


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


#: a shared model whose per-learner epsilon (cap, or spent so far) is above this is reported
EPSILON_THRESHOLD = 10.0


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


# ------------------------------------------------------------------ building


@dataclass(frozen=True)
class _Subject:
    """One learner as the report sees them: their pseudonym and the consent in force now."""

    pseudonym: str
    active: Mapping[str, ConsentEntry]


def build_report(app: App, *, now: datetime | None = None) -> AuditReport:
    """Audit ``app`` as of ``now`` (timezone-aware; default: the current time)."""
    now = now or datetime.now(timezone.utc)
    subjects = tuple(_Subject(p, active_purposes(app.ledger.history(p), now)) for p in _pseudonyms(app))
    section = _app_section(app, now)
    audit_log = _audit_log_status(app)
    pipelines = tuple(_pipeline_section(app, p, subjects) for p in app.pipelines.values())
    federated = [p for p in app.pipelines.values() if getattr(p, "federated", None) is not None]
    try:
        shared = tuple(_shared_model_section(app, p, subjects) for p in federated)
        unaccounted: list[Finding] = []
    except ImportError as e:  # the ``federated`` extra (dp-accounting) is not installed here
        shared, unaccounted = (
            (),
            [
                Finding(
                    Severity.MEDIUM,
                    "federated-accounting-unavailable",
                    "Shared models could not be audited",
                    f"Pipelines {', '.join(p.name for p in federated)} declare a shared model, but {e}.",
                    "Install satchel's 'federated' extra to audit privacy spent on shared models.",
                )
            ],
        )
    findings = [
        *_key_findings(app, section, now),
        *_audit_log_findings(audit_log),
        *_retention_findings(section),
        *_permission_findings(app),
        *_plugin_findings(section, pipelines),
        *(f for p in app.pipelines.values() for f in _consent_findings(app, p, subjects)),
        *(f for p in pipelines for f in _category_findings(p)),
        *(f for m in shared for f in _shared_model_findings(m)),
        *unaccounted,
    ]
    ranked = sorted(findings, key=lambda f: (-f.severity, f.pipeline or "", f.code, f.title))
    return AuditReport(section, audit_log, pipelines, tuple(ranked), shared)


def _pseudonyms(app: App) -> list[str]:
    return sorted(set(app.vault.subjects()) | set(app.events.subjects()))


def _app_section(app: App, now: datetime) -> AppSection:
    cfg = app.config
    info = app.vault.info()
    return AppSection(
        app_id=cfg.app_id,
        name=cfg.name,
        generated_at=now,
        satchel_version=__version__,
        data_dir=str(cfg.data_dir),
        key_dir=str(cfg.key_dir),
        encryption=ENCRYPTION,
        key_provider=_key_provider(app),
        master_key_id=info.master_key_id,
        master_key_created_at=info.created_at,
        master_key_rotated_at=info.rotated_at,
        retired_keys=len(info.retired),
        subjects=info.subjects,
        erased_subjects=info.erased,
        age_of_digital_consent=cfg.age_of_digital_consent,
        retention_days=cfg.retention_days,
        purge_on_withdrawal=cfg.purge_on_withdrawal,
        school_consent_purposes=cfg.school_consent_purposes,
    )


def _key_provider(app: App) -> KeyProviderInfo:
    component = app.config.key_provider
    described = app.key_provider.describe()
    origin = _access(
        app, "key provider", component.name, "the master key (key material, no personal data)", False
    )
    insecure = bool(component.spec.insecure or described.insecure)
    return KeyProviderInfo(component.name, described.summary, insecure, dict(described.settings), origin)


def _audit_log_status(app: App) -> AuditLogStatus:
    result = app.audit_log.verify()
    return AuditLogStatus(
        str(app.audit_log.path), result.ok, result.entries, str(result.problem) if result.problem else None
    )


def _access(app: App, role: str, name: str, reads: str, personal: bool) -> PluginAccess:
    origin = app.registry.origin(_KIND_OF_ROLE[role], name)
    return PluginAccess(
        role, name, origin.plugin, origin.distribution, origin.version, origin.builtin, reads, personal
    )


def _component_access(app: App, p: PipelineConfig, role: str) -> PluginAccess:
    component: Component = getattr(p, role)
    types = ", ".join(component.spec.reads) if role == "featurizer" else ""
    reads = {
        "featurizer": f"the learner's stored events of types {types}",
        "model": "feature rows derived from the learner's events, and the model's predictions",
        "backend": "feature matrices and labels derived from the learner's events; the trained weights",
        "scheduler": "device state and sample counts only (no personal data)",
        "store": "the learner's trained weights (derived from their events); the core encrypts them",
    }[role]
    return _access(app, role, component.name, reads, role != "scheduler")


def _consent_access(app: App) -> tuple[PluginAccess, ...]:
    return tuple(
        PluginAccess(
            "consent",
            o.plugin,
            o.plugin,
            o.distribution,
            o.version,
            o.builtin,
            _CONSENT_READS,
            personal_data=True,
        )
        for o in app.registry.implementations("satchel_consent_verdict")
    )


def _source_access(app: App, p: PipelineConfig) -> tuple[PluginAccess, ...]:
    reads = set(p.featurizer.spec.reads)
    sources = sorted(app.registry.all("event_source").items())
    return tuple(
        _access(
            app,
            "event source",
            name,
            "import files holding events of types " + ", ".join(t for t in s.spec.produces if t in reads),
            True,
        )
        for name, s in sources
        if reads & set(s.spec.produces)
    )


def _pipeline_section(app: App, p: PipelineConfig, subjects: tuple[_Subject, ...]) -> PipelineSection:
    components = {role: _component_access(app, p, role) for role in _ROLES}
    event_types = tuple(_event_type(app, t) for t in p.featurizer.spec.reads)
    names = dict.fromkeys(c for e in event_types for c in e.categories)
    categories = tuple(CategoryInfo(c, DATA_CATEGORIES.get(c, "")) for c in names)
    plugins = (*components.values(), *_consent_access(app), *_source_access(app, p))
    return PipelineSection(
        p.name,
        p.description,
        p.purposes,
        event_types=event_types,
        categories=categories,
        coverage=_coverage(app, p, subjects),
        plugins=plugins,
        **components,
    )


def _event_type(app: App, name: str) -> EventTypeInfo:
    spec = app.registry.event_type(name)
    return EventTypeInfo(spec.name, spec.description, tuple(spec.categories))


def _grants(p: PipelineConfig, s: _Subject) -> tuple[ConsentEntry, ...] | None:
    """The grants in force covering every purpose of ``p``, or None when one is missing."""
    if not all(purpose in s.active for purpose in p.purposes):
        return None
    return tuple(s.active[purpose] for purpose in p.purposes)


def _is_minor(grants: Iterable[ConsentEntry], age_of_digital_consent: int) -> bool:
    return any(not may_self_consent(g.age_band, age_of_digital_consent) for g in grants)


def _self_minor(grants: Iterable[ConsentEntry], age_of_digital_consent: int) -> bool:
    """A grant in force was given by the learner while under the age of digital consent."""
    return any(g.actor == "self" and not may_self_consent(g.age_band, age_of_digital_consent) for g in grants)


def _unconsented_types(app: App, p: PipelineConfig, s: _Subject) -> tuple[str, ...]:
    """Event types ``p`` reads that no pipeline the subject consents to reads (nothing justifies them)."""
    if _grants(p, s) is not None:
        return ()
    consented = [q for q in app.pipelines.values() if _grants(q, s) is not None]
    covered = {t for q in consented for t in q.featurizer.spec.reads}
    return tuple(t for t in p.featurizer.spec.reads if t not in covered)


def _coverage(app: App, p: PipelineConfig, subjects: tuple[_Subject, ...]) -> ConsentCoverage:
    reads = p.featurizer.spec.reads
    age = app.config.age_of_digital_consent
    consented = [g for g in (_grants(p, s) for s in subjects) if g is not None]
    minors = [g for g in consented if _is_minor(g, age)]
    by_actor = {actor: sum(any(e.actor == actor for e in g) for g in consented) for actor in ACTORS}
    self_minors = sum(_self_minor(g, age) for g in minors)
    unconsented = sum(1 for s in subjects if _stored(app, s, _unconsented_types(app, p, s)))
    return ConsentCoverage(
        subjects_with_data=sum(1 for s in subjects if app.events.count(s.pseudonym, reads) > 0),
        subjects_with_consent=len(consented),
        consent_by_actor=by_actor,
        minors=len(minors),
        minors_guardian_or_school_consent=len(minors) - self_minors,
        minors_self_consent=self_minors,
        subjects_with_data_without_consent=unconsented,
    )


def _stored(app: App, s: _Subject, types: tuple[str, ...]) -> bool:
    return bool(types) and app.events.count(s.pseudonym, types) > 0


# ------------------------------------------------------------------ findings


def _key_findings(app: App, section: AppSection, now: datetime) -> list[Finding]:
    out = []
    kp = section.key_provider
    if kp.insecure:
        where = f" ({kp.settings['file']})" if "file" in kp.settings else ""
        out.append(
            Finding(
                Severity.CRITICAL,
                "insecure-key-provider",
                f"The master key is stored insecurely (key provider '{kp.name}')",
                f"{kp.description}. Anyone who can read the key directory can decrypt every learner's data, "
                "so encryption at rest gives no protection.",
                "Move to a protected key provider: 'keyring' (OS keyring) or 'passphrase' (Argon2id). With the "
                "app open under the current provider, re-wrap the key vault under the new provider's key "
                f"(Vault.rotate), set privacy.key_provider to it, then delete the plaintext key file{where}. "
                "Treat existing copies of the key directory as exposed.",
            )
        )
    last = section.master_key_rotated_at or section.master_key_created_at
    days = (now - last).days
    if days > ROTATION_DAYS:
        how = (
            "run `satchel keys rotate`"
            if isinstance(app.key_provider, RotatableKeyProvider)
            else "generate a new key, re-wrap the vault with Vault.rotate(new_key) and give the new key to "
            f"the '{kp.name}' provider (it cannot create keys itself)"
        )
        never = "never been rotated" if section.master_key_rotated_at is None else "not been rotated"
        out.append(
            Finding(
                Severity.LOW,
                "master-key-not-rotated",
                f"The master key has {never} for {days} days",
                f"Master key {section.master_key_id} has been in use since {last.date().isoformat()}; "
                f"rotate it at least every {ROTATION_DAYS} days.",
                f"Rotate it: {how}. Rotation re-wraps the subject keys; data is not rewritten.",
            )
        )
    return out


def _audit_log_findings(status: AuditLogStatus) -> list[Finding]:
    if status.ok:
        return []
    return [
        Finding(
            Severity.CRITICAL,
            "audit-log-invalid",
            "The audit log fails verification",
            f"{status.path}: {status.problem} ({status.entries} entries verified before the problem). The "
            "record of consent changes, training runs, exports and erasures can no longer be trusted.",
            "Treat it as a security incident: keep a copy of the log as evidence, find out who could write to "
            "the data directory (`satchel audit verify` names the first bad line), and restore the data and key "
            "directories together from the last backup whose log verifies.",
        )
    ]


def _retention_findings(section: AppSection) -> list[Finding]:
    out = []
    days = section.retention_days
    if days is None:
        out.append(
            Finding(
                Severity.MEDIUM,
                "retention-unset",
                "Events are kept forever (no retention limit)",
                "privacy.retention_days is not set, so learners' events are never deleted by age.",
                "Set privacy.retention_days to the shortest period the pipelines need (e.g. 365) and run "
                "App.enforce_retention() regularly.",
            )
        )
    elif days > LONG_RETENTION_DAYS:
        out.append(
            Finding(
                Severity.LOW,
                "retention-long",
                f"Events are kept for {days} days (over 3 years)",
                f"privacy.retention_days = {days}: learners' events are kept for more than 3 years.",
                f"Lower privacy.retention_days to what the pipelines need ({LONG_RETENTION_DAYS} or less), "
                "unless a documented reason requires longer.",
            )
        )
    if not section.purge_on_withdrawal:
        out.append(
            Finding(
                Severity.MEDIUM,
                "purge-on-withdrawal-off",
                "Withdrawing consent does not delete the data",
                "privacy.purge_on_withdrawal = false: after a learner (or guardian) withdraws consent, their "
                "events and models stay on the device until retention or erasure removes them.",
                "Set privacy.purge_on_withdrawal = true (the default).",
            )
        )
    return out


def _loose_paths(root: Path, *, contents: bool) -> list[str]:
    """``root`` (and with ``contents`` everything in it) where group or other users have permissions."""
    if not root.exists():
        return []
    paths = [root, *sorted(root.rglob("*"))] if contents else [root]
    return [
        os.path.relpath(p, root.parent)
        for p in paths
        if not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) & 0o077
    ]


def _permission_findings(app: App) -> list[Finding]:
    """Key directory: itself and every file in it (key material). Data directory: itself (its
    contents are encrypted, and unreachable by others while it is private)."""
    out = []
    for label, root, contents, severity in (
        ("key", app.config.key_dir, True, Severity.MEDIUM),
        ("data", app.config.data_dir, False, Severity.LOW),
    ):
        loose = _loose_paths(root, contents=contents)
        if loose:
            more = f" and {len(loose) - MAX_LISTED} more" if len(loose) > MAX_LISTED else ""
            out.append(
                Finding(
                    severity,
                    f"{label}-dir-permissions",
                    f"The {label} directory is accessible to other users",
                    f"{root}: group or other users have permissions on {', '.join(loose[:MAX_LISTED])}{more}.",
                    f"Restrict it to the app's user: chmod -R go-rwx {root}",
                )
            )
    return out


def _plugin_findings(section: AppSection, pipelines: tuple[PipelineSection, ...]) -> list[Finding]:
    """One finding per third-party plugin component that sees personal data or the master key."""
    where: dict[tuple[str, str], tuple[PluginAccess, list[str]]] = {}
    kp = section.key_provider.origin
    if not kp.builtin:
        where[(kp.role, kp.name)] = (kp, [])
    for p in pipelines:
        for a in p.plugins:
            if a.personal_data and not a.builtin:
                where.setdefault((a.role, a.name), (a, []))[1].append(p.name)
    out = []
    for a, names in where.values():
        source = f"{a.distribution} {a.version}".strip()
        what = "personal data" if a.personal_data else "the master key"
        used = f" in pipeline(s) {', '.join(names)}" if names else ""
        out.append(
            Finding(
                Severity.LOW,
                "third-party-plugin",
                f"Third-party {a.role} '{a.name}' handles {what}",
                f"{a.role} '{a.name}' comes from plugin '{a.plugin}' of {source}, which is not part of satchel; "
                f"it may read {a.reads}{used}.",
                f"Review {source}: who maintains it, what it does with the data and whether it sends anything "
                "off the device; pin its version, or replace it with a built-in plugin.",
                names[0] if len(names) == 1 else None,
            )
        )
    return out


def _listed(pseudonyms: list[str]) -> str:
    more = len(pseudonyms) - MAX_LISTED
    return ", ".join(pseudonyms[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")


def _consent_findings(app: App, p: PipelineConfig, subjects: tuple[_Subject, ...]) -> list[Finding]:
    age = app.config.age_of_digital_consent
    out = []
    grants = {s.pseudonym: g for s in subjects if (g := _grants(p, s)) is not None}
    self_minors = sorted(s for s, g in grants.items() if _self_minor(g, age))
    if self_minors:
        out.append(
            Finding(
                Severity.HIGH,
                "minor-self-consent",
                f"{len(self_minors)} learner(s) under {age} consented for themselves to '{p.name}'",
                "Their consent in force was given by the learner (actor 'self') with an age band below the age "
                f"of digital consent ({age}), e.g. recorded before the age was raised. Such consent is not valid "
                "(the consent gate refuses it), so their stored data is kept without valid consent. "
                f"Pseudonyms: {_listed(self_minors)}.",
                "Ask a guardian to consent (actor 'guardian') for these learners, or withdraw and erase their "
                "data; match pseudonyms to learners with App.pseudonym(id).",
                p.name,
                tuple(self_minors),
            )
        )
    school = sorted(
        s
        for s, g in grants.items()
        if any(e.actor == "school" and set(e.purposes) - set(app.config.school_consent_purposes) for e in g)
    )
    if school:
        out.append(
            Finding(
                Severity.HIGH,
                "school-consent-out-of-scope",
                f"{len(school)} learner(s) have school consent for a non-educational purpose of '{p.name}'",
                "A school consented for purposes that are not listed in privacy.school_consent_purposes. Such "
                "consent is not valid (the consent gate refuses it), so their stored data is kept without valid "
                f"consent. Pseudonyms: {_listed(school)}.",
                "Collect a guardian's consent for these learners, or list the purpose as educational if it is.",
                p.name,
                tuple(school),
            )
        )
    kept = sorted(s.pseudonym for s in subjects if _stored(app, s, _unconsented_types(app, p, s)))
    if kept:
        out.append(
            Finding(
                Severity.HIGH,
                "data-without-consent",
                f"{len(kept)} learner(s) have data for '{p.name}' without active consent",
                f"Learners whose consent to {', '.join(p.purposes)} was withdrawn, expired or never given still "
                f"have stored events of the types this pipeline reads ({', '.join(p.featurizer.spec.reads)}), "
                f"and no pipeline they consent to reads them. Pseudonyms: {_listed(kept)}.",
                "Delete the data: erase these learners (`satchel erase --subject ID`; match pseudonyms with "
                "App.pseudonym(id)) or collect consent again; set privacy.purge_on_withdrawal = true so "
                "withdrawal deletes data from now on.",
                p.name,
                tuple(kept),
            )
        )
    return out


def _category_findings(p: PipelineSection) -> list[Finding]:
    if not any(c.name == "free_text" for c in p.categories):
        return []
    types = [e.name for e in p.event_types if "free_text" in e.categories]
    return [
        Finding(
            Severity.INFO,
            "free-text-collected",
            f"Pipeline '{p.name}' reads free text written by learners",
            f"Event types {', '.join(types)} carry free text, which may contain anything a learner writes "
            "(names, health, family details).",
            "Review that the purpose needs free text, tell learners in the consent notice, and keep retention "
            "short.",
            p.name,
        )
    ]


# ------------------------------------------------------------------ shared (federated) models


def _finite(x: float | None) -> float | None:
    return None if x is None or x != x or x in (float("inf"), float("-inf")) else x


def _audit_counts(app: App, pipeline: str) -> tuple[int, int]:
    """(contributions, refusals) of ``pipeline`` in the audit log (0, 0 when unreadable)."""
    contributed = refused = 0
    try:
        with open(app.config.data_dir / "audit.jsonl", encoding="utf-8") as f:
            for line in f:
                if '"federated.' not in line:
                    continue
                row = json.loads(line)
                if (row.get("fields") or {}).get("pipeline") != pipeline:
                    continue
                contributed += row.get("action") == "federated.contributed"
                refused += row.get("action") == "federated.refused"
    except (OSError, ValueError):
        pass
    return contributed, refused


_STRATEGY_NAMES = {"fedavg": "FedAvg", "fedadam": "FedAdam"}


def _shared_model_section(app: App, p: PipelineConfig, subjects: tuple[_Subject, ...]) -> SharedModelSection:
    from satchel.federated.accounting import plan as make_plan
    from satchel.federated.store import BudgetLedger, load_shared

    section = p.federated
    assert section is not None, "only pipelines with a shared model have a shared-model section"
    pl = make_plan(section)
    spent: list[float] = []
    unreadable = 0
    for s in subjects:
        try:
            ledger = BudgetLedger(app, s.pseudonym, p.name, pl.delta)
            if ledger.charges():
                spent.append(ledger.spent())
        except Exception:
            unreadable += 1
    try:
        shared = load_shared(app, p.name)
        installed = dict(shared[1]) if shared is not None else None
    except Exception as e:
        installed = {"error": f"{type(e).__name__}: {e}"}
    dp = pl.noise_multiplier > 0
    mechanism = (
        f"DP-{_STRATEGY_NAMES.get(section.strategy, section.strategy)}: each update clipped to L2 "
        f"{pl.clip_norm:g} on the device; Gaussian noise "
        f"(multiplier {pl.noise_multiplier:.4g}) on the mean; RDP accountant, delta {pl.delta:g}, "
        f"{pl.rounds} rounds of {pl.clients_per_round} at q = {pl.q:.4g}"
        if dp
        else f"{_STRATEGY_NAMES.get(section.strategy, section.strategy)} without noise: updates clipped to L2 "
        f"{pl.clip_norm:g}, no differential privacy"
    )
    contributed, refused = _audit_counts(app, p.name)
    ordered = sorted(spent)
    return SharedModelSection(
        p.name,
        section.purpose,
        mechanism,
        dp,
        bool(section.secure_aggregation),
        pl.noise_multiplier,
        pl.clip_norm,
        pl.delta,
        _finite(pl.epsilon),
        pl.epsilon_cap,
        len(spent),
        _finite(ordered[-1]) if ordered else None,
        _finite(ordered[len(ordered) // 2]) if ordered else None,
        sum(e >= pl.epsilon_cap * (1 - 1e-6) for e in spent),
        unreadable,
        contributed,
        refused,
        installed,
    )


def _shared_model_findings(m: SharedModelSection) -> list[Finding]:
    out: list[Finding] = []
    inst = m.installed or {}
    if not m.differential_privacy or inst.get("epsilon") == -1:
        where = "is configured without noise" if not m.differential_privacy else "was trained without noise"
        out.append(
            Finding(
                Severity.HIGH,
                "federated-no-dp",
                f"The shared model of '{m.pipeline}' {where} (no differential privacy)",
                "Learners' clipped updates are averaged without Gaussian noise: the global model (and anyone who sees "
                "the aggregate) can reveal what individual learners did.",
                "Set target_epsilon (or noise_multiplier > 0) in [pipelines.X.federated] and retrain the shared model.",
                m.pipeline,
            )
        )
    if not m.secure_aggregation or inst.get("secure_aggregation") is False:
        out.append(
            Finding(
                Severity.MEDIUM,
                "federated-no-secure-aggregation",
                f"The shared model of '{m.pipeline}' is trained without secure aggregation",
                "The server sees each learner's clipped update before noise is added to the mean; differential privacy "
                "protects the published model, not the individual updates in transit to the server.",
                "Set secure_aggregation = true (SecAgg+) so the server only sees the sum of updates.",
                m.pipeline,
            )
        )
    high = [
        x
        for x in (m.epsilon_cap, m.epsilon_spent_max, m.epsilon_per_run)
        if x is not None and x > EPSILON_THRESHOLD
    ]
    if m.differential_privacy and high:
        out.append(
            Finding(
                Severity.MEDIUM,
                "federated-epsilon-high",
                f"The shared model of '{m.pipeline}' allows epsilon above {EPSILON_THRESHOLD:g} per learner",
                f"Epsilon cap {m.epsilon_cap:g}, per run {m.epsilon_per_run if m.epsilon_per_run is not None else 'inf'}"
                f", spent so far at most {m.epsilon_spent_max if m.epsilon_spent_max is not None else 0:.3g} "
                f"(delta {m.delta:g}). Guarantees this weak bound little.",
                "Lower epsilon_cap and target_epsilon, or sample fewer learners per round from a larger population.",
                m.pipeline,
            )
        )
    if m.unreadable_ledgers:
        out.append(
            Finding(
                Severity.HIGH,
                "federated-ledger-unreadable",
                f"{m.unreadable_ledgers} privacy ledger(s) of '{m.pipeline}' could not be read",
                "A learner's sealed record of privacy spent is missing, tampered with or rolled back; their budget "
                "cannot be enforced (contributing is refused while it is unreadable).",
                "Restore the data directory whole from the latest backup.",
                m.pipeline,
            )
        )
    if "error" in inst:
        out.append(
            Finding(
                Severity.HIGH,
                "federated-model-unreadable",
                f"The installed shared model of '{m.pipeline}' is not valid",
                str(inst["error"]),
                "Restore the data directory whole, or install the global model again.",
                m.pipeline,
            )
        )
    return out


def _eps(x: float | None) -> str:
    return "inf" if x is None else f"{x:.3g}"


def _shared_rows(m: SharedModelSection) -> list[tuple[str, str]]:
    inst = m.installed
    if inst and "error" not in inst:
        eps = inst.get("epsilon")
        installed = (
            f"version from run {inst.get('run')}: epsilon {'inf (no DP)' if eps == -1 else eps}, "
            f"{inst.get('rounds')} rounds, {inst.get('participants')} updates, secure aggregation "
            f"{_yes(bool(inst.get('secure_aggregation')))}"
        )
    else:
        installed = "none" if not inst else f"INVALID: {inst['error']}"
    return [
        ("purpose", m.purpose),
        ("mechanism", m.mechanism),
        ("differential privacy", _yes(m.differential_privacy)),
        ("secure aggregation", _yes(m.secure_aggregation)),
        ("epsilon per run", _eps(m.epsilon_per_run)),
        ("epsilon cap", f"{m.epsilon_cap:g}"),
        (
            "participants",
            f"{m.participants} learners charged ({m.contributions_logged} contributions, "
            f"{m.refusals_logged} refusals logged)",
        ),
        (
            "epsilon spent so far",
            f"max {_eps(m.epsilon_spent_max)}, median {_eps(m.epsilon_spent_median)} "
            f"(cap reached by {m.learners_at_cap})"
            if m.participants
            else "none",
        ),
        ("installed global model", installed),
    ]


# ------------------------------------------------------------------ JSON


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


# ------------------------------------------------------------------ text


def _components(p: PipelineSection) -> tuple[PluginAccess, ...]:
    return (p.model, p.featurizer, p.backend, p.scheduler, p.store)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "never"


def _origin(a: PluginAccess) -> str:
    kind = "built-in" if a.builtin else "THIRD-PARTY"
    return f"{a.name} (plugin {a.plugin}, {a.distribution} {a.version}".rstrip() + f", {kind})"


def _app_rows(r: AuditReport) -> list[tuple[str, str]]:
    a = r.app
    kp = a.key_provider
    return [
        ("app id", a.app_id),
        ("app name", a.name),
        ("generated at", _when(a.generated_at)),
        ("satchel version", a.satchel_version),
        ("data directory", a.data_dir),
        ("key directory", a.key_dir),
        ("encryption", a.encryption),
        ("key provider", f"{kp.name}: {kp.description}" + ("  [INSECURE]" if kp.insecure else "")),
        ("master key id", f"{a.master_key_id} (fingerprint)"),
        ("master key created", _when(a.master_key_created_at)),
        ("last rotation", _when(a.master_key_rotated_at)),
        ("retired keys", str(a.retired_keys)),
        ("learners", f"{a.subjects} with a key, {a.erased_subjects} erased"),
        ("age of digital consent", str(a.age_of_digital_consent)),
        ("retention", f"{a.retention_days} days" if a.retention_days is not None else "unlimited"),
        ("purge on withdrawal", _yes(a.purge_on_withdrawal)),
        ("school consent purposes", ", ".join(a.school_consent_purposes) or "none"),
        ("audit log", _audit_line(r.audit_log)),
    ]


def _audit_line(s: AuditLogStatus) -> str:
    if s.ok:
        return f"ok: {s.entries} entries verified (chain and anchor)"
    return f"FAILED after {s.entries} entries: {s.problem}"


def _coverage_rows(c: ConsentCoverage) -> list[tuple[str, str]]:
    actors = ", ".join(f"{k} {v}" for k, v in c.consent_by_actor.items())
    return [
        ("learners with stored data", str(c.subjects_with_data)),
        ("learners with active consent", f"{c.subjects_with_consent} (by {actors})"),
        (
            "minors with consent",
            f"{c.minors} ({c.minors_guardian_or_school_consent} by guardian/school, "
            f"{c.minors_self_consent} by themselves)",
        ),
        ("data kept without consent", str(c.subjects_with_data_without_consent)),
    ]


def _pairs(rows: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    """Aligned ``key  value`` lines, values wrapped at 100 columns."""
    width = max(len(k) for k, _ in rows)
    return [line for k, v in rows for line in _wrapped(f"{k.ljust(width)}  ", v, indent)]


def _wrapped(label: str, text: str, indent: str) -> list[str]:
    """``text`` wrapped at 100 columns after ``indent`` + ``label``, continued under the label's end."""
    hanging = indent + " " * len(label)
    return textwrap.wrap(
        text,
        100,
        initial_indent=indent + label,
        subsequent_indent=hanging,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [(indent + label).rstrip()]


def render_text(report: AuditReport) -> str:
    """The report for a terminal (plain text, 100 columns)."""
    a = report.app
    counts = ", ".join(f"{n} {label}" for label, n in report.summary().items() if n) or "none"
    lines = [f"satchel privacy audit: {a.name} ({a.app_id})", f"findings: {counts}", "", "APP"]
    lines += _pairs(_app_rows(report))
    for p in report.pipelines:
        lines += [
            "",
            f"PIPELINE {p.name}" + (f": {p.description}" if p.description else ""),
            f"  purposes: {', '.join(p.purposes)}",
            "  components:",
        ]
        lines += _pairs([(c.role, _origin(c)) for c in _components(p)], "    ")
        lines.append("  event types read:")
        lines += _pairs(
            [(e.name, f"{', '.join(e.categories)}: {e.description}") for e in p.event_types], "    "
        )
        lines.append("  data categories:")
        lines += _pairs([(c.name, c.description) for c in p.categories], "    ")
        lines.append("  consent coverage:")
        lines += _pairs(_coverage_rows(p.coverage), "    ")
        lines.append("  plugins and the data they may read:")
        for x in p.plugins:
            lines += [f"    {x.role}: {_origin(x)}", *_wrapped("reads: ", x.reads, "      ")]
    for m in report.shared_models:
        lines += ["", f"SHARED MODEL {m.pipeline} (federated)"]
        lines += _pairs(_shared_rows(m))
    lines += ["", f"FINDINGS ({len(report.findings)}, most severe first)"]
    if not report.findings:
        lines.append("  none")
    for i, f in enumerate(report.findings, 1):
        where = f", pipeline {f.pipeline}" if f.pipeline else ""
        heading = _wrapped(f"{i}. {f.severity.label.upper()}  ", f.title, "  ")
        lines += [
            "",
            *heading,
            f"     [{f.code}{where}]",
            *_wrapped("", f.detail, "     "),
            *_wrapped("fix: ", f.fix, "     "),
        ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ HTML

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1d2330;
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 12px}h3{font-size:16px;margin:20px 0 8px}
.sub{color:#5b6474;margin:0 0 16px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:16px 20px;margin:0 0 16px}
.counts{display:flex;gap:10px;flex-wrap:wrap;margin:12px 0 0}
.count{border-radius:6px;padding:6px 12px;font-weight:600;border:1px solid #dde1e7;background:#fff}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:6px 10px;border-bottom:1px solid #eceef2}
th{color:#5b6474;font-weight:600;white-space:nowrap}
table.kv th{width:230px}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f0f2f5;padding:1px 4px;
border-radius:3px}
td code{white-space:nowrap}.finding p,table.kv td{overflow-wrap:anywhere}
.card>h2:first-child{margin-top:4px}
.sev{display:inline-block;min-width:74px;text-align:center;border-radius:4px;padding:1px 8px;font-size:12px;
font-weight:700;letter-spacing:.04em;text-transform:uppercase;color:#fff}
.sev-critical{background:#a3161a}.sev-high{background:#d9480f}.sev-medium{background:#b7791f}
.sev-low{background:#2b6cb0}.sev-info{background:#5b6474}
.finding{border-left:6px solid #5b6474}
.finding.critical{border-left-color:#a3161a}.finding.high{border-left-color:#d9480f}
.finding.medium{border-left-color:#b7791f}.finding.low{border-left-color:#2b6cb0}
.finding h3{margin:6px 0}.finding p{margin:6px 0}.fix{background:#eef6ee;border-radius:4px;padding:6px 10px}
.meta{color:#5b6474;font-size:13px}
.ok{color:#1e7b34;font-weight:600}.bad{color:#a3161a;font-weight:600}
.tag{display:inline-block;border-radius:4px;padding:0 6px;font-size:12px;font-weight:600}
.builtin{background:#e3f1e6;color:#1e6b30}.third{background:#fde8d7;color:#9c3d05}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _kv_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A table whose cells are already-escaped HTML."""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _sev(s: Severity) -> str:
    return f'<span class="sev sev-{s.label}">{s.label}</span>'


def _origin_html(a: PluginAccess) -> str:
    tag = (
        '<span class="tag builtin">built-in</span>'
        if a.builtin
        else '<span class="tag third">third-party</span>'
    )
    return f"<code>{_e(a.plugin)}</code> · {_e(a.distribution)} {_e(a.version)} {tag}"


def _finding_html(i: int, f: Finding) -> str:
    where = f" · pipeline <code>{_e(f.pipeline)}</code>" if f.pipeline else ""
    return (
        f'<section class="card finding {f.severity.label}"><div>{_sev(f.severity)} '
        f'<span class="meta">#{i} · <code>{_e(f.code)}</code>{where}</span></div>'
        f"<h3>{_e(f.title)}</h3><p>{_e(f.detail)}</p>"
        f'<p class="fix"><strong>Fix:</strong> {_e(f.fix)}</p></section>'
    )


def _pipeline_html(p: PipelineSection) -> str:
    comps = _table(
        ("role", "component", "plugin"),
        [(_e(c.role), f"<code>{_e(c.name)}</code>", _origin_html(c)) for c in _components(p)],
    )
    types = _table(
        ("event type", "categories", "description"),
        [
            (f"<code>{_e(e.name)}</code>", _e(", ".join(e.categories)), _e(e.description))
            for e in p.event_types
        ],
    )
    cats = _table(
        ("category", "what it is"), [(f"<code>{_e(c.name)}</code>", _e(c.description)) for c in p.categories]
    )
    access = _table(
        ("role", "name", "plugin", "may read"),
        [
            (
                _e(x.role),
                f"<code>{_e(x.name)}</code>",
                _origin_html(x),
                _e(x.reads) if x.personal_data else f'<span class="meta">{_e(x.reads)}</span>',
            )
            for x in p.plugins
        ],
    )
    desc = f'<p class="sub">{_e(p.description)}</p>' if p.description else ""
    return (
        f'<section class="card" id="pipeline-{_e(p.name)}">'
        f"<h2>Pipeline <code>{_e(p.name)}</code></h2>{desc}"
        f"{_kv_table([('purposes', ', '.join(p.purposes))])}"
        f"<h3>Components</h3>{comps}<h3>Event types read</h3>{types}<h3>Data categories</h3>{cats}"
        f"<h3>Consent coverage</h3>{_kv_table(_coverage_rows(p.coverage))}"
        f"<h3>Plugins and the data they may read</h3>{access}</section>"
    )


def _shared_html(m: SharedModelSection) -> str:
    return (
        f'<section class="card" id="shared-{_e(m.pipeline)}"><h2>Shared model <code>{_e(m.pipeline)}</code> '
        f"(federated)</h2>{_kv_table(_shared_rows(m))}</section>"
    )


def render_html(report: AuditReport) -> str:
    """One self-contained HTML page (inline CSS; no scripts, fonts or other external resources)."""
    a = report.app
    counts = "".join(
        f'<span class="count">{_sev(Severity.parse(label))} {n}</span>'
        for label, n in report.summary().items()
    )
    log = report.audit_log
    log_html = (
        f'<span class="ok">verified</span> · {log.entries} entries'
        if log.ok
        else f'<span class="bad">FAILED</span> after {log.entries} entries: {_e(log.problem)}'
    )
    findings = "".join(_finding_html(i, f) for i, f in enumerate(report.findings, 1))
    title = f"Privacy audit: {a.name} ({a.app_id})"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{_CSS}</style></head>
<body><main>
<h1>{_e(title)}</h1>
<p class="sub">Generated {_e(_when(a.generated_at))} by satchel {_e(a.satchel_version)}.
Learners appear only as counts and pseudonyms; keys only as fingerprints.</p>
<section class="card"><strong>{len(report.findings)} finding(s)</strong>, most severe first below.
<div class="counts">{counts}</div>
<p>Audit log: {log_html}</p></section>
<h2>Findings</h2>
{findings or '<p class="card">No findings.</p>'}
<h2>App and protection</h2>
<section class="card">{_kv_table(_app_rows(report))}</section>
<h2>Pipelines</h2>
{"".join(_pipeline_html(p) for p in report.pipelines)}
{"".join(_shared_html(m) for m in report.shared_models)}
</main></body></html>
"""
