"""The device side of a federated round: behind the consent gate and the budget, train the shared
model on the learner's own data with the pipeline's backend, and hand back only a clipped delta."""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from satchel.errors import ConfigError, ConsentError, SchedulerError
from satchel.federated.accounting import Plan
from satchel.federated.accounting import plan as make_plan
from satchel.federated.standardize import (
    STAGES,
    Standardization,
    default_clip,
    device_statistic,
    encode,
    standardize_data,
)
from satchel.federated.store import BudgetLedger
from satchel.model.spec import ModelSpec, Optimizer

if TYPE_CHECKING:
    from satchel.app import App
    from satchel.app.config import PipelineConfig


#: one opened trainer per app, pipeline and spec: a worker serving many learners reuses the LiteRT
#: interpreter and reloads weights with a fresh optimizer, which is what opening a new one does
_TRAINERS: weakref.WeakKeyDictionary[App, dict[tuple[str, str], object]] = weakref.WeakKeyDictionary()


def _trainer(app: App, pipeline: str, spec: object, start: dict[str, np.ndarray]) -> Any:
    from satchel.model.backend import Weights

    cache = _TRAINERS.setdefault(app, {})
    key = (pipeline, spec.hash)  # type: ignore[attr-defined]
    trainer = cache.get(key)
    if trainer is None:
        backend = app.component(pipeline, "backend")  # compiled apart from the pipeline's own spec
        trainer = cache[key] = backend.open(
            backend.compile(spec, app.config.data_dir / "compiled"), Weights(dict(start))
        )
    else:
        trainer.set_weights(Weights(dict(start)))  # type: ignore[attr-defined]  # fresh optimizer state
    trainer.set_reference(start)  # type: ignore[attr-defined]
    return trainer


class BudgetExceeded(ConsentError):
    """Contributing would take the learner past the shared model's epsilon cap."""


@dataclass(frozen=True)
class Contribution:
    """What leaves the device: the clipped weights delta, and what the ledger recorded."""

    delta: dict[str, np.ndarray]
    norm: float
    clip_norm: float
    epsilon_spent: float
    nbytes: int


def _num(x: float) -> float | str:
    """An epsilon for the audit log, which takes finite numbers only: no DP is ``"inf"``."""
    return round(x, 4) if math.isfinite(x) else "inf"


def local_spec(spec: ModelSpec, strategy: str) -> ModelSpec:
    """The spec a device trains for ``strategy``: FedAvg runs the pipeline's own optimizer; FedAdam
    (Reddi et al., 2021) runs plain SGD at the pipeline's learning rate and leaves the adaptivity
    to the server. A fresh Adam's first steps are nearly sign-sized, and the server's average of
    many learners' signs is not the average of their gradients: it converges elsewhere."""
    if strategy != "fedadam":
        return spec
    return replace(spec, optimizer=Optimizer("sgd", spec.optimizer.learning_rate))


def clip(delta: Mapping[str, np.ndarray], clip_norm: float) -> tuple[dict[str, np.ndarray], float]:
    """``delta`` scaled to at most ``clip_norm`` in L2 over all its arrays, and its norm before."""
    norm = float(math.sqrt(sum(float(np.sum(np.square(d, dtype=np.float64))) for d in delta.values())))
    scale = min(1.0, clip_norm / norm) if norm > 0 else 1.0
    return {k: (np.asarray(d) * scale).astype(np.float32) for k, d in delta.items()}, norm


def federated(p: PipelineConfig):
    """The pipeline's federated section; ConfigError when it has none."""
    if p.federated is None:
        raise ConfigError([(f"pipelines.{p.name}.federated", "this pipeline declares no shared model")])
    return p.federated


def _admit(
    app: App, subject: str, pipeline: str, *, run: str, round_: int, plan: Plan | None, now: datetime | None
) -> tuple[Any, Any, str, Plan, BudgetLedger, datetime]:
    """The fail-closed prelude of every contribution: the core gate on the contributing purpose,
    then the sealed budget (a refusal of either is audited). Returns what the caller needs."""
    p = app.pipeline(pipeline)
    section = federated(p)
    now = now or app.clock()
    pseudo = app.pseudonym(subject)
    app._gate(pseudo, replace(p, purposes=(section.purpose,)), "contribute", now)
    plan = plan or make_plan(section)
    ledger = BudgetLedger(app, pseudo, p.name, plan.delta)
    after = ledger.would_spend(plan, run)
    if not after <= plan.epsilon_cap:
        app.audit_log.append(
            "federated.refused",
            subject=pseudo,
            pipeline=p.name,
            run=run,
            round=round_,
            reason="budget",
            epsilon_spent=_num(ledger.spent()),
            epsilon_would_be=_num(after),
            epsilon_cap=_num(plan.epsilon_cap),
        )
        raise BudgetExceeded(
            f"contributing to '{p.name}' would spend epsilon {after:.3g}, over the cap {plan.epsilon_cap:g}",
            hint="the learner's privacy budget for this shared model "
            "is used up; raise epsilon_cap only with a new notice and consent",
        )
    return p, section, pseudo, plan, ledger, now


