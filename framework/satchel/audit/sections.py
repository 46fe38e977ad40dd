"""Reading an app into the report's sections: the app and its protection, the audit log, each pipeline."""

from __future__ import annotations

from datetime import datetime

from satchel._version import __version__
from satchel.audit.audited_app import AuditedApp, AuditedComponent, AuditedPipeline
from satchel.audit.records import (
    AppSection,
    AuditLogStatus,
    CategoryInfo,
    ConsentCoverage,
    EventTypeInfo,
    KeyProviderInfo,
    PipelineSection,
    PluginAccess,
)
from satchel.audit.subjects import Subject, covering_grants, is_minor, self_minor, stored, unconsented_types
from satchel.plugin.records import DATA_CATEGORIES
from satchel.privacy.consent import ACTORS

ENCRYPTION = (
    "AES-256-GCM envelope encryption: per-object data keys wrapped by per-subject keys wrapped by "
    "the master key; AAD binds app/subject/pipeline/kind/version/key id"
)
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


def app_section(app: AuditedApp, now: datetime) -> AppSection:
    """The app, its key vault and key provider, and its privacy settings, as of ``now``."""
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


def _key_provider(app: AuditedApp) -> KeyProviderInfo:
    component = app.config.key_provider
    described = app.key_provider.describe()
    origin = _access(
        app, "key provider", component.name, "the master key (key material, no personal data)", False
    )
    insecure = bool(component.spec.insecure or described.insecure)
    return KeyProviderInfo(component.name, described.summary, insecure, dict(described.settings), origin)


def audit_log_status(app: AuditedApp) -> AuditLogStatus:
    """Whether the audit log verifies (chain and anchor), and how far."""
    result = app.audit_log.verify()
    return AuditLogStatus(
        str(app.audit_log.path), result.ok, result.entries, str(result.problem) if result.problem else None
    )


def _access(app: AuditedApp, role: str, name: str, reads: str, personal: bool) -> PluginAccess:
    origin = app.registry.origin(_KIND_OF_ROLE[role], name)
    return PluginAccess(
        role, name, origin.plugin, origin.distribution, origin.version, origin.builtin, reads, personal
    )


def _component_access(app: AuditedApp, p: AuditedPipeline, role: str) -> PluginAccess:
    component: AuditedComponent = getattr(p, role)
    reads = {
        "featurizer": f"the learner's stored events of types {', '.join(p.featurizer.spec.reads)}",
        "model": "feature rows derived from the learner's events, and the model's predictions",
        "backend": "feature matrices and labels derived from the learner's events; the trained weights",
        "scheduler": "device state and sample counts only (no personal data)",
        "store": "the learner's trained weights (derived from their events); the core encrypts them",
    }[role]
    return _access(app, role, component.name, reads, role != "scheduler")


def _consent_access(app: AuditedApp) -> tuple[PluginAccess, ...]:
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


def _source_access(app: AuditedApp, p: AuditedPipeline) -> tuple[PluginAccess, ...]:
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


def pipeline_section(app: AuditedApp, p: AuditedPipeline, subjects: tuple[Subject, ...]) -> PipelineSection:
    """``p``'s purposes, components and plugins with what they read, event types, categories, coverage."""
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


def _event_type(app: AuditedApp, name: str) -> EventTypeInfo:
    spec = app.registry.event_type(name)
    return EventTypeInfo(spec.name, spec.description, tuple(spec.categories))


def _coverage(app: AuditedApp, p: AuditedPipeline, subjects: tuple[Subject, ...]) -> ConsentCoverage:
    reads = p.featurizer.spec.reads
    age = app.config.age_of_digital_consent
    consented = [g for g in (covering_grants(p, s) for s in subjects) if g is not None]
    minors = [g for g in consented if is_minor(g, age)]
    by_actor = {actor: sum(any(e.actor == actor for e in g) for g in consented) for actor in ACTORS}
    self_minors = sum(self_minor(g, age) for g in minors)
    unconsented = sum(1 for s in subjects if stored(app, s, unconsented_types(app, p, s)))
    return ConsentCoverage(
        subjects_with_data=sum(1 for s in subjects if app.events.count(s.pseudonym, reads) > 0),
        subjects_with_consent=len(consented),
        consent_by_actor=by_actor,
        minors=len(minors),
        minors_guardian_or_school_consent=len(minors) - self_minors,
        minors_self_consent=self_minors,
        subjects_with_data_without_consent=unconsented,
    )
