"""Migration of format-1 and format-2 event databases to the current event row format."""

from __future__ import annotations

import hmac
import sqlite3

from satchel.errors import IntegrityError, KeyUnavailableError
from satchel.privacy.commitment import EMPTY, RECOVER, Commitments, Staged
from satchel.privacy.consent import ConsentLedger
from satchel.privacy.envelope import Binding, open_sealed
from satchel.privacy.pseudonym import is_pseudonym
from satchel.privacy.vault import Vault
from satchel.storage.database import record_payload, transaction
from satchel.storage.event_rows import EVENTS_TABLE, FORMAT, EventRows, decode_event, who


def stored_format(conn: sqlite3.Connection) -> int | None:
    """The database's event format: from ``meta``; 1 for an old events table without it; 0 for a current
    table without it (meta dropped: the heads still check everything); None for no events table yet."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
        (found,) = conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone() or (None,)
        return found if isinstance(found, int) else -1
    columns = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(events)")}
    if not columns:
        return None
    return 1 if columns.get("subject", "").upper() == "TEXT" else 0


class EventMigration:
    """Creates the events table, or brings an older database to :data:`FORMAT` (one transaction)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        vault: Vault,
        app_id: str,
        heads: Commitments,
        rows: EventRows,
        where: str,
    ) -> None:
        self._conn = conn
        self._vault = vault
        self._app_id = app_id
        self._heads = heads
        self._rows = rows
        self._where = where

    def run(self) -> None:
        """Migrate, unless the database is current; publish the new heads; reclaim the old rows' space."""
        conn = self._conn
        if stored_format(conn) == FORMAT:
            return
        with transaction(conn):
            found = stored_format(conn)  # again under the write lock: another process may have migrated it
            if found == FORMAT:
                return
            if found not in (None, 0, 1, 2):
                raise IntegrityError(
                    f"{self._where} has format {found!r}, this satchel reads format {FORMAT}",
                    hint="upgrade satchel if the database is newer; otherwise " + RECOVER,
                )
            staged = self._upgrade(conn, found) if found in (1, 2) else {}
            if found is None:
                conn.execute(EVENTS_TABLE)
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
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _upgrade(self, conn: sqlite3.Connection, found: int) -> dict[Commitments, list[Staged]]:
        """Move format-``found`` rows into a new events table, resealed; the heads to publish."""
        conn.execute("ALTER TABLE events RENAME TO events_old")
        conn.execute(EVENTS_TABLE)
        staged: dict[Commitments, list[Staged]] = {self._heads: []}
        for (subject,) in conn.execute("SELECT DISTINCT subject FROM events_old").fetchall():
            if is_pseudonym(subject) and not self._vault.is_erased(subject):
                staged[self._heads] += self._carry(conn, subject, found)
        conn.execute("DROP TABLE events_old")
        if found == 1:
            consent = Commitments(
                self._vault, self._app_id, ConsentLedger.STORE, "consent records", self._where
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
                    f"an event row of learner {subject} in {self._where} is malformed", hint=RECOVER
                )
            kind = f"event:{type_tag}:{id_tag}" if found == 2 else f"event:{id_tag}"
            event = decode_event(
                open_sealed(blob, key, Binding(self._app_id, subject, "", kind)),
                f"an event of learner {subject} in {self._where}",
            )
            if found == 1 and self._legacy_tag(subject, event.type) != type_tag:
                raise IntegrityError(
                    f"an event row of learner {subject} in {self._where} carries another event "
                    "type's tag (rewritten)",
                    hint=RECOVER,
                )
            events.append(event)
        sealed = self._rows.seal(subject, events)
        subject_bytes = who(subject)
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?)", [(subject_bytes, k, *v) for k, v in sealed.items()]
        )
        row_mac = self._rows.elements(subject)
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
        return hmac.digest(self._rows.tag_key, f"type\x00{subject}\x00{value}".encode(), "sha256").hex()[:32]


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


def _is_hex_tag(value: object) -> bool:
    return isinstance(value, str) and len(value) == 32 and value.isascii()
