"""The data path: ingest, read, featurize and checkpoint throughput, against plaintext storage.

satchel seals every event (AES-256-GCM under a key derived from the learner's key, keyed binary tags
instead of ids and types, a commitment to the learner's whole set) and every checkpoint (sealed, atomically written, version committed to the vault). The
peer is the same work with no privacy: events as JSON in a plaintext SQLite table with the same
journal settings (WAL, ``synchronous=FULL``, one transaction), checkpoints as ``np.savez`` files.
The ratio is the price of privacy on this machine.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.apps import PlaintextStore, enroll, open_app
from benchmarks.report import SEMEVAL_CSV, Context, Section, TableBuilder, best_of, paired, ratio
from satchel.events import Event

HABIT = {"model": "habit", "purposes": ["habit_reminders"]}


def run(ctx: Context) -> Section:
    from satchel_plugins.habit import simulate_habit_learners

    today = date.today()
    year = simulate_habit_learners(1, days=365, habits=5, start=today - timedelta(days=365), seed=5)[0].events
    n_learners = ctx.size(220, 6)
    fleet = simulate_habit_learners(n_learners, days=365, habits=5, start=today - timedelta(days=365), seed=6)
    io = TableBuilder(
        "Ingest and read: sealed event store vs plaintext SQLite (events/s)",
        ("workload", "events", "satchel events/s", "plaintext events/s", "time ratio"),
    )
    with tempfile.TemporaryDirectory(prefix="satchel-bench-data-") as tmp:
        root = Path(tmp)
        _ingest_year(io, root, list(year), ctx)
        _ingest_file(io, root, fleet)
    featurize = _featurize(list(year), fleet, ctx)
    with tempfile.TemporaryDirectory(prefix="satchel-bench-ckpt-") as tmp:
        checkpoints = _checkpoints(Path(tmp), ctx)
    return Section(
        "data",
        "Data path: ingest, featurize, checkpoints",
        __doc__ or "",
        (io.build(), featurize.build(), checkpoints.build()),
    )


def _ingest_year(table: TableBuilder, root: Path, events: list[Event], ctx: Context) -> None:
    """``App.record`` of one learner's year, then reading it back, against the plaintext store."""
    app = open_app(root / "year", {"habits": HABIT})
    enroll(app, "ada", ("habit_reminders",))
    plain = PlaintextStore(root / "plain.db")
    as_dicts = [e.model_dump(mode="json") for e in events]
    rounds = ctx.size(5, 2)

    def satchel_record() -> None:
        app.events.delete(app.pseudonym("ada"))
        app.record("ada", as_dicts)

    def plain_record() -> None:
        plain.clear()
        plain.add({"ada": [Event.model_validate(d) for d in as_dicts]})

    ours, theirs = paired(satchel_record, plain_record, 1, rounds)
    table.add(
        "record a year of one learner (API, validated)",
        len(events),
        len(events) / ours,
        len(events) / theirs,
        ratio(ours, theirs),
    )
    pseudo, reads = app.pseudonym("ada"), app.pipeline("habits").featurizer.spec.reads
    ours, theirs = paired(lambda: app.events.read(pseudo, reads), lambda: plain.read("ada"), 1, 2 * rounds)
    table.add(
        "read a year back (decrypt, validate, sort)",
        len(events),
        len(events) / ours,
        len(events) / theirs,
        ratio(ours, theirs),
    )
    app.close()
    plain.conn.close()


