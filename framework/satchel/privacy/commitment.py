"""Completeness and freshness of a learner's records in the app database (a set commitment).

Per-record AEAD proves each row is genuine, not that the set is whole or current. So every store
keeps, per (learner, store), a **head** row in the same database and updated in the same SQLite
transaction as the records it covers: a version, the record count and the sum (mod 2**256) of one
keyed BLAKE2b MAC per record. The head is AES-GCM sealed under a vault-derived key (bound to app, store,
learner and version), so neither the count nor the digest can be forged or read. After the data
transaction commits, the head's version and SHA-256 are published to the learner's counter in the
key vault (``<store>:<pseudonym>``), which only moves forward. Each write is O(1) in the learner's
record count: the digest is updated by adding the new records' MACs and subtracting the removed.

A read takes the vault counter first, then one database snapshot of the head and all the learner's
rows, and requires: a head at least as new as the counter (same version: same SHA-256), that opens,
whose count and digest equal the rows'. So deleted, added, altered or swapped rows, a damaged page,
or a database (or whole data directory) restored from an older copy raise :class:`IntegrityError`.
A head *newer* than the counter is the process having been killed between the database commit and
the vault update: the head is authentic (only the vault's keys make one), so it is published then.
Restoring the key directory together with the data directory is not detectable without hardware-
backed monotonic storage.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from satchel.errors import IntegrityError
from satchel.privacy._codec import frame
from satchel.privacy.vault import Counter, Vault

HEADS_SCHEMA = """
CREATE TABLE IF NOT EXISTS heads (
    subject TEXT NOT NULL,
    store TEXT NOT NULL,
    version INTEGER NOT NULL,
    blob BLOB NOT NULL,
    PRIMARY KEY (subject, store)
) WITHOUT ROWID;
"""
_MOD = 2**256
_NONCE = 12
#: how to get back to a consistent state, for every integrity error of the stores
RECOVER = (
    "restore the data directory and the key directory together from the same backup, or erase the learner "
    "(app.erase / `satchel erase`) to drop their damaged records"
)


@dataclass(frozen=True)
class Head:
    """A store's commitment to one learner's records."""

    version: int
    count: int
    digest: int


#: the head of a learner with no records ever committed
EMPTY = Head(0, 0, 0)


@dataclass(frozen=True)
class Staged:
    """A head written in the open database transaction, to publish to the vault after the commit."""

    counter: str
    version: int
    tag: bytes


class Commitments:
    """The heads of one store (``events``, ``consent``) in the database ``where``."""

    def __init__(self, vault: Vault, app_id: str, store: str, what: str, where: str) -> None:
        self._vault = vault
        self._app_id = app_id
        self.store = store
        self._what = what
        self._where = where
        self._element_key = vault.derive(f"commitment-elements/{store}")
        self._cipher = AESGCM(vault.derive(f"commitment-heads/{store}"))

    def elements(self, subject: str) -> Callable[[bytes], int]:
        """The keyed MAC (BLAKE2b) of one of the learner's records, as a number. ``payload`` must
        encode the record's routing fields and sealed blob unambiguously (e.g. fixed-length fields first)."""
        base = hashlib.blake2b(
            frame(b"satchel/commitment-element", self.store, subject), key=self._element_key, digest_size=32
        )

        def element(payload: bytes) -> int:
            mac = base.copy()
            mac.update(payload)
            return int.from_bytes(mac.digest(), "big")

        return element

    def counter(self, subject: str) -> Counter:
        """The learner's committed (version, head hash) from the vault; read it before the snapshot."""
        return self._vault.counter(f"{self.store}:{subject}")

    def row(self, conn: sqlite3.Connection, subject: str) -> tuple[int, bytes] | None:
        return conn.execute(
            "SELECT version, blob FROM heads WHERE subject=? AND store=?", (subject, self.store)
        ).fetchone()

    def current(self, conn: sqlite3.Connection, subject: str) -> Head:
        """The head to build the next write on (inside the write transaction); refuses a stale one."""
        return self.fresh(subject, self.counter(subject), self.row(conn, subject)) or EMPTY

    def stage(
        self,
        conn: sqlite3.Connection,
        subject: str,
        head: Head,
        added: Iterable[int] = (),
        removed: Iterable[int] = (),
        *,
        count: int = 0,
    ) -> Staged:
        """Write the next head (``added``/``removed`` record MACs, ``count`` their net number)."""
        new = Head(head.version + 1, head.count + count, (head.digest + sum(added) - sum(removed)) % _MOD)
        return self._write(conn, subject, new)

    def reset(self, conn: sqlite3.Connection, subject: str) -> Staged:
        """Commit an empty set after deleting all the learner's records (erasure works on damaged data)."""
        row = self.row(conn, subject)
        version = max(row[0] if row and _is_count(row[0]) else 0, self.counter(subject).value)
        return self._write(conn, subject, Head(version + 1, 0, 0))

    def publish(self, staged: Sequence[Staged]) -> None:
        """Move the vault counters to the committed heads (call after the database commit)."""
        if staged:
            self._vault.publish({s.counter: (s.version, s.tag) for s in staged})

    def verify(
        self, subject: str, counter: Counter, row: tuple[int, bytes] | None, elements: Sequence[int]
    ) -> Head | None:
        """Check a snapshot of the learner's rows (their MACs) against the head and the vault counter;
        the head they match (None: nothing committed)."""
        head = self.fresh(subject, counter, row)
        found = len(elements)
        if head is None:
            if found:
                raise IntegrityError(
                    f"{found} {self._what} of learner {subject} in {self._where} are covered by no commitment "
                    "(rows were inserted into the database)",
                    hint=RECOVER,
                )
            return None
        if found != head.count:
            change = "deleted, truncated or lost to damage" if found < head.count else "inserted"
            raise IntegrityError(
                f"learner {subject} should have {head.count} {self._what} in {self._where}, {found} are there: "
                f"{abs(head.count - found)} were {change}",
                hint=RECOVER,
            )
        if sum(elements) % _MOD != head.digest:
            raise IntegrityError(
                f"the {self._what} of learner {subject} in {self._where} are not the committed ones: rows were "
                "altered, swapped or replaced by other copies",
                hint=RECOVER,
            )
        self._catch_up(subject, counter, row, head)
        return head

    def extends(
        self,
        subject: str,
        counter: Counter,
        row: tuple[int, bytes] | None,
        base: Head,
        count: int,
        added: Sequence[int],
    ) -> Head | None:
        """The fresh head of ``row`` if it commits to exactly ``base``'s records plus records with MACs
        ``added``, ``count`` in all (the caller checked that ``base``'s records are all still there, so
        none of them is MACed again); else None. A stale head raises as in :meth:`verify`."""
        head = self.fresh(subject, counter, row) or EMPTY
        if head.version < base.version or head.count != count:
            return None
        if (base.digest + sum(added)) % _MOD != head.digest:
            return None
        self._catch_up(subject, counter, row, head)
        return head

    def _catch_up(self, subject: str, counter: Counter, row: tuple[int, bytes] | None, head: Head) -> None:
        if row is not None and head.version > counter.value:  # killed between the commit and the vault update
            self.publish([Staged(f"{self.store}:{subject}", head.version, hashlib.sha256(row[1]).digest())])

    # ------------------------------------------------------------------ internals

    def fresh(self, subject: str, counter: Counter, row: tuple[int, bytes] | None) -> Head | None:
        """The authentic head of ``row`` if it is at least as new as ``counter`` (None: nothing committed)."""
        if row is None:
            if counter.value == 0:
                return None
            raise IntegrityError(
                f"the commitment to learner {subject}'s {self._what} is missing from {self._where}, but the key "
                f"vault holds version {counter.value}: the database was deleted, replaced or rolled back",
                hint=RECOVER,
            )
        version, blob = row
        if not (_is_count(version) and isinstance(blob, bytes)):
            raise IntegrityError(
                f"the commitment to learner {subject}'s {self._what} in {self._where} is malformed",
                hint=RECOVER,
            )
        if version < counter.value:
            raise IntegrityError(
                f"the {self._what} of learner {subject} were rolled back: {self._where} holds version {version}, "
                f"the key vault expects version {counter.value} (an older copy of the database was restored)",
                hint=RECOVER,
            )
        if version == counter.value and not hmac.compare_digest(hashlib.sha256(blob).digest(), counter.tag):
            raise IntegrityError(
                f"the commitment to learner {subject}'s {self._what} in {self._where} is not the one the key "
                f"vault recorded for version {version}",
                hint=RECOVER,
            )
        return self._open(subject, version, blob)

    def _aad(self, subject: str, version: int) -> bytes:
        return frame(b"satchel/commitment", self._app_id, self.store, subject, version)

    def _write(self, conn: sqlite3.Connection, subject: str, head: Head) -> Staged:
        nonce = os.urandom(_NONCE)
        plain = head.count.to_bytes(8, "big") + head.digest.to_bytes(32, "big")
        blob = nonce + self._cipher.encrypt(nonce, plain, self._aad(subject, head.version))
        conn.execute(
            "INSERT OR REPLACE INTO heads VALUES (?, ?, ?, ?)", (subject, self.store, head.version, blob)
        )
        return Staged(f"{self.store}:{subject}", head.version, hashlib.sha256(blob).digest())

    def _open(self, subject: str, version: int, blob: bytes) -> Head:
        try:
            plain = self._cipher.decrypt(blob[:_NONCE], blob[_NONCE:], self._aad(subject, version))
        except InvalidTag:
            raise IntegrityError(
                f"the commitment to learner {subject}'s {self._what} in {self._where} failed authentication "
                "(edited, damaged or moved from another learner)",
                hint=RECOVER,
            ) from None
        return Head(version, int.from_bytes(plain[:8], "big"), int.from_bytes(plain[8:], "big"))


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
