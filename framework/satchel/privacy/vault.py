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
number of counters. Each row carries the write sequence number ``seq`` at which it last changed and a
keyed BLAKE2b MAC over (name, value, tag, seq); the same keyed hash also yields a secret *element*
that is never stored. One **sealed head** (AES-GCM under a vault-derived key, bound to the head's
``seq``) holds the row count and the sum of all elements mod 2**256, and is updated in the same
SQLite transaction as the rows it covers (add the new element, subtract the old). An open vault
verifies the whole table once, keeps that verified view in memory, and afterwards only reads the
rows other processes changed (``seq`` above the head it last verified) and checks them against the
new head; every counter read also compares its own row with the view. So an edited, deleted,
inserted or renamed row, or rows spliced in from an older copy of the vault (a head restored alone
included), raise :class:`IntegrityError` — at the latest when the vault is next opened, at once
when the affected counter is read. The elements are secret and the head sealed, so no set of old
rows can be combined to match a head. The data stores compare a blob's version to its counter to
detect rollback of the data directory. Restoring the *entire* key directory from an older backup is
not detectable without hardware-backed monotonic storage.

Vault schema 1 (one HMAC over the whole counter table) is migrated to schema 2 when opened, after
its table MAC is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from satchel.errors import ErasedError, IntegrityError, KeyUnavailableError, PrivacyError
from satchel.privacy._codec import frame, key_id
from satchel.privacy.atomic import fsync_all
from satchel.privacy.envelope import SubjectKey
from satchel.privacy.pseudonym import require_pseudonym

VAULT_FILE = "vault.sqlite3"
SCHEMA_VERSION = 2
_NONCE = 12
_MOD = 2**256

