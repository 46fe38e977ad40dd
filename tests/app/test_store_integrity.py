"""Attacker-style tests of storage integrity (issue 18): edit, delete, swap and restore files on disk
with sqlite3 and byte edits, then check the API refuses with a clear IntegrityError naming what is
wrong and how to recover (never a raw sqlite3 error, never silently fewer or older records)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from app_support import grant

import satchel
from satchel.errors import IntegrityError, KeyUnavailableError, SatchelError
from satchel.events import Event
from satchel.testing import isolated_registry

NOW = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
RECOVERY = "restore the data directory and the key directory together from the same backup"


def history(days: int = 30, habit: str = "reading") -> list[Event]:
    out = []
    for d in range(days):
        t = NOW - timedelta(days=days - d)
        out.append(Event(type="app_opened", time=t.replace(hour=8), data={}))
        out.append(Event(type="habit_completed", time=t.replace(hour=19), data={"habit": habit}))
    return out


@pytest.fixture
def learner(make_app, tmp_path):
    """An app with one learner holding 60 events; returns (app, pseudonym, database path)."""
    app = make_app()
    grant(app, "ada")
    app.record("ada", history(), at=NOW)
    return app, app.pseudonym("ada"), tmp_path / "data" / "satchel.db"


def edit(db: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(db)
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def copy_db(db: Path, to: Path) -> None:
    to.mkdir(exist_ok=True)
    for f in db.parent.glob("satchel.db*"):
        shutil.copy2(f, to / f.name)


def restore_db(db: Path, frm: Path) -> None:
    for f in db.parent.glob("satchel.db*"):
        f.unlink()
    for f in frm.glob("satchel.db*"):
        shutil.copy2(f, db.parent / f.name)


def test_deleting_one_row_is_detected(learner):
    app, pseudo, db = learner
    edit(
        db,
        "DELETE FROM events WHERE id_tag=(SELECT min(id_tag) FROM events WHERE subject=?)",
        bytes.fromhex(pseudo),
    )
    with pytest.raises(IntegrityError, match="should have 60 events.*59 are there") as caught:
        app.events.read(pseudo)
    assert RECOVERY in str(caught.value)
    with pytest.raises(IntegrityError):
        app.events.count(pseudo)


def test_deleting_a_learners_rows_and_head_is_detected(learner):
    app, pseudo, db = learner
    edit(db, "DELETE FROM events WHERE subject=?", bytes.fromhex(pseudo))
    edit(db, "DELETE FROM heads WHERE subject=?", pseudo)
    with pytest.raises(IntegrityError, match="commitment .* is missing .* vault holds version"):
        app.events.read(pseudo)
    with pytest.raises(IntegrityError):
        app.record("ada", Event(type="app_opened", time=NOW, data={}), at=NOW)


def test_type_tag_rewrite_is_refused(learner):
    app, pseudo, db = learner
    conn = sqlite3.connect(db)
    who = bytes.fromhex(pseudo)
    tags = [r[0] for r in conn.execute("SELECT DISTINCT type_tag FROM events WHERE subject=?", (who,))]
    conn.close()
    assert len(tags) == 2
    edit(
        db,
        "UPDATE events SET type_tag=? WHERE id_tag=(SELECT min(id_tag) FROM events WHERE subject=? AND type_tag=?)",
        tags[1],
        who,
        tags[0],
    )
    for types in (None, ["habit_completed"], ["app_opened"]):
        with pytest.raises(IntegrityError):
            app.events.read(pseudo, types)


def test_swapping_rows_between_learners_is_refused(learner):
    app, pseudo, db = learner
    grant(app, "bob")
    app.record("bob", history(habit="piano"), at=NOW)
    other = app.pseudonym("bob")
    edit(
        db,
        "UPDATE events SET subject=? WHERE id_tag=(SELECT min(id_tag) FROM events WHERE subject=?)",
        bytes.fromhex(pseudo),
        bytes.fromhex(other),
    )
    for who in (pseudo, other):
        with pytest.raises(IntegrityError):
            app.events.read(who)


def test_rolled_back_database_is_refused_for_events_and_consent(learner, tmp_path):
    """Copy satchel.db*, withdraw (events purged), copy the old files back: nothing comes back."""
    app, pseudo, db = learner
    app.close()
    copy_db(db, tmp_path / "old")
    app = satchel.open(tmp_path / "satchel.toml", registry=isolated_registry())
    app.consent.withdraw("ada", at=NOW)
    assert app.events.read(pseudo) == []
    app.close()
    restore_db(db, tmp_path / "old")
    app = satchel.open(tmp_path / "satchel.toml", registry=isolated_registry())
    try:
        with pytest.raises(IntegrityError, match="consent records of learner .* were rolled back"):
            app.consent.show("ada", at=NOW)
        with pytest.raises(IntegrityError, match="rolled back"):
            app.events.read(pseudo)
        with pytest.raises(IntegrityError):
            app.record("ada", Event(type="app_opened", time=NOW, data={}), at=NOW)
        app.erase("ada")  # the documented way out works on rolled-back data
        assert app.subjects() == ()
    finally:
        app.close()


def test_restoring_the_whole_data_dir_is_refused(learner, tmp_path):
    app, pseudo, _db = learner
    app.close()
    shutil.copytree(tmp_path / "data", tmp_path / "data-backup")
    app = satchel.open(tmp_path / "satchel.toml", registry=isolated_registry())
    app.record("ada", Event(type="app_opened", time=NOW + timedelta(hours=1), data={}), at=NOW)
    app.close()
    shutil.rmtree(tmp_path / "data")
    shutil.copytree(tmp_path / "data-backup", tmp_path / "data")
    app = satchel.open(tmp_path / "satchel.toml", registry=isolated_registry())
    try:
        with pytest.raises(
            IntegrityError, match="rolled back: .* holds version 1, the key vault expects version 2"
        ):
            app.events.read(pseudo)
    finally:
        app.close()


def test_restoring_key_dir_and_data_dir_together_is_not_detected(learner, tmp_path):
    """The documented limit: without hardware-backed counters a consistent old pair looks current."""
    app, pseudo, _db = learner
    app.close()
    for d in ("data", "keys"):
        shutil.copytree(tmp_path / d, tmp_path / f"{d}-backup")
    app = satchel.open(tmp_path / "satchel.toml", registry=isolated_registry())
    app.record("ada", Event(type="app_opened", time=NOW + timedelta(hours=1), data={}), at=NOW)
    app.close()
    for d in ("data", "keys"):
        shutil.rmtree(tmp_path / d)
        shutil.copytree(tmp_path / f"{d}-backup", tmp_path / d)
    app = satchel.open(tmp_path / "satchel.toml", registry=isolated_registry())
    try:
        assert len(app.events.read(pseudo)) == 60
    finally:
        app.close()


def test_deleted_consent_record_is_detected(learner):
    app, pseudo, db = learner
    app.consent.withdraw("ada", at=NOW)
    edit(db, "DELETE FROM sealed_records WHERE subject=? AND seq=2", pseudo)
    with pytest.raises(IntegrityError, match="should have 2 consent records"):
        app.consent.history("ada")
    with pytest.raises(IntegrityError):
        app.record("ada", Event(type="app_opened", time=NOW, data={}), at=NOW)


@pytest.mark.parametrize("trial", range(6))
def test_flipped_bytes_never_lose_events_silently(make_app, tmp_path, trial):
    """Flip bytes anywhere in satchel.db: either every event reads back, or a SatchelError is raised."""
    app = make_app()
    grant(app, "ada")
    events = history(70)
    app.record("ada", events, at=NOW)
    pseudo = app.pseudonym("ada")
    app.events.compact()
    app.close()
    db = tmp_path / "data" / "satchel.db"
    raw = bytearray(db.read_bytes())
    rng = np.random.default_rng(trial)
    for pos in rng.integers(100, len(raw), 8):
        raw[pos] ^= 1 << int(rng.integers(8))
    db.write_bytes(bytes(raw))
    try:
        app = satchel.open(tmp_path / "satchel.toml", registry=isolated_registry())
    except SatchelError:
        return
    try:
        assert len(app.events.read(pseudo)) == len(events)
    except SatchelError as error:
        assert not isinstance(error.__cause__, sqlite3.Error)
    finally:
        app.close()


@pytest.mark.parametrize("keep", [0, 100, 4096, 8192])
def test_truncated_database_gives_integrity_error(learner, keep):
    app, pseudo, db = learner
    app.events.compact()
    app.close()
    with db.open("r+b") as f:
        f.truncate(keep)
    for name in ("satchel.db-wal", "satchel.db-shm"):
        (db.parent / name).unlink(missing_ok=True)
    with pytest.raises(IntegrityError) as caught:
        app = satchel.open(db.parent.parent / "satchel.toml", registry=isolated_registry())
        try:
            app.events.read(pseudo)
        finally:
            app.close()
    assert RECOVERY in str(caught.value)


def test_truncated_database_in_cli_is_a_clear_error(learner, tmp_path):
    from click.testing import CliRunner

    from satchel.cli import cli

    app, _pseudo, db = learner
    app.events.compact()
    app.close()
    with db.open("r+b") as f:
        f.truncate(4096)
    result = CliRunner().invoke(cli, ["consent", "show", "ada", "--config", str(tmp_path / "satchel.toml")])
    assert result.exit_code == 1
    assert "internal error" not in result.output and "IntegrityError" not in result.output
    assert "satchel.db" in result.output


LEGACY_TABLE = """CREATE TABLE events (subject TEXT NOT NULL, id_tag TEXT NOT NULL, type_tag TEXT NOT NULL,
    blob BLOB NOT NULL, PRIMARY KEY (subject, id_tag)) WITHOUT ROWID"""


def _legacy_app(make_app, tmp_path, *, rewrite_type: bool = False):
    """A data dir as a format-1 satchel wrote it: text tags, type tag outside the binding, no heads, no counters."""
    import hmac

    from satchel.privacy.envelope import Binding, seal

    app = make_app()
    pseudo = app.pseudonym("ada")
    key = app.vault.subject_key(pseudo)
    tag_key = app.vault.derive("event-tags")
    app.close()

    def tag(label: str, value: str) -> str:
        return hmac.digest(tag_key, f"{label}\x00{pseudo}\x00{value}".encode(), "sha256").hex()[:32]

    events = history(5)
    conn = sqlite3.connect(tmp_path / "data" / "satchel.db")
    conn.execute("DROP TABLE meta")
    conn.execute("DROP TABLE events")
    conn.execute(LEGACY_TABLE)
    for e in events:
        id_tag, type_tag = tag("id", e.id), tag("type", e.type)
        if rewrite_type and e.type == "app_opened":
            type_tag = tag("type", "habit_completed")
        raw = e.model_dump_json().encode()
        conn.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?)",
            (pseudo, id_tag, type_tag, seal(raw, key, Binding("habits-test", pseudo, "", f"event:{id_tag}"))),
        )
    conn.commit()
    conn.close()
    return pseudo, events


def test_format1_database_is_migrated(make_app, tmp_path):
    pseudo, events = _legacy_app(make_app, tmp_path)
    app = make_app()
    assert app.events.read(pseudo) == sorted(events, key=lambda e: (e.time, e.id))
    app.close()
    edit(tmp_path / "data" / "satchel.db", "DELETE FROM events WHERE id_tag=(SELECT min(id_tag) FROM events)")
    with pytest.raises(IntegrityError, match=f"should have {len(events)} events"):
        make_app().events.read(pseudo)


def test_format1_migration_refuses_a_rewritten_type_tag(make_app, tmp_path):
    _legacy_app(make_app, tmp_path, rewrite_type=True)
    with pytest.raises(IntegrityError, match="another event type's tag"):
        make_app()


def test_format1_copy_restored_after_migration_is_refused(make_app, tmp_path):
    pseudo, events = _legacy_app(make_app, tmp_path)
    db = tmp_path / "data" / "satchel.db"
    copy_db(db, tmp_path / "old")
    assert len(make_app().events.read(pseudo)) == len(events)
    restore_db(db, tmp_path / "old")
    with pytest.raises(IntegrityError, match="missing .* vault holds version 1"):
        make_app().events.read(pseudo)


def test_current_database_without_its_format_row_still_checks_every_row(learner, tmp_path):
    app, pseudo, db = learner
    app.close()
    edit(db, "DROP TABLE meta")
    edit(db, "DELETE FROM heads")
    with satchel.open(tmp_path / "satchel.toml", registry=isolated_registry()) as again:
        with pytest.raises(IntegrityError, match="missing"):
            again.events.read(pseudo)


def test_missing_key_dir_beside_existing_data_is_refused(make_app, tmp_path):
    make_app().close()
    shutil.rmtree(tmp_path / "keys")
    with pytest.raises(KeyUnavailableError, match="already holds data") as caught:
        make_app()
    assert "new_keys=True" in str(caught.value)
    (tmp_path / "keys").mkdir()
    with pytest.raises(KeyUnavailableError, match="no key vault"):
        make_app()


def test_new_keys_flag_starts_over_explicitly(make_app, tmp_path):
    make_app().close()
    shutil.rmtree(tmp_path / "keys")
    with satchel.open(tmp_path / "satchel.toml", registry=isolated_registry(), new_keys=True) as app:
        assert app.subjects() == ()


def test_onnx_trainer_keeps_weights_and_adam_state_in_memory(tmp_path):
    """Train, read and reload weights with Adam state through the ONNX backend; no byte of them (nor any
    scratch directory) may appear on disk: under the compile cache in the data dir, or in the temp dir."""
    from satchel.model.backend import Weights
    from satchel.model.dataset import Dataset
    from satchel.model.spec import Optimizer, initial_params, mlp
    from satchel_plugins.backends.onnx_training import OnnxBackend

    before = set(os.listdir(tempfile.gettempdir()))
    spec = mlp(6, (8,), 1, batch_size=8, optimizer=Optimizer("adam", learning_rate=0.05), seed=3)
    rng = np.random.default_rng(0)
    personal = {
        k: (v + rng.normal(0, 1, np.shape(v))).astype(np.float32) for k, v in initial_params(spec).items()
    }
    backend = OnnxBackend()
    trainer = backend.open(backend.compile(spec, tmp_path / "data" / "compiled"), Weights(personal))
    x = rng.normal(size=(64, 6)).astype(np.float32)
    trainer.fit(Dataset.of(x, (x[:, 0] > 0).astype(np.float32), np.ones(64, np.float32)), 3, seed=1)
    trained = trainer.get_weights()
    trainer.set_weights(trained)  # writes the ORT checkpoint with the Adam moments back in
    arrays = [*personal.values(), *trained.params.values(), *(trained.optimizer or {}).values()]
    needles = [b for a in arrays if len(set(b := np.asarray(a, np.float32).tobytes()[:16])) > 8]
    assert len(needles) >= 4 and trained.optimizer
    new = [Path(tempfile.gettempdir()) / n for n in set(os.listdir(tempfile.gettempdir())) - before]
    files = [
        p
        for root in (tmp_path, *new)
        if root.exists()
        for p in ([root] if root.is_file() else root.rglob("*"))
        if p.is_file()
    ]
    for path in files:
        data = path.read_bytes()
        assert not any(n in data for n in needles), f"plaintext weights in {path}"
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".scratch-")]
