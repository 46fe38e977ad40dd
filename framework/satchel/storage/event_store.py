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
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from json.encoder import encode_basestring
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from satchel.errors import IntegrityError, KeyUnavailableError, SchedulerError
from satchel.events import Event, Scalar
from satchel.privacy.commitment import EMPTY, HEADS_SCHEMA, RECOVER, Commitments, Staged
from satchel.privacy.envelope import RECORD_OVERHEAD, Binding, RecordCipher, open_sealed
from satchel.privacy.pseudonym import is_pseudonym, require_pseudonym
from satchel.privacy.vault import Vault

FORMAT = 3
_ID_TAG, _TYPE_TAG, _SUBJECT = 16, 8, 16
_EVENTS = """
CREATE TABLE events (
    subject BLOB NOT NULL,
    id_tag BLOB NOT NULL,
    type_tag BLOB NOT NULL,
    blob BLOB NOT NULL,
    PRIMARY KEY (subject, id_tag)
) WITHOUT ROWID
"""
_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS sealed_records (
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    seq INTEGER NOT NULL,
    blob BLOB NOT NULL,
    PRIMARY KEY (subject, kind, seq)
) WITHOUT ROWID;
"""
    + HEADS_SCHEMA
)
#: how many id tags one duplicate lookup binds (below SQLite's parameter limit)
_CHUNK = 500
_DATA = TypeAdapter(dict[str, Scalar]).dump_json  # compact; the values were checked finite when recorded


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
            raise SchedulerError(
                f"{where} is locked by another process ({error})",
                hint="retry when the other satchel process has finished",
            ) from None
        raise _damaged(where, error) from None
    except sqlite3.DatabaseError as error:
        raise _damaged(where, error) from None


def _damaged(where: str, error: Exception) -> IntegrityError:
    return IntegrityError(
        f"{where} is damaged or is not a satchel database (sqlite: {error})",
        hint="restore the data directory and the key directory together from the same backup",
    )


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

    def _tags(self, subject: str) -> tuple[Callable[[str], bytes], Callable[[str], bytes]]:
        """The learner's id and type taggers (keyed BLAKE2b, 16 and 8 bytes)."""
        ids = hashlib.blake2b(
            subject.encode(), key=self._tag_key, digest_size=_ID_TAG, person=b"satchel/event-id"
        )
        types = hashlib.blake2b(
            subject.encode(), key=self._tag_key, digest_size=_TYPE_TAG, person=b"satchel/evtype"
        )

        def tag(base: hashlib.blake2b, value: str) -> bytes:
            mac = base.copy()
            mac.update(value.encode())
            return mac.digest()

        return (lambda i: tag(ids, i)), (lambda t: tag(types, t))

    def _cipher(self, subject: str, *, create: bool = True) -> RecordCipher:
        return RecordCipher(self._vault.subject_key(subject, create=create), self._app_id, self.STORE, FORMAT)

    def _elements(self, subject: str) -> Callable[[bytes, bytes, bytes], int]:
        """The commitment MAC of a row (its tags have fixed lengths, so the payload is unambiguous)."""
        mac = self._heads.elements(subject)
        return lambda id_tag, type_tag, blob: mac(id_tag + type_tag + blob)

    def _seal(self, subject: str, events: Iterable[Event]) -> dict[bytes, tuple[bytes, bytes]]:
        """``id_tag -> (type_tag, blob)`` for ``events`` (the first of repeated ids wins)."""
        cipher, (id_tag, type_tag) = self._cipher(subject), self._tags(subject)
        type_tags: dict[str, bytes] = {}
        rows: dict[bytes, tuple[bytes, bytes]] = {}
        for event in events:
            key = id_tag(event.id)
            if key not in rows:
                kind = type_tags.get(event.type) or type_tags.setdefault(event.type, type_tag(event.type))
                rows[key] = kind, cipher.seal(_encode(event), key + kind)
        return rows

    def add(self, batches: Iterable[tuple[str, Sequence[Event]]]) -> dict[str, int]:
        """Store events for several subjects in one transaction; returns new events per subject.

        Events whose id is already stored for that subject are skipped (idempotent ingest).
        """
        prepared: dict[str, dict[bytes, tuple[bytes, bytes]]] = {}
        for subject, events in batches:
            rows = prepared.setdefault(subject, {})
            for id_tag, row in self._seal(subject, events).items():
                rows.setdefault(id_tag, row)
        added: dict[str, int] = {}
        staged: list[Staged] = []
        with self._lock, guarded(self.where), transaction(self._conn) as conn:
            for subject, rows in prepared.items():
                head = self._heads.current(conn, subject)
                who = _who(subject)
                stored = _stored_ids(conn, who, list(rows))
                new = [(who, k, kind, blob) for k, (kind, blob) in rows.items() if k not in stored]
                conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", new)
                added[subject] = len(new)
                if new:
                    element = self._elements(subject)
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
        cipher = self._cipher(subject, create=False)
        rows, verify = self._snapshot_rows(subject)
        wanted = None if types is None else {self._tags(subject)[1](t) for t in types}
        events = [self._open(cipher, subject, *row) for row in rows if wanted is None or row[1] in wanted]
        verify()  # after opening: a damaged row is named by its own, more precise error
        if (
            types is not None
        ):  # an 8-byte type tag shared by two types (odds ~2**-64 per pair) reads nothing extra
            events = [e for e in events if e.type in types]
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
        wanted = {self._tags(subject)[1](t) for t in types}
        return sum(1 for _, type_tag, _ in rows if type_tag in wanted)

    def delete(self, subject: str, types: Collection[str] | None = None) -> int:
        """Delete the subject's events (only ``types`` when given); returns how many.

        Deleting all of them works even on damaged or rolled-back data (erasure is the way out).
        """
        who = _who(subject)
        with self._lock, guarded(self.where), transaction(self._conn) as conn:
            if types is None:
                deleted = conn.execute("DELETE FROM events WHERE subject = ?", (who,)).rowcount
                staged = self._heads.reset(conn, subject)
            else:
                head = self._heads.current(conn, subject)
                wanted = {self._tags(subject)[1](t) for t in types}
                rows = [
                    r
                    for r in conn.execute(
                        "SELECT id_tag, type_tag, blob FROM events WHERE subject = ?", (who,)
                    )
                    if r[1] in wanted
                ]
                conn.executemany(
                    "DELETE FROM events WHERE subject = ? AND id_tag = ?", [(who, r[0]) for r in rows]
                )
                element = self._elements(subject)
                staged = self._heads.stage(
                    conn, subject, head, (), [element(*r) for r in rows], count=-len(rows)
                )
                deleted = len(rows)
        self._heads.publish([staged])
        return deleted

    def delete_ids(self, subject: str, ids: Iterable[str]) -> int:
        """Delete the subject's events with these ids; returns how many were stored."""
        id_tag, who = self._tags(subject)[0], _who(subject)
        tags = list(dict.fromkeys(id_tag(i) for i in ids))
        with self._lock, guarded(self.where), transaction(self._conn) as conn:
            head = self._heads.current(conn, subject)
            element = self._elements(subject)
            removed = []
            for tag in tags:
                row = conn.execute(
                    "SELECT type_tag, blob FROM events WHERE subject = ? AND id_tag = ?", (who, tag)
                ).fetchone()
                if row is not None:
                    conn.execute("DELETE FROM events WHERE subject = ? AND id_tag = ?", (who, tag))
                    removed.append(element(tag, *row))
            staged = (
                self._heads.stage(conn, subject, head, (), removed, count=-len(removed)) if removed else None
            )
        if staged is not None:
            self._heads.publish([staged])
        return len(removed)

    def subjects(self) -> list[str]:
        with self._lock, guarded(self.where):
            found = [r[0] for r in self._conn.execute("SELECT DISTINCT subject FROM events")]
        if not all(isinstance(s, bytes) and len(s) == _SUBJECT for s in found):
            raise IntegrityError(
                f"an event row in {self.where} names no learner (malformed subject)", hint=RECOVER
            )
        return [s.hex() for s in found]

    def compact(self) -> None:
        """Fold the write-ahead log into the database file and truncate it (after an erasure)."""
        with self._lock, guarded(self.where):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _open(self, cipher: RecordCipher, subject: str, id_tag: bytes, type_tag: bytes, blob: bytes) -> Event:
        plain = cipher.open(blob, id_tag + type_tag)
        if plain is None:
            raise IntegrityError(
                f"an event of learner {subject} in {self.where} failed authentication: it was tampered with, "
                "truncated, or moved from another learner, event or type",
                hint=RECOVER,
            )
        return _decode(plain, f"an event of learner {subject} in {self.where}")

    def _snapshot_rows(self, subject: str) -> tuple[list[tuple[bytes, bytes, bytes]], Callable[[], None]]:
        """All the subject's rows from one snapshot, and the check that they are the committed set."""
        counter = self._heads.counter(subject)  # before the snapshot: a concurrent write only looks newer
        with self._lock, guarded(self.where), snapshot(self._conn) as conn:
            head = self._heads.row(conn, subject)
            rows = conn.execute(
                "SELECT id_tag, type_tag, blob FROM events WHERE subject = ?", (_who(subject),)
            ).fetchall()
        self._heads.fresh(subject, counter, head)  # a stale or missing head is named before any row is opened
        for id_tag, type_tag, blob in rows:
            if not (
                isinstance(id_tag, bytes)
                and len(id_tag) == _ID_TAG
                and isinstance(type_tag, bytes)
                and len(type_tag) == _TYPE_TAG
                and isinstance(blob, bytes)
            ):
                raise IntegrityError(
                    f"an event row of learner {subject} in {self.where} is malformed", hint=RECOVER
                )
            if len(blob) < RECORD_OVERHEAD:
                raise IntegrityError(
                    f"an event of learner {subject} in {self.where} is truncated ({len(blob)} "
                    f"bytes, a sealed event has at least {RECORD_OVERHEAD})",
                    hint=RECOVER,
                )
        element = self._elements(subject)
        return rows, lambda: self._heads.verify(subject, counter, head, [element(*r) for r in rows])

    # ------------------------------------------------------------------ format migration

    def _migrate(self) -> None:
        """Create the events table, or bring a format-1 or format-2 database to this format (one transaction)."""
        conn = self._conn
        if _format(conn) == FORMAT:
            return
        with transaction(conn):
            found = _format(conn)  # again under the write lock: another process may have migrated it
            if found == FORMAT:
                return
            if found not in (None, 0, 1, 2):
                raise IntegrityError(
                    f"{self.where} has format {found!r}, this satchel reads format {FORMAT}",
                    hint="upgrade satchel if the database is newer; otherwise " + RECOVER,
                )
            staged = self._upgrade(conn, found) if found in (1, 2) else {}
            if found is None:
                conn.execute(_EVENTS)
            conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value NOT NULL)")
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('format', ?)", (FORMAT,))
        for commitments, heads in staged.items():
            commitments.publish(heads)
        if found in (1, 2):
            self._reclaim()

    def _reclaim(self) -> None:
        """Give the old rows' pages back to the file system and fold the log (best effort: another
        process reading the database at this moment makes VACUUM busy; new rows reuse the pages then)."""
        try:
            self._conn.execute("VACUUM")
        except sqlite3.OperationalError:
            pass
        self.compact()

    def _upgrade(self, conn: sqlite3.Connection, found: int) -> dict[Commitments, list[Staged]]:
        """Move format-``found`` rows into a new events table, resealed; the heads to publish."""
        from satchel.privacy.consent import ConsentLedger

        conn.execute("ALTER TABLE events RENAME TO events_old")
        conn.execute(_EVENTS)
        staged: dict[Commitments, list[Staged]] = {self._heads: []}
        for (subject,) in conn.execute("SELECT DISTINCT subject FROM events_old").fetchall():
            if is_pseudonym(subject) and not self._vault.is_erased(subject):
                staged[self._heads] += self._carry(conn, subject, found)
        conn.execute("DROP TABLE events_old")
        if found == 1:
            consent = Commitments(
                self._vault, self._app_id, ConsentLedger.STORE, "consent records", self.where
            )
            records = "SELECT DISTINCT subject FROM sealed_records WHERE kind = ?"
            staged[consent] = [
                head
                for (subject,) in conn.execute(records, (ConsentLedger.KIND,)).fetchall()
                for head in _adopt_records(conn, consent, subject, ConsentLedger.KIND)
            ]
        return staged

    def _carry(self, conn: sqlite3.Connection, subject: str, found: int) -> list[Staged]:
        """Reseal one learner's format-1/2 rows into the new table and commit them (nothing if they cannot be)."""
        counter, row = self._heads.counter(subject), self._heads.row(conn, subject)
        if found == 1 and (counter.value or row is not None):
            return []  # committed before: not format-1 rows of this vault; reads will say what is wrong
        try:
            key = self._vault.subject_key(subject, create=False)
        except KeyUnavailableError:
            return []  # another vault's learner: unreadable either way
        rows = conn.execute(
            "SELECT id_tag, type_tag, blob FROM events_old WHERE subject = ?", (subject,)
        ).fetchall()
        head = EMPTY
        if found == 2:
            element = self._heads.elements(subject)
            try:
                head = self._heads.fresh(subject, counter, row) or EMPTY
                self._heads.verify(
                    subject, counter, row, [element(f"{i}{t}".encode() + b) for i, t, b in rows]
                )
            except IntegrityError:
                return []  # not the committed rows (e.g. a copy restored after migration): the head says so
        events = []
        for id_tag, type_tag, blob in rows:
            if not (_is_hex_tag(id_tag) and _is_hex_tag(type_tag) and isinstance(blob, bytes)):
                raise IntegrityError(
                    f"an event row of learner {subject} in {self.where} is malformed", hint=RECOVER
                )
            kind = f"event:{type_tag}:{id_tag}" if found == 2 else f"event:{id_tag}"
            event = _decode(
                open_sealed(blob, key, Binding(self._app_id, subject, "", kind)),
                f"an event of learner {subject} in {self.where}",
            )
            if found == 1 and self._legacy_tag(subject, event.type) != type_tag:
                raise IntegrityError(
                    f"an event row of learner {subject} in {self.where} carries another event "
                    "type's tag (rewritten)",
                    hint=RECOVER,
                )
            events.append(event)
        sealed = self._seal(subject, events)
        who = _who(subject)
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", [(who, k, *v) for k, v in sealed.items()])
        row_mac = self._elements(subject)
        return [
            self._heads.stage(
                conn,
                subject,
                head,
                [row_mac(k, *v) for k, v in sealed.items()],
                [head.digest],
                count=len(sealed) - head.count,
            )
        ]

    def _legacy_tag(self, subject: str, value: str) -> str:
        """A format-1/2 type tag (hex HMAC-SHA256)."""
        return hmac.digest(self._tag_key, f"type\x00{subject}\x00{value}".encode(), "sha256").hex()[:32]


