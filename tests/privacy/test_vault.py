"""The key vault: master keys, rotation, derived keys, monotonic counters — attacked."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from satchel.errors import IntegrityError, KeyUnavailableError, PrivacyError
from satchel.privacy import Binding, Counter, Pseudonymizer, Vault, default_key_dir, open_sealed, seal
from satchel.privacy.vault import VAULT_FILE
from satchel.privacy.vault_counters import CounterSeal

APP = "quizapp"  # the app id of the conftest vault
#: a vault written by satchel's vault schema 1 (whole-table counter MAC): counters ckpt=3, audit-log=7 (tag
#: 01*32), events:p0..p4 = 1..5, and one subject key
SCHEMA_1 = Path(__file__).parent / "data" / "vault-schema1.sqlite3"
SCHEMA_1_KEY = bytes(range(32))
SCHEMA_1_SUBJECT = "6da8304c3978c0e92a87296eeaa49dd6"
SCHEMA_1_SECRET = "dabce2092ea5809f74a1605253fb330739e0edfd444b9b824aa6c381dfd8d1b4"


def reopen(key_dir: Path, data_dir: Path, key: bytes) -> Vault:
    return Vault.open(key_dir, key, app_id=APP, data_dir=data_dir)


def db(key_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(key_dir / VAULT_FILE, isolation_level=None)


# ------------------------------------------------------------------ opening


def test_create_then_reopen_keeps_subject_keys(vault: Vault, key_dir, data_dir, master_key, pseudonymize):
    p = pseudonymize("alice")
    key = vault.subject_key(p)
    assert vault.subject_key(p) == key
    with reopen(key_dir, data_dir, master_key) as again:
        assert again.subject_key(p, create=False) == key
        assert again.master_key_id == vault.master_key_id
    assert os.stat(key_dir / VAULT_FILE).st_mode & 0o777 == 0o600
    assert os.stat(key_dir).st_mode & 0o777 == 0o700


def test_missing_vault_is_not_created_implicitly(key_dir, data_dir, master_key) -> None:
    with pytest.raises(KeyUnavailableError, match="no key vault"):
        reopen(key_dir, data_dir, master_key)
    assert not key_dir.exists()


def test_wrong_master_key_says_so_without_leaking_keys(vault: Vault, key_dir, data_dir, master_key) -> None:
    wrong = os.urandom(32)
    with pytest.raises(KeyUnavailableError, match="wrong master key") as caught:
        reopen(key_dir, data_dir, wrong)
    message = str(caught.value)
    assert vault.master_key_id in message
    for secret in (wrong, master_key):
        assert secret.hex() not in message and secret.hex()[:16] not in message
    with pytest.raises(KeyUnavailableError, match="32 bytes"):
        reopen(key_dir, data_dir, b"short")


@pytest.mark.parametrize("layout", ["same", "keys_inside_data", "data_inside_keys"])
def test_key_dir_must_be_separate_from_data_dir(tmp_path: Path, master_key, layout: str) -> None:
    data = tmp_path / "d"
    keys = {"same": data, "keys_inside_data": data / "keys", "data_inside_keys": tmp_path}[layout]
    with pytest.raises(PrivacyError, match="overlap"):
        Vault.open(keys, master_key, app_id=APP, data_dir=data, create=True)


def test_garbage_vault_file_is_an_integrity_error(vault: Vault, key_dir, data_dir, master_key) -> None:
    vault.close()
    (key_dir / VAULT_FILE).write_bytes(b"\x00not a database" * 100)
    with pytest.raises(IntegrityError, match="not a readable SQLite database"):
        reopen(key_dir, data_dir, master_key)


def test_vault_of_another_app_is_refused(vault: Vault, key_dir, data_dir, master_key) -> None:
    with pytest.raises(PrivacyError, match="belongs to app 'quizapp'"):
        Vault.open(key_dir, master_key, app_id="other", data_dir=data_dir)


def test_raw_learner_ids_are_refused(vault: Vault) -> None:
    with pytest.raises(PrivacyError, match="pseudonym"):
        vault.subject_key("alice@school.example")
    with pytest.raises(PrivacyError, match="pseudonym"):
        vault.erase("alice")


def test_unknown_subject_without_create(vault: Vault, pseudonymize) -> None:
    with pytest.raises(KeyUnavailableError, match="has no key"):
        vault.subject_key(pseudonymize("nobody"), create=False)
    assert vault.subjects() == ()


def test_tampered_wrapped_subject_key(vault: Vault, key_dir, pseudonymize) -> None:
    p = pseudonymize("alice")
    vault.subject_key(p)
    with db(key_dir) as conn:
        (wrapped,) = conn.execute("SELECT wrapped FROM subjects").fetchone()
        conn.execute("UPDATE subjects SET wrapped = ?", (wrapped[:-1] + bytes([wrapped[-1] ^ 1]),))
    with pytest.raises(IntegrityError, match="wrapped key of subject"):
        vault.subject_key(p)
    for junk in ("text", b"", 7):
        with db(key_dir) as conn:
            conn.execute("UPDATE subjects SET wrapped = ?", (junk,))
        with pytest.raises(IntegrityError, match="wrapped key of subject"):
            vault.subject_key(p)


def test_wrapped_keys_cannot_be_swapped_between_subjects(vault: Vault, key_dir, pseudonymize) -> None:
    a, b = pseudonymize("alice"), pseudonymize("bob")
    vault.subject_key(a), vault.subject_key(b)
    with db(key_dir) as conn:
        (wrapped_a,) = conn.execute("SELECT wrapped FROM subjects WHERE pseudonym = ?", (a,)).fetchone()
        conn.execute("UPDATE subjects SET wrapped = ? WHERE pseudonym = ?", (wrapped_a, b))
    with pytest.raises(IntegrityError):
        vault.subject_key(b)


def test_default_key_dir_is_its_own_tree() -> None:
    from platformdirs import user_data_path

    keys = default_key_dir("quizapp")
    data = user_data_path("satchel", appauthor=False) / "quizapp"
    assert keys.name == "quizapp" and "satchel-keys" in keys.parts
    assert not keys.is_relative_to(data) and not data.is_relative_to(keys)


# ------------------------------------------------------------------ rotation


def test_rotation_rewraps_without_touching_blobs(vault: Vault, key_dir, data_dir, master_key, pseudonymize):
    p = pseudonymize("alice")
    binding = Binding(APP, p, "habit", "checkpoint", 1)
    blob_path = data_dir / "ckpt.bin"
    blob_path.write_bytes(seal(b"weights", vault.subject_key(p), binding))
    before = blob_path.read_bytes()
    derived = vault.derive("audit-log")
    with db(key_dir) as conn:
        (old_wrapped,) = conn.execute("SELECT wrapped FROM subjects").fetchone()

    old_id, new_key = vault.master_key_id, os.urandom(32)
    rotation = vault.rotate(new_key)
    assert (rotation.old_key_id, rotation.new_key_id, rotation.subjects) == (old_id, vault.master_key_id, 1)
    assert old_id != vault.master_key_id
    assert blob_path.read_bytes() == before
    assert old_wrapped not in (key_dir / VAULT_FILE).read_bytes()

    with reopen(key_dir, data_dir, new_key) as rotated:
        key = rotated.subject_key(p, create=False)
        assert open_sealed(blob_path.read_bytes(), key, binding) == b"weights"
        assert rotated.derive("audit-log") == derived
        assert Pseudonymizer.from_vault(rotated)("alice") == p
        assert [r.key_id for r in rotated.retired_keys()] == [rotation.old_key_id]
        assert rotated.info().rotated_at == rotation.at
    retired = rf"master key {rotation.old_key_id} was retired on 20\d\d-"
    with pytest.raises(KeyUnavailableError, match=retired):
        reopen(key_dir, data_dir, master_key)


def test_stale_instance_fails_after_rotation_elsewhere(vault, key_dir, data_dir, master_key, pseudonymize):
    p = pseudonymize("alice")
    vault.subject_key(p)
    with reopen(key_dir, data_dir, master_key) as other_process:
        vault.rotate(os.urandom(32))
        with pytest.raises(KeyUnavailableError, match="retired"):
            other_process.subject_key(p)
        with pytest.raises(KeyUnavailableError, match="retired"):
            other_process.subject_key(pseudonymize("newcomer"))
        with pytest.raises(KeyUnavailableError, match="retired"):
            other_process.rotate(os.urandom(32))


def test_rotation_refuses_current_and_retired_keys(vault: Vault, master_key) -> None:
    with pytest.raises(PrivacyError, match="is the current one"):
        vault.rotate(master_key)
    vault.rotate(os.urandom(32))
    with pytest.raises(PrivacyError, match="never reused"):
        vault.rotate(master_key)


# ------------------------------------------------------------------ derived keys


def test_derived_keys_are_separated(vault: Vault, key_dir, data_dir) -> None:
    assert vault.derive("a") == vault.derive("a")
    assert len({vault.derive("a"), vault.derive("b"), vault.derive("a", 64)[:32]}) == 2
    other_keys = key_dir.with_name("keys2")
    with Vault.open(other_keys, os.urandom(32), app_id=APP, data_dir=data_dir, create=True) as other:
        assert other.derive("a") != vault.derive("a")


# ------------------------------------------------------------------ counters


def test_counters_are_monotonic_and_persistent(vault: Vault, key_dir, data_dir, master_key) -> None:
    assert vault.current("ckpt") == 0
    assert [vault.bump("ckpt") for _ in range(3)] == [1, 2, 3]
    vault.advance("audit", 7, b"\x01" * 32)
    with pytest.raises(IntegrityError, match="only move forward"):
        vault.advance("audit", 7)
    with pytest.raises(ValueError):
        vault.advance("audit", 2**64)
    with reopen(key_dir, data_dir, master_key) as again:
        assert again.current("ckpt") == 3
        assert again.counter("audit").tag == b"\x01" * 32


def test_rollback_of_a_blob_is_detected(vault: Vault, data_dir, pseudonymize) -> None:
    """The store pattern: seal with version = bump(); read with version = current()."""
    p = pseudonymize("alice")
    key, path = vault.subject_key(p), data_dir / "ckpt.bin"

    def save(payload: bytes) -> None:
        path.write_bytes(seal(payload, key, Binding(APP, p, "habit", "checkpoint", vault.bump("ckpt"))))

    save(b"old weights")
    old_file = path.read_bytes()
    save(b"new weights")
    path.write_bytes(old_file)  # attacker restores the older, perfectly valid file
    with pytest.raises(IntegrityError):
        open_sealed(path.read_bytes(), key, Binding(APP, p, "habit", "checkpoint", vault.current("ckpt")))


# (attack, the counter whose row it touches): the open vault notices when that counter is read,
# a vault opened afterwards on any read
ATTACKS = [
    ("UPDATE counters SET value = 1 WHERE name = 'ckpt'", "ckpt"),
    ("UPDATE counters SET value = 99 WHERE name = 'ckpt'", "ckpt"),
    ("UPDATE counters SET tag = x'00' WHERE name = 'ckpt'", "ckpt"),
    ("UPDATE counters SET tag = 'text' WHERE name = 'ckpt'", "ckpt"),
    ("UPDATE counters SET value = '3' WHERE name = 'ckpt'", "ckpt"),
    ("UPDATE counters SET value = -1 WHERE name = 'ckpt'", "ckpt"),
    ("UPDATE counters SET seq = seq + 1 WHERE name = 'ckpt'", "ckpt"),
    ("UPDATE counters SET seq = 0 WHERE name = 'ckpt'", "ckpt"),
    ("UPDATE counters SET mac = x'00' WHERE name = 'ckpt'", "ckpt"),
    ("DELETE FROM counters WHERE name = 'ckpt'", "ckpt"),
    (
        "INSERT INTO counters SELECT 'forged', value, tag, seq, mac FROM counters WHERE name = 'ckpt'",
        "forged",
    ),
    ("INSERT INTO counters VALUES ('forged', 5, x'', 99, x'00')", "forged"),
    ("UPDATE counters SET name = 'ckpt2' WHERE name = 'ckpt'", "ckpt"),
    ("UPDATE meta SET value = 'text' WHERE name = 'counters_head'", "ckpt"),
    ("UPDATE meta SET value = x'00' WHERE name = 'counters_head'", "ckpt"),
    ("DELETE FROM meta WHERE name = 'counters_head'", "ckpt"),
]


@pytest.mark.parametrize(("attack", "touched"), ATTACKS)
def test_counter_table_tampering_is_detected(
    vault: Vault, key_dir, data_dir, master_key, attack, touched
) -> None:
    vault.bump("ckpt"), vault.bump("ckpt"), vault.bump("other")
    with db(key_dir) as conn:
        conn.execute(attack)
    for read in (lambda: vault.current(touched), lambda: vault.bump(touched)):
        with pytest.raises(IntegrityError, match="counter table"):
            read()
    with reopen(key_dir, data_dir, master_key) as fresh:
        for read in (lambda: fresh.current("unrelated"), lambda: fresh.bump("other")):
            with pytest.raises(IntegrityError, match="counter table"):
                read()


def _copy(key_dir: Path, to: Path) -> Path:
    with db(key_dir) as conn:
        conn.execute(f"VACUUM INTO '{to}'")
    return to


def _splice(key_dir: Path, old_copy: Path, names: tuple[str, ...], head: bool) -> None:
    """Put the rows ``names`` (and the head, if ``head``) of ``old_copy`` into the vault."""
    with sqlite3.connect(old_copy) as old, db(key_dir) as conn:
        for name in names:
            conn.execute(
                "INSERT OR REPLACE INTO counters VALUES (?, ?, ?, ?, ?)",
                old.execute("SELECT * FROM counters WHERE name = ?", (name,)).fetchone(),
            )
        if head:
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('counters_head', ?)",
                old.execute("SELECT value FROM meta WHERE name = 'counters_head'").fetchone(),
            )


@pytest.mark.parametrize(("names", "head"), [(("ckpt",), False), ((), True), (("ckpt",), True)])
def test_counter_rows_spliced_from_an_older_vault_copy_are_detected(
    vault: Vault, key_dir, data_dir, master_key, tmp_path, names, head
) -> None:
    vault.bump("ckpt"), vault.bump("other")
    old_copy = _copy(key_dir, tmp_path / "old.sqlite3")
    vault.bump("ckpt"), vault.bump("ckpt"), vault.bump("other")
    _splice(key_dir, old_copy, names, head)
    with pytest.raises(IntegrityError, match="counter table"):
        vault.current("ckpt")
    with reopen(key_dir, data_dir, master_key) as fresh, pytest.raises(IntegrityError, match="counter table"):
        fresh.current("unrelated")


def test_guarantees_hold_at_100_000_counters(
    vault: Vault, key_dir, data_dir, master_key, tmp_path, monkeypatch
) -> None:
    """Edits, deletions, insertions and splices are found among 100,000 counters, and a bump or read
    after another process's bump authenticates O(1) rows, not the table."""
    vault.publish({f"events:p{i:06d}": (1, i.to_bytes(4, "big")) for i in range(100_000)})
    vault.bump("events:p050000")
    old_copy = _copy(key_dir, tmp_path / "old.sqlite3")
    vault.bump("events:p050000")
    with reopen(key_dir, data_dir, master_key) as other:
        assert other.current("events:p050000") == 3 and other.counter("events:p099999").tag == (
            99_999
        ).to_bytes(4, "big")
        sealed = []
        real_row = CounterSeal.row
        monkeypatch.setattr(CounterSeal, "row", lambda self, *a: sealed.append(a) or real_row(self, *a))
        for i in range(5):
            other.bump(f"events:p{i:06d}")
            assert vault.bump(f"events:p{i:06d}") == 3 and vault.current("events:p099999") == 1
        assert len(sealed) <= 4 * 5  # per round: two writes, each seen by the other connection once
    attacks = [
        "UPDATE counters SET value = value + 1 WHERE name = 'events:p070000'",
        "DELETE FROM counters WHERE name = 'events:p070000'",
        "INSERT INTO counters SELECT 'events:new', value, tag, seq, mac FROM counters WHERE name = 'events:p070000'",
        ("events:p050000",),  # a row from the older copy
        (),  # the older copy's head
    ]
    pristine = _copy(key_dir, tmp_path / "pristine.sqlite3")
    for attack in attacks:
        if isinstance(attack, str):
            with db(key_dir) as conn:
                conn.execute(attack)
        else:
            _splice(key_dir, old_copy, attack, head=not attack)
        with (
            reopen(key_dir, data_dir, master_key) as fresh,
            pytest.raises(IntegrityError, match="counter table"),
        ):
            fresh.current("events:p000001")
        with sqlite3.connect(pristine) as src, db(key_dir) as conn:
            src.backup(conn)
        with reopen(key_dir, data_dir, master_key) as fresh:
            assert fresh.current("events:p050000") == 3


