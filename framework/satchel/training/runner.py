"""The background training runner: train every (learner, pipeline) that is due, safely.

A pass (:meth:`Runner.tick`) asks, for every enrolled learner and pipeline, the consent gate (without
auditing a refusal), the checkpoint and sample counts, and the pipeline's scheduler; it then trains
the due models in priority order (never trained first, then most new samples, then longest since
the last training), each through :meth:`App.train`, so consent, encryption and audit apply as for
any other call. Every training holds the model's cross-process :class:`~satchel.training.locks.ModelLock`
and re-checks the schedule under it, so two runners never train one model twice in a window::

    runner = Runner(app, pass_budget_s=120)
    summary = runner.tick()              # from cron, a systemd timer, or an app's background task
    summary.trained, summary.skipped, summary.failed

To use several cores, run one runner per core, each with its own ``shard=(index, count)``: each
plans and trains only its share of the learners (the locks still guard the models). Runners without
shards cooperate too, through the locks, but each one assesses every learner.

A stop request (:meth:`Runner.stop`, or SIGTERM/SIGINT inside :func:`handle_signals`) abandons the
current training at its next batch — nothing is saved, the previous checkpoint stays in force — and
ends the pass. A learner that fails is logged and reported; the others go on.

Device facts come from the ``satchel_device_state`` hook. An app that knows them better (a mobile or
embedded host) reports them with :func:`use_host_device_state`, which wins over every other plugin.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from types import FrameType
from typing import Any, Literal

from satchel.app import App, Pseudonym
from satchel.app.config import PipelineConfig
from satchel.errors import ConsentError, SchedulerError
from satchel.model.backend import TrainingProgress
from satchel.plugin.hookspecs import hookimpl
from satchel.plugin.records import DeviceState
from satchel.plugin.registry import Registry
from satchel.training.locks import ModelLock
from satchel.training.scheduling import ScheduleInput

log = logging.getLogger("satchel.training.runner")

EXIT_OK = 0
EXIT_FAILED = 3
EXIT_INTERRUPTED = 130

INTERRUPTED = "interrupted: training abandoned, the previous version stays in force"
NOT_STARTED = "interrupted before it started"
PASS_BUDGET = "pass time budget exhausted"

#: Before each training the device state is asked again if older than this (plugins may take a
#: moment to measure, e.g. a CPU-load sample).
DEVICE_MAX_AGE_S = 10.0


class Interrupted(SchedulerError):
    """A stop was requested; the training in progress was abandoned without saving."""


class BudgetExceeded(SchedulerError):
    """A training ran past its time budget (``scope`` "run": the scheduler's; "pass": the pass's)."""

    def __init__(self, message: str, *, scope: Literal["run", "pass"], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.scope = scope


# ---------------------------------------------------------------------- records


@dataclass(frozen=True)
class ModelStatus:
    """Where one learner's pipeline stands: last training, samples, and why it is (not) due.

    ``next_eligible_at`` is the earliest time it may train (``now`` when due; ``None`` when only
    conditions without a known end, such as charging or new samples, hold it back).
    """

    subject: str
    pipeline: str
    due: bool
    reasons: tuple[str, ...] = ()
    last_trained_at: datetime | None = None
    version: int | None = None
    samples: int | None = None
    new_samples: int | None = None
    next_eligible_at: datetime | None = None
    time_budget_s: float | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "due"

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "pipeline": self.pipeline,
            "due": self.due,
            "reasons": list(self.reasons),
            "last_trained_at": _iso(self.last_trained_at),
            "version": self.version,
            "samples": self.samples,
            "new_samples": self.new_samples,
            "next_eligible_at": _iso(self.next_eligible_at),
            "time_budget_s": self.time_budget_s,
        }


@dataclass(frozen=True)
class Trained:
    subject: str
    pipeline: str
    version: int
    samples: int
    seconds: float
    promoted: bool = True


@dataclass(frozen=True)
class Skipped:
    subject: str
    pipeline: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Failed:
    subject: str
    pipeline: str
    error: str
    message: str


Outcome = Trained | Skipped | Failed


@dataclass(frozen=True)
class PassSummary:
    """What one pass did. ``exit_code``: 0 ok, 3 some learners failed, 130 interrupted."""

    started_at: datetime
    seconds: float
    trained: tuple[Trained, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    failed: tuple[Failed, ...] = ()
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.failed else EXIT_OK

    def line(self) -> str:
        end = ", interrupted" if self.interrupted else ""
        return (
            f"trained {len(self.trained)}, skipped {len(self.skipped)}, failed {len(self.failed)} "
            f"in {self.seconds:.1f}s{end}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "started_at": _iso(self.started_at),
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
            "exit_code": self.exit_code,
            "trained": [vars(t) for t in self.trained],
            "skipped": [{**vars(s), "reasons": list(s.reasons)} for s in self.skipped],
            "failed": [vars(f) for f in self.failed],
        }


ProgressObserver = Callable[[ModelStatus, TrainingProgress], None]


# ---------------------------------------------------------------------- the runner


class Runner:
    """Trains due models of one app. ``pipelines`` limits which; ``pass_budget_s`` bounds a pass.

    ``stop`` is the event that ends a pass early (shared with :func:`handle_signals`); ``progress``
    sees every training batch (the CLI draws progress bars with it). ``shard=(index, count)`` limits
    the runner to the learners of one of ``count`` disjoint shares (``0 <= index < count``).
    ``run_budgets=False`` ignores the schedulers' per-run time budgets (a replay of history on a
    busy machine measures the models, not this machine's speed).
    """

    def __init__(
        self,
        app: App,
        *,
        pipelines: Sequence[str] | None = None,
        epochs: int | None = None,
        pass_budget_s: float | None = None,
        progress: ProgressObserver | None = None,
        stop: threading.Event | None = None,
        shard: tuple[int, int] | None = None,
        run_budgets: bool = True,
    ) -> None:
        if shard is not None and not 0 <= shard[0] < shard[1]:
            raise ValueError(f"shard {shard!r}: want (index, count) with 0 <= index < count")
        self.app = app
        self.pipelines = tuple(app.pipeline(n) for n in (pipelines or app.pipelines))
        self.epochs = epochs
        self.pass_budget_s = pass_budget_s
        self.run_budgets = run_budgets
        self.progress = progress
        self.shard = shard
        self._stop = stop or threading.Event()
        self._device_seen: tuple[float, DeviceState] | None = None

    def stop(self) -> None:
        """Ask the runner to stop: the current training is abandoned at its next batch."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def subjects(self) -> tuple[Pseudonym, ...]:
        """The learners this runner looks after: all of them, or its shard's."""
        subjects = self.app.subjects()
        if self.shard is None:
            return subjects
        index, count = self.shard
        return tuple(s for s in subjects if int(s[:8], 16) % count == index)

    # ------------------------------------------------------------------ status

    def status(self, *, now: datetime | None = None) -> tuple[ModelStatus, ...]:
        """Every (learner, pipeline): last trained, samples since, next eligible time, and why not now."""
        now = now or self.app.clock()
        device = self._device(fresh=True)
        out = []
        for pseudo in self.subjects():
            for p in self.pipelines:
                try:
                    st = self._assess(pseudo, p, device, now)
                except Exception as e:
                    st = ModelStatus(pseudo, p.name, False, (f"error: {type(e).__name__}: {e}",))
                holder = ModelLock(self.app.config.data_dir, pseudo, p.name).holder()
                if holder is not None:
                    st = replace(st, due=False, reasons=(*st.reasons, _held(holder)))
                out.append(st)
        return tuple(out)

    # ------------------------------------------------------------------ passes

    def tick(self, *, now: datetime | None = None) -> PassSummary:
        """One pass: train every due model in priority order, within the budgets."""
        started, clock = self.app.clock(), time.monotonic()
        with self.app.planned_data():  # each learner's events are read and featurized once per pass
            outcomes, due = self._plan(now or started)
            for st in sorted(due, key=_priority):
                spent = time.monotonic() - clock
                remaining = math.inf if self.pass_budget_s is None else self.pass_budget_s - spent
                if self.stopping:
                    outcome: Outcome = Skipped(st.subject, st.pipeline, (NOT_STARTED,))
                elif remaining <= 0:
                    outcome = Skipped(st.subject, st.pipeline, (PASS_BUDGET,))
                else:
                    outcome = self._train_one(st, remaining, now)
                outcomes.append(_logged(outcome))
        summary = PassSummary(
            started,
            time.monotonic() - clock,
            trained=tuple(o for o in outcomes if isinstance(o, Trained)),
            skipped=tuple(o for o in outcomes if isinstance(o, Skipped)),
            failed=tuple(o for o in outcomes if isinstance(o, Failed)),
            interrupted=self.stopping,
        )
        log.info("pass finished: %s", summary.line())
        return summary

    def _plan(self, at: datetime) -> tuple[list[Outcome], list[ModelStatus]]:
        """Assess every model: the outcomes of those not due, and the due ones (stops early on a stop)."""
        device = self._device(fresh=True)
        subjects = self.subjects()
        log.info(
            "pass started: %d learners, pipelines %s, device %s",
            len(subjects),
            ",".join(p.name for p in self.pipelines),
            _device_text(device),
        )
        outcomes: list[Outcome] = []
        due: list[ModelStatus] = []
        for pseudo in subjects:
            for p in self.pipelines:
                if self.stopping:
                    return outcomes, due
                try:
                    st = self._assess(pseudo, p, device, at)
                except Exception as e:
                    outcomes.append(_logged(self._failed(pseudo, p.name, e)))
                    continue
                if st.due:
                    due.append(st)
                else:
                    outcomes.append(_logged(Skipped(pseudo, p.name, st.reasons)))
        return outcomes, due

    def passes(self, interval_s: float, *, limit: int | None = None) -> Iterator[PassSummary]:
        """Run a pass every ``interval_s`` seconds until stopped (or ``limit`` passes)."""
        count = 0
        while not self.stopping:
            summary = self.tick()
            count += 1
            yield summary
            if summary.interrupted or (limit is not None and count >= limit):
                return
            log.debug("next pass in %.0fs", interval_s)
            self._stop.wait(interval_s)

    # ------------------------------------------------------------------ one model

    def _device(self, *, fresh: bool = False) -> DeviceState:
        """The device state, asked again when ``fresh`` or older than :data:`DEVICE_MAX_AGE_S`."""
        if fresh or self._device_seen is None or time.monotonic() - self._device_seen[0] > DEVICE_MAX_AGE_S:
            state = self.app.registry.device_state() or DeviceState(source="none")
            self._device_seen = (time.monotonic(), state)
        return self._device_seen[1]

    def _assess(
        self,
        pseudo: str,
        p: PipelineConfig,
        device: DeviceState,
        now: datetime,
        planned: ModelStatus | None = None,
    ) -> ModelStatus:
        """The schedule of one model; reads nothing of a learner whose consent does not cover it.

        With ``planned`` (this pass's earlier assessment) the learner's events are not read again
        unless a checkpoint was saved since: until then the planned sample count stands.
        """
        app = self.app
        allowed, why, _ = app._verdict(pseudo, p, "train", now)
        if not allowed:
            return ModelStatus(pseudo, p.name, False, (f"no consent: {why}",))
        subject = Pseudonym(pseudo)
        ckpt = app.load_checkpoint(subject, p.name)
        version = ckpt.version if ckpt is not None else None
        if planned is not None and planned.samples is not None and planned.version == version:
            total = planned.samples
        else:
            total = app.samples(subject, p.name, now=now)
        new = total if ckpt is None else max(0, total - ckpt.samples)
        last = ckpt.created_at if ckpt is not None else None
        decision = app.component(p.name, "scheduler").decide(ScheduleInput(now, device, last, new, total))
        reasons = list(decision.reasons)
        needed = app.component(p.name, "model").min_samples
        if total < needed:
            reasons.append(f"{total} training sample{'s' if total != 1 else ''}, the model needs {needed}")
        due = not reasons
        return ModelStatus(
            pseudo,
            p.name,
            due,
            tuple(reasons),
            last,
            version,
            total,
            new,
            now if due else decision.not_before,
            decision.time_budget_s,
        )

    def _train_one(self, planned: ModelStatus, remaining_s: float, now: datetime | None) -> Outcome:
        pseudo, name = planned.subject, planned.pipeline
        lock = ModelLock(self.app.config.data_dir, pseudo, name)
        if not lock.acquire():
            return Skipped(pseudo, name, (_held(lock.holder()),))
        try:
            st = self._assess(
                pseudo, self.app.pipeline(name), self._device(), now or self.app.clock(), planned
            )
            if not st.due:  # another runner trained it meanwhile, or the device changed
                return Skipped(pseudo, name, st.reasons)
            budget = min((st.time_budget_s if self.run_budgets else None) or math.inf, remaining_s)
            log.info(
                "training subject=%s pipeline=%s samples=%s new=%s budget=%.0fs",
                pseudo,
                name,
                st.samples,
                st.new_samples,
                budget,
                extra={"subject": pseudo, "pipeline": name},
            )
            guard = _Guard(self, st, budget, run_budget=budget < remaining_s)
            report = self.app.train(Pseudonym(pseudo), name, now=now, epochs=self.epochs, progress=guard)
            assert report.checkpoint_version is not None
            return Trained(
                pseudo,
                name,
                report.checkpoint_version,
                report.context.samples,
                report.seconds,
                report.promoted,
            )
        except Interrupted:
            return Skipped(pseudo, name, (INTERRUPTED,))
        except BudgetExceeded as e:
            if e.scope == "pass":
                return Skipped(pseudo, name, (PASS_BUDGET,))
            return self._failed(pseudo, name, e)
        except ConsentError as e:  # withdrawn since the plan
            return Skipped(pseudo, name, (f"no consent: {e.message}",))
        except Exception as e:
            return self._failed(pseudo, name, e)
        finally:
            lock.release()

    @staticmethod
    def _failed(pseudo: str, pipeline: str, error: Exception) -> Failed:
        log.debug("failure details subject=%s pipeline=%s", pseudo, pipeline, exc_info=error)
        return Failed(pseudo, pipeline, type(error).__name__, str(error))