# one fsync per commit (the log; erasure and rotation truncate it), zeroed free space, no temp files
_PRAGMAS = ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON", "temp_store=MEMORY")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS subjects (
    pseudonym TEXT PRIMARY KEY, key_id TEXT NOT NULL, wrapped BLOB NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS erased (pseudonym TEXT PRIMARY KEY, erased_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS retired_keys (
    key_id TEXT PRIMARY KEY, retired_at TEXT NOT NULL, successor TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY, value INTEGER NOT NULL, tag BLOB NOT NULL, seq INTEGER NOT NULL, mac BLOB NOT NULL);
"""
_SEQ_INDEX = "CREATE INDEX IF NOT EXISTS counters_seq ON counters (seq)"


@dataclass(frozen=True)
class Counter:
    """A monotonic counter: its value and an optional tag (e.g. the audit log's last MAC)."""

    name: str
    value: int
    tag: bytes = b""


class CounterBatch:
    """Counter moves collected for one vault transaction (:meth:`Vault.commit`), e.g. a training's
    checkpoint version and its audit anchor, so they become durable together or not at all; and the
    files they refer to, fsync'd together just before that transaction (``files``)."""

    def __init__(self) -> None:
        self.moves: dict[str, tuple[Counter, bool]] = {}  # name -> (target, strict)
        self.files: list[Path] = []  # written, to be made durable before the moves commit

    def advance(self, name: str, value: int, tag: bytes = b"") -> None:
        """Move ``name`` to ``value``, which must exceed its committed value (as :meth:`Vault.advance`)."""
        self._put(Counter(name, value, bytes(tag)), strict=True)

    def publish(self, name: str, value: int, tag: bytes) -> None:
        """Move ``name`` forward to ``value`` unless it is already past it (as :meth:`Vault.publish`)."""
        self._put(Counter(name, value, bytes(tag)), strict=False)

    def _put(self, counter: Counter, strict: bool) -> None:
        if not _valid_count(counter.value):
            raise ValueError(
                f"counter {counter.name!r} cannot be set to {counter.value!r}; counters are ints in "
                "0..2**63-1"
            )
        staged = self.moves.get(counter.name)
        if staged is not None and staged[0].value >= counter.value:
            raise ValueError(f"counter {counter.name!r} is already staged at {staged[0].value}")
        self.moves[counter.name] = (counter, strict or (staged is not None and staged[1]))


#: a verified counter row: the counter, the ``seq`` it was written at, its stored MAC, its secret element
_Row = tuple[Counter, int, bytes, int]


@dataclass
class _View:
    """The counter table one connection has verified, as of its ``PRAGMA data_version``."""

    data_version: int
    seq: int  # the head's write sequence number
    total: int  # sum of the rows' elements mod 2**256
    rows: dict[str, _Row]


class _CounterSeal:
    """The keys of the counter table: row MACs and elements (one keyed BLAKE2b), the sealed head."""

    def __init__(self, root: bytes, app_id: str) -> None:
        self._app_id = app_id
        key = _hkdf(root, frame(b"satchel/vault/counter-rows", app_id))
        self._base = hashlib.blake2b(frame(b"satchel/vault/counter-row", app_id), key=key, digest_size=48)
        self._cipher = AESGCM(_hkdf(root, frame(b"satchel/vault/counter-head", app_id)))

    def row(self, counter: Counter, seq: int) -> _Row:
        """The row of ``counter`` written at ``seq``: its stored MAC (16 bytes) and secret element."""
        mac = self._base.copy()
        mac.update(frame(counter.name, counter.value, counter.tag, seq))
        digest = mac.digest()
        return counter, seq, digest[32:], int.from_bytes(digest[:32], "big")

    def head(self, seq: int, count: int, total: int) -> bytes:
        nonce = os.urandom(_NONCE)
        plain = count.to_bytes(8, "big") + total.to_bytes(32, "big")
        return seq.to_bytes(8, "big") + nonce + self._cipher.encrypt(nonce, plain, self._aad(seq))

    def open_head(self, blob: object) -> tuple[int, int, int] | None:
        """``(seq, count, total)`` of a sealed head, or None if it is not authentic."""
        if not isinstance(blob, bytes) or len(blob) != 8 + _NONCE + 40 + 16:
            return None
        seq = int.from_bytes(blob[:8], "big")
        try:
            plain = self._cipher.decrypt(blob[8 : 8 + _NONCE], blob[8 + _NONCE :], self._aad(seq))
        except InvalidTag:
            return None
        return seq, int.from_bytes(plain[:8], "big"), int.from_bytes(plain[8:], "big")

    def _aad(self, seq: int) -> bytes:
        return frame(b"satchel/vault/counter-head", self._app_id, seq)


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


def default_key_dir(app_id: str) -> Path:
    """The platform's per-user config location for an app's key directory.

    ``<user config dir>/satchel-keys/<app_id>``: a tree of its own (on macOS config and data dirs are
    the same folder), so it never nests inside or around a ``.../satchel/<app_id>`` data directory.
    """
    from platformdirs import user_config_path

    return user_config_path("satchel-keys", appauthor=False) / app_id


def vault_exists(key_dir: str | os.PathLike[str]) -> bool:
    """Whether ``key_dir`` holds a (non-empty) vault file."""
    path = Path(key_dir) / VAULT_FILE
    return path.is_file() and path.stat().st_size > 0


class Vault:
    """An open key vault. Create with :meth:`open`; thread-safe; close it (or use ``with``)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, app_id: str, master: bytes, root: bytes) -> None:
        self._conn = conn
        self._path = path
        self._app_id = app_id
        self._master = master
        self._root = root
        self._seal = _CounterSeal(root, app_id)
        self._lock = threading.RLock()
        self._view: _View | None = None  # verified on first use, then kept current in O(changes)
        self._pending: tuple[int, int, list[_Row]] | None = None  # (seq, total, rows) of the open transaction

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
        key_path, data_path = Path(key_dir).resolve(), Path(data_dir).resolve()
        if key_path == data_path or key_path.is_relative_to(data_path) or data_path.is_relative_to(key_path):
            raise PrivacyError(
                f"key directory {key_path} and data directory {data_path} overlap",
                hint="keep keys in their own directory (default: satchel.privacy.default_key_dir(app_id)) so "
                "a copy of the data directory never contains the keys that decrypt it",
            )
        if not app_id:
            raise ValueError("Vault.open needs a non-empty app_id")
        if len(master_key) != 32:
            raise KeyUnavailableError(
                f"the master key must be 32 bytes, got {len(master_key)}",
                hint="check the key provider's configuration",
            )
        path = key_path / VAULT_FILE
        if not path.exists():
            if not create:
                raise KeyUnavailableError(
                    f"no key vault at {path}",
                    hint="restore the key directory from its backup, or initialise the app (create=True) "
                    "if it has never run on this device",
                )
            key_path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            meta = _load_meta(conn, path, app_id, master_key, create)
            root = _unlock(conn, path, meta, app_id, master_key)
            if meta["schema"] == 1:
                _migrate_v1(conn, path, app_id, root)
        except sqlite3.DatabaseError as error:
            conn.close()
            raise IntegrityError(
                f"the key vault at {path} is not a readable SQLite database ({error})",
                hint="restore the key directory from a trusted backup",
            ) from None
        except BaseException:
            conn.close()
            raise
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
                (pseudonym, key_id(secret), self._wrap_subject(self._master, pseudonym, secret), _now()),
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
            self._conn.execute("INSERT OR IGNORE INTO erased VALUES (?, ?)", (pseudonym, _now()))
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
        at = _now()
        self._conn.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [
                ("root", _wrap(new_master_key, self._root, _root_aad(self._app_id))),
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
        return _hkdf(self._root, frame(b"satchel/derive", self._app_id, purpose), length)

    # ------------------------------------------------------------------ monotonic counters

    def current(self, name: str) -> int:
        """The value of counter ``name`` (0 if never bumped), authenticated."""
        return self.counter(name).value

    def counter(self, name: str) -> Counter:
        """Counter ``name`` with its tag; ``Counter(name, 0)`` if it does not exist yet."""
        with self._tx(write=False):
            return self._get(name)

    def bump(self, name: str) -> int:
        """Increment counter ``name`` and return the new value (1 on first use)."""
        with self._tx(write=True):
            value = self._get(name).value + 1
            self._write([Counter(name, value)])
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
            changed = []
            for target, strict in batch.moves.values():
                current = self._get(target.name)
                if strict and target.value <= current.value:
                    raise IntegrityError(
                        f"counter {target.name!r} in {self._path} is at {current.value}; it cannot move to "
                        f"{target.value}",
                        hint="counters only move forward: the data was rolled back or written concurrently",
                    )
                if target.value == current.value and not hmac.compare_digest(current.tag, target.tag):
                    raise IntegrityError(
                        f"counter {target.name!r} in {self._path} is at {target.value} with another tag",
                        hint="two different states claim the same version: the data was tampered with",
                    )
                if target.value > current.value:
                    changed.append(target)
            if changed:
                self._write(changed)

    def _get(self, name: str) -> Counter:
        """Counter ``name`` from the verified view, after checking its row in the database is that one."""
        row = self._sync().rows.get(name)
        stored = self._one("SELECT value, tag, seq, mac FROM counters WHERE name = ?", name)
        if (stored is None) != (row is None) or (
            row is not None and stored != (row[0].value, row[0].tag, *row[1:3])
        ):
            raise self._tampered(
                f"the row of counter {name!r} was edited, deleted, inserted or restored from an older copy"
            )
        return row[0] if row is not None else Counter(name, 0)

    def _sync(self) -> _View:
        """The verified view, brought up to date with other connections' commits (inside a transaction).

        The first call reads and checks every row; later ones only the rows written since the head
        this connection verified last (``seq`` above it), so their cost does not grow with the table.
        """
        (version,) = self._conn.execute("PRAGMA data_version").fetchone()
        view = self._view
        if view is not None and view.data_version == version:
            return view
        stored = self._one("SELECT value FROM meta WHERE name = 'counters_head'")
        head = self._seal.open_head(stored[0] if stored else None)
        if head is None:
            raise self._tampered("its sealed head is missing or not authentic")
        seq, count, total = head
        if view is None:
            rows = [
                self._checked(r, seq)
                for r in self._conn.execute("SELECT name, value, tag, seq, mac FROM counters")
            ]
            view = _View(version, seq, 0, {r[0].name: r for r in rows})
            found, digest = len(rows), sum(r[3] for r in rows) % _MOD
        else:
            if seq < view.seq:
                raise self._tampered(
                    f"its head (write {seq}) is older than the one this process verified (write "
                    f"{view.seq}): it was restored from an older copy"
                )
            sql = "SELECT name, value, tag, seq, mac FROM counters WHERE seq > ?"
            rows = [self._checked(r, seq) for r in self._conn.execute(sql, (view.seq,))]
            found, digest = len(view.rows), view.total
            for row in rows:
                old = view.rows.get(row[0].name)
                found, digest = found + (old is None), (digest + row[3] - (old[3] if old else 0)) % _MOD
        if found != count or digest != total:
            raise self._tampered(
                f"{found} rows are not the {count} its head commits to: rows were deleted, inserted "
                "or restored from an older copy"
            )
        view.rows.update((r[0].name, r) for r in rows)
        view.data_version, view.seq, view.total = version, seq, total
        self._view = view
        return view

    def _checked(self, stored: tuple, head_seq: int) -> _Row:
        """A database row, authenticated by its MAC, as a :data:`_Row`."""
        name, value, tag, seq, mac = stored
        if not (
            isinstance(name, str)
            and _valid_count(value)
            and isinstance(tag, bytes)
            and _valid_count(seq)
            and seq <= head_seq
            and isinstance(mac, bytes)
        ):
            raise self._tampered(f"the row of counter {name!r} is malformed")
        row = self._seal.row(Counter(name, value, tag), seq)
        if not hmac.compare_digest(row[2], mac):
            raise self._tampered(f"the row of counter {name!r} was edited")
        return row

    def _write(self, counters: list[Counter]) -> None:
        """Write ``counters`` and the updated head (inside the caller's write transaction, after :meth:`_sync`)."""
        view = self._view
        assert view is not None
        seq, count, total = view.seq + 1, len(view.rows), view.total
        rows = [self._seal.row(c, seq) for c in counters]
        for row in rows:
            old = view.rows.get(row[0].name)
            count, total = count + (old is None), (total + row[3] - (old[3] if old else 0)) % _MOD
        self._conn.executemany(
            "INSERT OR REPLACE INTO counters VALUES (?, ?, ?, ?, ?)",
            [(c.name, c.value, c.tag, s, mac) for c, s, mac, _ in rows],
        )
        self._conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('counters_head', ?)", (self._seal.head(seq, count, total),)
        )
        self._pending = (seq, total, rows)  # enters the view only if the transaction commits

    def _tampered(self, detail: str) -> IntegrityError:
        return IntegrityError(
            f"the counter table of the key vault at {self._path} failed authentication: {detail}",
            hint="restore the whole key directory from a trusted backup (with the data directory of the same "
            "backup)",
        )

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
            self._pending = None
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            if self._pending is not None and self._view is not None:
                # our own commit leaves data_version unchanged, and no other connection wrote meanwhile
                self._view.seq, self._view.total, rows = self._pending
                self._view.rows.update((r[0].name, r) for r in rows)

    def _vacuum(self) -> None:
        """Rewrite the vault file without free pages, then move the log into it and truncate the log,
        so deleted rows (an erased key, old wrappings) are in neither file."""
        with self._lock:
            self._conn.execute("VACUUM")
            (busy, _, _) = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise PrivacyError(
                f"the key vault at {self._path} could not be checkpointed: another process kept reading it",
                hint="its write-ahead log may still hold the deleted key material; run the operation again "
                "when other processes of the app are idle",
            )

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
            raise _retired_error(self._conn, self._path, self.master_key_id)

    def _wrap_subject(self, master: bytes, pseudonym: str, secret: bytes) -> bytes:
        return _wrap(master, secret, frame(b"satchel/vault/subject", self._app_id, pseudonym))

    def _unwrap_subject(self, pseudonym: str, wrapped: bytes) -> bytes:
        try:
            return _unwrap(self._master, wrapped, frame(b"satchel/vault/subject", self._app_id, pseudonym))
        except InvalidTag:
            self._check_current_master()
            raise IntegrityError(
                f"the wrapped key of subject {pseudonym} in {self._path} failed authentication",
                hint="the vault was tampered with; restore the key directory from a trusted backup",
            ) from None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _hkdf(root: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(root)


def _counters_info(app_id: str) -> bytes:
    return frame(b"satchel/vault/counters", app_id)


def _root_aad(app_id: str) -> bytes:
    return frame(b"satchel/vault/root", app_id)


def _wrap(key: bytes, secret: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, secret, aad)


def _unwrap(key: bytes, wrapped: object, aad: bytes) -> bytes:
    if not isinstance(wrapped, bytes) or len(wrapped) < _NONCE + 16:
        raise InvalidTag()  # a tampered row (wrong type or too short) fails like a bad tag
    return AESGCM(key).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], aad)


def _valid_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _counters_mac(key: bytes, counters: dict[str, Counter]) -> bytes:
    """The whole-table MAC of vault schema 1 (checked once, when such a vault is migrated)."""
    parts: list[bytes | str | int] = [b"satchel/vault/counters", len(counters)]
    for name in sorted(counters):
        parts += [name, counters[name].value, counters[name].tag]
    return hmac.new(key, frame(*parts), hashlib.sha256).digest()


def _initialise(conn: sqlite3.Connection, app_id: str, master: bytes) -> dict[str, object]:
    root = os.urandom(32)
    meta: dict[str, object] = {
        "schema": SCHEMA_VERSION,
        "app_id": app_id,
        "master_key_id": key_id(master),
        "root": _wrap(master, root, _root_aad(app_id)),
        "created_at": _now(),
        "counters_head": _CounterSeal(root, app_id).head(0, 0, 0),
    }
    conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    conn.execute(_SEQ_INDEX)
    return meta


def _migrate_v1(conn: sqlite3.Connection, path: Path, app_id: str, root: bytes) -> None:
    """Rewrite a schema-1 counter table (one HMAC over all rows) as schema 2, once its MAC checks."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone() == (
            1,
        ):  # not yet migrated
            rows = conn.execute("SELECT name, value, tag FROM counters").fetchall()
            counters = {name: Counter(name, value, tag) for name, value, tag in rows}
            stored = conn.execute("SELECT value FROM meta WHERE name = 'counters_mac'").fetchone()
            key = _hkdf(root, _counters_info(app_id))
            if not (
                all(_valid_count(c.value) and isinstance(c.tag, bytes) for c in counters.values())
                and stored is not None
                and isinstance(stored[0], bytes)
                and hmac.compare_digest(stored[0], _counters_mac(key, counters))
            ):
                raise IntegrityError(
                    f"the counter table of the key vault at {path} failed authentication; it was not migrated "
                    f"to vault schema {SCHEMA_VERSION}",
                    hint="restore the whole key directory from a trusted backup",
                )
            seal = _CounterSeal(root, app_id)
            sealed = [seal.row(c, 1) for c in counters.values()]
            conn.execute("ALTER TABLE counters ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
            conn.execute("ALTER TABLE counters ADD COLUMN mac BLOB NOT NULL DEFAULT x''")
            conn.executemany(
                "UPDATE counters SET seq = ?, mac = ? WHERE name = ?",
                [(s, mac, c.name) for c, s, mac, _ in sealed],
            )
            conn.execute(_SEQ_INDEX)
            head = seal.head(1, len(sealed), sum(r[3] for r in sealed) % _MOD)
            conn.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("counters_head", head), ("schema", SCHEMA_VERSION)],
            )
            conn.execute("DELETE FROM meta WHERE name = 'counters_mac'")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _load_meta(
    conn: sqlite3.Connection, path: Path, app_id: str, master: bytes, create: bool
) -> dict[str, object]:
    """Apply pragmas and schema; return the meta table, initialising an empty vault if ``create``."""
    for pragma in _PRAGMAS:
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in filter(str.strip, _SCHEMA.split(";")):
            conn.execute(statement)
        meta = dict(conn.execute("SELECT name, value FROM meta"))
        if not meta:
            if not create:
                raise KeyUnavailableError(
                    f"the key vault at {path} is empty", hint="restore the key directory from its backup"
                )
            meta = _initialise(conn, app_id, master)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return meta


def _unlock(
    conn: sqlite3.Connection, path: Path, meta: dict[str, object], app_id: str, master: bytes
) -> bytes:
    if meta.get("schema") not in (1, SCHEMA_VERSION):  # 1: migrated by Vault.open
        raise PrivacyError(
            f"the key vault at {path} has schema {meta.get('schema')}, this satchel reads {SCHEMA_VERSION}",
            hint="upgrade satchel",
        )
    if meta.get("app_id") != app_id:
        raise PrivacyError(
            f"the key vault at {path} belongs to app {meta.get('app_id')!r}, not {app_id!r}",
            hint="give every app its own key directory",
        )
    offered = key_id(master)
    if meta.get("master_key_id") != offered:
        raise _retired_error(conn, path, offered)
    try:
        return _unwrap(master, meta["root"], _root_aad(app_id))
    except InvalidTag:
        raise IntegrityError(
            f"the root secret in the key vault at {path} failed authentication",
            hint="the vault was tampered with; restore the key directory from a trusted backup",
        ) from None


def _retired_error(conn: sqlite3.Connection, path: Path, offered: str) -> KeyUnavailableError:
    sql = "SELECT retired_at, successor FROM retired_keys WHERE key_id = ?"
    row = conn.execute(sql, (offered,)).fetchone()
    if row:
        return KeyUnavailableError(
            f"master key {offered} was retired on {row[0]} (rotated to {row[1]}) and no longer opens {path}",
            hint="load the current master key from the key provider",
        )
    (current,) = conn.execute("SELECT value FROM meta WHERE name = 'master_key_id'").fetchone()
    return KeyUnavailableError(
        f"wrong master key for {path}: got key {offered}, the vault needs key {current}",
        hint="check the key provider (environment variable, keyring entry or passphrase) for this app",
    )
