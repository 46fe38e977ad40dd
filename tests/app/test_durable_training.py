"""One durable commit per training (issue 15): the checkpoint's version and the audit anchor of its
``training.completed`` entry land in one vault transaction; a process killed just before that
commit leaves the previous training in force, and the next training proceeds normally."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from app_support import grant

from satchel.events import Event
from satchel.privacy.vault import VAULT_FILE

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)

#: opens the app of the test, trains once more and dies (os._exit) when the training's vault commit
#: starts: after the checkpoint file and the audit entry are written, before the vault holds them
CRASH_AT_COMMIT = """
import os, sys
from datetime import datetime, timezone
import satchel
from satchel.privacy.vault import Vault
from satchel.testing import isolated_registry

def die(self, batch):
    if any(name.startswith("files:") for name in batch.moves):
        os._exit(42)
    return real(self, batch)

real, Vault.commit = Vault.commit, die
app = satchel.open(sys.argv[1], registry=isolated_registry())
app.train("ada", "habits", now=datetime.fromisoformat(sys.argv[2]), epochs=3)
"""


def history(days: int = 40) -> list[Event]:
    return [
        Event(
            type="habit_completed",
            time=(NOW - timedelta(days=days - d)).replace(hour=19),
            data={"habit": "reading"},
        )
        for d in range(days)
    ]


def counter_seqs(keys: Path) -> dict[str, int]:
    """The write sequence number of every counter row of the vault (one per vault transaction)."""
    with sqlite3.connect(keys / VAULT_FILE) as conn:
        return dict(conn.execute("SELECT name, seq FROM counters"))


def test_checkpoint_version_and_audit_anchor_commit_in_one_transaction(make_app, tmp_path) -> None:
    app = make_app("onnx")
    grant(app, "ada")
    app.record("ada", history(), at=NOW)
    pseudo = app.pseudonym("ada")
    for expected_version in (1, 2):
        report = app.train("ada", "habits", now=NOW)
        assert report.checkpoint_version == expected_version
        seqs = counter_seqs(tmp_path / "keys")
        files_seq, anchor_seq = seqs[f"files:{pseudo}:habits"], seqs["audit-log"]
        assert files_seq == anchor_seq == max(seqs.values())  # written together, by the last transaction
        last = app.audit_log.entries()[-1]
        assert last.action == "training.completed" and last.fields["version"] == expected_version
        assert app.vault.counter("audit-log").value == last.seq
    assert app.verify_audit_log().ok


def test_a_crash_before_the_commit_leaves_the_previous_training(make_app, tmp_path) -> None:
    app = make_app("onnx")
    grant(app, "ada")
    app.record("ada", history(), at=NOW)
    app.train("ada", "habits", now=NOW)
    before = app.predict("ada", "habits", now=NOW)
    served = app.load_checkpoint("ada", "habits")
    app.close()

    later = NOW + timedelta(days=1)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_AT_COMMIT, str(tmp_path / "satchel.toml"), later.isoformat()],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert crashed.returncode == 42, crashed.stderr[-2000:]
    folder = next((tmp_path / "data" / "checkpoints").iterdir()) / "habits"
    assert (folder / "v00000002.ckpt").exists()  # written and durable, never committed

    app = make_app("onnx")
    ckpt = app.load_checkpoint("ada", "habits")
    assert ckpt.version == 1 and ckpt.created_at == served.created_at
    assert app.predict("ada", "habits", now=NOW) == before
    verification = app.verify_audit_log()
    assert verification.ok  # the uncommitted entry is one past the anchor
    entries = app.audit_log.entries()
    assert entries[-1].action == "training.completed" and entries[-1].fields["version"] == 2
    assert app.vault.counter("audit-log").value == entries[-1].seq - 1

    report = app.train("ada", "habits", now=later)  # v2 again, over the uncommitted file
    assert report.checkpoint_version == 2
    assert app.load_checkpoint("ada", "habits").created_at == later
    assert app.verify_audit_log().ok
    assert app.vault.counter("audit-log").value == app.audit_log.entries()[-1].seq