def test_schema_1_vault_is_migrated_when_opened(key_dir, data_dir) -> None:
    """A vault written by the release with the whole-table counter MAC (tests/privacy/data) opens, keeps its
    keys and counters, and is schema 2 afterwards."""
    key_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCHEMA_1, key_dir / VAULT_FILE)
    with reopen(key_dir, data_dir, SCHEMA_1_KEY) as vault:
        assert vault.current("ckpt") == 3 and vault.counter("audit-log") == Counter(
            "audit-log", 7, b"\x01" * 32
        )
        assert [vault.current(f"events:p{i}") for i in range(5)] == [1, 2, 3, 4, 5]
        assert vault.subject_key(SCHEMA_1_SUBJECT, create=False).secret.hex() == SCHEMA_1_SECRET
        assert vault.bump("ckpt") == 4
    with db(key_dir) as conn:
        assert conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone() == (2,)
    with reopen(key_dir, data_dir, SCHEMA_1_KEY) as vault:
        assert vault.current("ckpt") == 4


def test_tampered_schema_1_vault_is_not_migrated(key_dir, data_dir) -> None:
    key_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCHEMA_1, key_dir / VAULT_FILE)
    with db(key_dir) as conn:
        conn.execute("UPDATE counters SET value = 1 WHERE name = 'ckpt'")
    with pytest.raises(IntegrityError, match="not migrated"):
        reopen(key_dir, data_dir, SCHEMA_1_KEY)
    with db(key_dir) as conn:
        assert conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone() == (1,)


BUMPER = """
import sys
from satchel.privacy import Vault
with Vault.open(sys.argv[1], bytes.fromhex(sys.argv[2]), app_id="quizapp", data_dir=sys.argv[3]) as v:
    for _ in range(int(sys.argv[4])):
        v.bump("shared")
"""


def test_concurrent_bumps_from_two_processes(vault: Vault, key_dir, data_dir, master_key) -> None:
    args = [str(key_dir), master_key.hex(), str(data_dir), "25"]
    procs = [subprocess.Popen([sys.executable, "-c", BUMPER, *args]) for _ in range(2)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    assert vault.current("shared") == 50
