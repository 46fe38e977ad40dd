"""End-to-end training of one learner through ``App.train`` vs a bare script on the same data.

One simulated learner with a year of five habits (4,500 events, 1,820 habit-days). satchel's run is
the whole product path: consent check, read and decrypt the learner's events, featurize, decrypt
the previous checkpoint, fit, evaluate, seal and atomically write the new checkpoint, commit its
version to the vault, append to the audit log. The bare script is what an app would write without
satchel, with no privacy at all: the same events read back from a plaintext SQLite table (same
journal settings), the same featurizer, a hand-written loop on the bare runtime (fresh interpreter/session from the same
artifacts), weights written to a plaintext ``.npz``. Both train the same epochs; compiling is
excluded on both sides (it is cached on disk by satchel).
"""

from __future__ import annotations

import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from benchmarks.apps import PlaintextStore, enroll, open_app
from benchmarks.bare import BARE, bare_fit, bare_from
from benchmarks.report import Context, Section, TableBuilder, paired, pyplot, ratio, save_plot

NETWORKS = {"habit": ("12-16-8-1 (habit)", (16, 8)), "wider": ("12-256-128-1", (256, 128))}
EPOCHS = 20
STAGES = ("read + decrypt events", "featurize", "decrypt checkpoint", "fit", "evaluate", "seal + save",
          "audit log")


def run(ctx: Context) -> Section:
    from satchel_plugins.habit import simulate_habit_learners

    days = ctx.size(365, 120)
    rounds = ctx.size(7, 2)
    now = datetime.combine(date.today(), datetime.min.time(), timezone.utc)
    learner = simulate_habit_learners(1, days=days, habits=5, start=now.date() - timedelta(days=days), seed=3)[0]
    pipelines = {f"{net}_{backend}": {"model": {"name": "habit", "options": {"hidden": list(hidden)}},
                                      "purposes": ["habit_reminders"], "backend": backend, "epochs": EPOCHS}
                 for net, (_, hidden) in NETWORKS.items() for backend in BARE}
    e2e = TableBuilder(f"One learner, {days} days x 5 habits: App.train vs a bare script (ms, best of rounds)",
                       ("network", "backend", "satchel ms", "bare ms", "ratio", "fit only: satchel / bare"))
    stages = TableBuilder("Where App.train's time goes (ms, best of rounds)", ("network", "backend", *STAGES))
    with tempfile.TemporaryDirectory(prefix="satchel-bench-learner-") as tmp:
        app = open_app(Path(tmp), pipelines)
        enroll(app, "ada", ("habit_reminders",))
        app.record("ada", list(learner.events))
        events = list(learner.events)
        plain = PlaintextStore(Path(tmp) / "plain.db")
        plain.add({"ada": events})
        for name in pipelines:
            app.train("ada", name, now=now)  # compile and first checkpoint
            times = _stages(app, "ada", name, now, rounds)
            ours, theirs = paired(lambda n=name: app.train("ada", n, now=now),  # type: ignore[misc]
                                  _bare_script(app, name, plain, now, Path(tmp)), 1, rounds)
            net, backend = name.split("_")
            net = NETWORKS[net][0]
            e2e.add(net, backend, ours * 1e3, theirs * 1e3, ratio(ours, theirs, 1.2),
                    ratio(times["fit"], times["bare fit"]))
            stages.add(net, backend, *(times[s] * 1e3 for s in STAGES))
        samples = app.samples("ada", next(iter(pipelines)), now=now)
        app.close()
        plain.conn.close()
    e2e.notes += [f"{len(events):,} events, {samples:,} training samples, {EPOCHS} epochs, batch 32.",
                  "ratio: whole `App.train` / whole bare script (read + featurize + fit + save). `fit only`: the "
                  "trainer's `fit` vs the bare loop's epochs on the same featurized data.",
                  "The gap is the privacy work the bare script skips: decrypting and validating every event "
                  "(AES-GCM per event), sealing the checkpoint, the fsyncs of the atomic write, the vault "
                  "counter and the audit log."]
    plot = _plot(ctx, stages.build())
    return Section("learner", "End-to-end training of one learner", __doc__ or "", (e2e.build(), stages.build()),
                   (plot,))


