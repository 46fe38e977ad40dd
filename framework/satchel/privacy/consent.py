"""Consent records: who agreed to what, under which notice, and every change since.

The ledger stores each subject's history as sealed records (one per change) in the app database.
Granting validates the request up front — an age band under the age of digital consent needs a
guardian (or a school acting for the parents, for the configured educational purposes only) — and
the core's gate asks the consent plugins on every call, so a withdrawal takes effect at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime, timezone

from satchel.errors import ConsentError, IntegrityError
from satchel.plugin.records import Actor, ConsentEntry
from satchel.privacy.commitment import RECOVER, Commitments
from satchel.privacy.envelope import Binding, open_sealed, seal
from satchel.privacy.vault import Vault
from satchel.storage.database import database_name, guarded, record_payload, snapshot, transaction

_BAND = re.compile(r"^(\d{1,3})(?:-(\d{1,3})|\+)$")
ACTORS: tuple[str, ...] = ("self", "guardian", "school")


def age_band_bounds(band: str) -> tuple[int, int | None]:
    """``"8-12"`` → (8, 12); ``"18+"`` → (18, None). Raises ConsentError for anything else."""
    m = _BAND.match(band.strip())
    if not m or (m.group(2) and int(m.group(2)) < int(m.group(1))):
        raise ConsentError(f"age band {band!r} is not understood", hint="write it like '8-12' or '18+'")
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None


def may_self_consent(band: str, age_of_digital_consent: int) -> bool:
    """True only when every age in the band is at or above the age of digital consent."""
    low, _ = age_band_bounds(band)
    return low >= age_of_digital_consent


def notice_hash(notice_text: str) -> str:
    """SHA-256 of the exact notice text shown to the person consenting."""
    return hashlib.sha256(notice_text.encode("utf-8")).hexdigest()


def active_purposes(history: Iterable[ConsentEntry], at: datetime) -> dict[str, ConsentEntry]:
    """The grant in force for each purpose at ``at`` (withdrawn or expired purposes are absent)."""
    active: dict[str, ConsentEntry] = {}
    for entry in history:
        for purpose in entry.purposes:
            if entry.action == "granted":
                active[purpose] = entry
            else:
                active.pop(purpose, None)
    return {p: e for p, e in active.items() if e.expires_at is None or e.expires_at > at}


class ConsentLedger:
    """Sealed, append-only consent history per subject pseudonym.

    Each record is sealed for its sequence number; the learner's history is covered by a commitment
    (:mod:`satchel.privacy.commitment`) published to the key vault, so a truncated, edited or
    rolled-back ledger (e.g. an old copy of ``satchel.db`` restored after a withdrawal) raises
    :class:`IntegrityError` instead of reviving a withdrawn consent.
    """

    KIND = "consent"
    STORE = "consent"

    def __init__(self, conn: sqlite3.Connection, vault: Vault, app_id: str) -> None:
        self._conn = conn
        self._vault = vault
        self._app_id = app_id
        self._lock = threading.RLock()
        self._where = database_name(conn)
        self._heads = Commitments(vault, app_id, self.STORE, "consent records", self._where)

    def history(self, subject: str) -> tuple[ConsentEntry, ...]:
        """Every change for ``subject``, oldest first (empty if none)."""
        counter = self._heads.counter(subject)
        with self._lock, guarded(self._where), snapshot(self._conn) as conn:
            head = self._heads.row(conn, subject)
            rows = conn.execute(
                "SELECT seq, blob FROM sealed_records WHERE subject=? AND kind=? ORDER BY seq",
                (subject, self.KIND),
            ).fetchall()
        if any(
            not (isinstance(seq, int) and 0 <= seq < 2**63 and isinstance(blob, bytes)) for seq, blob in rows
        ):
            raise IntegrityError(
                f"a consent record of learner {subject} in {self._where} is malformed", hint=RECOVER
            )
        element = self._heads.elements(subject)
        self._heads.verify(subject, counter, head, [element(record_payload(seq, blob)) for seq, blob in rows])
        if not rows:
            return ()
        key = self._vault.subject_key(subject, create=False)
        out = []
        for expected, (seq, blob) in enumerate(rows, start=1):
            if seq != expected:
                raise IntegrityError(
                    f"consent history of {subject} has a gap at entry {expected}", hint=RECOVER
                )
            out.append(_decode(open_sealed(blob, key, Binding(self._app_id, subject, "", self.KIND, seq))))
        return tuple(out)

    def append(self, subject: str, entry: ConsentEntry) -> int:
        """Append one change; returns its sequence number."""
        key = self._vault.subject_key(subject)
        with self._lock, guarded(self._where), transaction(self._conn) as conn:
            head = self._heads.current(conn, subject)
            (last,) = conn.execute(
                "SELECT coalesce(max(seq), 0) FROM sealed_records WHERE subject=? AND kind=?",
                (subject, self.KIND),
            ).fetchone()
            seq = last + 1
            blob = seal(_encode(entry), key, Binding(self._app_id, subject, "", self.KIND, seq))
            conn.execute("INSERT INTO sealed_records VALUES (?, ?, ?, ?)", (subject, self.KIND, seq, blob))
            staged = self._heads.stage(
                conn, subject, head, [self._heads.elements(subject)(record_payload(seq, blob))], count=1
            )
        self._heads.publish([staged])
        return seq

    def delete(self, subject: str) -> None:
        """Delete the subject's history (erasure); works on damaged or rolled-back data too."""
        with self._lock, guarded(self._where), transaction(self._conn) as conn:
            conn.execute("DELETE FROM sealed_records WHERE subject=?", (subject,))
            staged = self._heads.reset(conn, subject)
        self._heads.publish([staged])


