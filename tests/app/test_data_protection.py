"""Attacks on the data at rest: canaries, tampering, swapping, rollback, erasure, crashes."""

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from app_support import grant

from satchel.errors import ConsentError, ErasedError, IntegrityError, KeyUnavailableError, SatchelError
from satchel.events import Event

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
CANARY = "CANARY-7f3a9c-zebra"


def history(days=40, habit="reading"):
    out = []
    for d in range(days):
        t = NOW - timedelta(days=days - d)
        out.append(Event(type="app_opened", time=t.replace(hour=8), data={}))
        if d % 3:
            out.append(Event(type="habit_completed", time=t.replace(hour=19), data={"habit": habit}))
    return out


def all_bytes(*roots: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for r in roots if r.exists() for p in r.rglob("*") if p.is_file()]


def test_canary_is_in_no_byte_on_disk(make_app, tmp_path):
    app = make_app()
    subject = f"{CANARY}-learner"
    app.consent.grant(
        subject,
        purposes=["habit_reminders"],
        notice=f"notice {CANARY}",
        policy_version=f"v-{CANARY}",
        actor="self",
        age_band="18+",
        method=f"m-{CANARY}",
    )
    app.record(subject, history(habit=CANARY))
    app.train(subject, "habits", now=NOW)
    app.predict(subject, "habits", now=NOW)
    app.close()
    needles = [CANARY.encode(), CANARY.encode("utf-16-le")]
    for path, data in all_bytes(tmp_path, Path(tempfile.gettempdir()) / "satchel"):
        for needle in needles:
            assert needle not in data, f"canary found in {path}"


