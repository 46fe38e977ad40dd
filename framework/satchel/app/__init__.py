"""The Python API: ``satchel.open(config)`` returns an :class:`App`.

Every call that touches a learner's data goes through the app: it pseudonymizes the subject id,
asks the consent gate, reads or writes sealed records, and appends to the audit log::

    app = satchel.open("satchel.toml")
    app.consent.grant("ada", purposes=["habit_reminders"], notice=NOTICE, policy_version="2026-01",
                      actor="guardian", age_band="8-12", method="signed_form")
    app.record("ada", Event(type="habit_completed", time=now, data={"habit": "reading"}))
    app.train("ada", "habits")
    app.predict("ada", "habits").decisions
"""

from __future__ import annotations

import math
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from satchel.app.config import AppConfig, PipelineConfig, load_config
from satchel.audit.log import AuditLog
from satchel.errors import ConfigError, ConsentError, EventError, IntegrityError, PluginError, SchedulerError
from satchel.events import Event
from satchel.events.ingest import parse_event, read_file
from satchel.model.task import Decision
from satchel.plugin.records import (
    Actor,
    ConsentEntry,
    ConsentRequest,
    Operation,
    TrainingContext,
    TrainingReport,
)
from satchel.plugin.registry import Registry, unknown_choice
from satchel.privacy.consent import ConsentLedger, active_purposes, make_grant
from satchel.privacy.key_provider import KeyProvider, open_vault
from satchel.privacy.pseudonym import Pseudonymizer
from satchel.privacy.vault import CounterBatch
from satchel.storage.checkpoint import Checkpoint
from satchel.storage.event_store import EventStore, connect
from satchel.storage.sealed_files import SealedFiles

DB_FILE = "satchel.db"
AUDIT_FILE = "audit.jsonl"
#: trainers kept in memory for predict() (a LiteRT interpreter is ~1 MB); the rest reload from checkpoints
TRAINER_CACHE_SIZE = 16
#: bytes of training data a runner's pass keeps from its plan for the trainings (see App.planned_data)
PLANNED_DATA_BUDGET = 256 * 2**20


class Pseudonym(str):
    """A learner already pseudonymized (from :meth:`App.subjects`); used as is, never re-hashed."""

    __slots__ = ()


@dataclass(frozen=True)
class RecordResult:
    """How many events a ``record``/``ingest`` call stored, and how many were already there."""

    stored: int
    duplicates: int


@dataclass(frozen=True)
class Prediction:
    """A pipeline's decisions for one learner, and whether they came from a trained model."""

    pipeline: str
    decisions: tuple[Decision, ...]
    checkpoint_version: int | None
    personalized: bool


@dataclass(frozen=True)
class ConsentStatus:
    """A subject's consent now: the grant in force per purpose, and the full history."""

    active: Mapping[str, ConsentEntry]
    history: tuple[ConsentEntry, ...] = field(default_factory=tuple)


