"""The report's sections as (label, value) rows and short phrases, shared by the text and HTML pages."""

from __future__ import annotations

from datetime import datetime

from satchel.audit.records import (
    AuditLogStatus,
    AuditReport,
    ConsentCoverage,
    PipelineSection,
    PluginAccess,
    SharedModelSection,
)


def components(p: PipelineSection) -> tuple[PluginAccess, ...]:
    """The pipeline's five components, in the order the report lists them."""
    return (p.model, p.featurizer, p.backend, p.scheduler, p.store)


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def time_or_never(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "never"


def epsilon_or_inf(x: float | None) -> str:
    return "inf" if x is None else f"{x:.3g}"


def app_rows(r: AuditReport) -> list[tuple[str, str]]:
    """The app and its protection, ending with the audit log's status."""
    a = r.app
    kp = a.key_provider
    return [
        ("app id", a.app_id),
        ("app name", a.name),
        ("generated at", time_or_never(a.generated_at)),
        ("satchel version", a.satchel_version),
        ("data directory", a.data_dir),
        ("key directory", a.key_dir),
        ("encryption", a.encryption),
        ("key provider", f"{kp.name}: {kp.description}" + ("  [INSECURE]" if kp.insecure else "")),
        ("master key id", f"{a.master_key_id} (fingerprint)"),
        ("master key created", time_or_never(a.master_key_created_at)),
        ("last rotation", time_or_never(a.master_key_rotated_at)),
        ("retired keys", str(a.retired_keys)),
        ("learners", f"{a.subjects} with a key, {a.erased_subjects} erased"),
        ("age of digital consent", str(a.age_of_digital_consent)),
        ("retention", f"{a.retention_days} days" if a.retention_days is not None else "unlimited"),
        ("purge on withdrawal", yes_no(a.purge_on_withdrawal)),
        ("school consent purposes", ", ".join(a.school_consent_purposes) or "none"),
        ("audit log", _audit_line(r.audit_log)),
    ]


def _audit_line(s: AuditLogStatus) -> str:
    if s.ok:
        return f"ok: {s.entries} entries verified (chain and anchor)"
    return f"FAILED after {s.entries} entries: {s.problem}"


def coverage_rows(c: ConsentCoverage) -> list[tuple[str, str]]:
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


def shared_rows(m: SharedModelSection) -> list[tuple[str, str]]:
    inst = m.installed
    if inst and "error" not in inst:
        eps = inst.get("epsilon")
        installed = (
            f"version from run {inst.get('run')}: epsilon {'inf (no DP)' if eps == -1 else eps}, "
            f"{inst.get('rounds')} rounds, {inst.get('participants')} updates, secure aggregation "
            f"{yes_no(bool(inst.get('secure_aggregation')))}"
        )
    else:
        installed = "none" if not inst else f"INVALID: {inst['error']}"
    return [
        ("purpose", m.purpose),
        ("mechanism", m.mechanism),
        ("differential privacy", yes_no(m.differential_privacy)),
        ("secure aggregation", yes_no(m.secure_aggregation)),
        ("epsilon per run", epsilon_or_inf(m.epsilon_per_run)),
        ("epsilon cap", f"{m.epsilon_cap:g}"),
        (
            "participants",
            f"{m.participants} learners charged ({m.contributions_logged} contributions, "
            f"{m.refusals_logged} refusals logged)",
        ),
        (
            "epsilon spent so far",
            f"max {epsilon_or_inf(m.epsilon_spent_max)}, median {epsilon_or_inf(m.epsilon_spent_median)} "
            f"(cap reached by {m.learners_at_cap})"
            if m.participants
            else "none",
        ),
        ("installed global model", installed),
    ]
