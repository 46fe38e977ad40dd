"""Erasure = crypto-shredding: after erase, no copy of the data directory can be decrypted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from satchel.errors import ErasedError, IntegrityError
from satchel.privacy import Binding, Vault, open_sealed, seal
from satchel.privacy.vault import VAULT_FILE

APP = "quizapp"  # the app id of the conftest vault


def test_erased_subject_is_unreadable_even_from_an_old_copy(
    vault: Vault, key_dir: Path, data_dir: Path, master_key: bytes, pseudonymize, tmp_path: Path, tree_bytes
) -> None:
    alice, bob = pseudonymize("alice"), pseudonymize("bob")
    binding = Binding(APP, alice, "habit", "events", 1)
    key = vault.subject_key(alice)
    (data_dir / "alice.bin").write_bytes(seal(b"alice's events", key, binding))
    bob_binding = Binding(APP, bob, "habit", "events", 1)
    (data_dir / "bob.bin").write_bytes(seal(b"bob's events", vault.subject_key(bob), bob_binding))
    data_copy = shutil.copytree(data_dir, tmp_path / "data-backup")
    keys_copy = shutil.copytree(key_dir, tmp_path / "keys-backup")

    assert vault.erase(alice) is True
    assert vault.erase(alice) is False  # idempotent

    with pytest.raises(ErasedError, match="erased"):
        vault.subject_key(alice)
    with pytest.raises(ErasedError):
        vault.subject_key(alice, create=False)
    assert vault.is_erased(alice) and not vault.is_erased(bob)
    assert vault.subjects() == (bob,)
    assert vault.info().erased == 1
    # the live vault holds no key that opens the pre-erasure copy of alice's data
    old_blob = (data_copy / "alice.bin").read_bytes()
    for pseudonym in vault.subjects():
        with pytest.raises(IntegrityError):
            open_sealed(old_blob, vault.subject_key(pseudonym), Binding(APP, pseudonym, "habit", "events", 1))
    # other subjects are untouched
    bob_blob = (data_copy / "bob.bin").read_bytes()
    assert open_sealed(bob_blob, vault.subject_key(bob), bob_binding) == b"bob's events"

    # neither the secret nor its wrapped form survives anywhere in the live key directory
    assert not (key_dir / (VAULT_FILE + "-journal")).exists()
    wal = key_dir / (VAULT_FILE + "-wal")
    assert (
        not wal.exists() or wal.stat().st_size == 0
    )  # the log was checkpointed into the vault and truncated
    for path, content in tree_bytes(key_dir):
        assert key.secret not in content, path
    import sqlite3

    with sqlite3.connect(keys_copy / VAULT_FILE) as old:
        (old_wrapped,) = old.execute("SELECT wrapped FROM subjects WHERE pseudonym = ?", (alice,)).fetchone()
    for path, content in tree_bytes(key_dir):
        assert old_wrapped not in content and old_wrapped[12:28] not in content, path

    # sanity: the old key directory copy *would* have opened it — the separation is what protects it
    with Vault.open(keys_copy, master_key, app_id=APP, data_dir=data_copy) as old_vault:
        assert open_sealed(old_blob, old_vault.subject_key(alice), binding) == b"alice's events"


def test_erasure_survives_reopen_and_rotation(vault: Vault, key_dir, data_dir, pseudonymize) -> None:
    import os

    alice = pseudonymize("alice")
    vault.subject_key(alice)
    vault.erase(alice)
    new_key = os.urandom(32)
    assert vault.rotate(new_key).subjects == 0
    with Vault.open(key_dir, new_key, app_id=APP, data_dir=data_dir) as again, pytest.raises(ErasedError):
        again.subject_key(alice)
