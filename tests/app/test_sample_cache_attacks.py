"""An attacker with write access to the data directory against the sample cache and delta reads:
each attack either still trains on exactly the committed events' data, or falls back to a full read
that raises the store's IntegrityError, as it would without a cache."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta

import pytest
from cache_support import TODAY, cache_path, db, enrol, fitted, full_data, reads, same, year

from satchel.errors import IntegrityError

OTHER = """
[pipelines.other]
model = { name = "habit", options = { min_samples = 10 } }
purposes = ["habit_reminders"]
backend = "litert"
epochs = 2
"""


def trained(make_app, extra: str = ""):
    """An app whose learner ada trained on all but the last two days of a year, and those two days."""
    app = make_app(extra=extra)
    events = year()
    cut = TODAY - timedelta(days=2)
    ada = enrol(app, "ada", [e for e in events if e.time < cut])
    app.train(ada, "habits", now=cut)
    return app, ada, [e for e in events if e.time >= cut]


def damaged(app) -> list[str]:
    return [e.fields["error"] for e in app.audit_log.entries() if e.action == "sample_cache.damaged"]


def test_an_older_cache_restored_still_gives_the_exact_data(make_app) -> None:
    app, ada, new = trained(make_app)
    old = cache_path(app, ada).read_bytes()
    day = TODAY - timedelta(days=1)
    app.record(ada, [e for e in new if e.time < day], at=TODAY)
    app.train(ada, "habits", now=day)
    app.record(ada, [e for e in new if e.time >= day], at=TODAY)
    cache_path(app, ada).write_bytes(old)  # swapped back
    data, deltas = fitted(app), reads(app)
    app.train(ada, "habits", now=TODAY)
    assert not deltas[-1].full and deltas[-1].opened == len(new)  # both days, from the old mark
    assert same(data[-1], full_data(app, ada, TODAY)) and not damaged(app)


@pytest.mark.parametrize("edit", ["flip", "truncate", "other learner", "other pipeline"])
def test_an_edited_or_foreign_cache_is_logged_and_rebuilt(make_app, edit: str) -> None:
    app, ada, new = trained(make_app, OTHER)
    path = cache_path(app, ada)
    if edit == "flip":
        blob = bytearray(path.read_bytes())
        blob[len(blob) // 2] ^= 0x40
        path.write_bytes(bytes(blob))
    elif edit == "truncate":
        path.write_bytes(path.read_bytes()[:-100])
    elif edit == "other learner":
        bob = enrol(app, "bob", year(seed=9))
        app.train(bob, "habits", now=TODAY)
        shutil.copyfile(cache_path(app, bob), path)
    else:
        app.train(ada, "other", now=TODAY - timedelta(days=2))
        shutil.copyfile(cache_path(app, ada, "other"), path)
    app.record(ada, new, at=TODAY)
    data, deltas = fitted(app), reads(app)
    app.train(ada, "habits", now=TODAY)
    assert deltas[-1].full and damaged(app) == ["IntegrityError"]
    assert same(data[-1], full_data(app, ada, TODAY))
    app.train(ada, "habits", now=TODAY)  # rewritten by the training: current again
    assert not deltas[-1].full and damaged(app) == ["IntegrityError"]


def test_a_known_row_deleted_makes_the_full_read_refuse(make_app) -> None:
    app, ada, new = trained(make_app)
    app.record(ada, new, at=TODAY)
    with db(app) as conn:
        (tag,) = conn.execute("SELECT id_tag FROM events LIMIT 1").fetchone()
        conn.execute("DELETE FROM events WHERE id_tag = ?", (tag,))
    deltas = reads(app)
    with pytest.raises(IntegrityError, match="deleted"):
        app.train(ada, "habits", now=TODAY)
    assert deltas == []  # read_since raised from its fallback: no delta was used


def test_a_known_row_edited_cannot_change_what_is_trained_and_a_full_read_finds_it(make_app) -> None:
    app, ada, new = trained(make_app)
    app.record(ada, new, at=TODAY)
    expected = full_data(app, ada, TODAY)
    with db(app) as conn:
        old = {r[0] for r in conn.execute("SELECT id_tag FROM events")}
    with db(app) as conn:
        tag, blob = conn.execute("SELECT id_tag, blob FROM events LIMIT 1").fetchone()
        assert tag in old
        conn.execute("UPDATE events SET blob = ? WHERE id_tag = ?", (blob[:-1] + bytes([blob[-1] ^ 1]), tag))
    data, deltas = fitted(app), reads(app)
    app.train(ada, "habits", now=TODAY)  # the known rows are neither opened nor MACed
    assert not deltas[-1].full and same(data[-1], expected)
    with pytest.raises(IntegrityError):
        app.events.read(ada)


@pytest.mark.parametrize("attack", ["edit a new row", "insert a row", "replace a new row"])
def test_a_new_row_tampered_with_or_inserted_is_refused(make_app, attack: str) -> None:
    app, ada, new = trained(make_app)
    with db(app) as conn:
        known = {r[0] for r in conn.execute("SELECT id_tag FROM events")}
    app.record(ada, new, at=TODAY)
    with db(app) as conn:
        rows = [
            r for r in conn.execute("SELECT subject, id_tag, type_tag, blob FROM events") if r[1] not in known
        ]
        subject, tag, kind, blob = rows[0]
        if attack == "edit a new row":
            conn.execute(
                "UPDATE events SET blob = ? WHERE id_tag = ?", (blob[:-1] + bytes([blob[-1] ^ 1]), tag)
            )
        elif attack == "insert a row":
            conn.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (subject, os.urandom(16), kind, blob))
        else:  # a new row's blob moved onto another new row: each still opens only under its own tags
            conn.execute("UPDATE events SET blob = ? WHERE id_tag = ?", (blob, rows[1][1]))
    with pytest.raises(IntegrityError):
        app.train(ada, "habits", now=TODAY)
