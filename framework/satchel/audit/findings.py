"""The audit's findings about keys, the audit log, retention, permissions, plugins, consent and categories."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path

from satchel.audit.audited_app import AuditedApp, AuditedPipeline
from satchel.audit.records import AppSection, AuditLogStatus, Finding, PipelineSection, PluginAccess, Severity
from satchel.audit.subjects import Subject, covering_grants, self_minor, stored, unconsented_types
from satchel.privacy.key_provider import RotatableKeyProvider

LONG_RETENTION_DAYS = 3 * 365
ROTATION_DAYS = 365
MAX_LISTED = 10


def key_findings(app: AuditedApp, section: AppSection, now: datetime) -> list[Finding]:
    """An insecurely stored master key; a master key not rotated for over a year."""
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


def audit_log_findings(status: AuditLogStatus) -> list[Finding]:
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


def retention_findings(section: AppSection) -> list[Finding]:
    """No or a long retention limit; data kept after consent is withdrawn."""
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


def permission_findings(app: AuditedApp) -> list[Finding]:
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


def plugin_findings(section: AppSection, pipelines: tuple[PipelineSection, ...]) -> list[Finding]:
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


def consent_findings(app: AuditedApp, p: AuditedPipeline, subjects: tuple[Subject, ...]) -> list[Finding]:
    """Invalid consent in force (minors consenting for themselves, school consent out of scope), and
    data kept without consent, for pipeline ``p``."""
    age = app.config.age_of_digital_consent
    out = []
    grants = {s.pseudonym: g for s in subjects if (g := covering_grants(p, s)) is not None}
    self_minors = sorted(s for s, g in grants.items() if self_minor(g, age))
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
    kept = sorted(s.pseudonym for s in subjects if stored(app, s, unconsented_types(app, p, s)))
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


def category_findings(p: PipelineSection) -> list[Finding]:
    """Free text read by pipeline ``p``."""
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
