"""The key vault's SQLite file: its schema, opening and unlocking it, and migrating vault schema 1."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag

from satchel.errors import IntegrityError, KeyUnavailableError, PrivacyError
from satchel.privacy._codec import frame, key_id
from satchel.privacy.vault_counters import MOD, Counter, CounterSeal, valid_count
from satchel.privacy.vault_keys import hkdf, root_aad, unwrap, wrap

VAULT_FILE = "vault.sqlite3"
SCHEMA_VERSION = 2

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


def utc_now() -> str:
    """The vault's timestamp of now (UTC, ISO 8601, whole seconds)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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


def open_database(
    key_dir: str | os.PathLike[str],
    master_key: bytes,
    *,
    app_id: str,
    data_dir: str | os.PathLike[str],
    create: bool,
) -> tuple[sqlite3.Connection, Path, bytes]:
    """The vault file's connection, path and root secret, after the checks :meth:`Vault.open` documents."""
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
    return conn, path, root


def shred_free_pages(conn: sqlite3.Connection, path: Path) -> None:
    """Rewrite the vault file without free pages, then move the log into it and truncate the log,
    so deleted rows (an erased key, old wrappings) are in neither file."""
    conn.execute("VACUUM")
    (busy, _, _) = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise PrivacyError(
            f"the key vault at {path} could not be checkpointed: another process kept reading it",
            hint="its write-ahead log may still hold the deleted key material; run the operation again "
            "when other processes of the app are idle",
        )


def retired_error(conn: sqlite3.Connection, path: Path, offered: str) -> KeyUnavailableError:
    """The error for master key ``offered``, which is not the vault's current one: retired, or wrong."""
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


def _initialise(conn: sqlite3.Connection, app_id: str, master: bytes) -> dict[str, object]:
    root = os.urandom(32)
    meta: dict[str, object] = {
        "schema": SCHEMA_VERSION,
        "app_id": app_id,
        "master_key_id": key_id(master),
        "root": wrap(master, root, root_aad(app_id)),
        "created_at": utc_now(),
        "counters_head": CounterSeal(root, app_id).head(0, 0, 0),
    }
    conn.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    conn.execute(_SEQ_INDEX)
    return meta


def _unlock(
    conn: sqlite3.Connection, path: Path, meta: dict[str, object], app_id: str, master: bytes
) -> bytes:
    if meta.get("schema") not in (1, SCHEMA_VERSION):  # 1: migrated by open_database
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
        raise retired_error(conn, path, offered)
    try:
        return unwrap(master, meta["root"], root_aad(app_id))
    except InvalidTag:
        raise IntegrityError(
            f"the root secret in the key vault at {path} failed authentication",
            hint="the vault was tampered with; restore the key directory from a trusted backup",
        ) from None


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
            key = hkdf(root, frame(b"satchel/vault/counters", app_id))
            if not (
                all(valid_count(c.value) and isinstance(c.tag, bytes) for c in counters.values())
                and stored is not None
                and isinstance(stored[0], bytes)
                and hmac.compare_digest(stored[0], _counters_mac(key, counters))
            ):
                raise IntegrityError(
                    f"the counter table of the key vault at {path} failed authentication; it was not migrated "
                    f"to vault schema {SCHEMA_VERSION}",
                    hint="restore the whole key directory from a trusted backup",
                )
            seal = CounterSeal(root, app_id)
            sealed = [seal.row(c, 1) for c in counters.values()]
            conn.execute("ALTER TABLE counters ADD COLUMN seq INTEGER NOT NULL DEFAULT 0")
            conn.execute("ALTER TABLE counters ADD COLUMN mac BLOB NOT NULL DEFAULT x''")
            conn.executemany(
                "UPDATE counters SET seq = ?, mac = ? WHERE name = ?",
                [(s, mac, c.name) for c, s, mac, _ in sealed],
            )
            conn.execute(_SEQ_INDEX)
            head = seal.head(1, len(sealed), sum(r[3] for r in sealed) % MOD)
            conn.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("counters_head", head), ("schema", SCHEMA_VERSION)],
            )
            conn.execute("DELETE FROM meta WHERE name = 'counters_mac'")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _counters_mac(key: bytes, counters: dict[str, Counter]) -> bytes:
    """The whole-table MAC of vault schema 1 (checked once, when such a vault is migrated)."""
    parts: list[bytes | str | int] = [b"satchel/vault/counters", len(counters)]
    for name in sorted(counters):
        parts += [name, counters[name].value, counters[name].tag]
    return hmac.new(key, frame(*parts), hashlib.sha256).digest()