def _own_data(app: App, p: Any, pseudo: str, now: datetime) -> Any:
    featurizer = app.component(p.name, "featurizer")
    data = featurizer.training_data(app.events.read(pseudo, p.featurizer.spec.reads), now=now)
    if len(data) == 0:
        raise SchedulerError(
            f"'{p.name}' has no training samples for this learner", hint="nothing to contribute"
        )
    return data


def contribute(
    app: App,
    subject: str,
    pipeline: str,
    global_params: Mapping[str, np.ndarray],
    *,
    run: str,
    round_: int,
    plan: Plan | None = None,
    now: datetime | None = None,
    standardization: Standardization | None = None,
) -> Contribution:
    """One learner's update to ``run``'s global model, or a refusal (ConsentError, BudgetExceeded).

    Order is fail-closed: the core gate on the contributing purpose (guardian rules apply, refusals
    are audited), then the sealed budget (refusals audited), then the charge is written, and only
    then does the backend train. Only the delta, clipped to ``clip_norm`` in L2, is returned.
    With a ``standardization`` (a standardised run), ``global_params`` are in standardised
    coordinates and the device trains on its own rows standardised the same way.
    """
    p, section, pseudo, plan, ledger, now = _admit(
        app, subject, pipeline, run=run, round_=round_, plan=plan, now=now
    )
    featurizer, task = app.component(p.name, "featurizer"), app.component(p.name, "model")
    spec = local_spec(task.model_spec(featurizer.schema), section.strategy)
    shapes = {k: tuple(np.shape(v)) for k, v in global_params.items()}
    if shapes != {k: tuple(s) for k, s in spec.param_shapes.items()}:
        raise ConfigError(
            [
                (
                    f"pipelines.{p.name}.federated",
                    "the server's model does not match this pipeline's network; update the app",
                )
            ]
        )
    data = _own_data(app, p, pseudo, now)
    if standardization is not None:
        if standardization.mean.shape != (spec.input_dim,):
            raise ConfigError(
                [
                    (
                        f"pipelines.{p.name}.federated",
                        "the server's standardisation does not match the features",
                    )
                ]
            )
        data = standardize_data(data, standardization)
    ledger.charge(plan, run, round_, now)
    spent = ledger.spent()
    start = {k: np.asarray(v, np.float32) for k, v in global_params.items()}
    trainer = _trainer(app, p.name, spec, start)
    trainer.fit(data, section.local_epochs, seed=round_)
    new = trainer.get_weights().params
    delta, norm = clip({k: np.asarray(new[k], np.float32) - start[k] for k in start}, plan.clip_norm)
    nbytes = sum(d.nbytes for d in delta.values())
    app.audit_log.append(
        "federated.contributed",
        subject=pseudo,
        pipeline=p.name,
        run=run,
        round=round_,
        bytes=nbytes,
        clip_norm=plan.clip_norm,
        noise_multiplier=round(plan.noise_multiplier, 6),
        epsilon_spent=_num(spent),
        epsilon_cap=_num(plan.epsilon_cap),
    )
    return Contribution(delta, norm, plan.clip_norm, spent, nbytes)


@dataclass(frozen=True)
class Statistics:
    """What leaves the device in a standardisation round: one clipped, rescaled vector."""

    vector: list[np.ndarray]
    norm: float
    clip: float
    epsilon_spent: float
    nbytes: int


def contribute_statistics(
    app: App,
    subject: str,
    pipeline: str,
    stage: str,
    *,
    run: str,
    round_: int,
    mean: np.ndarray | None = None,
    plan: Plan | None = None,
    now: datetime | None = None,
) -> Statistics:
    """One learner's statistics for a standardisation ``stage`` (``mean``, or ``spread`` around the
    server's ``mean``) of ``run``: behind the same gate and budget as :func:`contribute`, charged in
    the same ledger, and clipped to the plan's statistics clip before leaving the device
    (:func:`satchel.federated.standardize.encode`). Audited as ``federated.contributed``."""
    p, _, pseudo, plan, ledger, now = _admit(
        app, subject, pipeline, run=run, round_=round_, plan=plan, now=now
    )
    if stage not in STAGES:
        raise ConfigError([(f"pipelines.{p.name}.federated", f"unknown standardisation stage {stage!r}")])
    data = _own_data(app, p, pseudo, now)
    bound = plan.stats_clip or default_clip(int(data.x.shape[1]))
    statistic = device_statistic(data, stage, mean)
    ledger.charge(plan, run, round_, now)
    spent = ledger.spent()
    vector, norm = encode(statistic, bound, plan.clip_norm)
    nbytes = sum(v.nbytes for v in vector)
    app.audit_log.append(
        "federated.contributed",
        subject=pseudo,
        pipeline=p.name,
        run=run,
        round=round_,
        stage=stage,
        bytes=nbytes,
        clip_norm=bound,
        noise_multiplier=round(plan.noise_multiplier, 6),
        epsilon_spent=_num(spent),
        epsilon_cap=_num(plan.epsilon_cap),
    )
    return Statistics(vector, norm, bound, spent, nbytes)
