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
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Literal

from satchel.app import App, Pseudonym
from satchel.errors import ConsentError, SchedulerError
from satchel.model.backend import TrainingProgress
from satchel.plugin.records import DeviceState
from satchel.training.host_device import HostDeviceState, use_host_device_state
from satchel.training.locks import ModelLock
from satchel.training.outcomes import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    INTERRUPTED,
    NOT_STARTED,
    PASS_BUDGET,
    Failed,
    ModelStatus,
    Outcome,
    PassSummary,
    ProgressObserver,
    Skipped,
    Trained,
    log_outcome,
)
from satchel.training.planning import assess, device_text, held, priority
from satchel.training.signals import handle_signals

__all__ = [
    "DEVICE_MAX_AGE_S",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "INTERRUPTED",
    "NOT_STARTED",
    "PASS_BUDGET",
    "BudgetExceeded",
    "Failed",
    "HostDeviceState",
    "Interrupted",
    "ModelStatus",
    "Outcome",
    "PassSummary",
    "ProgressObserver",
    "Runner",
    "Skipped",
    "Trained",
    "handle_signals",
    "use_host_device_state",
]

log = logging.getLogger("satchel.training.runner")

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
                    st = assess(self.app, pseudo, p, device, now)
                except Exception as e:
                    st = ModelStatus(pseudo, p.name, False, (f"error: {type(e).__name__}: {e}",))
                holder = ModelLock(self.app.config.data_dir, pseudo, p.name).holder()
                if holder is not None:
                    st = replace(st, due=False, reasons=(*st.reasons, held(holder)))
                out.append(st)
        return tuple(out)

    # ------------------------------------------------------------------ passes

    def tick(self, *, now: datetime | None = None) -> PassSummary:
        """One pass: train every due model in priority order, within the budgets."""
        started, clock = self.app.clock(), time.monotonic()
        with self.app.planned_data():  # each learner's events are read and featurized once per pass
            outcomes, due = self._plan(now or started)
            for st in sorted(due, key=priority):
                spent = time.monotonic() - clock
                remaining = math.inf if self.pass_budget_s is None else self.pass_budget_s - spent
                if self.stopping:
                    outcome: Outcome = Skipped(st.subject, st.pipeline, (NOT_STARTED,))
                elif remaining <= 0:
                    outcome = Skipped(st.subject, st.pipeline, (PASS_BUDGET,))
                else:
                    outcome = self._train_one(st, remaining, now)
                outcomes.append(log_outcome(outcome))
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
            device_text(device),
        )
        outcomes: list[Outcome] = []
        due: list[ModelStatus] = []
        for pseudo in subjects:
            for p in self.pipelines:
                if self.stopping:
                    return outcomes, due
                try:
                    st = assess(self.app, pseudo, p, device, at)
                except Exception as e:
                    outcomes.append(log_outcome(self._failed(pseudo, p.name, e)))
                    continue
                if st.due:
                    due.append(st)
                else:
                    outcomes.append(log_outcome(Skipped(pseudo, p.name, st.reasons)))
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

    def _train_one(self, planned: ModelStatus, remaining_s: float, now: datetime | None) -> Outcome:
        pseudo, name = planned.subject, planned.pipeline
        lock = ModelLock(self.app.config.data_dir, pseudo, name)
        if not lock.acquire():
            return Skipped(pseudo, name, (held(lock.holder()),))
        try:
            st = assess(
                self.app, pseudo, self.app.pipeline(name), self._device(), now or self.app.clock(), planned
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
    """The progress callback of one training: enforces stop and budget (on the runner's clock, this
    module's ``time``), forwards progress."""

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
