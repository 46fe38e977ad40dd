"""The privacy audit report (``satchel audit``): what an app collects, why, under which consent,
how it is protected, how long it is kept, and what needs fixing.

:func:`build_report` reads an open app (anything satisfying :class:`AuditedApp`, such as
:class:`satchel.app.App`: config, registry, key vault, consent ledger, event store, audit log) and
returns a frozen :class:`AuditReport`; ``render_text``, ``render_json`` and ``render_html`` print it.
The report holds no personal data: learners appear only as counts and keyed pseudonyms, and key
material only as fingerprints.
"""

from __future__ import annotations

from datetime import datetime, timezone

from satchel.audit.audited_app import AuditedApp
from satchel.audit.findings import (
    LONG_RETENTION_DAYS,
    MAX_LISTED,
    ROTATION_DAYS,
    audit_log_findings,
    category_findings,
    consent_findings,
    key_findings,
    permission_findings,
    plugin_findings,
    retention_findings,
)
from satchel.audit.records import (
    AppSection,
    AuditLogStatus,
    AuditReport,
    CategoryInfo,
    ConsentCoverage,
    EventTypeInfo,
    Finding,
    KeyProviderInfo,
    PipelineSection,
    PluginAccess,
    Severity,
    SharedModelSection,
    render_json,
)
from satchel.audit.render_html import render_html
from satchel.audit.render_text import render_text
from satchel.audit.sections import ENCRYPTION, app_section, audit_log_status, pipeline_section
from satchel.audit.shared_models import EPSILON_THRESHOLD, shared_models
from satchel.audit.subjects import learners

__all__ = [
    "ENCRYPTION",
    "EPSILON_THRESHOLD",
    "LONG_RETENTION_DAYS",
    "MAX_LISTED",
    "ROTATION_DAYS",
    "AppSection",
    "AuditLogStatus",
    "AuditReport",
    "AuditedApp",
    "CategoryInfo",
    "ConsentCoverage",
    "EventTypeInfo",
    "Finding",
    "KeyProviderInfo",
    "PipelineSection",
    "PluginAccess",
    "Severity",
    "SharedModelSection",
    "build_report",
    "render_html",
    "render_json",
    "render_text",
]


def build_report(app: AuditedApp, *, now: datetime | None = None) -> AuditReport:
    """Audit ``app`` as of ``now`` (timezone-aware; default: the current time)."""
    now = now or datetime.now(timezone.utc)
    subjects = learners(app, now)
    section = app_section(app, now)
    audit_log = audit_log_status(app)
    pipelines = tuple(pipeline_section(app, p, subjects) for p in app.pipelines.values())
    shared, shared_findings = shared_models(app, subjects)
    findings = [
        *key_findings(app, section, now),
        *audit_log_findings(audit_log),
        *retention_findings(section),
        *permission_findings(app),
        *plugin_findings(section, pipelines),
        *(f for p in app.pipelines.values() for f in consent_findings(app, p, subjects)),
        *(f for p in pipelines for f in category_findings(p)),
        *shared_findings,
    ]
    ranked = sorted(findings, key=lambda f: (-f.severity, f.pipeline or "", f.code, f.title))
    return AuditReport(section, audit_log, pipelines, tuple(ranked), shared)