def _format(conn: sqlite3.Connection) -> int | None:
    """The database's event format: from ``meta``; 1 for an old events table without it; 0 for a current
    table without it (meta dropped: the heads still check everything); None for no events table yet."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        (found,) = conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone() or (None,)
        return found if isinstance(found, int) else -1
    columns = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(events)")}
    if not columns:
        return None
    return 1 if columns.get("subject", "").upper() == "TEXT" else 0


def _who(subject: str) -> bytes:
    """The pseudonym's 16 bytes, as rows store it (a raw learner id is refused with a PrivacyError)."""
    return bytes.fromhex(require_pseudonym(subject, "the event store's subject"))


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


def _adopt_records(
    conn: sqlite3.Connection, commitments: Commitments, subject: str, kind: str
) -> list[Staged]:
    """Commit a learner's existing sealed records of ``kind`` (format-1 migration, trust on first use)."""
    if commitments.counter(subject).value or commitments.row(conn, subject) is not None:
        return []
    rows = conn.execute(
        "SELECT seq, blob FROM sealed_records WHERE subject = ? AND kind = ?", (subject, kind)
    ).fetchall()
    element = commitments.elements(subject)
    elements = [element(record_payload(seq, blob)) for seq, blob in rows]
    return [commitments.stage(conn, subject, EMPTY, elements, count=len(elements))]


