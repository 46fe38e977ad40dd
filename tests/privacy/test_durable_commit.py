"""Counter batches (one vault transaction for several counters), the WAL vault, and a key and data
directory written before them (tests/privacy/data/rollback-journal: a rollback-journal vault, two
sealed checkpoints committed one transaction each, an anchored audit log) opened by this release."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from satchel.audit.log import AuditLog
from satchel.errors import IntegrityError
from satchel.model.backend import Weights
from satchel.privacy import Vault
from satchel.privacy.atomic import atomic_write, fsync_all, make_dirs
from satchel.privacy.vault import VAULT_FILE, CounterBatch
from satchel.storage.checkpoint import Checkpoint
from satchel.storage.sealed_files import SealedFiles
from satchel_plugins.checkpoints.store import EncryptedCheckpointStore, StoreOptions

APP = "quizapp"
FIXTURE = Path(__file__).parent / "data" / "rollback-journal"
FIXTURE_KEY = bytes(range(32, 64))
FIXTURE_SUBJECT = "8407ff83aec7cff2fe943fed43cb55f1"
AT = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def checkpoint(value: float) -> Checkpoint:
    params = {"w": np.full((2, 2), value, np.float32), "b": np.zeros(2, np.float32)}
    return Checkpoint(Weights(params), "spec", "schema", "onnx", AT, {"holdout_log_loss": 0.1}, 30)


def journal_mode(key_dir: Path) -> str:
    with sqlite3.connect(key_dir / VAULT_FILE) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


def test_a_batch_commits_all_its_moves_or_none(vault: Vault) -> None:
    vault.advance("files:a", 3, b"x")
    vault.advance("audit-log", 5, b"m5")
    batch = CounterBatch()
    batch.advance("files:a", 4, b"y")
    batch.publish("audit-log", 6, b"m6")
    vault.commit(batch)
    assert vault.counter("files:a").tag == b"y" and vault.counter("audit-log").value == 6

    stale = CounterBatch()
    stale.publish("audit-log", 7, b"m7")
    stale.advance("files:a", 4, b"z")  # not past the committed 4: refused, and the anchor stays too
    with pytest.raises(IntegrityError, match="cannot move to 4"):
        vault.commit(stale)
    assert vault.current("audit-log") == 6 and vault.counter("files:a").tag == b"y"


def test_a_published_move_behind_a_concurrent_one_is_skipped(vault: Vault) -> None:
    batch = CounterBatch()
    batch.publish("audit-log", 8, b"m8")
    vault.advance("audit-log", 9, b"m9")  # another process anchored a later entry first
    vault.commit(batch)
    assert vault.counter("audit-log").tag == b"m9"
    same = CounterBatch()
    same.publish("audit-log", 9, b"forged")
    with pytest.raises(IntegrityError, match="another tag"):
        vault.commit(same)


def test_batches_refuse_bad_values(vault: Vault) -> None:
    batch = CounterBatch()
    with pytest.raises(ValueError, match="counters are ints"):
        batch.advance("files:a", -1)
    batch.publish("audit-log", 3, b"m3")
    with pytest.raises(ValueError, match="already staged at 3"):
        batch.publish("audit-log", 2, b"m2")


def test_vault_runs_in_wal_mode(vault: Vault, key_dir: Path) -> None:
    vault.bump("x")
    assert journal_mode(key_dir) == "wal"


def test_staged_checkpoint_never_deletes_the_version_in_force(vault: Vault, data_dir: Path) -> None:
    store = EncryptedCheckpointStore(StoreOptions(keep_last=1))
    pseudo = "0123456789abcdef0123456789abcdef"
    files = SealedFiles(data_dir / "ckpt", vault, APP, pseudo, "habits")
    store.save(files, checkpoint(1.0))
    batch = CounterBatch()
    staged = SealedFiles(data_dir / "ckpt", vault, APP, pseudo, "habits", batch=batch)
    assert store.save(staged, checkpoint(2.0)) == 2
    loaded = store.load(files)  # the batch was never committed (a crash): v1 is still there and in force
    assert loaded.version == 1 and float(loaded.weights.params["w"][0, 0]) == 1.0
    vault.commit(batch)
    assert store.load(files).version == 2 and store.versions(files) == [1, 2]
    store.save(files, checkpoint(3.0))
    assert store.versions(files) == [3]


def test_rollback_journal_data_written_by_the_previous_release_opens_and_trains(tmp_path: Path) -> None:
    keys, data = tmp_path / "keys", tmp_path / "data"
    shutil.copytree(FIXTURE / "keys", keys)
    shutil.copytree(FIXTURE / "data", data)
    assert journal_mode(keys) == "delete"
    store = EncryptedCheckpointStore(StoreOptions())
    with Vault.open(keys, FIXTURE_KEY, app_id=APP, data_dir=data) as vault:
        assert journal_mode(keys) == "wal"
        files = SealedFiles(
            data / "checkpoints" / FIXTURE_SUBJECT / "habits", vault, APP, FIXTURE_SUBJECT, "habits"
        )
        old = store.load(files)
        assert old.version == 2 and float(old.weights.params["w"][0, 0]) == 2.0 and old.samples == 20
        log = AuditLog(data / "audit.jsonl", vault, clock=lambda: AT)
        assert log.verify().ok and len(log.entries()) == 2
        batch = CounterBatch()
        staged = SealedFiles(
            files_root := data / "checkpoints" / FIXTURE_SUBJECT / "habits",
            vault,
            APP,
            FIXTURE_SUBJECT,
            "habits",
            batch=batch,
        )
        version = store.save(staged, checkpoint(3.0))
        log.stage(batch, "training.completed", subject=FIXTURE_SUBJECT, pipeline="habits", version=version)
        vault.commit(batch)
    with Vault.open(keys, FIXTURE_KEY, app_id=APP, data_dir=data) as vault:
        files = SealedFiles(files_root, vault, APP, FIXTURE_SUBJECT, "habits")
        assert store.load(files).version == 3 and store.load(files, 1).version == 1
        log = AuditLog(data / "audit.jsonl", vault)
        assert log.verify().ok and vault.current("audit-log") == 3


def test_deferred_writes_list_what_to_sync_and_the_commit_syncs_it_first(
    vault: Vault, data_dir: Path
) -> None:
    pending: list[Path] = []
    make_dirs(data_dir / "a" / "b", pending=pending)
    atomic_write(data_dir / "a" / "b" / "f", b"content", pending=pending)
    assert pending == [data_dir, data_dir / "a", data_dir / "a" / "b" / "f", data_dir / "a" / "b"]
    assert (data_dir / "a" / "b" / "f").read_bytes() == b"content"
    fsync_all(pending)

    batch = CounterBatch()
    batch.advance("files:a", 1, b"h")
    batch.files += [data_dir / "a" / "b" / "f", data_dir / "gone"]  # a file that cannot be made durable
    with pytest.raises(FileNotFoundError):
        vault.commit(batch)
    assert vault.current("files:a") == 0  # nothing is committed before its files are durable
    batch.files.pop()
    vault.commit(batch)
    assert vault.current("files:a") == 1
