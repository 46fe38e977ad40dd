"""The app's SQLite database: connecting, transactions and snapshots, sqlite3 errors as satchel errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from satchel.errors import IntegrityError, SchedulerError
from satchel.privacy.commitment import HEADS_SCHEMA

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


def record_payload(seq: int, blob: bytes) -> bytes:
    """A sealed record's commitment payload: its sequence number (fixed width), then its blob."""
    return seq.to_bytes(8, "big") + blob
