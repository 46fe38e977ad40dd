"""The embedded encrypted event store (SQLite, WAL).

Each event is one row holding a sealed blob (envelope encryption under the subject's key). Rows are
addressed by keyed tags, never plaintext: ``subject`` is the pseudonym, ``type_tag`` an HMAC of the
event type (so featurizers can be fed only their declared types without revealing the type on disk),
``id_tag`` an HMAC of the event id (idempotent ingest). The blob's binding includes both tags, so a
blob moved to another row, subject or app, or a row whose type tag was rewritten, does not open.

Completeness and freshness: every write also updates the learner's sealed head (count + digest of
the rows, :mod:`satchel.privacy.commitment`) in the same transaction, then publishes it to the key
vault; every read checks the rows against both. Writes happen in one transaction: an import either
lands whole or not at all, even if the process is killed mid-way. A damaged database raises
:class:`IntegrityError`, never a raw ``sqlite3`` error.

Format 2 (this one) binds the type tag and keeps heads; a format-1 database (no ``meta`` table) is
migrated when opened: each row is opened, its type checked against its tag, and resealed.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from satchel.errors import IntegrityError, KeyUnavailableError, SchedulerError
from satchel.events import Event
from satchel.privacy.commitment import EMPTY, HEADS_SCHEMA, RECOVER, Commitments, Staged
from satchel.privacy.envelope import Binding, open_sealed, seal
from satchel.privacy.vault import Vault

FORMAT = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    subject TEXT NOT NULL,
    id_tag TEXT NOT NULL,
    type_tag TEXT NOT NULL,
    blob BLOB NOT NULL,
    PRIMARY KEY (subject, id_tag)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_type ON events (subject, type_tag);
CREATE TABLE IF NOT EXISTS sealed_records (
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    blob BLOB NOT NULL,
    PRIMARY KEY (subject, kind, seq)
) WITHOUT ROWID;
""" + HEADS_SCHEMA


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction (taken at once, so concurrent writers queue) that commits or rolls back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: every query inside sees the same committed state."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


@contextmanager
def guarded(where: str) -> Iterator[None]:
    """Turn a damaged or busy database's ``sqlite3`` errors into satchel errors naming ``where``."""
    try:
        yield
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise SchedulerError(f"{where} is locked by another process ({error})",
                                 hint="retry when the other satchel process has finished") from None
        raise _damaged(where, error) from None
    except sqlite3.DatabaseError as error:
        raise _damaged(where, error) from None


def _damaged(where: str, error: Exception) -> IntegrityError:
    return IntegrityError(f"{where} is damaged or is not a satchel database (sqlite: {error})",
                          hint="restore the data directory and the key directory together from the same backup")


