"""Serving a learner's model: checkpoints, the in-memory trainer cache, predictions and mobile export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from satchel.app._wiring import AppWiring
from satchel.app.config import PipelineConfig
from satchel.errors import IntegrityError, SchedulerError
from satchel.model import export_contract
from satchel.model.task import Decision
from satchel.storage.checkpoint import Checkpoint

#: trainers kept in memory for predict() (a LiteRT interpreter is ~1 MB); the rest reload from checkpoints
TRAINER_CACHE_SIZE = 16


@dataclass(frozen=True)
class Prediction:
    """A pipeline's decisions for one learner, and whether they came from a trained model."""

    pipeline: str
    decisions: tuple[Decision, ...]
    checkpoint_version: int | None
    personalized: bool


class ModelServing(AppWiring):
    """The App's serving part: ``load_checkpoint``, ``predict`` and ``export_model``."""

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