class _Guard:
    """The progress callback of one training: enforces stop and budget, forwards progress."""

    def __init__(self, runner: Runner, status: ModelStatus, budget_s: float, *, run_budget: bool) -> None:
        self._runner = runner
        self._status = status
        self._budget = budget_s
        self._scope: Literal["run", "pass"] = "run" if run_budget else "pass"
        self._deadline = time.monotonic() + budget_s
        self._hook = runner.app.registry.progress_callback()

    def __call__(self, progress: TrainingProgress) -> None:
        if self._runner.stopping:
            raise Interrupted("training abandoned: a stop was requested")
        if time.monotonic() > self._deadline:
            raise BudgetExceeded(
                f"training ran past its {self._scope} time budget of {self._budget:.0f}s and was abandoned",
                scope=self._scope,
                hint="raise the scheduler's time_budget or lower the pipeline's epochs",
            )
        tick = replace(progress, pipeline=self._status.pipeline, subject=self._status.subject)
        if self._hook is not None:
            self._hook(tick)
        if self._runner.progress is not None:
            self._runner.progress(self._status, tick)


# ---------------------------------------------------------------------- signals


@contextmanager
def handle_signals(stop: threading.Event) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT set ``stop`` (a clean stop between steps); a second signal
    exits at once with 130 — safe too, as every write is atomic. Main thread only."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            os.write(2, b"satchel: second signal, exiting now\n")
            os._exit(EXIT_INTERRUPTED)
        log.warning("%s received: stopping; a training in progress is abandoned", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# ---------------------------------------------------------------------- host device state


class HostDeviceState:
    """A device-state plugin the host app feeds (battery, charging, idle, network, as it knows them).

    It answers before every other device-state plugin; while its state is ``None`` it defers to them.
    Update it from any thread: the runner asks at the start of a pass, and again before a training
    when its last look is older than :data:`DEVICE_MAX_AGE_S`.
    """

    def __init__(self, state: DeviceState | None = None) -> None:
        self.state = state

    def update(self, state: DeviceState | None) -> None:
        self.state = state

    @hookimpl(tryfirst=True)
    def satchel_device_state(self) -> DeviceState | None:
        return self.state


_HOSTS: weakref.WeakKeyDictionary[Registry, HostDeviceState] = weakref.WeakKeyDictionary()


def use_host_device_state(app: App, state: DeviceState | None = None) -> HostDeviceState:
    """The app's :class:`HostDeviceState` (registered on first use), updated to ``state`` when given::

    host = use_host_device_state(app)
    host.update(DeviceState(battery_percent=80, charging=True, idle=True, unmetered_network=True,
                            source="android"))
    """
    host = _HOSTS.get(app.registry)
    if host is None:
        host = _HOSTS[app.registry] = HostDeviceState()
        app.registry.register(host, "host_device_state")
    if state is not None:
        host.update(state)
    return host


# ---------------------------------------------------------------------- helpers


def _priority(st: ModelStatus) -> tuple[bool, int, datetime]:
    oldest = st.last_trained_at or datetime.min.replace(tzinfo=timezone.utc)
    return st.last_trained_at is not None, -(st.new_samples or 0), oldest


def _held(pid: int | None) -> str:
    return "locked by another runner" + (f" (pid {pid})" if pid and pid > 0 else "")


def _logged(outcome: Outcome) -> Outcome:
    extra = {"subject": outcome.subject, "pipeline": outcome.pipeline}
    if isinstance(outcome, Trained):
        log.info(
            "trained subject=%s pipeline=%s version=%d samples=%d seconds=%.2f",
            outcome.subject,
            outcome.pipeline,
            outcome.version,
            outcome.samples,
            outcome.seconds,
            extra=extra,
        )
    elif isinstance(outcome, Failed):
        log.error(
            "failed subject=%s pipeline=%s error=%s: %s",
            outcome.subject,
            outcome.pipeline,
            outcome.error,
            outcome.message,
            extra=extra,
        )
    else:
        log.debug(
            "skipped subject=%s pipeline=%s reason=%s",
            outcome.subject,
            outcome.pipeline,
            "; ".join(outcome.reasons),
            extra=extra,
        )
    return outcome


def _device_text(d: DeviceState) -> str:
    return (
        f"source={d.source or '?'} battery={d.battery_percent} charging={d.charging} idle={d.idle} "
        f"unmetered={d.unmetered_network}"
    )


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t is not None else None
