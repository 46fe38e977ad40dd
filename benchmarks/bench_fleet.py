"""Learners trained per second by satchel's background runner as one app's fleet grows from 100 to
10,000 learners, on all cores; peak memory; where each learner's time goes.

**The fleet is one app holding every learner**, as on a school server or a shared classroom device:
one event store, one key vault, one audit log, and runners that train whoever is due. (A phone holds
one learner, so fleet size cannot matter there; in a shared app it can, and that is what this
measures.) Each learner has 60 days of 2 habits (about 330 events, 118 habit-days to train on), a
guardian's consent, and their events recorded with ``App.record`` under their own key. Learners
take their history round-robin from 600 simulated ones (100 per rhythm); nothing in satchel can
tell, as every learner's rows are sealed under their own key and pseudonym.

**Setup is not timed in the passes.** Two processes enrol learners into a staging copy of the
fleet in RAM (``/dev/shm``), which grows from size to size. Before every pass the fleet is copied
to the machine's disk and flushed (``sync``), so each pass starts from the same never-trained
fleet. The model is compiled once, into the run's shared compile cache, before any pass.

**The measured phase is one pass of the product's own runner over the whole fleet**: one
``satchel tick --json --shard k/N`` process per core (satchel's CLI), each planning and training
its share of the learners with the ``habits`` pipeline (LiteRT backend, 30 epochs, default
``conditions`` scheduler), under the per-model cross-process locks. A pass runs from the first
runner's start to the last runner's end, as the runners report them; starting the interpreter and
opening the app are shown apart. Peak RSS is each worker's own (``wait4``). Inside every worker,
timing probes around a dozen satchel methods (microseconds each) show where the time goes.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import satchel
from benchmarks.apps import KEY_VARIABLE, NOTICE, master_key_variable
from benchmarks.report import ROOT, Context, Section, Table, TableBuilder, pyplot, save_plot
from satchel.events import Event

SIZES = (100, 1_000, 10_000)
HUGE = 100_000  # with --huge only
QUICK_SIZES = (10, 30, 100)
DAYS, HABITS, EPOCHS = 60, 2, 30
HISTORIES = 600  # distinct simulated histories, 100 per rhythm
CHUNK = 250  # learners per setup task
PIPELINE, PURPOSE = "habits", "habit_reminders"
MIB = 2**20

CONFIG = """\
[app]
id = "bench-fleet"
data_dir = "{root}/data"
key_dir = "{root}/keys"

[privacy]
key_provider = {{ name = "env", options = {{ variable = "{key}" }} }}

