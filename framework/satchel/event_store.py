"""The embedded encrypted event store (SQLite, WAL).

Each event is one row holding a sealed blob (envelope encryption under the subject's key). Rows are
addressed by keyed tags, never plaintext: ``subject`` is the pseudonym, ``type_tag`` an HMAC of the
event type (so featurizers can be fed only their declared types without revealing the type on disk),
``id_tag`` an HMAC of the event id (idempotent ingest). The blob's binding includes the ``id_tag``,
so a blob moved to another row, subject or app does not open. Writes happen in one transaction:
an import either lands whole or not at all, even if the process is killed mid-way.
"""

from __future__ import annotations

import hmac
import json
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Collection, Iterable, Iterator, Sequence

from satchel.events import Event
from satchel.privacy.envelope import Binding, open_sealed, seal
from satchel.privacy.vault import Vault

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
"""


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction (taken at once, so concurrent writers queue) that commits or rolls back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def connect(path: Path) -> sqlite3.Connection:
    """Open the app's SQLite database: WAL, secure delete (erased rows are zeroed), foreign writers wait."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON", "temp_store=MEMORY"):
        conn.execute(f"PRAGMA {pragma}")
    conn.executescript(_SCHEMA)
    return conn


class EventStore:
    """Sealed events per subject pseudonym. Callers pass pseudonyms, never raw ids."""

    def __init__(self, conn: sqlite3.Connection, vault: Vault, app_id: str) -> None:
        self._conn = conn
        self._vault = vault
        self._app_id = app_id
        self._tag_key = vault.derive("event-tags")
        self._lock = threading.RLock()

    def _tag(self, subject: str, label: str, value: str) -> str:
        msg = f"{label}\x00{subject}\x00{value}".encode()
        return hmac.digest(self._tag_key, msg, "sha256").hex()[:32]

    def _binding(self, subject: str, id_tag: str) -> Binding:
        return Binding(self._app_id, subject, "", f"event:{id_tag}")

    def add(self, batches: Iterable[tuple[str, Sequence[Event]]]) -> dict[str, int]:
        """Store events for several subjects in one transaction; returns new events per subject.

        Events whose id is already stored for that subject are skipped (idempotent ingest).
        """
        rows: list[tuple[str, str, str, bytes]] = []
        for subject, events in batches:
            key = self._vault.subject_key(subject)
            for event in events:
                id_tag = self._tag(subject, "id", event.id)
                blob = seal(_encode(event), key, self._binding(subject, id_tag))
                rows.append((subject, id_tag, self._tag(subject, "type", event.type), blob))
        added: dict[str, int] = {}
        with self._lock, transaction(self._conn) as conn:
            for row in rows:
                cur = conn.execute("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?)", row)
                added[row[0]] = added.get(row[0], 0) + cur.rowcount
        return added

    def read(self, subject: str, types: Collection[str] | None = None) -> list[Event]:
        """The subject's events (only ``types`` when given), decrypted and sorted by time."""
        key = self._vault.subject_key(subject, create=False)
        rows = self._select(subject, "id_tag, blob", types)
        events = []
        for id_tag, blob in rows:  # the binding authenticates the row's id tag: no swapped rows
            events.append(_decode(open_sealed(blob, key, self._binding(subject, id_tag))))
        events.sort(key=lambda e: (e.time, e.id))
        return events

    def count(self, subject: str, types: Collection[str] | None = None) -> int:
        return int(self._select(subject, "count(*)", types)[0][0])

    def delete(self, subject: str, types: Collection[str] | None = None) -> int:
        """Delete the subject's events (only ``types`` when given); returns how many."""
        where, args = self._where(subject, types)
        with self._lock:
            return self._conn.execute(f"DELETE FROM events WHERE {where}", args).rowcount

    def delete_ids(self, subject: str, ids: Iterable[str]) -> int:
        tags = [(subject, self._tag(subject, "id", i)) for i in ids]
        with self._lock, transaction(self._conn) as conn:
            return sum(conn.execute("DELETE FROM events WHERE subject=? AND id_tag=?", t).rowcount for t in tags)

    def subjects(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT DISTINCT subject FROM events")]

    def _where(self, subject: str, types: Collection[str] | None) -> tuple[str, list[str]]:
        if types is None:
            return "subject = ?", [subject]
        tags = [self._tag(subject, "type", t) for t in types]
        return f"subject = ? AND type_tag IN ({','.join('?' * len(tags))})", [subject, *tags]

    def _select(self, subject: str, columns: str, types: Collection[str] | None) -> list[tuple]:
        if types is not None and not types:
            return [(0,)] if columns.startswith("count") else []
        where, args = self._where(subject, types)
        with self._lock:
            return self._conn.execute(f"SELECT {columns} FROM events WHERE {where}", args).fetchall()


def _encode(event: Event) -> bytes:
    return json.dumps({"id": event.id, "type": event.type, "time": event.time.isoformat(), "data": event.data},
                      separators=(",", ":")).encode()


def _decode(raw: bytes) -> Event:
    return Event.model_validate_json(raw)
