"""The audit log, attacked: every kind of rewrite is detected and located."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from satchel.audit.log import AuditLog
from satchel.errors import IntegrityError, PrivacyError
from satchel.privacy import Vault

APP = "quizapp"  # the app id of the conftest vault


@pytest.fixture
def log(vault: Vault, data_dir: Path) -> AuditLog:
    return AuditLog(data_dir / "audit.jsonl", vault)


@pytest.fixture
def filled(log: AuditLog, pseudonymize) -> AuditLog:
    for i in range(6):
        subject = pseudonymize(f"learner-{i}")
        log.append("consent.granted", subject=subject, purpose="reminders", policy_version=i)
    return log


def lines(log: AuditLog) -> list[bytes]:
    return log.path.read_bytes().splitlines(keepends=True)


def rewrite(log: AuditLog, new_lines: list[bytes]) -> None:
    log.path.write_bytes(b"".join(new_lines))


def problem(log: AuditLog) -> tuple[str, int]:
    result = log.verify()
    assert not result.ok and result.problem is not None
    assert str(result.problem).startswith(f"line {result.problem.line}: {result.problem.kind}: ")
    return result.problem.kind, result.problem.line


def test_append_entries_verify(filled: AuditLog, pseudonymize) -> None:
    result = filled.verify()
    assert (result.ok, result.entries, result.problem) == (True, 6, None)
    entries = filled.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev == "0" * 64 and entries[1].prev == entries[0].mac
    subject = pseudonymize("learner-2")
    assert entries[2].fields == {"subject": subject, "purpose": "reminders", "policy_version": 2}
    assert entries[0].time.utcoffset().total_seconds() == 0
    assert os.stat(filled.path).st_mode & 0o777 == 0o600


def test_empty_log_verifies(log: AuditLog) -> None:
    assert log.verify().ok and log.entries() == ()


def test_edited_field(filled: AuditLog) -> None:
    rows = lines(filled)
    rows[2] = rows[2].replace(b'"purpose":"reminders"', b'"purpose":"marketing"')
    rewrite(filled, rows)
    assert problem(filled) == ("edited", 3)


def test_edited_last_entry(filled: AuditLog) -> None:
    rows = lines(filled)
    rows[-1] = rows[-1].replace(b'"policy_version":5', b'"policy_version":9')
    rewrite(filled, rows)
    assert problem(filled) == ("edited", 6)


def test_bad_mac(filled: AuditLog) -> None:
    rows = lines(filled)
    entry = json.loads(rows[3])
    entry["mac"] = "f" * 64
    rows[3] = json.dumps(entry).encode() + b"\n"
    rewrite(filled, rows)
    assert problem(filled) == ("bad_mac", 4)


def test_deleted_line(filled: AuditLog) -> None:
    rows = lines(filled)
    del rows[2]
    rewrite(filled, rows)
    assert problem(filled) == ("deleted", 3)


def test_deleted_first_line(filled: AuditLog) -> None:
    rewrite(filled, lines(filled)[1:])
    assert problem(filled) == ("deleted", 1)


def test_reordered_lines(filled: AuditLog) -> None:
    rows = lines(filled)
    rows[1], rows[2] = rows[2], rows[1]
    rewrite(filled, rows)
    assert problem(filled) == ("reordered", 2)


def test_inserted_forged_line(filled: AuditLog) -> None:
    rows = lines(filled)
    genuine = json.loads(rows[3])
    forged = dict(genuine, action="consent.withdrawn", mac="0" * 64)  # claims seq 4, chains to entry 3
    rows.insert(3, json.dumps(forged).encode() + b"\n")
    rewrite(filled, rows)
    assert problem(filled) == ("inserted", 4)


def test_inserted_garbage_line(filled: AuditLog) -> None:
    rows = lines(filled)
    rows.insert(1, b"not json at all\n")
    rewrite(filled, rows)
    assert problem(filled) == ("inserted", 2)


@pytest.mark.parametrize("junk", [b'{"seq":NaN}', b"[" * 100_000, b"\xff\xfe", b"{}", b"null"])
def test_hostile_lines_are_reported_not_crashed_on(filled: AuditLog, junk: bytes) -> None:
    rows = lines(filled)
    rows[3] = junk + b"\n"
    rewrite(filled, rows)
    assert problem(filled) == ("malformed", 4)
    with pytest.raises(IntegrityError, match="line 4"):
        filled.entries()


def test_replayed_line(filled: AuditLog) -> None:
    rows = lines(filled)
    rows.insert(4, rows[1])
    rewrite(filled, rows)
    assert problem(filled) == ("duplicated", 5)


def test_truncated_tail(filled: AuditLog) -> None:
    rewrite(filled, lines(filled)[:4])
    assert problem(filled) == ("truncated", 5)
    with pytest.raises(IntegrityError, match="ends at entry 4, but the key vault anchors entry 6"):
        filled.append("training.run")


def test_deleted_log_file(filled: AuditLog) -> None:
    filled.path.unlink()
    assert problem(filled) == ("truncated", 1)


def test_log_forged_with_another_key(filled: AuditLog, tmp_path: Path, data_dir: Path) -> None:
    with Vault.open(tmp_path / "k2", os.urandom(32), app_id=APP, data_dir=data_dir, create=True) as other:
        forged = AuditLog(tmp_path / "forged.jsonl", other)
        for _ in range(6):
            forged.append("nothing.happened")
    filled.path.write_bytes(forged.path.read_bytes())
    assert problem(filled) == ("bad_mac", 1)


def test_older_copy_of_the_log_is_detected(filled: AuditLog) -> None:
    older = filled.path.read_bytes()
    filled.append("training.run", pipeline="habit")
    filled.path.write_bytes(older)
    assert problem(filled) == ("truncated", 7)


def test_torn_tail_is_reported_then_dropped_by_next_append(filled: AuditLog) -> None:
    with open(filled.path, "ab") as f:
        f.write(b'{"action":"training.ru')
    assert problem(filled) == ("torn", 7)
    assert len(filled.entries()) == 6
    filled.append("training.run")
    assert filled.verify().ok
    assert [(e.action, dict(e.fields)) for e in filled.entries()[-2:]] == [
        ("audit.torn_tail_dropped", {"bytes": 22}),
        ("training.run", {}),
    ]


def test_crash_between_line_and_anchor_verifies(filled: AuditLog, vault: Vault, monkeypatch) -> None:
    """A log one entry ahead of its anchor (crash after the fsync, before the vault update) is fine."""

    def crash(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(vault, "commit", crash)
        with pytest.raises(KeyboardInterrupt):
            filled.append("training.run")
    assert vault.current("audit-log") == 6 and len(filled.entries()) == 7
    assert filled.verify().ok
    filled.append("training.run")
    assert filled.verify().ok and vault.current("audit-log") == 8


def test_append_refuses_tampered_tail(filled: AuditLog) -> None:
    rows = lines(filled)
    rows[-1] = rows[-1].replace(b"reminders", b"marketing")
    rewrite(filled, rows)
    with pytest.raises(IntegrityError, match="last entry"):
        filled.append("training.run")


def test_fields_carry_events_not_content(log: AuditLog) -> None:
    with pytest.raises(PrivacyError, match="pseudonym"):
        log.append("consent.granted", subject="alice@school.example")
    with pytest.raises(PrivacyError, match="pseudonym"):
        log.append("consent.granted", guardian_subject="Bob Smith")
    with pytest.raises(PrivacyError, match="never content"):
        log.append("answer.recorded", text="x" * 1000)
    with pytest.raises(PrivacyError, match="only str, int"):
        log.append("answer.recorded", answers=["a", "b"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        log.append("Not An Action")
    with pytest.raises(ValueError):
        log.append("x.y", ratio=float("nan"))
    assert log.entries() == ()


APPENDER = """
import sys
from satchel.privacy import Vault
from satchel.audit.log import AuditLog
key_dir, key, data_dir, who, n = sys.argv[1:]
with Vault.open(key_dir, bytes.fromhex(key), app_id="quizapp", data_dir=data_dir) as vault:
    log = AuditLog(data_dir + "/audit.jsonl", vault)
    for i in range(int(n)):
        log.append("training.run", worker=who, i=i)
"""


def test_two_processes_appending_keep_the_chain(log: AuditLog, key_dir, data_dir, master_key) -> None:
    log.append("app.started")
    args = [str(key_dir), master_key.hex(), str(data_dir)]
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, *args, who, "30"]) for who in ("p1", "p2")]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    result = log.verify()
    assert (result.ok, result.entries) == (True, 61), result.problem
    workers = [e.fields.get("worker") for e in log.entries()[1:]]
    assert workers.count("p1") == workers.count("p2") == 30