[pipelines.{pipeline}]
model = "habit"
purposes = ["{purpose}"]
backend = "litert"
epochs = {epochs}
"""

_Target = tuple[str, str, str]  # module, class, method
#: Where a learner's time goes: each label times its methods inside the workers. None of them calls
#: another, except the key-vault counters, which run inside the checkpoint, audit and vault commit rows.
PROBES: tuple[tuple[str, tuple[_Target, ...]], ...] = (
    ("consent check", (("satchel.app", "App", "_verdict"),)),
    (
        "read + decrypt events",
        (
            ("satchel.storage.event_store", "EventStore", "read"),
            ("satchel.storage.event_store", "EventStore", "read_since"),
        ),
    ),
    (
        "featurize",
        (
            ("satchel_plugins.habit.features", "HabitFeaturizer", "training_data"),
            ("satchel_plugins.habit.features", "HabitFeaturizer", "fold"),
            ("satchel_plugins.habit.features", "HabitFeaturizer", "training_data_from"),
        ),
    ),
    ("checkpoint version check", (("satchel.storage.sealed_files", "SealedFiles", "latest"),)),
    ("open LiteRT trainer", (("satchel_plugins.backends.litert", "LiteRTBackend", "open"),)),
    ("fit", (("satchel_plugins.backends._trainer_base", "TrainerBase", "fit"),)),
    ("checkpoint seal + atomic write", (("satchel.storage.sealed_files", "SealedFiles", "write"),)),
    ("audit entry", (("satchel.audit.log", "AuditLog", "stage"),)),
    ("vault commit (checkpoint version + audit anchor)", (("satchel.privacy.vault", "Vault", "commit"),)),
    (
        "model lock",
        (
            ("satchel.training.locks", "ModelLock", "acquire"),
            ("satchel.training.locks", "ModelLock", "release"),
        ),
    ),
    ("device state (psutil)", (("satchel.plugin.registry", "Registry", "device_state"),)),
)
VAULT = "of which key-vault counters"
#: the scale table of the last run before the O(1) vault counters and the shared plan/train read
BEFORE_ISSUE_15 = (
    "Before issue 15 (the whole counter table MACed at every counter write and re-verified after another "
    "process's; events read twice per learner), the same command measured 52.2, 51.4 and 13.5 learners/s "
    "at 100, 1,000 and 10,000 learners (1.00x, 1.02x and 3.86x of linear) on an otherwise idle machine."
)
VAULT_PROBE: tuple[_Target, ...] = (
    ("satchel.privacy.vault", "Vault", "counter"),
    ("satchel.privacy.vault", "Vault", "commit"),
)
LABELS = (*(label for label, _ in PROBES), VAULT)


@dataclass(frozen=True)
class Pass:
    """One measured pass of ``workers`` runners over a never-trained fleet of ``learners``."""

    learners: int
    workers: int
    sharded: bool
    seconds: float  # first runner's start to last runner's end, from their own summaries
    startup: float  # spawn to the first runner's start: interpreter, imports, opening the app
    busy: float  # the runners' pass seconds, summed
    cpu: float  # user + system seconds of all workers during their passes
    peak_rss: tuple[int, ...]  # bytes, per worker
    probes: dict[str, float]  # seconds per label, summed over the workers
    copy: float  # seconds to copy the fleet to disk and flush it (before the pass)

    @property
    def rate(self) -> float:
        return self.learners / self.seconds

    def ms(self, seconds: float) -> float:
        """``seconds`` of this pass per learner, in ms."""
        return 1e3 * seconds / self.learners


@dataclass(frozen=True)
class Setup:
    """Growing the staged fleet by ``added`` learners."""

    added: int
    simulate: float  # seconds, summed over the setup processes
    ingest: float  # consent + record, summed over the setup processes
    wall: float


def run(ctx: Context) -> Section:
    sizes = QUICK_SIZES if ctx.quick else (*SIZES, HUGE) if ctx.huge else SIZES
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = max(2, cores)
    histories = min(HISTORIES, sizes[-1])
    master_key_variable()
    ram = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    passes: list[Pass] = []
    scaling: list[Pass] = []
    setups: list[Setup] = []
    parent_rss: list[int] = []
    with (
        tempfile.TemporaryDirectory(prefix="satchel-fleet-stage-", dir=ram) as stage,
        tempfile.TemporaryDirectory(prefix="satchel-fleet-") as disk,
        ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool,
    ):
        staging, scratch = Path(stage), Path(disk)
        config = _fleet(staging, ctx.cache_dir)
        fsync_ms = _fsync_latency(scratch)
        compiling = pool.submit(_compile, str(config))
        for have, size in zip((0, *sizes), sizes):
            t0 = time.perf_counter()
            jobs = [
                pool.submit(_enrol, str(config), first, min(CHUNK, size - first), histories)
                for first in range(have, size, CHUNK)
            ]
            done = [job.result() for job in jobs]
            setups.append(
                Setup(size - have, sum(d[0] for d in done), sum(d[1] for d in done), time.perf_counter() - t0)
            )
            compile_s = compiling.result()
            runs = [(workers, True), *([(1, False), (workers, False)] if size == sizes[1] else [])]
            here = []
            for n, sharded in runs:
                here.append(_train(staging, scratch, size, n, sharded))
                print(
                    f"  {size:,} learners, {n} runner(s){', sharded' if sharded else ''}: "
                    f"{here[-1].rate:.1f} learners/s ({here[-1].seconds:.1f} s)",
                    flush=True,
                )
            passes.append(here[0])
            if size == sizes[1]:
                scaling = [here[1], here[0], here[2]]  # 1 runner, sharded, locks only
            parent_rss.append(_rss())
    tables = (
        _scale_table(passes, parent_rss),
        _scaling_table(scaling),
        _breakdown_table(passes),
        _setup_table(setups, passes, compile_s, fsync_ms),
    )
    return Section("fleet", "Fleet scale", __doc__ or "", tables, (_plot(ctx, passes, scaling),))


# ---------------------------------------------------------------------- setup (other processes)


def _fleet(root: Path, cache: Path) -> Path:
    """An empty fleet app under ``root`` whose compile cache is ``cache``; returns its config."""
    cache.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(parents=True)
    (root / "data" / "compiled").symlink_to(cache.resolve(), target_is_directory=True)
    config = _config(root)
    satchel.open(config, new_keys=True).close()  # the vault, before several processes open it (the data dir
    # already holds the compile cache link)
    return config


def _config(root: Path) -> Path:
    path = root / "satchel.toml"
    path.write_text(
        CONFIG.format(
            root=root.as_posix(), key=KEY_VARIABLE, pipeline=PIPELINE, purpose=PURPOSE, epochs=EPOCHS
        ),
        encoding="utf-8",
    )
    return path


def _compile(config: str) -> float:
    """Compile the pipeline's model into the fleet's (shared) compile cache; returns seconds."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    t0 = time.perf_counter()
    with satchel.open(Path(config)) as app:
        spec = app.component(PIPELINE, "model").model_spec(app.component(PIPELINE, "featurizer").schema)
        app.component(PIPELINE, "backend").compile(spec, app.config.data_dir / "compiled")
    return time.perf_counter() - t0