def record_payload(seq: int, blob: bytes) -> bytes:
    """A sealed record's commitment payload: its sequence number (fixed width), then its blob."""
    return seq.to_bytes(8, "big") + blob


def _is_hex_tag(value: object) -> bool:
    return isinstance(value, str) and len(value) == 32 and value.isascii()


def _encode(event: Event) -> bytes:
    """``"id"\\0type\\0time\\0data``: the id as a JSON string, the UTC time (ISO 8601, ``Z``), the data as JSON."""
    time = event.time.isoformat()
    if time.endswith("+00:00"):
        time = time[:-6] + "Z"
    return b"%b\0%b\0%b\0%b" % (
        encode_basestring(event.id).encode(),
        event.type.encode(),
        time.encode(),
        _DATA(event.data),
    )


def _decode(raw: bytes, what: str) -> Event:
    """An event from :func:`_encode`'s bytes (or a format-1/2 event's JSON object)."""
    try:
        if raw[:1] == b"{":
            return Event.model_validate_json(raw)
        event_id, kind, time, data = raw.split(b"\0", 3)
        return Event.model_validate_json(
            b'{"id":%b,"type":"%b","time":"%b","data":%b}' % (event_id, kind, time, data)
        )
    except (ValueError, ValidationError):  # ValueError: fewer than four fields
        raise IntegrityError(f"{what} does not decode to an event", hint=RECOVER) from None
