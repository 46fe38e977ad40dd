"""Training a learner's model safely: a candidate serves only if it beats what serves now on held-out data."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np

from satchel.app import _sample_cache as sample_cache
from satchel.app._planned_data import PlannedData
from satchel.app._sample_cache import Prepared
from satchel.app._serving import ModelServing
from satchel.app.config import PipelineConfig
from satchel.errors import BackendError, PluginError, SchedulerError
from satchel.federated.store import load_shared
from satchel.model.backend import Weights
from satchel.model.spec import initial_params
from satchel.model.task import Rows, task_objective
from satchel.plugin.records import TrainingContext, TrainingReport
from satchel.privacy.vault import CounterBatch
from satchel.storage.checkpoint import Checkpoint
from satchel.training import promotion

#: bytes of training data a runner's pass keeps from its plan for the trainings (see App.planned_data)
PLANNED_DATA_BUDGET = 256 * 2**20


class ModelTraining(ModelServing):
    """The App's training part: ``samples``, ``planned_data`` and ``train``."""

    def _context(self, pseudo: str, p: PipelineConfig, samples: int) -> TrainingContext:
        return TrainingContext(
            self.app_id, p.name, pseudo, p.model.name, p.backend.name, samples, self.clock()
        )

    def samples(self, subject: str, pipeline: str, *, now: datetime | None = None) -> int:
        """How many training samples the pipeline would have for ``subject`` now (no consent needed:
        only counts the subject's own stored events, which exist only with consent)."""
        p = self.pipeline(pipeline)
        return len(self._training_data(self.pseudonym(subject), p, now or self.clock(), keep=True).data)

    @contextmanager
    def planned_data(self, budget_bytes: int = PLANNED_DATA_BUDGET) -> Iterator[None]:
        """Within this scope (a runner's pass), :meth:`train` reuses the training data :meth:`samples`
        featurized for the same learner and pipeline, instead of reading and featurizing again, as long
        as the learner's events are unchanged (same committed version) and the featurizer is the same.
        At most ``budget_bytes`` of arrays are held, in memory only; they are dropped when the scope ends.
        The training then uses the samples as of the count (a habit-day completed in between waits for
        the next training), while consent is checked at the training's own time."""
        self._planned = PlannedData(budget_bytes)
        try:
            yield
        finally:
            self._planned = None

    def _training_data(
        self, pseudo: str, p: PipelineConfig, now: datetime, *, keep: bool = False
    ) -> Prepared:
        """The learner's training data for ``p``: featurized from their events (see :meth:`_featurize`),
        or taken from the current :meth:`planned_data` scope (``keep``: put it there)."""
        planned = self._planned
        if planned is None:
            return self._featurize(pseudo, p, now)
        version = (self.events.version(pseudo), self.component(p.name, "featurizer").schema.hash)
        prepared = planned.take(pseudo, p.name, version)  # the version is taken before the read: stale misses
        if prepared is None:
            prepared = self._featurize(pseudo, p, now)
        if keep:
            planned.put(pseudo, p.name, version, prepared)
        return prepared

    def _featurize(self, pseudo: str, p: PipelineConfig, now: datetime) -> Prepared:
        """One read of the learner's events, featurized. A featurizer that folds
        (:class:`~satchel.model.task.FoldingFeaturizer`) starts from the learner's sample cache and reads
        only the events since (a full read when there is none, or it no longer fits); the new state is
        returned for the training to write with its checkpoint (:mod:`satchel.app._sample_cache`)."""
        featurizer, reads = self.component(p.name, "featurizer"), p.featurizer.spec.reads
        key = sample_cache.cache_key(p, featurizer)
        if key is None:
            return Prepared(featurizer.training_data(self.events.read(pseudo, reads), now=now))
        files = self._files(pseudo, p.name)
        cached = sample_cache.load(files, key, self.audit_log)
        delta = self.events.read_since(pseudo, None if cached is None else cached.mark, reads)
        state, data = None, None
        if cached is not None and not delta.full:
            try:
                state = featurizer.fold(cached.state, delta.events) if delta.events else cached.state
                data = featurizer.training_data_from(state, now=now)
            except ValueError:  # an authentic state this featurizer cannot read: rebuild it
                self.audit_log.append(
                    "sample_cache.damaged", subject=pseudo, pipeline=p.name, error="ValueError"
                )
                state, delta = None, self.events.read_since(pseudo, None, reads)
        if state is None:
            state = featurizer.fold(None, delta.events)
            data = featurizer.training_data_from(state, now=now)
        if data is None:  # the state cannot answer for this ``now`` (e.g. a replay of the past)
            events = delta.events if delta.full else self.events.read(pseudo, reads)
            data = featurizer.training_data(events, now=now)
        current = cached is not None and not delta.full and delta.mark == cached.mark
        return Prepared(data, None if current else sample_cache.CachedState(key, delta.mark, state))

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
        prepared = self._training_data(pseudo, p, now)
        data = prepared.data
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
            files = self._files(pseudo, p.name, batch)
            version = self.component(p.name, "store").save(files, ckpt)
            if prepared.pending is not None:  # made durable with the checkpoint, before the vault commit
                sample_cache.save(files, prepared.pending)
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
        """Fit, validate and (maybe) refit a candidate; the checkpoint to save, the verdict, the trainer.
        With fewer held-out samples than promotion needs, no candidate is fitted: what serves stays."""
        featurizer, task = self.component(p.name, "featurizer"), self.component(p.name, "model")
        spec = task.model_spec(featurizer.schema)
        compiled = self._compile(p.name, spec)
        previous = self._load_checkpoint(pseudo, p)
        if previous is not None and previous.spec_hash != spec.hash:
            previous = None  # trained for another network: neither served nor resumed
        base = task.base_params(featurizer.schema)
        start = Weights(dict(base) if base is not None else initial_params(spec))
        if p.federated is not None:  # a federated global model, once installed, is the base (issue 14)
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
        trainer: Any = None
        cand_pred, cand_metrics, candidate = None, {}, math.nan
        if (
            len(holdout) >= promotion.MIN_HOLDOUT
        ):  # fewer: the verdict keeps what serves, so no candidate is fitted
            trainer = self.component(p.name, "backend").open(compiled, init)
            trainer.set_reference(start.params)
            try:
                trainer.fit(data.take(split.train), epochs, seed=seed, progress=progress)
                cand_pred = trainer.predict(holdout.x)
                cand_metrics = held_out(cand_pred)
                candidate = cand_metrics[objective]
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


def _calibrated(spec: Any, weights: Any, held_out_pred: Any, holdout: Any) -> Any:
    """Fold Platt scaling fitted on the candidate's held-out probabilities into the output layer."""
    a, b = promotion.platt_scaling(held_out_pred, holdout.y[:, 0], holdout.weights)
    last = len(spec.layers) - 1
    params = dict(weights.params)
    params[f"dense_{last}_kernel"] = (params[f"dense_{last}_kernel"] * a).astype(np.float32)
    params[f"dense_{last}_bias"] = (params[f"dense_{last}_bias"] * a + b).astype(np.float32)
    return Weights(params, weights.optimizer, weights.optimizer_format)
