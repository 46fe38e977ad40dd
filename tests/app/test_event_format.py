"""Event store format 3 (issue 15): the format-2 data dir written by the previous release is migrated
at open, all or nothing (SIGKILL mid-way loses nothing), and its old copy is refused afterwards."""

from __future__ import annotations

import importlib.util
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from satchel.errors import IntegrityError
from satchel.events import Event

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "events_format2"
_spec = importlib.util.spec_from_file_location("events_format2", FIXTURE / "generate.py")
generated = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generated)


@pytest.fixture
def format2(tmp_path, monkeypatch, master_key):
    """A copy of the format-2 data and key dirs; returns a function opening an app on them."""
    for name in ("data", "keys"):
        shutil.copytree(FIXTURE / name, tmp_path / name)
    monkeypatch.setenv("SATCHEL_TEST_KEY", generated.MASTER_KEY)
    return tmp_path


def expected(app, learner: str) -> list[Event]:
    """The events the fixture recorded for ``learner`` (as the app normalised them), by time."""
    events = [
        app.validate_event(e)
        for e in generated.fixture_events(learner)
        if learner != "ada" or e["id"] not in generated.DELETED
    ]
    return sorted(events, key=lambda e: (e.time, e.id))


def database(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / "data" / "satchel.db")


def stored_format(root: Path) -> int:
    with database(root) as conn:
        return conn.execute("SELECT value FROM meta WHERE name = 'format'").fetchone()[0]


def test_format2_data_dir_is_migrated(format2, make_app):
    assert stored_format(format2) == 2
    app = make_app()
    assert stored_format(format2) == 3
    for learner in ("ada", "bob"):
        assert app.events.read(app.pseudonym(learner)) == expected(app, learner)
        assert app.consent.history(learner)
    assert app.vault.is_erased(app.pseudonym("cyd")) and app.pseudonym("cyd") not in app.events.subjects()
    with database(format2) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'events_old'").fetchone() == (0,)
        rows = conn.execute("SELECT subject, id_tag, type_tag, blob FROM events").fetchall()
    assert len(rows) == len(expected(app, "ada")) + len(expected(app, "bob"))
    assert all(isinstance(v, bytes) for row in rows for v in row)
    assert {(len(s), len(i), len(t)) for s, i, t, _ in rows} == {(16, 16, 8)}
    # the migrated store works as a format-3 one: writes, deletions by type, integrity checks
    ada = app.pseudonym("ada")
    app.record("ada", Event(type="app_opened", time=generated.START + timedelta(days=20), data={}))
    assert app.events.delete(ada, ["app_opened"]) == 13
    assert app.events.read(ada) == [e for e in expected(app, "ada") if e.type == "habit_completed"]
    assert app.verify_audit_log().ok
    app.close()
    with database(format2) as conn:
        conn.execute(
            "DELETE FROM events WHERE id_tag = (SELECT min(id_tag) FROM events WHERE subject = ?)",
            (bytes.fromhex(ada),),
        )
    with pytest.raises(IntegrityError, match="should have 10 events in .*, 9 are there"):
        make_app().events.read(ada)


def test_old_copy_restored_after_migration_is_refused(format2, make_app):
    make_app().close()
    shutil.copy2(FIXTURE / "data" / "satchel.db", format2 / "data" / "satchel.db")
    app = make_app()
    assert stored_format(format2) == 3
    for learner in ("ada", "bob"):
        with pytest.raises(IntegrityError, match="rolled back: .* holds version ., the key vault expects"):
            app.events.read(app.pseudonym(learner))
    app.erase("bob")  # the way out still works
    assert app.pseudonym("bob") not in app.events.subjects()


def test_format2_rows_changed_before_migration_stay_refused(format2, make_app):
    with database(format2) as conn:
        (bob,) = conn.execute("SELECT subject FROM events GROUP BY subject HAVING count(*) = 24").fetchone()
        conn.execute(
            "DELETE FROM events WHERE id_tag = (SELECT min(id_tag) FROM events WHERE subject = ?)", (bob,)
        )
    app = make_app()
    assert app.events.read(app.pseudonym("ada")) == expected(app, "ada")
    with pytest.raises(IntegrityError, match="should have 24 events"):
        app.events.read(bob)


KILLER = """
import os, signal, sys
import satchel
from satchel.storage.event_migration import EventMigration
from satchel.privacy.commitment import Commitments
from satchel.testing import isolated_registry

where = sys.argv[2]
def killing(original, call):
    calls = []
    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)
    return wrapped
if where == "carry":  # mid-transaction, when the first learner's rows were resealed
    EventMigration._carry = killing(EventMigration._carry, 2)
else:  # after the commit, before the heads reach the key vault
    Commitments.publish = killing(Commitments.publish, 1)
satchel.open(sys.argv[1], registry=isolated_registry())
print("not killed")
"""


@pytest.mark.parametrize("where", ["carry", "publish"])
def test_sigkill_during_migration_loses_nothing(format2, make_app, where):
    make_app(data=format2 / "scratch-data", keys=format2 / "scratch-keys").close()  # writes satchel.toml
    config = format2 / "satchel.toml"
    config.write_text(config.read_text().replace("scratch-data", "data").replace("scratch-keys", "keys"))
    child = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLER), str(config), where],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stdout + child.stderr
    assert stored_format(format2) == (2 if where == "carry" else 3)
    app = make_app()
    assert stored_format(format2) == 3
    for learner in ("ada", "bob"):
        assert app.events.read(app.pseudonym(learner)) == expected(app, learner)
    assert app.verify_audit_log().ok


@pytest.mark.parametrize(
    "event",
    [
        {
            "id": 'quote " back \\ nul \x00 tab \t é 𝄞',
            "type": "habit_completed",
            "time": "2026-03-01T23:30:00.000123-05:00",
            "data": {"habit": 'ünï"cödé\n', "x": 2**53, "y": -0.1, "z": True, "n": None},
        },
        {"id": "1", "type": "app_opened", "time": "1900-01-01T00:00:00+00:00", "data": {}},
    ],
)
def test_events_round_trip_exactly(make_app, event):
    from app_support import grant

    app = make_app()
    grant(app, "ada")
    app.events.add([(app.pseudonym("ada"), [Event.model_validate(event)])])
    (back,) = app.events.read(app.pseudonym("ada"))
    assert back == Event.model_validate(event)
    assert back.time == datetime.fromisoformat(event["time"]).astimezone(timezone.utc)


def test_a_raw_learner_id_is_refused_by_the_store(make_app):
    from satchel.errors import PrivacyError

    app = make_app()
    for call in (
        lambda: app.events.read("ada"),
        lambda: app.events.delete("ada"),
        lambda: app.events.add([("ada", [Event(type="app_opened", time=generated.START)])]),
    ):
        with pytest.raises(PrivacyError, match="must be a pseudonym"):
            call()
