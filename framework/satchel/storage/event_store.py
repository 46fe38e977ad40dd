"""The embedded encrypted event store (SQLite, WAL).

Each event is one row ``(subject, id_tag, type_tag, blob)``, all binary: ``subject`` is the pseudonym's
16 bytes, ``type_tag`` a keyed hash of the event type (8 bytes, so featurizers can be fed only their
declared types without revealing the type on disk), ``id_tag`` one of the event id (16 bytes,
idempotent ingest). ``blob`` is the event sealed with AES-256-GCM (:class:`RecordCipher`: 28 bytes of
nonce and tag) under a key derived with HKDF from the learner's subject key, with both tags as its
associated data: a blob moved to another row, learner or app, or a row whose type tag was rewritten,
does not open, and erasing the subject key shreds every blob. The plaintext is compact: the id as a
JSON string, the type, the UTC time (ISO 8601) and the data as JSON, separated by NUL bytes.

Completeness and freshness: every write also updates the learner's sealed head (count + digest of
the rows, :mod:`satchel.privacy.commitment`) in the same transaction, then publishes it to the key
vault; every read checks the rows against both. Writes happen in one transaction: an import either
lands whole or not at all, even if the process is killed mid-way. A damaged database raises
:class:`IntegrityError`, never a raw ``sqlite3`` error.

Formats: 1 (no ``meta`` table, no heads), 2 (an envelope per event: a wrapped data key each, hex
tags, ~520 B/event) and 3 (this one). An older database is migrated when opened, in one transaction
(a crash mid-way leaves it as it was): format-2 rows are first checked against their heads (a learner
whose rows are not the committed ones, e.g. an old copy restored after its migration, is not carried
over and their head is kept, so reads refuse them as before); format-1 rows are committed on first use
after checking each type against its tag.

Reading only what is new: :meth:`EventStore.read_since` opens and MACs only the rows a :class:`Mark`
of an earlier read does not cover, and checks them against the head without the others
(:mod:`.event_delta`).

The parts: :mod:`.database` (connection, transactions), :mod:`.event_rows` (the row format),
:mod:`.event_delta` (delta reads), :mod:`.event_migration` (formats 1 and 2).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Sequence

from satchel.errors import IntegrityError
from satchel.events import Event
from satchel.privacy.commitment import RECOVER, Commitments, Head, Staged
from satchel.privacy.vault import Vault
from satchel.storage.database import connect, database_name, guarded, record_payload, snapshot, transaction
from satchel.storage.event_delta import Delta, Mark, new_tags
from satchel.storage.event_migration import EventMigration
from satchel.storage.event_rows import FORMAT, ID_TAG, SUBJECT, EventRows, Row, who

__all__ = [
    "FORMAT",
    "Delta",
    "EventStore",
    "Mark",
    "connect",
    "database_name",
    "guarded",
    "record_payload",
    "snapshot",
    "transaction",
]

#: how many id tags one duplicate lookup binds (below SQLite's parameter limit)
_CHUNK = 500


class EventStore:
    """Sealed events per subject pseudonym. Callers pass pseudonyms, never raw ids."""

    STORE = "events"

    def __init__(self, conn: sqlite3.Connection, vault: Vault, app_id: str) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.where = database_name(conn)
        self._heads = Commitments(vault, app_id, self.STORE, "events", self.where)
        self._rows = EventRows(vault, app_id, self.STORE, self._heads, self.where)
        #: called with the subject after any of their events were deleted (caches derived from them go)
        self.on_delete: list[Callable[[str], None]] = []
        with self._lock, guarded(self.where):
            EventMigration(conn, vault, app_id, self._heads, self._rows, self.where).run()

    def add(self, batches: Iterable[tuple[str, Sequence[Event]]]) -> dict[str, int]:
        """Store events for several subjects in one transaction; returns new events per subject.

        Events whose id is already stored for that subject are skipped (idempotent ingest).
        """
        prepared: dict[str, dict[bytes, tuple[bytes, bytes]]] = {}
        for subject, events in batches:
            rows = prepared.setdefault(subject, {})
            for id_tag, row in self._rows.seal(subject, events).items():
                rows.setdefault(id_tag, row)
        added: dict[str, int] = {}
        staged: list[Staged] = []
        with self._lock, guarded(self.where), transaction(self._conn) as conn:
            for subject, rows in prepared.items():
                head = self._heads.current(conn, subject)
                subject_bytes = who(subject)
                stored = _stored_ids(conn, subject_bytes, list(rows))
                new = [(subject_bytes, k, kind, blob) for k, (kind, blob) in rows.items() if k not in stored]
                conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", new)
                added[subject] = len(new)
                if new:
                    element = self._rows.elements(subject)
                    staged.append(
                        self._heads.stage(
                            conn, subject, head, [element(*row[1:]) for row in new], count=len(new)
                        )
                    )
        self._heads.publish(staged)
        return added

    def read(self, subject: str, types: Collection[str] | None = None) -> list[Event]:
        """The subject's events (only ``types`` when given), decrypted and sorted by time.

        Raises :class:`IntegrityError` unless the subject's whole event set is the committed one.
        """
        return self._read(subject, types)[0]

    def read_since(self, subject: str, mark: Mark | None, types: Collection[str] | None = None) -> Delta:
        """Only the subject's events that ``mark`` (from an earlier :meth:`read_since`) does not cover,
        checked without opening or MACing the covered rows (see :mod:`.event_delta`); a full verified
        read (``Delta.full``) when there is no mark or it no longer fits the committed set."""
        if mark is None:
            return self._full(subject, types, "nothing was read before")
        cipher = self._rows.cipher(subject, create=False)
        counter = self._heads.counter(subject)  # before the snapshot, as in a full read
        subject_bytes = who(subject)
        with self._lock, guarded(self.where), snapshot(self._conn) as conn:
            head = self._heads.row(conn, subject)
            sql = "SELECT id_tag FROM events WHERE subject = ? ORDER BY id_tag"
            present = [r[0] for r in conn.execute(sql, (subject_bytes,))]
            malformed = not all(isinstance(t, bytes) and len(t) == ID_TAG for t in present)
            tags = None if malformed else new_tags(mark, present)
            rows = [] if tags is None else _rows_of(conn, subject_bytes, tags)
        if tags is None:
            return self._full(
                subject, types, "an id tag is malformed" if malformed else "events read before were deleted"
            )
        self._rows.check(subject, rows)
        element = self._rows.elements(subject)
        base = Head(mark.version, mark.count, mark.digest)
        now = self._heads.extends(subject, counter, head, base, len(present), [element(*r) for r in rows])
        if now is None:
            return self._full(
                subject, types, "the committed events are not the ones read before plus new ones"
            )
        wanted = None if types is None else self._rows.type_tags(subject, types)
        opened = [r for r in rows if wanted is None or r[1] in wanted]
        events = _sorted([self._rows.open(cipher, subject, *r) for r in opened], types)
        return Delta(tuple(events), Mark.of(now, present), False, opened=len(opened))

    def _full(self, subject: str, types: Collection[str] | None, reason: str) -> Delta:
        events, head, tags, opened = self._read(subject, types)
        return Delta(tuple(events), Mark.of(head, tags), True, reason, opened)

    def _read(
        self, subject: str, types: Collection[str] | None
    ) -> tuple[list[Event], Head | None, list[bytes], int]:
        """The events of ``types``, the head they were verified against, every row's id tag, how many
        rows were opened."""
        cipher = self._rows.cipher(subject, create=False)
        rows, verify = self._snapshot_rows(subject)
        wanted = None if types is None else self._rows.type_tags(subject, types)
        events = [
            self._rows.open(cipher, subject, *row) for row in rows if wanted is None or row[1] in wanted
        ]
        head = verify()  # after opening: a damaged row is named by its own, more precise error
        return _sorted(events, types), head, [r[0] for r in rows], len(events)

    def version(self, subject: str) -> tuple[int, bytes]:
        """The subject's committed version and head hash (from the key vault, O(1)): it changes with
        every write, deletion or erasure of their events, so it keys caches of what was read."""
        counter = self._heads.counter(subject)
        return counter.value, counter.tag

    def count(self, subject: str, types: Collection[str] | None = None) -> int:
        """How many events the subject has (of ``types``), after checking the set is the committed one."""
        rows, verify = self._snapshot_rows(subject)
        verify()
        if types is None:
            return len(rows)
        wanted = self._rows.type_tags(subject, types)
        return sum(1 for _, type_tag, _ in rows if type_tag in wanted)

    def delete(self, subject: str, types: Collection[str] | None = None) -> int:
        """Delete the subject's events (only ``types`` when given); returns how many.

        Deleting all of them works even on damaged or rolled-back data (erasure is the way out).
        """
        subject_bytes = who(subject)
        with self._lock, guarded(self.where), transaction(self._conn) as conn:
            if types is None:
                deleted = conn.execute("DELETE FROM events WHERE subject = ?", (subject_bytes,)).rowcount
                staged = self._heads.reset(conn, subject)
            else:
                head = self._heads.current(conn, subject)
                wanted = self._rows.type_tags(subject, types)
                sql = "SELECT id_tag, type_tag, blob FROM events WHERE subject = ?"
                rows = [r for r in conn.execute(sql, (subject_bytes,)) if r[1] in wanted]
                conn.executemany(
                    "DELETE FROM events WHERE subject = ? AND id_tag = ?",
                    [(subject_bytes, r[0]) for r in rows],
                )
                element = self._rows.elements(subject)
                staged = self._heads.stage(
                    conn, subject, head, (), [element(*r) for r in rows], count=-len(rows)
                )
                deleted = len(rows)
        self._heads.publish([staged])
        self._deleted(subject)
        return deleted

    def delete_ids(self, subject: str, ids: Iterable[str]) -> int:
        """Delete the subject's events with these ids; returns how many were stored."""
        id_tag, subject_bytes = self._rows.tags(subject)[0], who(subject)
        tags = list(dict.fromkeys(id_tag(i) for i in ids))
        with self._lock, guarded(self.where), transaction(self._conn) as conn:
            head = self._heads.current(conn, subject)
            element = self._rows.elements(subject)
            removed = []
            for tag in tags:
                row = conn.execute(
                    "SELECT type_tag, blob FROM events WHERE subject = ? AND id_tag = ?", (subject_bytes, tag)
                ).fetchone()
                if row is not None:
                    conn.execute("DELETE FROM events WHERE subject = ? AND id_tag = ?", (subject_bytes, tag))
                    removed.append(element(tag, *row))
            staged = (
                self._heads.stage(conn, subject, head, (), removed, count=-len(removed)) if removed else None
            )
        if staged is not None:
            self._heads.publish([staged])
            self._deleted(subject)
        return len(removed)

    def _deleted(self, subject: str) -> None:
        for listener in self.on_delete:
            listener(subject)

    def subjects(self) -> list[str]:
        with self._lock, guarded(self.where):
            found = [r[0] for r in self._conn.execute("SELECT DISTINCT subject FROM events")]
        if not all(isinstance(s, bytes) and len(s) == SUBJECT for s in found):
            raise IntegrityError(
                f"an event row in {self.where} names no learner (malformed subject)", hint=RECOVER
            )
        return [s.hex() for s in found]

    def compact(self) -> None:
        """Fold the write-ahead log into the database file and truncate it (after an erasure)."""
        with self._lock, guarded(self.where):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _snapshot_rows(self, subject: str) -> tuple[list[Row], Callable[[], Head | None]]:
        """All the subject's rows from one snapshot, and the check that they are the committed set."""
        counter = self._heads.counter(subject)  # before the snapshot: a concurrent write only looks newer
        with self._lock, guarded(self.where), snapshot(self._conn) as conn:
            head = self._heads.row(conn, subject)
            rows = conn.execute(
                "SELECT id_tag, type_tag, blob FROM events WHERE subject = ?", (who(subject),)
            ).fetchall()
        self._heads.fresh(subject, counter, head)  # a stale or missing head is named before any row is opened
        self._rows.check(subject, rows)
        element = self._rows.elements(subject)
        return rows, lambda: self._heads.verify(subject, counter, head, [element(*r) for r in rows])