def make_grant(
    *,
    purposes: Iterable[str],
    notice: str,
    policy_version: str,
    actor: Actor,
    age_band: str,
    method: str,
    age_of_digital_consent: int,
    school_purposes: Iterable[str],
    expires_at: datetime | None = None,
    at: datetime | None = None,
) -> ConsentEntry:
    """Validate a grant and build its record; refuses what the rules do not allow."""
    purposes = tuple(dict.fromkeys(purposes))
    if not purposes:
        raise ConsentError("a consent grant needs at least one purpose")
    if actor not in ACTORS:
        raise ConsentError(f"unknown consent actor {actor!r}", hint=f"use one of: {', '.join(ACTORS)}")
    if not notice.strip():
        raise ConsentError(
            "the notice text is empty", hint="pass the exact text shown to the person consenting"
        )
    if not policy_version.strip() or not method.strip():
        raise ConsentError(
            "policy_version and method are required",
            hint="e.g. policy_version='2026-01', method='in_app_checkbox'",
        )
    minor = not may_self_consent(age_band, age_of_digital_consent)
    if actor == "self" and minor:
        raise ConsentError(
            f"a learner in age band {age_band} cannot consent alone (age of digital consent "
            f"is {age_of_digital_consent})",
            hint="record the consent of a guardian (actor='guardian')",
        )
    if actor == "school":
        outside = [p for p in purposes if p not in set(school_purposes)]
        if outside:
            raise ConsentError(
                f"a school may consent for parents only to educational purposes; {outside} are not",
                hint="ask a guardian, or list the purpose in privacy.school_consent_purposes",
            )
    now = at or datetime.now(timezone.utc)
    if expires_at is not None and expires_at <= now:
        raise ConsentError("the consent would expire before it starts", hint="pass a future expires_at")
    return ConsentEntry(
        "granted",
        purposes,
        now,
        actor,
        age_band.strip(),
        policy_version.strip(),
        notice_hash(notice),
        method.strip(),
        expires_at,
    )


def _encode(entry: ConsentEntry) -> bytes:
    d = asdict(entry)
    d["at"] = entry.at.isoformat()
    d["expires_at"] = entry.expires_at.isoformat() if entry.expires_at else None
    return json.dumps(d, separators=(",", ":")).encode()


def _decode(raw: bytes) -> ConsentEntry:
    d = json.loads(raw)
    d["purposes"] = tuple(d["purposes"])
    d["at"] = datetime.fromisoformat(d["at"])
    d["expires_at"] = datetime.fromisoformat(d["expires_at"]) if d["expires_at"] else None
    return ConsentEntry(**d)
