"""The sealed per-learner sample cache (issue 15 item 2): a training reads and featurizes only the
events since the last one, and trains on exactly the data a full read gives; the cache goes with the
events it was derived from (erasure, withdrawal, retention, deletions) and with a featurizer change."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from datetime import timedelta

from cache_support import TODAY, cache_path, enrol, fitted, full_data, reads, same, year

from satchel.app import Pseudonym


def test_delta_trainings_fit_exactly_the_data_of_a_full_read(make_app) -> None:
    """Events arrive in random chunks, late and out of time order; every training's data equals the
    full read's, and after the first each training opens only the new events."""
    app = make_app()
    events = year()
    rng = random.Random(11)
    early, rest = events[: len(events) // 2], events[len(events) // 2 :]
    rng.shuffle(rest)
    chunks = [rest[i : i + n] for i, n in zip(range(0, len(rest), 97), [97] * 99)]
    ada = enrol(app, "ada", early)
    data, deltas = fitted(app), reads(app)
    app.train(ada, "habits", now=TODAY)
    assert deltas[-1].full and same(data[-1], full_data(app, ada, TODAY))
    for i, chunk in enumerate(chunks):
        app.record(ada, chunk, at=TODAY)
        now = TODAY + timedelta(hours=i)  # the same day: yesterday's completions change today's samples
        app.train(Pseudonym(ada), "habits", now=now)
        delta = deltas[-1]
        assert not delta.full and delta.opened == len(chunk) == len(delta.events)
        assert same(data[-1], full_data(app, ada, now))
    later = TODAY + timedelta(days=3)  # no new events, later days: the state answers as a full read
    app.train(ada, "habits", now=later)
    assert not deltas[-1].full and deltas[-1].opened == 0 and same(data[-1], full_data(app, ada, later))


def test_samples_count_from_the_cache_and_a_pass_writes_it_once(make_app) -> None:
    app = make_app()
    ada = enrol(app, "ada", year())
    deltas = reads(app)
    assert app.samples(ada, "habits", now=TODAY) == len(full_data(app, ada, TODAY))
    assert not cache_path(app, ada).exists()  # counting writes nothing
    with app.planned_data():
        app.samples(ada, "habits", now=TODAY)
        app.train(ada, "habits", now=TODAY)  # the planned data and its cache entry
    assert cache_path(app, ada).exists() and [d.full for d in deltas] == [True, True]
    written = cache_path(app, ada).stat().st_mtime_ns
    app.train(ada, "habits", now=TODAY)  # nothing new: the cache is current and not rewritten
    assert not deltas[-1].full and cache_path(app, ada).stat().st_mtime_ns == written


def test_erasure_withdrawal_retention_and_deletions_drop_the_cache(make_app) -> None:
    app = make_app(privacy_extra="purge_on_withdrawal = false")
    learners = {name: enrol(app, name, year(seed=i)) for i, name in enumerate(("ada", "bob", "cy", "dee"))}
    for pseudo in learners.values():
        app.train(pseudo, "habits", now=TODAY)
        assert cache_path(app, pseudo).exists()

    app.erase(learners["ada"])
    assert not cache_path(app, learners["ada"]).exists()

    app.consent.withdraw(learners["bob"], at=TODAY)  # purge_on_withdrawal is off: the events stay
    assert not cache_path(app, learners["bob"]).exists() and app.events.count(learners["bob"])

    stored = app.events.count(learners["cy"])
    assert app.enforce_retention(now=TODAY) > 0  # 60 days kept
    assert not cache_path(app, learners["cy"]).exists()
    assert 0 < app.events.count(learners["cy"]) < stored

    dee = learners["dee"]
    first = app.events.read(dee)[0]
    assert app.events.delete_ids(dee, [first.id]) == 1
    assert not cache_path(app, dee).exists()
    data, deltas = fitted(app), reads(app)
    app.train(dee, "habits", now=TODAY)  # rebuilt from a full read
    assert deltas[-1].full and same(data[-1], full_data(app, dee, TODAY))


def test_a_deletion_the_cache_outlived_falls_back_to_a_full_read(make_app) -> None:
    app = make_app()
    ada = enrol(app, "ada", year())
    app.train(ada, "habits", now=TODAY)
    kept = cache_path(app, ada).read_bytes()
    app.events.delete(ada, ["app_opened"])
    cache_path(app, ada).write_bytes(kept)  # as if the process died before dropping it
    data, deltas = fitted(app), reads(app)
    app.train(ada, "habits", now=TODAY)
    assert deltas[-1].full and "deleted" in deltas[-1].reason
    assert same(data[-1], full_data(app, ada, TODAY))


def test_a_featurizer_option_change_rebuilds_the_cache(make_app) -> None:
    app = make_app()
    ada = enrol(app, "ada", year())
    app.train(ada, "habits", now=TODAY)
    app.close()
    changed = make_app(extra='featurizer = { name = "habit_daily", options = { timezone = "Asia/Tokyo" } }\n')
    data, deltas = fitted(changed), reads(changed)
    changed.train(Pseudonym(ada), "habits", now=TODAY)
    assert deltas[-1].full and deltas[-1].reason == "nothing was read before"
    assert same(data[-1], full_data(changed, ada, TODAY))
    assert not [e for e in changed.audit_log.entries() if e.action == "sample_cache.damaged"]


def test_a_state_older_than_the_days_a_training_reads_is_not_used(make_app) -> None:
    """A replay of the past (``now`` long before the newest event) needs days the state dropped."""
    app = make_app(extra='featurizer = { name = "habit_daily", options = { max_history_days = 14 } }\n')
    ada = enrol(app, "ada", year())
    app.train(ada, "habits", now=TODAY)
    past = TODAY - timedelta(days=60)
    data = fitted(app)
    app.train(ada, "habits", now=past)
    assert same(data[-1], full_data(app, ada, past))


#: trains once more after a day of new events and is SIGKILLed while the cache is being written:
#: half of the sealed file is in its temporary file (``before``), or it was renamed into place (``after``)
KILL_IN_CACHE_WRITE = """
import os, signal, sys
from datetime import datetime
import satchel
import satchel.storage.sealed_files as sealed_files
from satchel.testing import isolated_registry

real = sealed_files.atomic_write

def write(path, data, **kw):
    if path.name == "samples.cache":
        if sys.argv[3] == "before":
            tmp = path.parent / f".{path.name}.{os.getpid()}.0123456789ab.tmp"
            tmp.write_bytes(data[: len(data) // 2])
        else:
            real(path, data, **kw)
        os.kill(os.getpid(), signal.SIGKILL)
    return real(path, data, **kw)

sealed_files.atomic_write = write
app = satchel.open(sys.argv[1], registry=isolated_registry())
app.train("ada", "habits", now=datetime.fromisoformat(sys.argv[2]))
"""


def test_a_sigkill_during_the_cache_write_leaves_training_correct(make_app, tmp_path) -> None:
    events = year()
    cuts = (TODAY - timedelta(days=4), TODAY - timedelta(days=2))
    app = make_app()
    ada = enrol(app, "ada", [e for e in events if e.time < cuts[0]])
    app.train(ada, "habits", now=cuts[0])
    for when, since, until in (("before", *cuts), ("after", cuts[1], TODAY)):
        app.record(ada, [e for e in events if since <= e.time < until], at=TODAY)
        script = [
            sys.executable,
            "-c",
            KILL_IN_CACHE_WRITE,
            str(tmp_path / "satchel.toml"),
            until.isoformat(),
            when,
        ]
        done = subprocess.run(script, capture_output=True, text=True)
        assert done.returncode == -signal.SIGKILL, done.stderr
        data, deltas = fitted(app), reads(app)
        app.train(ada, "habits", now=until)
        assert same(data[-1], full_data(app, ada, until))
        assert not deltas[-1].full  # the cache in place (the old one, or one never committed) still fits
    assert not [e for e in app.audit_log.entries() if e.action == "sample_cache.damaged"]
    assert app.verify_audit_log().ok