def _sorted(events: list[Event], types: Collection[str] | None) -> list[Event]:
    """By time; only ``types`` (an 8-byte type tag shared by two types, odds ~2**-64 per pair, reads
    nothing extra)."""
    if types is not None:
        events = [e for e in events if e.type in types]
    events.sort(key=lambda e: (e.time, e.id))
    return events


def _rows_of(conn: sqlite3.Connection, subject: bytes, tags: Sequence[bytes]) -> list[Row]:
    """The rows with these id tags, in chunks of index lookups."""
    found: list[Row] = []
    for i in range(0, len(tags), _CHUNK):
        chunk = tags[i : i + _CHUNK]
        found += conn.execute(
            "SELECT id_tag, type_tag, blob FROM events "
            f"WHERE subject = ? AND id_tag IN ({','.join('?' * len(chunk))})",
            (subject, *chunk),
        ).fetchall()
    return found


def _stored_ids(conn: sqlite3.Connection, subject: bytes, tags: Sequence[bytes]) -> set[bytes]:
    """Which of ``tags`` the learner already has (idempotent ingest), in chunks of index lookups."""
    found: set[bytes] = set()
    for i in range(0, len(tags), _CHUNK):
        chunk = tags[i : i + _CHUNK]
        found.update(
            r[0]
            for r in conn.execute(
                f"SELECT id_tag FROM events WHERE subject = ? AND id_tag IN ({','.join('?' * len(chunk))})",
                (subject, *chunk),
            )
        )
    return found