def connect(path: Path) -> sqlite3.Connection:
    """Open the app's SQLite database: WAL, secure delete (erased rows are zeroed), foreign writers wait."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    try:
        with guarded(f"the event database {path}"):
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON", "temp_store=MEMORY"):
                conn.execute(f"PRAGMA {pragma}")
            conn.executescript(_SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


def database_name(conn: sqlite3.Connection) -> str:
    """``the event database <file>`` for messages."""
    try:
        rows = conn.execute("PRAGMA database_list").fetchall()
    except sqlite3.DatabaseError:
        rows = []
    return f"the event database {next((r[2] for r in rows if r[1] == 'main'), '') or '(in memory)'}"


class EventStore:
    """Sealed events per subject pseudonym. Callers pass pseudonyms, never raw ids."""

    STORE = "events"

    def __init__(self, conn: sqlite3.Connection, vault: Vault, app_id: str) -> None:
        self._conn = conn
        self._vault = vault
        self._app_id = app_id
        self._tag_key = vault.derive("event-tags")
        self._lock = threading.RLock()
        self.where = database_name(conn)
        self._heads = Commitments(vault, app_id, self.STORE, "events", self.where)
        with self._lock, guarded(self.where):
            self._migrate()

    def _tag(self, subject: str, label: str, value: str) -> str:
        msg = f"{label}\x00{subject}\x00{value}".encode()
        return hmac.digest(self._tag_key, msg, "sha256").hex()[:32]

    def _binding(self, subject: str, id_tag: str, type_tag: str) -> Binding:
        return Binding(self._app_id, subject, "", f"event:{type_tag}:{id_tag}")

    def _elements(self, subject: str) -> Callable[[str, str, bytes], int]:
        """The commitment MAC of a row (its tags are 32 ASCII characters, so the payload is unambiguous)."""
        mac = self._heads.elements(subject)
        return lambda id_tag, type_tag, blob: mac(f"{id_tag}{type_tag}".encode() + blob)

    def add(self, batches: Iterable[tuple[str, Sequence[Event]]]) -> dict[str, int]:
        """Store events for several subjects in one transaction; returns new events per subject.

        Events whose id is already stored for that subject are skipped (idempotent ingest).
        """
        prepared: dict[str, list[tuple[str, str, str, bytes]]] = {}
        for subject, events in batches:
            key = self._vault.subject_key(subject)
            rows = prepared.setdefault(subject, [])
            for event in events:
                id_tag, type_tag = self._tag(subject, "id", event.id), self._tag(subject, "type", event.type)
                rows.append((subject, id_tag, type_tag, seal(_encode(event), key,
                                                             self._binding(subject, id_tag, type_tag))))
        added: dict[str, int] = {}
        staged: list[Staged] = []
        with self._lock, guarded(self.where), transaction(self._conn) as conn:
            for subject, rows in prepared.items():
                head = self._heads.current(conn, subject)
                element = self._elements(subject)
                elements = [element(*row[1:]) for row in rows
                            if conn.execute("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?)", row).rowcount]
                added[subject] = len(elements)
                if elements:
                    staged.append(self._heads.stage(conn, subject, head, elements, count=len(elements)))
        self._heads.publish(staged)
        return added

    def read(self, subject: str, types: Collection[str] | None = None) -> list[Event]:
        """The subject's events (only ``types`` when given), decrypted and sorted by time.

        Raises :class:`IntegrityError` unless the subject's whole event set is the committed one.
        """
        key = self._vault.subject_key(subject, create=False)
        rows, verify = self._snapshot_rows(subject)
        wanted = None if types is None else {self._tag(subject, "type", t) for t in types}
        events = [_decode(open_sealed(blob, key, self._binding(subject, id_tag, type_tag)))
                  for id_tag, type_tag, blob in rows if wanted is None or type_tag in wanted]
        verify()  # after opening: a damaged row is named by its own, more precise error
        events.sort(key=lambda e: (e.time, e.id))
        return events

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
        wanted = {self._tag(subject, "type", t) for t in types}
        return sum(1 for _, type_tag, _ in rows if type_tag in wanted)

    def delete(self, subject: str, types: Collection[str] | None = None) -> int:
        """Delete the subject's events (only ``types`` when given); returns how many.

        Deleting all of them works even on damaged or rolled-back data (erasure is the way out).
        """
        with self._lock, guarded(self.where), transaction(self._conn) as conn:
            if types is None:
                deleted = conn.execute("DELETE FROM events WHERE subject = ?", (subject,)).rowcount
                staged = self._heads.reset(conn, subject)
            else:
                head = self._heads.current(conn, subject)
                tags = [self._tag(subject, "type", t) for t in types]
                where = f"subject = ? AND type_tag IN ({','.join('?' * len(tags))})"
                rows = conn.execute(f"SELECT id_tag, type_tag, blob FROM events WHERE {where}",
                                    [subject, *tags]).fetchall()
                deleted = conn.execute(f"DELETE FROM events WHERE {where}", [subject, *tags]).rowcount
                element = self._elements(subject)
                staged = self._heads.stage(conn, subject, head, (), [element(*r) for r in rows], count=-len(rows))
        self._heads.publish([staged])
        return deleted

    def delete_ids(self, subject: str, ids: Iterable[str]) -> int:
        """Delete the subject's events with these ids; returns how many were stored."""
        tags = [self._tag(subject, "id", i) for i in ids]
        with self._lock, guarded(self.where), transaction(self._conn) as conn:
            head = self._heads.current(conn, subject)
            element = self._elements(subject)
            removed = []
            for id_tag in tags:
                row = conn.execute("SELECT type_tag, blob FROM events WHERE subject=? AND id_tag=?",
                                   (subject, id_tag)).fetchone()
                if row is not None:
                    conn.execute("DELETE FROM events WHERE subject=? AND id_tag=?", (subject, id_tag))
                    removed.append(element(id_tag, *row))
            staged = self._heads.stage(conn, subject, head, (), removed, count=-len(removed)) if removed else None
        if staged is not None:
            self._heads.publish([staged])
        return len(removed)

    def subjects(self) -> list[str]:
        with self._lock, guarded(self.where):
            return [r[0] for r in self._conn.execute("SELECT DISTINCT subject FROM events")]

    def compact(self) -> None:
        """Fold the write-ahead log into the database file and truncate it (after an erasure)."""
        with self._lock, guarded(self.where):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _snapshot_rows(self, subject: str) -> tuple[list[tuple[str, str, bytes]], Callable[[], None]]:
        """All the subject's rows from one snapshot, and the check that they are the committed set."""
        counter = self._heads.counter(subject)  # before the snapshot: a concurrent write only looks newer
        with self._lock, guarded(self.where), snapshot(self._conn) as conn:
            head = self._heads.row(conn, subject)
            rows = conn.execute("SELECT id_tag, type_tag, blob FROM events WHERE subject = ?", (subject,)).fetchall()
        self._heads.fresh(subject, counter, head)  # a stale or missing head is named before any row is opened
        for row in rows:
            if not (_is_tag(row[0]) and _is_tag(row[1]) and isinstance(row[2], bytes)):
                raise IntegrityError(f"an event row of learner {subject} in {self.where} is malformed", hint=RECOVER)
        element = self._elements(subject)
        return rows, lambda: self._heads.verify(subject, counter, head, [element(*r) for r in rows])

    # ------------------------------------------------------------------ format migration

    def _migrate(self) -> None:
        """Bring a format-1 database (no ``meta`` table) to format 2; refuse a newer one."""
        conn = self._conn
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            (found,) = conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone() or (None,)
            if found != FORMAT:
                raise IntegrityError(f"{self.where} has format {found!r}, this satchel reads format {FORMAT}",
                                     hint="upgrade satchel if the database is newer; otherwise " + RECOVER)
            return
        from satchel.consent import ConsentLedger

        consent = Commitments(self._vault, self._app_id, ConsentLedger.STORE, "consent records", self.where)
        staged: dict[Commitments, list[Staged]] = {self._heads: [], consent: []}
        with transaction(conn):
            conn.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value NOT NULL)")
            conn.execute("INSERT INTO meta VALUES ('format', ?)", (FORMAT,))
            for (subject,) in conn.execute("SELECT DISTINCT subject FROM events").fetchall():
                staged[self._heads] += self._adopt_events(conn, subject)
            records = "SELECT DISTINCT subject FROM sealed_records WHERE kind = ?"
            for (subject,) in conn.execute(records, (ConsentLedger.KIND,)).fetchall():
                staged[consent] += _adopt_records(conn, consent, subject, ConsentLedger.KIND)
        for commitments, heads in staged.items():
            commitments.publish(heads)

    def _adopt_events(self, conn: sqlite3.Connection, subject: str) -> list[Staged]:
        """Reseal a learner's format-1 rows with the type tag bound, and commit them (trust on first use)."""
        if self._vault.is_erased(subject):
            conn.execute("DELETE FROM events WHERE subject = ?", (subject,))
            return []
        if self._heads.counter(subject).value or self._heads.row(conn, subject) is not None:
            return []  # committed before: not format-1 rows of this vault; reads will say what is wrong
        try:
            key = self._vault.subject_key(subject, create=False)
        except KeyUnavailableError:
            return []  # another vault's learner: unreadable either way
        elements, element = [], self._elements(subject)
        rows = conn.execute("SELECT id_tag, type_tag, blob FROM events WHERE subject = ?", (subject,)).fetchall()
        for id_tag, type_tag, blob in rows:
            event = _decode(open_sealed(blob, key, Binding(self._app_id, subject, "", f"event:{id_tag}")))
            if self._tag(subject, "type", event.type) != type_tag:
                raise IntegrityError(f"an event row of learner {subject} in {self.where} carries another event "
                                     "type's tag (rewritten)", hint=RECOVER)
            sealed = seal(_encode(event), key, self._binding(subject, id_tag, type_tag))
            conn.execute("UPDATE events SET blob = ? WHERE subject = ? AND id_tag = ?", (sealed, subject, id_tag))
            elements.append(element(id_tag, type_tag, sealed))
        return [self._heads.stage(conn, subject, EMPTY, elements, count=len(elements))]


def _adopt_records(conn: sqlite3.Connection, commitments: Commitments, subject: str, kind: str) -> list[Staged]:
    """Commit a learner's existing sealed records of ``kind`` (format-1 migration, trust on first use)."""
    if commitments.counter(subject).value or commitments.row(conn, subject) is not None:
        return []
    rows = conn.execute("SELECT seq, blob FROM sealed_records WHERE subject = ? AND kind = ?",
                        (subject, kind)).fetchall()
    element = commitments.elements(subject)
    elements = [element(record_payload(seq, blob)) for seq, blob in rows]
    return [commitments.stage(conn, subject, EMPTY, elements, count=len(elements))]


def record_payload(seq: int, blob: bytes) -> bytes:
    """A sealed record's commitment payload: its sequence number (fixed width), then its blob."""
    return seq.to_bytes(8, "big") + blob


def _is_tag(value: object) -> bool:
    return isinstance(value, str) and len(value) == 32 and value.isascii()


def _encode(event: Event) -> bytes:
    return json.dumps({"id": event.id, "type": event.type, "time": event.time.isoformat(), "data": event.data},
                      separators=(",", ":")).encode()


def _decode(raw: bytes) -> Event:
    return Event.model_validate_json(raw)