def _enrol(config: str, first: int, count: int, histories: int) -> tuple[float, float]:
    """Enrol learners ``first`` to ``first + count - 1`` (learner ``i`` lives history ``i % histories``):
    a guardian's consent, then their events. Returns (simulate seconds, consent + record seconds)."""
    t0 = time.perf_counter()
    simulated = _histories(histories)
    t1 = time.perf_counter()
    with satchel.open(Path(config)) as app:
        for i in range(first, first + count):
            subject = f"learner-{i:05d}"
            app.consent.grant(
                subject,
                purposes=[PURPOSE],
                notice=NOTICE,
                policy_version="bench-1",
                actor="guardian",
                age_band="8-12",
                method="signed_form",
            )
            app.record(subject, simulated[i % histories])
    return t1 - t0, time.perf_counter() - t1


@functools.cache
def _histories(n: int) -> list[list[Event]]:
    """``n`` simulated habit histories of :data:`DAYS` days ending yesterday (once per process)."""
    from satchel_plugins.habit import simulate_habit_learners

    start = date.today() - timedelta(days=DAYS)
    return [list(s.events) for s in simulate_habit_learners(n, days=DAYS, habits=HABITS, seed=7, start=start)]


def _fsync_latency(directory: Path) -> tuple[float, float]:
    """Median and 90th percentile ms of a durable 4 KiB file replacement on the fleet's disk."""
    from satchel.privacy.atomic import atomic_write

    samples = []
    for i in range(100):
        t0 = time.perf_counter()
        atomic_write(directory / f"probe{i % 4}", os.urandom(4096))
        samples.append(1e3 * (time.perf_counter() - t0))
    deciles = statistics.quantiles(samples, n=10)
    return deciles[4], deciles[8]


# ---------------------------------------------------------------------- the measured pass