def test_tampered_event_rows_give_integrity_errors(make_app, tmp_path):
    app = make_app()
    grant(app, "ada")
    grant(app, "bob")
    app.record("ada", history(5))
    app.record("bob", history(5, habit="piano"))
    db = sqlite3.connect(tmp_path / "data" / "satchel.db")
    pa, pb = bytes.fromhex(app.pseudonym("ada")), bytes.fromhex(app.pseudonym("bob"))
    tag, blob = db.execute("SELECT id_tag, blob FROM events WHERE subject=? LIMIT 1", (pa,)).fetchone()
    for i in (0, 10, len(blob) // 2, len(blob) - 1):
        flipped = bytearray(blob)
        flipped[i] ^= 0x01
        db.execute("UPDATE events SET blob=? WHERE subject=? AND id_tag=?", (bytes(flipped), pa, tag))
        db.commit()
        with pytest.raises(IntegrityError):
            app.events.read(pa.hex())
    db.execute("UPDATE events SET blob=? WHERE subject=? AND id_tag=?", (blob[:40], pa, tag))
    db.commit()
    with pytest.raises(IntegrityError, match="truncated"):
        app.events.read(pa.hex())
    other = db.execute("SELECT blob FROM events WHERE subject=? LIMIT 1", (pb,)).fetchone()[0]
    db.execute("UPDATE events SET blob=? WHERE subject=? AND id_tag=?", (other, pa, tag))
    db.commit()
    with pytest.raises(IntegrityError):
        app.events.read(pa.hex())


def test_checkpoint_tampering_swapping_and_rollback_are_refused(make_app, tmp_path):
    app = make_app()
    for s in ("ada", "bob"):
        grant(app, s)
        app.record(s, history())
    app.train("ada", "habits", now=NOW)
    app.train("bob", "habits", now=NOW)
    root = tmp_path / "data" / "checkpoints"
    ada_v1 = root / app.pseudonym("ada") / "habits" / "v00000001.ckpt"
    bob_v1 = root / app.pseudonym("bob") / "habits" / "v00000001.ckpt"
    good = ada_v1.read_bytes()
    old_copy = tmp_path / "ada_v1.bak"
    shutil.copy(ada_v1, old_copy)
    app.train("ada", "habits", now=NOW + timedelta(days=1))
    assert app.load_checkpoint("ada", "habits").version == 2
    # rollback: restore the whole older state (v2 deleted, v1 back)
    ada_v2 = ada_v1.with_name("v00000002.ckpt")
    v2 = ada_v2.read_bytes()
    ada_v2.unlink()
    with pytest.raises(IntegrityError, match="missing"):
        app.load_checkpoint("ada", "habits")
    # restore v1 under v2's name: bound to version 1, refused
    ada_v2.write_bytes(good)
    with pytest.raises(IntegrityError):
        app.load_checkpoint("ada", "habits")
    # swap between learners
    ada_v2.write_bytes(bob_v1.read_bytes())
    with pytest.raises(IntegrityError):
        app.load_checkpoint("ada", "habits")
    # flip a byte, truncate
    for bad in (v2[:-1] + bytes([v2[-1] ^ 1]), v2[: len(v2) // 2]):
        ada_v2.write_bytes(bad)
        with pytest.raises(IntegrityError):
            app.load_checkpoint("ada", "habits")
    ada_v2.write_bytes(v2)
    assert app.load_checkpoint("ada", "habits").version == 2


def test_wrong_master_key_opens_nothing(make_app, monkeypatch):
    import base64
    import os

    make_app().close()
    monkeypatch.setenv("SATCHEL_TEST_KEY", base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(KeyUnavailableError):
        make_app()
    monkeypatch.delenv("SATCHEL_TEST_KEY")
    with pytest.raises(KeyUnavailableError, match="SATCHEL_TEST_KEY is not set"):
        make_app()


def test_erase_defeats_a_copy_taken_before(make_app, tmp_path):
    app = make_app()
    grant(app, "ada")
    grant(app, "bob")
    app.record("ada", history())
    app.record("bob", history())
    app.train("ada", "habits", now=NOW)
    copy = tmp_path / "data-copy"
    app._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copytree(tmp_path / "data", copy)
    pseudo = app.pseudonym("ada")
    app.erase("ada")
    with pytest.raises(ConsentError):  # the consent history went with the learner
        app.record("ada", history(2))
    with pytest.raises(ErasedError):  # and the pseudonym cannot be re-enrolled
        grant(app, "ada")
    assert app.events.count(pseudo) == 0
    assert not (tmp_path / "data" / "checkpoints" / pseudo).exists()
    app.close()
    # An attacker puts the old data directory back, with the live keys: ada stays unreadable, bob is fine.
    shutil.rmtree(tmp_path / "data")
    shutil.copytree(copy, tmp_path / "data")
    app = make_app()
    with pytest.raises(ErasedError):
        app.events.read(pseudo)
    assert len(app.events.read(app.pseudonym("bob"))) > 0
    assert not app.verify_audit_log().ok  # and the audit log's anchor exposes the restored (older) log


def test_export_is_complete_and_machine_readable(make_app):
    app = make_app()
    grant(app, "ada")
    events = history()
    app.record("ada", events)
    app.train("ada", "habits", now=NOW)
    out = json.loads(json.dumps(app.export_subject("ada")))
    assert len(out["events"]) == len(events)
    assert out["consent_history"][0]["action"] == "granted"
    assert out["models"]["habits"]["version"] == 1 and "dense_0_kernel" in out["models"]["habits"]["weights"]


def test_retention_deletes_old_events(make_app):
    app = make_app()
    grant(app, "ada")
    app.record(
        "ada", [Event(type="app_opened", time=NOW - timedelta(days=d), data={}) for d in (1, 30, 61, 90)]
    )
    assert app.enforce_retention(now=NOW) == 2
    assert app.events.count(app.pseudonym("ada")) == 2


KILL_INGEST = r"""
import sys, satchel
from satchel.testing import isolated_registry
app = satchel.open(sys.argv[1], registry=isolated_registry())
print("ready", flush=True)
app.ingest(sys.argv[2])
print("done", flush=True)
"""


def test_sigkill_during_ingest_leaves_all_or_nothing(make_app, tmp_path):
    app = make_app()
    grant(app, "ada")
    app.record("ada", history(3))
    before = app.events.count(app.pseudonym("ada"))
    app.close()
    lines = [
        json.dumps(
            {
                "subject": "ada",
                "type": "app_opened",
                "time": (NOW - timedelta(minutes=i)).isoformat(),
                "data": {},
            }
        )
        for i in range(20000)
    ]
    big = tmp_path / "big.jsonl"
    big.write_text("\n".join(lines))
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_INGEST, str(tmp_path / "satchel.toml"), str(big)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    app = make_app()
    after = app.events.count(app.pseudonym("ada"))
    assert after in (before, before + 20000)
    assert app.verify_audit_log().ok


def test_ingest_reports_the_bad_line_and_stores_nothing(make_app, tmp_path):
    app = make_app()
    grant(app, "ada")
    good = json.dumps({"subject": "ada", "type": "app_opened", "time": NOW.isoformat(), "data": {}})
    bad = json.dumps(
        {"subject": "ada", "type": "habit_completed", "time": NOW.isoformat(), "data": {"habit": ""}}
    )
    f = tmp_path / "events.jsonl"
    f.write_text("\n".join([good, good.replace("12:00", "13:00"), bad]))
    with pytest.raises(SatchelError, match=r"events.jsonl line 3: field 'data.habit'"):
        app.ingest(f)
    assert app.events.count(app.pseudonym("ada")) == 0
    csvf = tmp_path / "events.csv"
    csvf.write_text(
        "subject,type,time,habit\nada,habit_completed,2026-03-01T10:00:00+00:00,reading\n"
        "ada,habit_completed,not-a-time,reading\n"
    )
    with pytest.raises(SatchelError, match=r"events.csv line 3: field 'time'"):
        app.ingest(csvf)
    csvf.write_text("subject,type,time,habit\nada,habit_completed,2026-03-01T10:00:00+00:00,reading\n")
    assert app.ingest(csvf).stored == 1


def test_checkpoint_from_another_feature_schema_is_refused(make_app):
    from dataclasses import replace

    app = make_app()
    grant(app, "ada")
    app.record("ada", history())
    app.train("ada", "habits", now=NOW)
    good = app.load_checkpoint("ada", "habits")
    pseudo = app.pseudonym("ada")
    app.component("habits", "store").save(app._files(pseudo, "habits"), replace(good, schema_hash="0" * 64))
    with pytest.raises(IntegrityError, match="another feature schema"):
        app.load_checkpoint("ada", "habits")
    assert app.load_checkpoint("ada", "habits", version=1).version == 1


def test_ingest_of_many_learners_is_one_audit_commit(make_app, tmp_path, monkeypatch):
    """Each learner's ``events.recorded`` entry is written, and all of a file's entries move the audit
    anchor in one vault commit: the commits of an ingest do not grow with its learners."""
    from satchel.privacy.vault import Vault

    def ingest(learners: int) -> int:
        app = make_app(data=tmp_path / f"data-{learners}", keys=tmp_path / f"keys-{learners}")
        names = [f"learner-{i}" for i in range(learners)]
        for name in names:
            grant(app, name)
        f = tmp_path / f"{learners}.jsonl"
        f.write_text(
            "\n".join(
                json.dumps({"subject": n, "type": "app_opened", "time": NOW.isoformat(), "data": {}})
                for n in names
            )
        )
        commits = []
        real = Vault.commit
        monkeypatch.setattr(Vault, "commit", lambda self, batch: commits.append(batch) or real(self, batch))
        app.ingest(f)
        monkeypatch.setattr(Vault, "commit", real)
        recorded = [e for e in app.audit_log.entries() if e.action == "events.recorded"]
        assert sorted(e.fields["subject"] for e in recorded) == sorted(app.pseudonym(n) for n in names)
        assert app.verify_audit_log().ok
        return len(commits)

    assert ingest(1) == ingest(6)