def _bare_script(app: object, pipeline: str, plain: PlaintextStore, now: datetime, tmp: Path) -> Callable[[], None]:
    """The bare script for ``pipeline``: read plaintext events, featurize, fit on the runtime, save an npz."""
    featurizer = app.component(pipeline, "featurizer")  # type: ignore[attr-defined]
    backend_name = app.pipeline(pipeline).backend.name  # type: ignore[attr-defined]
    spec = app.component(pipeline, "model").model_spec(featurizer.schema)  # type: ignore[attr-defined]
    backend = app.component(pipeline, "backend")  # type: ignore[attr-defined]
    export = tmp / f"bare-{pipeline}"
    trainer = backend.open(backend.compile(spec, tmp / "bare-cache"))
    trainer.export(export, feature_names=featurizer.schema.names, feature_schema_hash=featurizer.schema.hash)
    rng = np.random.default_rng(0)

    def script() -> None:
        data = featurizer.training_data(plain.read("ada"), now=now)
        bare = BARE[backend_name](export)
        bare_fit(bare, data, spec.batch_size, EPOCHS, rng)
        np.savez(tmp / "bare-weights.npz", **bare.weights())

    return script


def _stages(app: object, subject: str, pipeline: str, now: datetime, rounds: int) -> dict[str, float]:
    """Best seconds of each stage of ``App.train``, timed through the same calls it makes."""
    a = app  # the benchmark reaches into the app to time each stage it runs
    p = a.pipeline(pipeline)  # type: ignore[attr-defined]
    pseudo = a.pseudonym(subject)  # type: ignore[attr-defined]
    featurizer, task = a.component(pipeline, "featurizer"), a.component(pipeline, "model")  # type: ignore[attr-defined]
    store = a.component(pipeline, "store")  # type: ignore[attr-defined]
    spec = task.model_spec(featurizer.schema)
    compiled = a._compile(pipeline, spec)  # type: ignore[attr-defined]
    best: dict[str, float] = {}

    def timed(stage: str, fn: Callable[[], object]) -> object:
        t0 = time.perf_counter()
        out = fn()
        best[stage] = min(best.get(stage, float("inf")), time.perf_counter() - t0)
        return out

    for _ in range(rounds):
        events = timed("read + decrypt events", lambda: a.events.read(pseudo, p.featurizer.spec.reads))
        data = timed("featurize", lambda: featurizer.training_data(events, now=now))
        ckpt = timed("decrypt checkpoint", lambda: a._load_checkpoint(pseudo, p))  # type: ignore[attr-defined]
        trainer = a.component(pipeline, "backend").open(compiled, ckpt.weights_for(p.backend.name))  # type: ignore
        timed("fit", lambda: trainer.fit(data, EPOCHS, seed=0))
        metrics = timed("evaluate", lambda: task.metrics(data, trainer.predict(data.x)))
        new = type(ckpt)(trainer.get_weights(), spec.hash, featurizer.schema.hash, p.backend.name,
                         datetime.now(timezone.utc), metrics, len(data))
        timed("seal + save", lambda: store.save(a._files(pseudo, pipeline), new))  # type: ignore[attr-defined]
        timed("audit log", lambda: a.audit_log.append("bench.stage", subject=pseudo, pipeline=pipeline))
        bare = bare_from(trainer, p.backend.name)
        timed("bare fit", lambda: bare_fit(bare, data, spec.batch_size, EPOCHS, np.random.default_rng(0)))
    return best


def _plot(ctx: Context, table: object) -> Path:
    plt = pyplot()
    rows = table.rows  # type: ignore[attr-defined]
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(rows) + 1.5))
    labels = [f"{r[0]} / {r[1]}" for r in rows]
    left = np.zeros(len(rows))
    for i, stage in enumerate(STAGES):
        values = np.array([float(r[2 + i].replace(",", "")) for r in rows])
        ax.barh(labels, values, left=left, label=stage)
        left += values
    ax.set_xlabel("ms per App.train (best of rounds)")
    ax.set_title("Where one learner's training time goes")
    ax.legend(fontsize=7, loc="lower right")
    ax.invert_yaxis()
    return save_plot(fig, ctx, "learner_stages")