def _ingest_file(table: TableBuilder, root: Path, fleet: Sequence[Any]) -> None:
    """``App.ingest`` of one JSONL file of many learners (what ``satchel ingest`` runs), once."""
    path = root / "events.jsonl"
    total = 0
    with path.open("w", encoding="utf-8") as f:
        for learner in fleet:
            for e in learner.events:
                f.write(json.dumps({"subject": learner.subject, **e.model_dump(mode="json")}) + "\n")
                total += 1
    app = open_app(root / "fleet", {"habits": HABIT})
    for learner in fleet:
        enroll(app, learner.subject, ("habit_reminders",))
    t0 = time.perf_counter()
    app.ingest(path)
    ours = time.perf_counter() - t0
    plain = PlaintextStore(root / "plain-fleet.db")
    t0 = time.perf_counter()
    by_subject: dict[str, list[Event]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            raw = json.loads(line)
            by_subject.setdefault(raw.pop("subject"), []).append(Event.model_validate(raw))
    plain.add(by_subject)
    theirs = time.perf_counter() - t0
    table.add(
        f"ingest one JSONL file, {len(fleet)} learners (all or nothing)",
        total,
        total / ours,
        total / theirs,
        ratio(ours, theirs),
    )
    app.close()
    plain.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    plain.conn.close()
    table.notes.append(
        f"On disk after closing (WAL checkpointed): the JSONL file {_mib(path)}, satchel's data dir "
        f"{_mib(root / 'fleet' / 'data')} ({_size(root / 'fleet' / 'data') / total:.0f} B/event: "
        "one row per event of 16-byte pseudonym, 16-byte id tag, 8-byte type tag and the sealed "
        "event, 28 bytes of AES-GCM nonce and tag over a compact encoding) vs plaintext SQLite "
        f"{_mib(root / 'plain-fleet.db')} ({_size(root / 'plain-fleet.db') / total:.0f} B/event)."
    )


def _featurize(year: list[Event], fleet: Sequence[Any], ctx: Context) -> TableBuilder:
    from satchel_plugins.habit import HabitFeaturizer
    from satchel_plugins.language import ReviewFeaturizer, simulate_vocabulary_learners

    table = TableBuilder(
        "Featurization throughput (on-device, per learner)",
        ("featurizer", "workload", "events", "samples", "ms", "events/s"),
    )
    habit = HabitFeaturizer()
    now = datetime.now(timezone.utc)
    rounds = ctx.size(5, 2)

    def add(name: str, workload: str, events: int, fn: Callable[[], int], repeat: int = 1) -> None:
        samples = fn()
        seconds = best_of(fn, repeat, rounds)
        table.add(name, workload, events, samples, seconds * 1e3, events / seconds)

    add("habit_daily", "a year, 5 habits", len(year), lambda: len(habit.training_data(year, now=now)))
    fleet_events = sum(len(learner.events) for learner in fleet)
    add(
        "habit_daily",
        f"{len(fleet)} learners' years",
        fleet_events,
        lambda: sum(len(habit.training_data(learner.events, now=now)) for learner in fleet),
    )
    vocab = simulate_vocabulary_learners(1, days=365, words=ctx.size(400, 100), seed=1)[0]
    reviews = ReviewFeaturizer()
    add(
        "word_reviews",
        "a year of reviews",
        len(vocab.events),
        lambda: len(reviews.training_data(vocab.events, now=vocab.end)),
    )
    if SEMEVAL_CSV.exists():
        from satchel_plugins.rubric.features import Item, featurize
        from satchel_plugins.rubric.semeval import load_semeval

        answers = load_semeval(SEMEVAL_CSV, splits=("test_ua",))[: ctx.size(2000, 300)]
        items = [Item(a.answer_id, a.question, a.reference, a.text, a.question_text) for a in answers]
        add("rubric text features", "SemEval answers", len(items), lambda: len(featurize(items)))
    table.notes.append("events/s counts input events (rubric: answers). Samples are training rows produced.")
    return table


def _checkpoints(root: Path, ctx: Context) -> TableBuilder:
    from satchel.model.backend import Weights
    from satchel.model.spec import initial_params, mlp
    from satchel.storage.checkpoint import Checkpoint

    table = TableBuilder(
        "Encrypted checkpoint save/load vs plaintext np.savez (ms)",
        ("network", "params", "operation", "satchel ms", "np.savez ms", "time ratio"),
    )
    app = open_app(root / "ckpt", {"habits": HABIT})
    enroll(app, "ada", ("habit_reminders",))
    pseudo = app.pseudonym("ada")
    store = app.component("habits", "store")
    files = app._files(pseudo, "habits")  # the sealed-files handle the core gives the store
    rounds = ctx.size(20, 4)
    for net, spec in {
        "12-16-8-1 (habit)": mlp(12, (16, 8), 1),
        "12-256-128-1": mlp(12, (256, 128), 1),
        "256-64-5": mlp(256, (64,), 5),
    }.items():
        params = initial_params(spec)
        adam = {f"{k}/{m}": np.zeros_like(v) for k, v in params.items() for m in ("m", "v")}
        ckpt = Checkpoint(
            Weights(params, adam, "satchel-adam/1"),
            spec.hash,
            "schema",
            "litert",
            datetime.now(timezone.utc),
            {"auc": 0.5},
            100,
        )
        plain = root / "plain.npz"

        def plain_save(c: Checkpoint = ckpt) -> None:
            np.savez(
                plain,
                **{f"p/{k}": v for k, v in c.weights.params.items()},
                **{f"o/{k}": v for k, v in c.weights.optimizer.items()},
            )

        def plain_load() -> None:
            with np.load(plain) as z:
                {k: z[k] for k in z.files}

        ours, theirs = paired(lambda c=ckpt: store.save(files, c), plain_save, 1, rounds)
        n = sum(v.size for v in params.values())
        table.add(net, n, "save", ours * 1e3, theirs * 1e3, ratio(ours, theirs))
        ours, theirs = paired(lambda: store.load(files), plain_load, 1, rounds)
        table.add(net, n, "load", ours * 1e3, theirs * 1e3, ratio(ours, theirs))
    table.notes.append(
        "satchel's save seals the checkpoint, writes it atomically (fsync of file and "
        "directory) and commits its version and hash to the vault (SQLite, fsync); load checks "
        "that commit. np.savez neither encrypts nor fsyncs."
    )
    app.close()
    return table


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _mib(path: Path) -> str:
    return f"{_size(path) / 2**20:.1f} MiB"