def _train(staging: Path, scratch: Path, learners: int, workers: int, sharded: bool) -> Pass:
    """Copy the staged fleet to disk, then one pass of ``workers`` ``satchel tick`` processes over it."""
    t0 = time.perf_counter()
    root = scratch / "fleet"
    shutil.copytree(staging / "data", root / "data", symlinks=True)
    shutil.copytree(staging / "keys", root / "keys")
    os.sync()
    config = _config(root)
    copy = time.perf_counter() - t0
    procs = []
    spawned = time.time()
    for k in range(workers):
        base = scratch / f"worker{k}"
        args = ["tick", "--json", "-c", str(config), *(["--shard", f"{k + 1}/{workers}"] if sharded else [])]
        with open(base.with_suffix(".out"), "wb") as out, open(base.with_suffix(".err"), "wb") as err:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.bench_fleet", str(base.with_suffix(".json")), *args],
                    stdout=out,
                    stderr=err,
                    cwd=ROOT,
                )
            )
    usage = []
    for proc in procs:
        _, status, rusage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        usage.append(rusage)
    summaries, probes, cpu = [], dict.fromkeys(LABELS, 0.0), 0.0
    for k, proc in enumerate(procs):
        base = scratch / f"worker{k}"
        lines = [ln for ln in base.with_suffix(".out").read_text().splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            tail = base.with_suffix(".err").read_text()[-2000:]
            raise RuntimeError(f"fleet worker {k} exited {proc.returncode}:\n{tail}")
        summaries.append(json.loads(lines[-1]))
        measured = json.loads(base.with_suffix(".json").read_text())
        cpu += measured["pass_cpu"]
        for label in LABELS:
            probes[label] += measured["wall"][label]
    shutil.rmtree(root)
    trained = sum(len(s["trained"]) for s in summaries)
    if trained != learners:
        why = [x.get("reasons") or x.get("message") for s in summaries for x in s["skipped"] + s["failed"]]
        raise RuntimeError(f"a pass over {learners} learners trained {trained}; first reasons: {why[:3]}")
    starts = [datetime.fromisoformat(s["started_at"]).timestamp() for s in summaries]
    ends = [t + s["seconds"] for t, s in zip(starts, summaries)]
    return Pass(
        learners,
        workers,
        sharded,
        max(ends) - min(starts),
        min(starts) - spawned,
        sum(s["seconds"] for s in summaries),
        cpu,
        tuple(u.ru_maxrss * 1024 for u in usage),
        probes,
        copy,
    )


def _probe(
    totals: dict[str, float], label: str, target: _Target, clock: Callable[[], float] = time.perf_counter
) -> None:
    """Wrap ``target`` so that the ``clock`` seconds of every call are added to ``totals[label]``."""
    module, cls, method = target
    owner = getattr(importlib.import_module(module), cls)
    original: Callable[..., Any] = getattr(owner, method)
    totals.setdefault(label, 0.0)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = clock()
        try:
            return original(*args, **kwargs)
        finally:
            totals[label] += clock() - t0

    setattr(owner, method, timed)


def _worker(argv: list[str]) -> None:
    """``python -m benchmarks.bench_fleet PROBES.json ARGS...``: ``satchel ARGS...`` with the probes
    installed and the CPU time of its pass (``Runner.tick``) measured; both go to PROBES.json at exit."""
    wall: dict[str, float] = {}
    for label, targets in (*PROBES, (VAULT, VAULT_PROBE)):
        for target in targets:
            _probe(wall, label, target)
    cpu: dict[str, float] = {}
    _probe(cpu, "pass_cpu", ("satchel.training.runner", "Runner", "tick"), time.process_time)
    out = Path(argv[0])
    atexit.register(lambda: out.write_text(json.dumps({"wall": wall, **cpu})))
    from satchel.cli import cli

    cli.main(argv[1:], prog_name="satchel")


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


# ---------------------------------------------------------------------- tables and plot


def _scale_table(passes: list[Pass], parent_rss: list[int]) -> Table:
    first = passes[0]
    t = TableBuilder(
        f"One runner pass over the whole fleet, {first.workers} runners "
        f"(`satchel tick --shard k/{first.workers}`)",
        (
            "learners",
            "learners/s",
            "pass s",
            "vs linear",
            "CPU ms / learner",
            "worker start s",
            "peak RSS / worker MiB",
            "RSS growth / learner KiB",
            "parent RSS MiB",
        ),
    )
    for p, rss in zip(passes, parent_rss):
        grown = (statistics.mean(p.peak_rss) - statistics.mean(first.peak_rss)) / 1024
        growth = "—" if p is first else grown / ((p.learners - first.learners) / p.workers)
        linear = first.seconds * p.learners / first.learners
        t.add(
            p.learners,
            p.rate,
            p.seconds,
            f"{p.seconds / linear:.2f}x",
            p.ms(p.cpu),
            p.startup,
            max(p.peak_rss) / MIB,
            growth,
            rss / MIB,
        )
    t.notes += [
        "learners/s: fleet size / pass time. vs linear: pass time / the "
        f"{first.learners:,}-learner pass time scaled linearly to this size (1.00x: linear; higher: slower).",
        "CPU ms / learner: the workers' CPU time (user + system) during their passes. RSS growth / "
        "learner: growth of a worker's peak RSS per learner it trained, against the smallest fleet "
        "(0: flat). parent RSS: the benchmark process itself.",
        "Every learner is trained once per pass (the first training of a new fleet): the runner plans "
        "(consent, checkpoint, sample count, scheduler) and then trains each due learner under its lock. "
        "The vault's rollback counters grow with the fleet: each learner's events and consent "
        "commitments, plus one per trained model.",
        BEFORE_ISSUE_15,
    ]
    return t.build()


def _scaling_table(scaling: list[Pass]) -> Table:
    one = scaling[0]
    t = TableBuilder(
        f"Core scaling at {one.learners:,} learners",
        ("runners", "learners/s", "speed-up vs 1 runner", "CPU ms / learner", "peak RSS / worker MiB"),
    )
    for p in scaling:
        how = (
            "1 runner"
            if p.workers == 1
            else f"{p.workers} runners, " + ("`--shard k/N`" if p.sharded else "locks only (no shard)")
        )
        t.add(how, p.rate, f"{p.rate / one.rate:.2f}x", p.ms(p.cpu), max(p.peak_rss) / MIB)
    t.notes += [
        "Each row is a pass over a fresh copy of the same fleet. Runners without a shard share the work "
        "through the model locks alone, so each one plans (reads and featurizes) every learner; sharded "
        "runners plan only their own share.",
    ]
    return t.build()


def _breakdown_table(passes: list[Pass]) -> Table:
    t = TableBuilder(
        "Where a learner's time goes (ms per learner, summed over the runners)",
        ("stage", *(f"{p.learners:,} learners" for p in passes)),
    )
    for label in LABELS:
        t.add(label, *(p.ms(p.probes[label]) for p in passes))
    top = LABELS[:-1]
    t.add("other (metrics, runner, Python)", *(p.ms(p.busy - sum(p.probes[x] for x in top)) for p in passes))
    t.add("total (the runners' pass time)", *(p.ms(p.busy) for p in passes))
    first, last = passes[0], passes[-1]
    grew, vault = (
        last.ms(last.busy) - first.ms(first.busy),
        last.ms(last.probes[VAULT]) - first.ms(first.probes[VAULT]),
    )
    t.notes += [
        "Wall time inside the runners' passes, so waiting on the disk and on locks counts. The events are "
        "read and featurized once per learner: the runner's plan (which counts new samples) keeps the "
        "featurized data in memory for `App.train` (`App.planned_data`), unless the learner's events changed. "
        "This pass is every learner's first training, so each reads all its events (`EventStore.read_since` "
        "without a mark) and the habit featurizer folds them into the state its sample cache keeps for the "
        "next training (`fold`, `training_data_from`).",
        "The checkpoint version check, the audit log's anchor check and the training's one vault commit "
        "(checkpoint version and audit anchor in one transaction) are the key vault's rollback counters; "
        f"`{VAULT}` is their share of those rows.",
        f"From {first.learners:,} to {last.learners:,} learners the time per learner grew by {grew:.1f} "
        f"ms, {vault:.1f} ms of it in the key vault's counters. Each counter row has its own MAC and the "
        "table one sealed head updated with it; a process verifies the whole table once and afterwards "
        "only the rows other processes wrote, so a counter read or write does not grow with the fleet.",
    ]
    return t.build()


def _setup_table(
    setups: list[Setup], passes: list[Pass], compile_s: float, fsync_ms: tuple[float, float]
) -> Table:
    t = TableBuilder(
        "Setup (outside the passes)",
        (
            "fleet",
            "learners added",
            "simulate s",
            "consent + record s",
            "wall s",
            "ms / learner (wall)",
            "copy to disk + sync s",
        ),
    )
    for s, p in zip(setups, passes):
        t.add(p.learners, s.added, s.simulate, s.ingest, s.wall, 1e3 * s.wall / s.added, p.copy)
    t.notes += [
        f"{passes[0].workers} processes enrol chunks of {CHUNK} learners into the staging fleet in RAM; "
        "simulate and consent + record are their seconds summed. Compiling the model (once, into the "
        f"shared cache) took {compile_s:.1f} s.",
        "The disk under the measured fleets: a durable 4 KiB file replacement (write, fsync, rename, "
        f"fsync the directory) took {fsync_ms[0]:.1f} ms median, {fsync_ms[1]:.1f} ms at the 90th "
        "percentile.",
    ]
    return t.build()


def _plot(ctx: Context, passes: list[Pass], scaling: list[Pass]) -> Path:
    from matplotlib.ticker import FuncFormatter

    plt = pyplot()
    sizes = [p.learners for p in passes]
    label = f"{passes[0].workers} runners, sharded"
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(14, 4))
    ax1.loglog(sizes, [p.seconds for p in passes], "o-", label=label)
    ax1.loglog(sizes, [passes[0].seconds * n / sizes[0] for n in sizes], "k--", lw=1, label="linear")
    ax1.set(ylabel="pass seconds", title="Pass time")
    ax2.semilogx(sizes, [p.rate for p in passes], "o-", label=label)
    for p in (scaling[0], scaling[2]):
        ax2.semilogx(
            [p.learners],
            [p.rate],
            "s" if p.workers == 1 else "^",
            label="1 runner" if p.workers == 1 else f"{p.workers} runners, locks only",
        )
    ax2.set(ylabel="learners trained / s", title="Throughput", ylim=(0, None))
    ax3.semilogx(sizes, [max(p.peak_rss) / MIB for p in passes], "o-", label="peak RSS per runner")
    ax3.set(ylabel="MiB", title="Memory", ylim=(0, None))
    plain = FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    for ax in (ax1, ax2, ax3):
        ax.set_xlabel("learners in the app")
        ax.set_xticks(sizes)
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    ax1.yaxis.set_major_formatter(plain)
    ax1.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    return save_plot(fig, ctx, "fleet")


if __name__ == "__main__":
    _worker(sys.argv[1:])
