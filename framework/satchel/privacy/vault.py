"""The key vault: wrapped subject keys, master-key metadata and monotonic counters (SQLite).

The vault lives in a **key directory separate from the data directory** (:meth:`Vault.open` refuses
nested or equal paths). Erasing a subject deletes its wrapped key with ``PRAGMA secure_delete=ON``
and then ``VACUUM``-s and checkpoints the write-ahead log into the vault file, truncating it, so the
key's bytes are gone from the vault's files; every blob of that subject — including copies of the
data directory taken before the erasure — becomes undecryptable (crypto-shredding). Master key
rotation does the same for the old wrappings.

The vault runs in WAL mode with ``synchronous=FULL``: a transaction is durable after one fsync of the
log (a rollback journal costs four), so a training's single vault transaction (:class:`CounterBatch`,
:meth:`Vault.commit`: its checkpoint version and its audit anchor together) is its one durable commit.
A vault written with a rollback journal is switched to WAL when opened.

Key hierarchy::

    master key (32 bytes, from a key provider; only its fingerprint is stored)
      ├─ wraps each subject key (AES-GCM, bound to app id + pseudonym) → satchel.privacy.envelope
      └─ wraps the root secret (AES-GCM) → derive(purpose) via HKDF-SHA256
            (pseudonym key, audit-log MAC key, the counter-table MAC key, ...)

Derived keys come from the root secret, not the master key, so they survive :meth:`Vault.rotate`,
which re-wraps the subject keys and the root secret under a new master key without touching any
data blob and records the old key as retired.

Counters (:meth:`bump`, :meth:`advance`, :meth:`publish`, :meth:`commit`) only move forward and cost O(1) in the
number of counters; an edited, deleted, inserted or renamed row, or rows spliced in from an older copy of
the vault, raise :class:`IntegrityError` (how: :mod:`.vault_counters`). The data stores compare a blob's
version to its counter to detect rollback of the data directory. Restoring the *entire* key directory
from an older backup is not detectable without hardware-backed monotonic storage.

The parts: :mod:`.vault_keys` (wrapping, derivation), :mod:`.vault_counters` (the counter table) and
:mod:`.vault_file` (the SQLite file: schema, opening; a vault of schema 1, one HMAC over the whole
counter table, is migrated to schema 2 when opened, after its table MAC is checked).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from satchel.errors import ErasedError, IntegrityError, KeyUnavailableError, PrivacyError
from satchel.privacy._codec import frame, key_id
from satchel.privacy.atomic import fsync_all
from satchel.privacy.envelope import SubjectKey
from satchel.privacy.pseudonym import require_pseudonym
from satchel.privacy.vault_counters import Counter, CounterBatch, CounterTable
from satchel.privacy.vault_file import (
    SCHEMA_VERSION,
    VAULT_FILE,
    default_key_dir,
    open_database,
    retired_error,
    shred_free_pages,
    utc_now,
    vault_exists,
)
from satchel.privacy.vault_keys import hkdf, root_aad, subject_aad, unwrap, wrap

__all__ = [
    "SCHEMA_VERSION",
    "VAULT_FILE",
    "Counter",
    "CounterBatch",
    "RetiredKey",
    "Rotation",
    "Vault",
    "VaultInfo",
    "default_key_dir",
    "vault_exists",
]


@dataclass(frozen=True)
class RetiredKey:
    """A master key that was rotated out; it can never open the vault again."""

    key_id: str
    retired_at: datetime
    successor: str


@dataclass(frozen=True)
class Rotation:
    """What :meth:`Vault.rotate` did (for the audit log)."""

    old_key_id: str
    new_key_id: str
    subjects: int
    at: datetime


@dataclass(frozen=True)
class VaultInfo:
    """Facts for the audit report; no secrets."""

    path: Path
    app_id: str
    master_key_id: str
    created_at: datetime
    rotated_at: datetime | None
    subjects: int
    erased: int
    retired: tuple[RetiredKey, ...]


class Vault:
    """An open key vault. Create with :meth:`open`; thread-safe; close it (or use ``with``)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, app_id: str, master: bytes, root: bytes) -> None:
        self._conn = conn
        self._path = path
        self._app_id = app_id
        self._master = master
        self._root = root
        self._counters = CounterTable(conn, path, root, app_id)
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        key_dir: str | os.PathLike[str],
        master_key: bytes,
        *,
        app_id: str,
        data_dir: str | os.PathLike[str],
        create: bool = False,
    ) -> Vault:
        """Open (or with ``create=True`` initialise) the vault in ``key_dir`` for ``app_id``.

        Raises :class:`KeyUnavailableError` for a wrong or retired master key or a missing vault,
        :class:`PrivacyError` when ``key_dir`` and ``data_dir`` overlap or the vault is another app's.
        """
        conn, path, root = open_database(key_dir, master_key, app_id=app_id, data_dir=data_dir, create=create)
        return cls(conn, path, app_id, bytes(master_key), root)

    def close(self) -> None:
        """Close the database connection. The vault cannot be used afterwards."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def app_id(self) -> str:
        return self._app_id

    @property
    def master_key_id(self) -> str:
        """Fingerprint of the master key this vault was opened (or last rotated) with."""
        return key_id(self._master)

    # ------------------------------------------------------------------ subject keys

    def subject_key(self, pseudonym: str, *, create: bool = True) -> SubjectKey:
        """The key of ``pseudonym``, created on first use when ``create``.

        Raises :class:`ErasedError` once the subject was erased, :class:`KeyUnavailableError` when it
        has no key and ``create`` is false (or the master key was rotated by another process).
        """
        require_pseudonym(pseudonym, "Vault.subject_key(pseudonym)")
        with self._tx(write=False):
            self._refuse_erased(pseudonym)
            row = self._one("SELECT wrapped FROM subjects WHERE pseudonym = ?", pseudonym)
            if row is not None:
                return SubjectKey(pseudonym, self._unwrap_subject(pseudonym, row[0]))
        if not create:
            raise KeyUnavailableError(
                f"subject {pseudonym} has no key in the vault at {self._path}",
                hint="it never stored data here; call subject_key(..., create=True) to enrol it",
            )
        with self._tx(write=True):
            self._refuse_erased(pseudonym)
            row = self._one("SELECT wrapped FROM subjects WHERE pseudonym = ?", pseudonym)
            if row is not None:  # another process enrolled it meanwhile
                return SubjectKey(pseudonym, self._unwrap_subject(pseudonym, row[0]))
            self._check_current_master()
            secret = AESGCM.generate_key(bit_length=256)
            self._conn.execute(
                "INSERT INTO subjects VALUES (?, ?, ?, ?)",
                (pseudonym, key_id(secret), self._wrap_subject(self._master, pseudonym, secret), utc_now()),
            )
            return SubjectKey(pseudonym, secret)

    def subjects(self) -> tuple[str, ...]:
        """Pseudonyms that currently hold a key (erased subjects excluded), sorted."""
        with self._tx(write=False):
            rows = self._conn.execute("SELECT pseudonym FROM subjects ORDER BY pseudonym")
            return tuple(r[0] for r in rows)

    def erase(self, pseudonym: str) -> bool:
        """Crypto-shred ``pseudonym``: delete its wrapped key for good and remember the erasure.

        Returns whether a key existed. Afterwards :meth:`subject_key` raises :class:`ErasedError`.
        The vault file is vacuumed so the key's bytes are gone from it (not just marked free).
        """
        require_pseudonym(pseudonym, "Vault.erase(pseudonym)")
        with self._tx(write=True):
            deleted = self._conn.execute("DELETE FROM subjects WHERE pseudonym = ?", (pseudonym,))
            existed = deleted.rowcount > 0
            self._conn.execute("INSERT OR IGNORE INTO erased VALUES (?, ?)", (pseudonym, utc_now()))
        self._vacuum()
        return existed

    def is_erased(self, pseudonym: str) -> bool:
        with self._tx(write=False):
            return self._erased_at(pseudonym) is not None

    # ------------------------------------------------------------------ master key rotation

    def rotate(self, new_master_key: bytes) -> Rotation:
        """Re-wrap every subject key and the root secret under ``new_master_key``.

        Data blobs are untouched (they depend only on subject keys). The old key is recorded as
        retired: opening with it afterwards raises :class:`KeyUnavailableError` saying so.
        """
        if len(new_master_key) != 32:
            raise KeyUnavailableError(f"the new master key must be 32 bytes, got {len(new_master_key)}")
        old_id, new_id = self.master_key_id, key_id(new_master_key)
        with self._lock:  # no other thread sees the new key before the commit, or the old after it
            with self._tx(write=True):
                subjects, at = self._rewrap_all(new_master_key, old_id, new_id)
            self._master = bytes(new_master_key)
        self._vacuum()
        return Rotation(old_id, new_id, subjects, datetime.fromisoformat(at))

    def _rewrap_all(self, new_master_key: bytes, old_id: str, new_id: str) -> tuple[int, str]:
        self._check_current_master()
        if new_id == old_id:
            raise PrivacyError("the new master key is the current one", hint="generate a fresh key")
        retired = self._one("SELECT retired_at FROM retired_keys WHERE key_id = ?", new_id)
        if retired:
            raise PrivacyError(
                f"master key {new_id} was retired on {retired[0]} and is never reused",
                hint="generate a fresh key",
            )
        rows = self._conn.execute("SELECT pseudonym, wrapped FROM subjects").fetchall()
        for pseudonym, wrapped in rows:
            secret = self._unwrap_subject(pseudonym, wrapped)
            self._conn.execute(
                "UPDATE subjects SET wrapped = ? WHERE pseudonym = ?",
                (self._wrap_subject(new_master_key, pseudonym, secret), pseudonym),
            )
        at = utc_now()
        self._conn.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [
                ("root", wrap(new_master_key, self._root, root_aad(self._app_id))),
                ("master_key_id", new_id),
                ("rotated_at", at),
            ],
        )
        self._conn.execute("INSERT INTO retired_keys VALUES (?, ?, ?)", (old_id, at, new_id))
        return len(rows), at

    def retired_keys(self) -> tuple[RetiredKey, ...]:
        with self._tx(write=False):
            sql = "SELECT key_id, retired_at, successor FROM retired_keys ORDER BY retired_at"
            rows = self._conn.execute(sql)
            return tuple(RetiredKey(k, datetime.fromisoformat(at), s) for k, at, s in rows)

    # ------------------------------------------------------------------ derived keys

    def derive(self, purpose: str, length: int = 32) -> bytes:
        """A key for ``purpose`` (e.g. ``"pseudonym"``, ``"audit-log"``), stable across rotations."""
        if not purpose:
            raise ValueError("derive(purpose) needs a non-empty purpose")
        return hkdf(self._root, frame(b"satchel/derive", self._app_id, purpose), length)

    # ------------------------------------------------------------------ monotonic counters

    def current(self, name: str) -> int:
        """The value of counter ``name`` (0 if never bumped), authenticated."""
        return self.counter(name).value

    def counter(self, name: str) -> Counter:
        """Counter ``name`` with its tag; ``Counter(name, 0)`` if it does not exist yet."""
        with self._tx(write=False):
            return self._counters.get(name)

    def bump(self, name: str) -> int:
        """Increment counter ``name`` and return the new value (1 on first use)."""
        with self._tx(write=True):
            value = self._counters.get(name).value + 1
            self._counters.write([Counter(name, value)])
        return value

    def advance(self, name: str, value: int, tag: bytes = b"") -> None:
        """Set counter ``name`` to ``value`` (which must exceed the current value) with ``tag``."""
        batch = CounterBatch()
        batch.advance(name, value, tag)
        self.commit(batch)

    def publish(self, updates: Mapping[str, tuple[int, bytes]]) -> None:
        """Move several counters forward to ``(value, tag)`` in one transaction.

        A counter already past ``value`` stays (a concurrent writer published a later state first);
        one already *at* ``value`` must carry the same tag, else :class:`IntegrityError`.
        """
        batch = CounterBatch()
        for name, (value, tag) in updates.items():
            batch.publish(name, value, tag)
        self.commit(batch)

    def commit(self, batch: CounterBatch) -> None:
        """Make the batch's files durable, then apply every move of it in one transaction (one
        fsync), or none of them.

        A strict move (:meth:`CounterBatch.advance`) must exceed the committed value, else
        :class:`IntegrityError`; a published one follows the rules of :meth:`publish`.
        """
        fsync_all(batch.files)
        if not batch.moves:
            return
        with self._tx(write=True):
            self._counters.apply(batch)

    # ------------------------------------------------------------------ facts

    def info(self) -> VaultInfo:
        with self._tx(write=False):
            meta = dict(self._conn.execute("SELECT name, value FROM meta"))
            (subjects,) = self._conn.execute("SELECT count(*) FROM subjects").fetchone()
            (erased,) = self._conn.execute("SELECT count(*) FROM erased").fetchone()
        rotated = meta.get("rotated_at")
        return VaultInfo(
            path=self._path,
            app_id=self._app_id,
            master_key_id=meta["master_key_id"],
            created_at=datetime.fromisoformat(meta["created_at"]),
            rotated_at=datetime.fromisoformat(rotated) if rotated else None,
            subjects=subjects,
            erased=erased,
            retired=self.retired_keys(),
        )

    # ------------------------------------------------------------------ internals

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[None]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            self._counters.begin()
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._counters.committed()

    def _vacuum(self) -> None:
        with self._lock:
            shred_free_pages(self._conn, self._path)

    def _one(self, sql: str, *params: object) -> tuple | None:
        return self._conn.execute(sql, params).fetchone()

    def _erased_at(self, pseudonym: str) -> str | None:
        row = self._one("SELECT erased_at FROM erased WHERE pseudonym = ?", pseudonym)
        return row[0] if row else None

    def _refuse_erased(self, pseudonym: str) -> None:
        at = self._erased_at(pseudonym)
        if at is not None:
            raise ErasedError(
                f"subject {pseudonym} was erased on {at}; its key is destroyed",
                hint="its data can no longer be read or written; delete any leftover files",
            )

    def _check_current_master(self) -> None:
        row = self._conn.execute("SELECT value FROM meta WHERE name = 'master_key_id'").fetchone()
        if row[0] != self.master_key_id:
            raise retired_error(self._conn, self._path, self.master_key_id)

    def _wrap_subject(self, master: bytes, pseudonym: str, secret: bytes) -> bytes:
        return wrap(master, secret, subject_aad(self._app_id, pseudonym))

    def _unwrap_subject(self, pseudonym: str, wrapped: bytes) -> bytes:
        try:
            return unwrap(self._master, wrapped, subject_aad(self._app_id, pseudonym))
        except InvalidTag:
            self._check_current_master()
            raise IntegrityError(
                f"the wrapped key of subject {pseudonym} in {self._path} failed authentication",
                hint="the vault was tampered with; restore the key directory from a trusted backup",
            ) from None
