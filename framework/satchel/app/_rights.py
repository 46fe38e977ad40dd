"""Learner rights: opt-in consent (``app.consent``), withdrawal and its purge, access, and erasure."""

from __future__ import annotations

import shutil
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np

from satchel.app._wiring import AppWiring
from satchel.errors import ConsentError
from satchel.plugin.records import Actor, ConsentEntry
from satchel.privacy.consent import active_purposes, make_grant


@dataclass(frozen=True)
class ConsentStatus:
    """A subject's consent now: the grant in force per purpose, and the full history."""

    active: Mapping[str, ConsentEntry]
    history: tuple[ConsentEntry, ...] = field(default_factory=tuple)


class LearnerRights(AppWiring):
    """The App's learner-rights part: ``consent``, ``export_subject`` and ``erase``."""

    @cached_property
    def consent(self) -> ConsentAPI:
        """Grant, withdraw, show and history of opt-in consent."""
        return ConsentAPI(self)

    def export_subject(self, subject: str) -> dict[str, Any]:
        """Everything stored about ``subject``, machine-readable (the right of access)."""
        pseudo = self.pseudonym(subject)
        models = {}
        for name in self.pipelines:
            ckpt = self.component(name, "store").load(self._files(pseudo, name))
            if ckpt is not None:
                models[name] = {
                    "version": ckpt.version,
                    "backend": ckpt.backend,
                    "created_at": ckpt.created_at.isoformat(),
                    "spec_hash": ckpt.spec_hash,
                    "feature_schema_hash": ckpt.schema_hash,
                    "metrics": dict(ckpt.metrics),
                    "samples": ckpt.samples,
                    "weights": {k: np.asarray(v).tolist() for k, v in ckpt.weights.params.items()},
                }
        has_key = pseudo in self.vault.subjects()
        out = {
            "app_id": self.app_id,
            "subject": subject,
            "exported_at": self.clock().isoformat(),
            "events": [e.model_dump(mode="json") for e in self.events.read(pseudo)] if has_key else [],
            "consent_history": [_entry_json(e) for e in self.ledger.history(pseudo)],
            "models": models,
        }
        self.audit_log.append(
            "subject.exported", subject=pseudo, events=len(out["events"]), models=len(models)
        )
        return out

    def erase(self, subject: str) -> None:
        """Erase ``subject``: delete their records and files and crypto-shred their key, so copies
        of the data directory taken earlier cannot be decrypted either."""
        pseudo = self.pseudonym(subject)
        events = self.events.delete(pseudo)
        self.ledger.delete(pseudo)
        shutil.rmtree(self.config.data_dir / "checkpoints" / pseudo, ignore_errors=True)
        for lock in (self.config.data_dir / "locks").glob(f"{pseudo}.*"):
            lock.unlink(missing_ok=True)
        self._trainers = OrderedDict((k, v) for k, v in self._trainers.items() if k[0] != pseudo)
        self.vault.erase(pseudo)
        self.events.compact()
        self.audit_log.append("subject.erased", subject=pseudo, events=events)

    def _purge(self, pseudo: str, purposes: Iterable[str], at: datetime) -> None:
        withdrawn = set(purposes)
        affected = [p for p in self.pipelines.values() if withdrawn & set(p.purposes)]
        still_allowed = {
            t
            for p in self.pipelines.values()
            if p not in affected and self._verdict(pseudo, p, "read", at)[0]
            for t in p.featurizer.spec.reads
        }
        types = {t for p in affected for t in p.featurizer.spec.reads} - still_allowed
        deleted = self.events.delete(pseudo, sorted(types)) if types else 0
        for p in affected:
            self.component(p.name, "store").delete_all(self._files(pseudo, p.name))
            self._trainers.pop((pseudo, p.name), None)
        self.audit_log.append(
            "consent.purged", subject=pseudo, events=deleted, pipelines=",".join(p.name for p in affected)
        )


class ConsentAPI:
    """``app.consent``: grant, withdraw, show and history of opt-in consent."""

    def __init__(self, app: LearnerRights) -> None:
        self._app = app

    def grant(
        self,
        subject: str,
        *,
        purposes: Iterable[str],
        notice: str,
        policy_version: str,
        actor: Actor,
        age_band: str,
        method: str,
        expires_at: datetime | None = None,
        at: datetime | None = None,
    ) -> ConsentEntry:
        """Record an opt-in consent. ``notice`` is the exact text shown; only its SHA-256 is kept."""
        app = self._app
        purposes = list(purposes)
        declared = {x for p in app.pipelines.values() for x in p.purposes}
        declared |= {p.federated.purpose for p in app.pipelines.values() if p.federated is not None}
        unknown = [x for x in purposes if x not in declared]
        if unknown:
            raise ConsentError(
                f"no pipeline serves purpose(s) {unknown}",
                hint=f"purposes of this app: {', '.join(sorted(declared))}",
            )
        entry = make_grant(
            purposes=purposes,
            notice=notice,
            policy_version=policy_version,
            actor=actor,
            age_band=age_band,
            method=method,
            age_of_digital_consent=app.config.age_of_digital_consent,
            school_purposes=app.config.school_consent_purposes,
            expires_at=expires_at,
            at=at or app.clock(),
        )
        pseudo = app.pseudonym(subject)
        app.ledger.append(pseudo, entry)
        app.audit_log.append(
            "consent.granted",
            subject=pseudo,
            purposes=",".join(entry.purposes),
            actor=actor,
            notice_sha256=entry.notice_sha256,
        )
        return entry

    def withdraw(
        self,
        subject: str,
        *,
        purposes: Iterable[str] | None = None,
        reason: str = "",
        actor: Actor = "self",
        at: datetime | None = None,
    ) -> ConsentEntry:
        """Withdraw consent (all purposes by default); takes effect at the next call and, when
        ``privacy.purge_on_withdrawal`` is on, deletes that purpose's events and models."""
        app = self._app
        at = at or app.clock()
        pseudo = app.pseudonym(subject)
        current = active_purposes(app.ledger.history(pseudo), at)
        chosen = tuple(purposes) if purposes is not None else tuple(current)
        if not chosen:
            raise ConsentError("there is no active consent to withdraw")
        entry = ConsentEntry("withdrawn", chosen, at, actor, reason=reason)
        app.ledger.append(pseudo, entry)
        app.audit_log.append("consent.withdrawn", subject=pseudo, purposes=",".join(chosen), actor=actor)
        app._drop_sample_caches(
            pseudo, [p.name for p in app.pipelines.values() if set(chosen) & set(p.purposes)]
        )
        if app.config.purge_on_withdrawal:
            app._purge(pseudo, chosen, at)
        return entry

    def show(self, subject: str, *, at: datetime | None = None) -> ConsentStatus:
        history = self.history(subject)
        return ConsentStatus(active_purposes(history, at or self._app.clock()), history)

    def history(self, subject: str) -> tuple[ConsentEntry, ...]:
        return self._app.ledger.history(self._app.pseudonym(subject))


def _entry_json(e: ConsentEntry) -> dict[str, Any]:
    return {
        "action": e.action,
        "purposes": list(e.purposes),
        "at": e.at.isoformat(),
        "actor": e.actor,
        "age_band": e.age_band,
        "policy_version": e.policy_version,
        "notice_sha256": e.notice_sha256,
        "method": e.method,
        "expires_at": e.expires_at.isoformat() if e.expires_at else None,
        "reason": e.reason,
    }