class App:
    """One configured app on one device. Create it with :func:`satchel.open`; close it when done."""

    def __init__(
        self,
        config: AppConfig,
        registry: Registry,
        *,
        prompt: Callable[[str], str] | None = None,
        clock: Callable[[], datetime] | None = None,
        new_keys: bool = False,
    ) -> None:
        self.config = config
        self.registry = registry
        #: the app's time source: every default ``now``, checkpoint and audit timestamp reads it, so a
        #: replay of history (``satchel evaluate``) runs on a simulated clock without sleeping
        self.clock: Callable[[], datetime] = clock or _utcnow
        provider: KeyProvider = config.key_provider.create(
            app_id=config.app_id, key_dir=config.key_dir, prompt=prompt
        )
        self.key_provider = provider
        config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.vault = open_vault(
            provider,
            config.key_dir,
            app_id=config.app_id,
            data_dir=config.data_dir,
            create=True,
            new_keys=new_keys,
        )
        self._db = connect(config.data_dir / DB_FILE)
        self.events = EventStore(self._db, self.vault, config.app_id)
        self.ledger = ConsentLedger(self._db, self.vault, config.app_id)
        self.audit_log = AuditLog(config.data_dir / AUDIT_FILE, self.vault, clock=self.clock)
        self._pseudonym = Pseudonymizer.from_vault(self.vault)
        self._components: dict[tuple[str, str], Any] = {}
        self._compiled: dict[str, Any] = {}
        self._trainers: OrderedDict[tuple[str, str], tuple[int, Any]] = OrderedDict()  # LRU, see _keep
        self._planned: _PlannedData | None = None  # training data counted by samples(), see planned_data
        self.consent = ConsentAPI(self)

    # ------------------------------------------------------------------ basics

    @property
    def app_id(self) -> str:
        return self.config.app_id

    @property
    def pipelines(self) -> Mapping[str, PipelineConfig]:
        return self.config.pipelines

    def pipeline(self, name: str) -> PipelineConfig:
        """The pipeline called ``name``; an unknown name lists the configured ones."""
        try:
            return self.config.pipelines[name]
        except KeyError:
            raise ConfigError(
                [("pipelines", unknown_choice("pipeline", name, self.config.pipelines))]
            ) from None

    def pseudonym(self, subject: str) -> str:
        """The keyed pseudonym under which ``subject``'s data is stored and audited."""
        return str(subject) if isinstance(subject, Pseudonym) else self._pseudonym(subject)

    def subjects(self) -> tuple[Pseudonym, ...]:
        """Every enrolled learner, as pseudonyms (raw ids are never stored). Any method taking a
        subject accepts these too — this is how background runners address learners."""
        return tuple(Pseudonym(p) for p in self.vault.subjects())

    def component(self, pipeline: str, role: str) -> Any:
        """The live component (``model``, ``featurizer``, ``backend``, ``scheduler``, ``store``) of a pipeline."""
        key = (pipeline, role)
        if key not in self._components:
            self._components[key] = getattr(self.pipeline(pipeline), role).create()
        return self._components[key]

    def close(self) -> None:
        self._db.close()
        self.vault.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<satchel.App {self.app_id!r} pipelines={list(self.pipelines)}>"

    # ------------------------------------------------------------------ consent gate

    def _verdict(
        self, pseudo: str, pipeline: PipelineConfig, operation: Operation, at: datetime
    ) -> tuple[bool, str, str]:
        request = ConsentRequest(
            app_id=self.app_id,
            subject=pseudo,
            purposes=pipeline.purposes,
            operation=operation,
            at=at,
            pipeline=pipeline.name,
            history=self.ledger.history(pseudo),
            age_of_digital_consent=self.config.age_of_digital_consent,
            school_purposes=self.config.school_consent_purposes,
        )
        verdicts = self.registry.consent_verdicts(request)
        denied = [v for v in verdicts if not v.allow]
        if verdicts and not denied:
            return True, "", ""
        if denied:
            return False, denied[0].reason, denied[0].source
        return False, "no consent plugin answered, and no answer means deny", ""

    def _gate(self, pseudo: str, pipeline: PipelineConfig, operation: Operation, at: datetime) -> None:
        """Raise ConsentError (and audit the refusal) unless every consent plugin allows."""
        ok, reason, source = self._verdict(pseudo, pipeline, operation, at)
        if ok:
            return
        self.audit_log.append(
            "consent.refused", subject=pseudo, operation=operation, pipeline=pipeline.name, source=source
        )
        raise ConsentError(
            f"{operation} refused for pipeline '{pipeline.name}': {reason}",
            hint="record an opt-in consent for its purposes "
            f"({', '.join(pipeline.purposes)}) with app.consent.grant(...) first",
            missing=tuple(pipeline.purposes),
        )

    def _readers(self, event_type: str) -> list[PipelineConfig]:
        return [p for p in self.pipelines.values() if event_type in p.featurizer.spec.reads]

    # ------------------------------------------------------------------ events

    def validate_event(self, event: Event | Mapping[str, Any], where: str = "event") -> Event:
        """Check an event against its registered type; returns it with its payload normalised."""
        ev = event if isinstance(event, Event) else parse_event(event, where)
        found = self.registry.all("event_type").get(ev.type)
        if found is None:
            raise EventError(
                f"{where}: {unknown_choice('event type', ev.type, self.registry.all('event_type'))}"
            )
        try:
            payload = found.spec.payload.model_validate(ev.data)
        except ValidationError as e:
            err = e.errors()[0]
            raise EventError(
                f"{where}: field 'data.{'.'.join(map(str, err['loc']))}': {err['msg']}",
                hint=f"see the payload of event type '{ev.type}' in `satchel config schema`",
            ) from None
        data = payload.model_dump(mode="json")
        if data == ev.data and all(type(v) is type(ev.data[k]) for k, v in data.items()):
            return ev  # the common case: the payload model changed nothing
        # validated again: a payload model may turn text into a number (e.g. "nan" into NaN)
        return parse_event(
            {**ev.model_dump(), "data": data},
            where,
            hint=f"see the payload of event type '{ev.type}' in `satchel config schema`",
        )

    def record(
        self,
        subject: str,
        events: Event | Mapping[str, Any] | Sequence[Event | Mapping[str, Any]],
        *,
        at: datetime | None = None,
    ) -> RecordResult:
        """Store a learner's events, all or none, if consent covers a pipeline that reads each type."""
        batch = [events] if isinstance(events, (Event, Mapping)) else list(events)
        checked = [self.validate_event(e, f"event {i}") for i, e in enumerate(batch)]
        return self._store({subject: checked}, at or self.clock(), source="api")

    def _store(self, by_subject: Mapping[str, list[Event]], at: datetime, source: str) -> RecordResult:
        pseudos = {s: self.pseudonym(s) for s in by_subject}
        for subject, events in by_subject.items():
            for event_type in sorted({e.type for e in events}):
                readers = self._readers(event_type)
                if not readers:
                    raise EventError(
                        f"no pipeline reads event type '{event_type}', so it is not collected",
                        hint="collect only what a configured pipeline uses (data minimisation)",
                    )
                errors: list[ConsentError] = []
                for p in readers:
                    try:
                        self._gate(pseudos[subject], p, "record", at)
                        break
                    except ConsentError as e:
                        errors.append(e)
                else:
                    raise errors[0]
        added = self.events.add((pseudos[s], evs) for s, evs in by_subject.items())
        total = sum(len(v) for v in by_subject.values())
        stored = sum(added.values())
        for s, evs in by_subject.items():
            self.audit_log.append(
                "events.recorded",
                subject=pseudos[s],
                count=added.get(pseudos[s], 0),
                duplicates=len(evs) - added.get(pseudos[s], 0),
                source=source,
            )
        return RecordResult(stored, total - stored)

    def ingest(
        self,
        path: str | Path,
        *,
        source: str | None = None,
        subject: str | None = None,
        options: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> RecordResult:
        """Import a file all-or-nothing: JSONL/CSV in satchel's format, or any registered event source
        (``options`` configure it, e.g. ``{"map": {"student_answer": "Antwort"}}`` for a gradebook).

        A bad line is reported with its line number and field; nothing from the file is stored.
        """
        sourced = read_file(Path(path), self.registry, source=source, subject=subject, options=options)
        name = Path(path).name
        by_subject: dict[str, list[Event]] = {}
        for item in sourced:
            ev = self.validate_event(item.event, f"{name} line {item.line}")
            by_subject.setdefault(item.subject, []).append(ev)
        if not by_subject:
            raise EventError(f"{path}: no events found", hint="check the file's format and --source")
        return self._store(by_subject, at or self.clock(), source=source or Path(path).suffix[1:])

    def enforce_retention(self, *, now: datetime | None = None) -> int:
        """Delete events older than ``privacy.retention_days``; returns how many were deleted."""
        days = self.config.retention_days
        if days is None:
            return 0
        cutoff = (now or self.clock()) - timedelta(days=days)
        deleted = 0
        for pseudo in self.events.subjects():
            old = [e.id for e in self.events.read(pseudo) if e.time < cutoff]
            if old:
                deleted += self.events.delete_ids(pseudo, old)
        if deleted:
            self.audit_log.append("retention.enforced", deleted=deleted, retention_days=days)
        return deleted

    # ------------------------------------------------------------------ training and prediction

    def _files(self, pseudo: str, pipeline: str, batch: CounterBatch | None = None) -> SealedFiles:
        return SealedFiles(
            self.config.data_dir / "checkpoints" / pseudo / pipeline,
            self.vault,
            self.app_id,
            pseudo,
            pipeline,
            batch=batch,
        )

    def _compile(self, pipeline: str, spec: Any) -> Any:
        cached = self._compiled.get(pipeline)
        if cached is None or cached.spec != spec:
            backend = self.component(pipeline, "backend")
            cached = backend.compile(spec, self.config.data_dir / "compiled")
            self._compiled[pipeline] = cached
        return cached

    def load_checkpoint(self, subject: str, pipeline: str, version: int | None = None) -> Checkpoint | None:
        """The subject's latest (or a given) checkpoint; refuses one from another feature schema."""
        pseudo = self.pseudonym(subject)
        return self._load_checkpoint(pseudo, self.pipeline(pipeline), version)

    def _load_checkpoint(
        self, pseudo: str, p: PipelineConfig, version: int | None = None
    ) -> Checkpoint | None:
        ckpt = self.component(p.name, "store").load(self._files(pseudo, p.name), version)
        schema = self.component(p.name, "featurizer").schema
        if ckpt is not None and ckpt.schema_hash != schema.hash:
            raise IntegrityError(
                f"checkpoint v{ckpt.version} of '{p.name}' was trained on another feature schema "
                f"({ckpt.schema_hash[:12]}, the pipeline now uses {schema.hash[:12]})",
                hint="the featurizer changed; erase the pipeline's checkpoints or roll the plugin back",
            )
        return ckpt

    def _context(self, pseudo: str, p: PipelineConfig, samples: int) -> TrainingContext:
        return TrainingContext(
            self.app_id, p.name, pseudo, p.model.name, p.backend.name, samples, self.clock()
        )

    def samples(self, subject: str, pipeline: str, *, now: datetime | None = None) -> int:
        """How many training samples the pipeline would have for ``subject`` now (no consent needed:
        only counts the subject's own stored events, which exist only with consent)."""
        p = self.pipeline(pipeline)
        return len(self._training_data(self.pseudonym(subject), p, now or self.clock(), keep=True))

    @contextmanager
    def planned_data(self, budget_bytes: int = PLANNED_DATA_BUDGET) -> Iterator[None]:
        """Within this scope (a runner's pass), :meth:`train` reuses the training data :meth:`samples`
        featurized for the same learner and pipeline, instead of reading and featurizing again, as long
        as the learner's events are unchanged (same committed version) and the featurizer is the same.
        At most ``budget_bytes`` of arrays are held, in memory only; they are dropped when the scope ends.
        The training then uses the samples as of the count (a habit-day completed in between waits for
        the next training), while consent is checked at the training's own time."""
        self._planned = _PlannedData(budget_bytes)
        try:
            yield
        finally:
            self._planned = None

    def _training_data(self, pseudo: str, p: PipelineConfig, now: datetime, *, keep: bool = False) -> Any:
        """The learner's training data for ``p``: featurized from one read of their events, or taken
        from the current :meth:`planned_data` scope (``keep``: put it there)."""
        featurizer = self.component(p.name, "featurizer")
        planned = self._planned
        if planned is None:
            return featurizer.training_data(self.events.read(pseudo, p.featurizer.spec.reads), now=now)
        version = (self.events.version(pseudo), featurizer.schema.hash)  # before the read: stale is a miss
        data = planned.take(pseudo, p.name, version)
        if data is None:
            data = featurizer.training_data(self.events.read(pseudo, p.featurizer.spec.reads), now=now)
        if keep:
            planned.put(pseudo, p.name, version, data)
        return data

    def train(
        self,
        subject: str,
        pipeline: str,
        *,
        now: datetime | None = None,
        epochs: int | None = None,
        progress: Callable[[Any], None] | None = None,
    ) -> TrainingReport:
        """Train ``pipeline`` for ``subject`` on their own events, safely, and save an encrypted checkpoint.

        A candidate is fitted on all but the newest samples the model in service never saw, and
        serves only if it beats that model and the task's fallback on them (see
        :mod:`satchel.training.promotion`); it is then refitted on every sample (a probability
        output is recalibrated by Platt scaling fitted on the candidate's held-out predictions). Otherwise what
        served keeps serving. Either way the run is checkpointed with held-out metrics, so the
        scheduler counts new samples from it. Seeds derive from the spec, learner and data.

        The checkpoint's version and the ``training.completed`` audit entry's anchor are committed in
        one vault transaction, after the checkpoint file and the entry are on disk: a crash leaves
        the previous training in force or this one, never a mix.
        """
        now = now or self.clock()
        p = self.pipeline(pipeline)
        pseudo = self.pseudonym(subject)
        self._gate(pseudo, p, "train", now)
        task = self.component(p.name, "model")
        data = self._training_data(pseudo, p, now)
        if len(data) < task.min_samples:
            raise SchedulerError(
                f"'{p.name}' has {len(data)} training samples for this learner; "
                f"{task.min_samples} are needed",
                hint="record more events, then train again",
            )
        context = self._context(pseudo, p, len(data))
        started = time.perf_counter()
        self.registry.before_training(context)
        batch = CounterBatch()
        try:
            ckpt, verdict, trainer = self._fit_candidate(
                pseudo, p, data, now, epochs or p.epochs, progress or self.registry.progress_callback()
            )
            version = self.component(p.name, "store").save(self._files(pseudo, p.name, batch), ckpt)
            self.audit_log.stage(
                batch,
                "training.completed",
                subject=pseudo,
                pipeline=p.name,
                samples=len(data),
                epochs=epochs or p.epochs,
                version=version,
                backend=p.backend.name,
                promoted=verdict.promote,
                served=ckpt.served,
                holdout=verdict.holdout,
                **{f"holdout_{k}": round(v, 6) for k, v in verdict.scores.items() if math.isfinite(v)},
            )
            self.vault.commit(batch)  # the training's one durable commit
        except BaseException as error:
            self.registry.on_training_error(context, error)
            self.audit_log.append(
                "training.failed", subject=pseudo, pipeline=p.name, error=type(error).__name__
            )
            raise
        self._keep(pseudo, p.name, version, trainer)
        report = TrainingReport(
            context,
            ckpt.metrics,
            version,
            time.perf_counter() - started,
            promoted=verdict.promote,
            reason=verdict.reason,
        )
        self.registry.after_training(report)
        return report

    def _fit_candidate(
        self,
        pseudo: str,
        p: PipelineConfig,
        data: Any,
        now: datetime,
        epochs: int,
        progress: Callable[[Any], None] | None,
    ) -> tuple[Checkpoint, Any, Any]:
        """Fit, validate and (maybe) refit a candidate; the checkpoint to save, the verdict, the trainer."""
        from satchel.errors import BackendError
        from satchel.model.backend import Weights
        from satchel.model.spec import initial_params
        from satchel.model.task import Rows, task_objective
        from satchel.training import promotion

        featurizer, task = self.component(p.name, "featurizer"), self.component(p.name, "model")
        spec = task.model_spec(featurizer.schema)
        compiled = self._compile(p.name, spec)
        previous = self._load_checkpoint(pseudo, p)
        if previous is not None and previous.spec_hash != spec.hash:
            previous = None  # trained for another network: neither served nor resumed
        base = task.base_params(featurizer.schema)
        start = Weights(dict(base) if base is not None else initial_params(spec))
        if p.federated is not None:  # a federated global model, once installed, is the base (issue 14)
            from satchel.federated.store import load_shared

            shared = load_shared(self, p.name, spec.hash)
            start = Weights(shared[0]) if shared is not None else start
        serving = previous is not None and previous.served == "model"
        init = previous.weights_for(p.backend.name) if serving and p.warm_start else start  # type: ignore[union-attr]
        split = promotion.holdout_split(data, trained_until=previous.data_until if serving else None)  # type: ignore[union-attr]
        holdout = data.take(split.holdout)
        objective = task_objective(task)

        def held_out(predictions: Any) -> dict[str, float]:
            values = {k: float(v) for k, v in task.metrics(holdout, predictions).items()}
            if objective not in values:
                raise PluginError(
                    f"the model task of pipeline '{p.name}' reports no metric '{objective}' to "
                    "decide promotion on",
                    hint="give the task an `objective` naming one of its "
                    f"metrics (lower is better): {', '.join(values) or 'none'}",
                )
            return values

        def score(predictions: Any) -> float:
            return held_out(predictions)[objective] if len(holdout) else math.nan

        seed = promotion.training_seed(spec.hash, data)
        trainer = self.component(p.name, "backend").open(compiled, init)
        trainer.set_reference(start.params)
        try:
            trainer.fit(data.take(split.train), epochs, seed=seed, progress=progress)
            cand_pred = trainer.predict(holdout.x) if len(holdout) else None
            cand_metrics = held_out(cand_pred) if cand_pred is not None else {}
            candidate = cand_metrics.get(objective, math.nan)
        except BackendError:
            cand_pred, cand_metrics, candidate = None, {}, math.inf  # diverged: never served
        prior_pred = task.prior(Rows(("",) * len(holdout), holdout.x)) if len(holdout) else None
        fallback = score(prior_pred) if prior_pred is not None else math.nan
        in_service, served_pred = None, None
        if serving and len(holdout):
            served_trainer, _ = self._trainer(pseudo, p)
            served_pred = served_trainer.predict(holdout.x)
            in_service = score(served_pred)

        def fallback_clearly_better() -> bool:  # bootstrap over the held-out samples (see promotion)
            def on(predictions: Any, index: Any) -> float:
                return float(task.metrics(holdout.take(index), np.asarray(predictions)[index])[objective])

            assert prior_pred is not None and served_pred is not None  # demotion needs both on the holdout
            share = promotion.win_share(on, prior_pred, served_pred, len(holdout), seed=seed)
            return share >= promotion.DEMOTE_CONFIDENCE

        verdict = promotion.decide(
            objective, candidate, fallback, in_service, len(holdout), fallback_clearly_better
        )
        metrics: dict[str, float] = {"holdout_samples": float(len(holdout))}
        metrics.update({f"holdout_{k}": v for k, v in cand_metrics.items()})
        metrics[f"holdout_fallback_{objective}"] = fallback
        if in_service is not None:
            metrics[f"holdout_in_service_{objective}"] = in_service
        newest = float(data.times.max()) if data.times is not None and len(data) else None
        if verdict.promote:
            trainer.set_weights(init)
            trainer.fit(data, epochs, seed=seed, progress=progress)
            weights = trainer.get_weights()
            if spec.loss.link == "sigmoid" and spec.output_dim == 1 and cand_pred is not None:
                weights = _calibrated(spec, weights, cand_pred, holdout)
                trainer.set_weights(weights)
            ckpt = Checkpoint(
                weights,
                spec.hash,
                featurizer.schema.hash,
                p.backend.name,
                now,
                metrics,
                len(data),
                served="model",
                data_until=newest,
            )
        elif serving and not verdict.demote:
            assert previous is not None
            ckpt = Checkpoint(
                previous.weights,
                spec.hash,
                featurizer.schema.hash,
                previous.backend,
                now,
                metrics,
                len(data),
                served="model",
                data_until=previous.data_until,
            )
            trainer, _ = self._trainer(pseudo, p)
        else:
            ckpt = Checkpoint(
                start,
                spec.hash,
                featurizer.schema.hash,
                p.backend.name,
                now,
                metrics,
                len(data),
                served="prior",
            )
            trainer = None
        return ckpt, verdict, trainer

    def predict(self, subject: str, pipeline: str, *, now: datetime | None = None) -> Prediction:
        """The pipeline's decisions for ``subject`` now: from their model, or the task's prior when
        no model has been trained yet (cold start) or none has beaten the prior."""
        now = now or self.clock()
        p = self.pipeline(pipeline)
        pseudo = self.pseudonym(subject)
        self._gate(pseudo, p, "predict", now)
        featurizer, task = self.component(p.name, "featurizer"), self.component(p.name, "model")
        rows = featurizer.rows(self.events.read(pseudo, p.featurizer.spec.reads), now=now)
        trainer, version = self._trainer(pseudo, p)
        if len(rows) == 0:
            return Prediction(p.name, (), version, trainer is not None)
        scores = task.prior(rows) if trainer is None else trainer.predict(rows.x)
        return Prediction(p.name, task.decide(rows, scores, now=now), version, trainer is not None)

    def _trainer(self, pseudo: str, p: PipelineConfig) -> tuple[Any, int | None]:
        """The trainer serving the learner's latest checkpoint (None when the task's prior serves)."""
        latest = self._files(pseudo, p.name).latest()
        cached = self._trainers.get((pseudo, p.name))
        if cached is not None and cached[0] == latest.value:
            self._trainers.move_to_end((pseudo, p.name))
            return cached[1], cached[0]
        ckpt = self._load_checkpoint(pseudo, p)
        if ckpt is None:
            return None, None
        featurizer, task = self.component(p.name, "featurizer"), self.component(p.name, "model")
        spec = task.model_spec(featurizer.schema)
        trainer = None
        if ckpt.served == "model" and ckpt.spec_hash == spec.hash:
            trainer = self.component(p.name, "backend").open(
                self._compile(p.name, spec), ckpt.weights_for(p.backend.name)
            )
        self._keep(pseudo, p.name, ckpt.version, trainer)
        return trainer, ckpt.version

    def _keep(self, pseudo: str, pipeline: str, version: int, trainer: Any) -> None:
        """Cache a trainer for predict(); only the most recent few, so a fleet does not grow memory."""
        self._trainers[(pseudo, pipeline)] = (version, trainer)
        self._trainers.move_to_end((pseudo, pipeline))
        while len(self._trainers) > TRAINER_CACHE_SIZE:
            self._trainers.popitem(last=False)

    def export_model(self, subject: str, pipeline: str, directory: str | Path) -> Path:
        """Write the learner's trained model as deployable artifacts for Android/iOS, with the
        mobile contract (``manifest.json``, its schema, ``golden.json``; see
        :mod:`satchel.model.export_contract`). Golden vectors come from the featurizer's synthetic
        sample events, never from the learner's own."""
        from satchel.model import export_contract

        p = self.pipeline(pipeline)
        pseudo = self.pseudonym(subject)
        self._gate(pseudo, p, "export", self.clock())
        trainer, version = self._trainer(pseudo, p)
        if trainer is None:
            raise SchedulerError(f"'{p.name}' has no trained model for this learner", hint="train it first")
        featurizer = self.component(p.name, "featurizer")
        schema = featurizer.schema
        out = Path(directory)
        manifest = trainer.export(out, feature_names=schema.names, feature_schema_hash=schema.hash)
        export_contract.complete(out, manifest, trainer, featurizer, self.component(p.name, "model"))
        self.audit_log.append("model.exported", subject=pseudo, pipeline=p.name, version=version)
        return out

    # ------------------------------------------------------------------ learner rights

    def export_subject(self, subject: str) -> dict[str, Any]:
        """Everything stored about ``subject``, machine-readable (the right of access)."""
        pseudo = self.pseudonym(subject)
        models = {}
        for name in self.pipelines:
            ckpt = self.component(name, "store").load(self._files(pseudo, name))
            if ckpt is not None:
                models[name] = {
                    "version": ckpt.version,
                    "backend": ckpt.backend,
                    "created_at": ckpt.created_at.isoformat(),
                    "spec_hash": ckpt.spec_hash,
                    "feature_schema_hash": ckpt.schema_hash,
                    "metrics": dict(ckpt.metrics),
                    "samples": ckpt.samples,
                    "weights": {k: np.asarray(v).tolist() for k, v in ckpt.weights.params.items()},
                }
        has_key = pseudo in self.vault.subjects()
        out = {
            "app_id": self.app_id,
            "subject": subject,
            "exported_at": self.clock().isoformat(),
            "events": [e.model_dump(mode="json") for e in self.events.read(pseudo)] if has_key else [],
            "consent_history": [_entry_json(e) for e in self.ledger.history(pseudo)],
            "models": models,
        }
        self.audit_log.append(
            "subject.exported", subject=pseudo, events=len(out["events"]), models=len(models)
        )
        return out

    def erase(self, subject: str) -> None:
        """Erase ``subject``: delete their records and files and crypto-shred their key, so copies
        of the data directory taken earlier cannot be decrypted either."""
        pseudo = self.pseudonym(subject)
        events = self.events.delete(pseudo)
        self.ledger.delete(pseudo)
        shutil.rmtree(self.config.data_dir / "checkpoints" / pseudo, ignore_errors=True)
        for lock in (self.config.data_dir / "locks").glob(f"{pseudo}.*"):
            lock.unlink(missing_ok=True)
        self._trainers = OrderedDict((k, v) for k, v in self._trainers.items() if k[0] != pseudo)
        self.vault.erase(pseudo)
        self.events.compact()
        self.audit_log.append("subject.erased", subject=pseudo, events=events)

    def _purge(self, pseudo: str, purposes: Iterable[str], at: datetime) -> None:
        withdrawn = set(purposes)
        affected = [p for p in self.pipelines.values() if withdrawn & set(p.purposes)]
        still_allowed = {
            t
            for p in self.pipelines.values()
            if p not in affected and self._verdict(pseudo, p, "read", at)[0]
            for t in p.featurizer.spec.reads
        }
        types = {t for p in affected for t in p.featurizer.spec.reads} - still_allowed
        deleted = self.events.delete(pseudo, sorted(types)) if types else 0
        for p in affected:
            self.component(p.name, "store").delete_all(self._files(pseudo, p.name))
            self._trainers.pop((pseudo, p.name), None)
        self.audit_log.append(
            "consent.purged", subject=pseudo, events=deleted, pipelines=",".join(p.name for p in affected)
        )

    # ------------------------------------------------------------------ audit

    def verify_audit_log(self) -> Any:
        """Check the audit log's chain, keys and anchor (see ``satchel audit verify``)."""
        return self.audit_log.verify()

    def audit_report(self) -> Any:
        """The privacy audit: per pipeline categories, purposes, consent coverage, protection, findings."""
        from satchel.audit.report import build_report

        return build_report(self)


class ConsentAPI:
    """``app.consent``: grant, withdraw, show and history of opt-in consent."""

    def __init__(self, app: App) -> None:
        self._app = app

    def grant(
        self,
        subject: str,
        *,
        purposes: Iterable[str],
        notice: str,
        policy_version: str,
        actor: Actor,
        age_band: str,
        method: str,
        expires_at: datetime | None = None,
        at: datetime | None = None,
    ) -> ConsentEntry:
        """Record an opt-in consent. ``notice`` is the exact text shown; only its SHA-256 is kept."""
        app = self._app
        purposes = list(purposes)
        declared = {x for p in app.pipelines.values() for x in p.purposes}
        declared |= {p.federated.purpose for p in app.pipelines.values() if p.federated is not None}
        unknown = [x for x in purposes if x not in declared]
        if unknown:
            raise ConsentError(
                f"no pipeline serves purpose(s) {unknown}",
                hint=f"purposes of this app: {', '.join(sorted(declared))}",
            )
        entry = make_grant(
            purposes=purposes,
            notice=notice,
            policy_version=policy_version,
            actor=actor,
            age_band=age_band,
            method=method,
            age_of_digital_consent=app.config.age_of_digital_consent,
            school_purposes=app.config.school_consent_purposes,
            expires_at=expires_at,
            at=at or app.clock(),
        )
        pseudo = app.pseudonym(subject)
        app.ledger.append(pseudo, entry)
        app.audit_log.append(
            "consent.granted",
            subject=pseudo,
            purposes=",".join(entry.purposes),
            actor=actor,
            notice_sha256=entry.notice_sha256,
        )
        return entry

    def withdraw(
        self,
        subject: str,
        *,
        purposes: Iterable[str] | None = None,
        reason: str = "",
        actor: Actor = "self",
        at: datetime | None = None,
    ) -> ConsentEntry:
        """Withdraw consent (all purposes by default); takes effect at the next call and, when
        ``privacy.purge_on_withdrawal`` is on, deletes that purpose's events and models."""
        app = self._app
        at = at or app.clock()
        pseudo = app.pseudonym(subject)
        current = active_purposes(app.ledger.history(pseudo), at)
        chosen = tuple(purposes) if purposes is not None else tuple(current)
        if not chosen:
            raise ConsentError("there is no active consent to withdraw")
        entry = ConsentEntry("withdrawn", chosen, at, actor, reason=reason)
        app.ledger.append(pseudo, entry)
        app.audit_log.append("consent.withdrawn", subject=pseudo, purposes=",".join(chosen), actor=actor)
        if app.config.purge_on_withdrawal:
            app._purge(pseudo, chosen, at)
        return entry

    def show(self, subject: str, *, at: datetime | None = None) -> ConsentStatus:
        history = self.history(subject)
        return ConsentStatus(active_purposes(history, at or self._app.clock()), history)

    def history(self, subject: str) -> tuple[ConsentEntry, ...]:
        return self._app.ledger.history(self._app.pseudonym(subject))


class _PlannedData:
    """Training data kept between a pass's plan and its trainings (in memory, within a byte budget)."""

    def __init__(self, budget_bytes: int) -> None:
        self._left = budget_bytes
        self._data: dict[tuple[str, str], tuple[object, Any, int]] = {}

    def put(self, pseudo: str, pipeline: str, version: object, data: Any) -> None:
        size = sum(getattr(v, "nbytes", 0) for v in getattr(data, "__dict__", {}).values())
        if 0 < size <= self._left:
            self._left -= size
            self._data[pseudo, pipeline] = (version, data, size)

    def take(self, pseudo: str, pipeline: str, version: object) -> Any | None:
        """The data put for the learner at ``version`` (once), else None."""
        entry = self._data.pop((pseudo, pipeline), None)
        if entry is None:
            return None
        self._left += entry[2]
        return entry[1] if entry[0] == version else None


def _calibrated(spec: Any, weights: Any, held_out_pred: Any, holdout: Any) -> Any:
    """Fold Platt scaling fitted on the candidate's held-out probabilities into the output layer."""
    from satchel.model.backend import Weights
    from satchel.training.promotion import platt_scaling

    a, b = platt_scaling(held_out_pred, holdout.y[:, 0], holdout.weights)
    last = len(spec.layers) - 1
    params = dict(weights.params)
    params[f"dense_{last}_kernel"] = (params[f"dense_{last}_kernel"] * a).astype(np.float32)
    params[f"dense_{last}_bias"] = (params[f"dense_{last}_bias"] * a + b).astype(np.float32)
    return Weights(params, weights.optimizer, weights.optimizer_format)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _entry_json(e: ConsentEntry) -> dict[str, Any]:
    return {
        "action": e.action,
        "purposes": list(e.purposes),
        "at": e.at.isoformat(),
        "actor": e.actor,
        "age_band": e.age_band,
        "policy_version": e.policy_version,
        "notice_sha256": e.notice_sha256,
        "method": e.method,
        "expires_at": e.expires_at.isoformat() if e.expires_at else None,
        "reason": e.reason,
    }


def open(
    source: str | Path | Mapping[str, Any] | AppConfig,
    *,
    registry: Registry | None = None,
    prompt: Callable[[str], str] | None = None,
    clock: Callable[[], datetime] | None = None,
    new_keys: bool = False,
) -> App:
    """Open an app from a config file path, TOML text, a mapping, or a loaded :class:`AppConfig`.

    ``clock`` replaces the wall clock (an aware ``datetime`` per call), e.g. to replay history.
    ``new_keys`` allows creating a new key vault beside a data directory that already holds data
    (a missing key directory is otherwise refused: the data would silently become unreadable)."""
    registry = registry or Registry()
    config = source if isinstance(source, AppConfig) else load_config(source, registry)
    return App(config, registry, prompt=prompt, clock=clock, new_keys=new_keys)
