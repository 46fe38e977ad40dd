"""Learners as the audit sees them: pseudonyms, the consent in force, and what it covers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from satchel.audit.audited_app import AuditedApp, AuditedPipeline
from satchel.plugin.records import ConsentEntry
from satchel.privacy.consent import active_purposes, may_self_consent


@dataclass(frozen=True)
class Subject:
    """One learner as the report sees them: their pseudonym and the consent in force now."""

    pseudonym: str
    active: Mapping[str, ConsentEntry]


def learners(app: AuditedApp, now: datetime) -> tuple[Subject, ...]:
    """Every learner with a key or stored events, by pseudonym, with the consent in force at ``now``."""
    pseudonyms = sorted(set(app.vault.subjects()) | set(app.events.subjects()))
    return tuple(Subject(p, active_purposes(app.ledger.history(p), now)) for p in pseudonyms)


def covering_grants(p: AuditedPipeline, s: Subject) -> tuple[ConsentEntry, ...] | None:
    """The grants in force covering every purpose of ``p``, or None when one is missing."""
    if not all(purpose in s.active for purpose in p.purposes):
        return None
    return tuple(s.active[purpose] for purpose in p.purposes)


def is_minor(grants: Iterable[ConsentEntry], age_of_digital_consent: int) -> bool:
    return any(not may_self_consent(g.age_band, age_of_digital_consent) for g in grants)


def self_minor(grants: Iterable[ConsentEntry], age_of_digital_consent: int) -> bool:
    """A grant in force was given by the learner while under the age of digital consent."""
    return any(g.actor == "self" and not may_self_consent(g.age_band, age_of_digital_consent) for g in grants)


def unconsented_types(app: AuditedApp, p: AuditedPipeline, s: Subject) -> tuple[str, ...]:
    """Event types ``p`` reads that no pipeline the subject consents to reads (nothing justifies them)."""
    if covering_grants(p, s) is not None:
        return ()
    consented = [q for q in app.pipelines.values() if covering_grants(q, s) is not None]
    covered = {t for q in consented for t in q.featurizer.spec.reads}
    return tuple(t for t in p.featurizer.spec.reads if t not in covered)


def stored(app: AuditedApp, s: Subject, types: tuple[str, ...]) -> bool:
    """The learner has stored events of any of ``types``."""
    return bool(types) and app.events.count(s.pseudonym, types) > 0
