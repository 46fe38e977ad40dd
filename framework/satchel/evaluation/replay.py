"""Device-faithful evaluation: replay a real export through a temporary app on a simulated clock.

Events arrive in time order, one step (a day by default) at a time. Before a step's events are
recorded, every sample whose label becomes known during the step is predicted by what the device
serves at that moment (the learner's promoted model, or the task's fallback) and by the task's
baselines, each fitted only on samples known before; then the events are recorded through
:meth:`App.record`, the clock moves to the end of the step and the real :class:`Runner` runs a
pass, so the pipeline's own scheduler decides when to train and :meth:`App.train`'s promotion
rule decides what serves. Scores are computed on exactly the same items for every predictor::

    result = replay("satchel.toml", "Checkmarks.csv", source="loop_habits_csv")
    print(result.table())

The temporary app is a real one — SQLite, AES-GCM, consent, audit — keyed by a random master key
that lives only in memory, in a temporary directory deleted afterwards.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from satchel.app import App
from satchel.app.config import AppConfig, Component, load_config
from satchel.errors import EventError
from satchel.evaluation.report import calibration_plot, replay_table
from satchel.events import Event
from satchel.events.ingest import read_file
from satchel.model.dataset import Dataset
from satchel.model.task import Rows, task_baselines, task_objective
from satchel.plugin.records import DeviceState
from satchel.plugin.registry import Registry
from satchel.privacy.key_provider import ProviderDescription
from satchel.training.runner import Runner, use_host_device_state

SATCHEL, FALLBACK = "satchel", "fallback"
_NOTICE = "satchel evaluate: a temporary replay of an export on this machine"


@dataclass(frozen=True)
class CurvePoint:
    """Scores of the items predicted when ``lo <= labelled samples known < hi``."""

    lo: int
    hi: int | None
    n: int
    metrics: Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class PipelineReplay:
    """One pipeline's replay: every predictor's metrics on the same ``n`` items of ``subjects``."""

    pipeline: str
    objective: str
    n: int
    subjects: int
    metrics: Mapping[str, Mapping[str, float]]
    within_subject: Mapping[str, Mapping[str, float]]
    curve: tuple[CurvePoint, ...]
    trainings: int
    promoted: int
    failed: int
    served_model: float
    calibration: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(repr=False, default_factory=dict)

    @property
    def predictors(self) -> tuple[str, ...]:
        return tuple(self.metrics)

    def best_baseline(self) -> tuple[str, float]:
        """The non-satchel predictor with the lowest objective, and its value."""
        others = {k: v[self.objective] for k, v in self.metrics.items() if k != SATCHEL}
        name = min(others, key=lambda k: (math.isnan(others[k]), others[k]))
        return name, others[name]


@dataclass(frozen=True)
class Replay:
    """The result of :func:`replay`."""

    export: str
    start: datetime
    end: datetime
    steps: int
    events: int
    ignored_events: int
    pipelines: tuple[PipelineReplay, ...]

    def pipeline(self, name: str) -> PipelineReplay:
        return next(p for p in self.pipelines if p.pipeline == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "export": self.export,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "steps": self.steps,
            "events": self.events,
            "ignored_events": self.ignored_events,
            "pipelines": [
                {
                    "pipeline": p.pipeline,
                    "objective": p.objective,
                    "n": p.n,
                    "subjects": p.subjects,
                    "trainings": p.trainings,
                    "promoted": p.promoted,
                    "failed": p.failed,
                    "served_model_share": p.served_model,
                    "metrics": _plain(p.metrics),
                    "within_subject": _plain(p.within_subject),
                    "curve": [
                        {"from": c.lo, "to": c.hi, "n": c.n, "metrics": _plain(c.metrics)} for c in p.curve
                    ],
                }
                for p in self.pipelines
            ],
        }

    def table(self) -> str:
        """Plain-text tables: one per pipeline, predictors as rows, metrics as columns."""
        return replay_table(self)

    def plot(self, path: str | Path) -> Path:
        """A calibration plot (PNG) of satchel and each probabilistic baseline, per pipeline."""
        return calibration_plot(self, Path(path))


class _SimulatedClock:
    """The replay's clock: the app, the runner, checkpoints and the audit log all read it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class _EphemeralKey:
    """A random master key held in memory for one replay (never written anywhere)."""

    def __init__(self) -> None:
        self._key = os.urandom(32)

    def create(self, options: object, **context: object) -> _EphemeralKey:
        return self

    def load_master_key(self) -> bytes:
        return self._key

    def describe(self) -> ProviderDescription:
        return ProviderDescription("ephemeral", "a random in-memory key for one replay")


@dataclass
class _Scored:
    """Per pipeline, accumulated prequential predictions."""

    datasets: list[Dataset] = field(default_factory=list)
    subjects: list[np.ndarray] = field(default_factory=list)
    known: list[np.ndarray] = field(default_factory=list)
    served_model: list[np.ndarray] = field(default_factory=list)
    predictions: dict[str, list[np.ndarray]] = field(default_factory=dict)


def replay(
    config: str | Path | Mapping[str, Any] | AppConfig,
    export: str | Path,
    *,
    source: str | None = None,
    subject: str | None = None,
    pipelines: Sequence[str] | None = None,
    step: timedelta = timedelta(days=1),
    curve: Sequence[int] = (),
    registry: Registry | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Replay:
    """Replay ``export`` (any registered event source, or satchel JSONL/CSV) through ``config``'s
    pipelines as a device lives it; see the module docstring. ``curve`` lists the numbers of
    labelled samples at which to cut the learning curve (e.g. ``(0, 10, 25, 50, 100, 200)``);
    ``progress(step, steps)`` is called after every step."""
    if step <= timedelta(0):
        raise ValueError("step must be positive")
    registry = registry or Registry()
    loaded = config if isinstance(config, AppConfig) else load_config(config, registry)
    path = Path(export)
    sourced = read_file(path, registry, source=source, subject=subject)
    with tempfile.TemporaryDirectory(prefix="satchel-replay-") as tmp:
        key = _EphemeralKey()
        cfg = replace(
            loaded,
            data_dir=Path(tmp) / "data",
            key_dir=Path(tmp) / "keys",
            key_provider=Component("key_provider", "ephemeral", key, loaded.key_provider.options),
        )
        clock = _SimulatedClock(datetime.now(timezone.utc))
        app = App(cfg, registry, clock=clock)
        try:
            by_subject: dict[str, list[Event]] = {}
            for item in sourced:
                ev = app.validate_event(item.event, f"{path.name} line {item.line}")
                by_subject.setdefault(item.subject, []).append(ev)
            chosen = [app.pipeline(n) for n in (pipelines or app.pipelines)]
            reads = {t for p in chosen for t in p.featurizer.spec.reads}
            total = sum(len(v) for v in by_subject.values())
            by_subject = {
                s: sorted((e for e in evs if e.type in reads), key=lambda e: e.time)
                for s, evs in by_subject.items()
            }
            by_subject = {s: evs for s, evs in by_subject.items() if evs}
            kept = sum(len(v) for v in by_subject.values())
            if not kept:
                raise EventError(
                    f"{path}: none of its {total} events is read by the pipelines "
                    f"{', '.join(p.name for p in chosen)}",
                    hint="check --source and --pipeline",
                )
            first = min(evs[0].time for evs in by_subject.values())
            last = max(evs[-1].time for evs in by_subject.values())
            origin = datetime.fromtimestamp(
                math.floor(first.timestamp() / step.total_seconds()) * step.total_seconds(), timezone.utc
            )
            n_steps = math.floor((last - origin) / step) + 1
            clock.now = origin - timedelta(seconds=1)
            for s in by_subject:
                app.consent.grant(
                    s,
                    purposes=sorted({x for p in chosen for x in p.purposes}),
                    notice=_NOTICE,
                    policy_version="replay",
                    actor="self",
                    age_band="18+",
                    method="replay",
                )
            use_host_device_state(app, DeviceState(100.0, True, True, True, source="replay"))
            runner = Runner(app, pipelines=[p.name for p in chosen], run_budgets=False)
            scored = {p.name: _Scored() for p in chosen}
            baselines = {p.name: task_baselines(app.component(p.name, "model")) for p in chosen}
            seen = dict.fromkeys(by_subject, 0)
            index = {s: i for i, s in enumerate(by_subject)}
            trainings: dict[str, list[bool]] = {p.name: [] for p in chosen}
            failed = {p.name: 0 for p in chosen}
            for k in range(n_steps):
                lo, hi = origin + k * step, origin + (k + 1) * step
                clock.now = lo
                for s, evs in by_subject.items():
                    j = seen[s]
                    while j < len(evs) and evs[j].time < hi:
                        j += 1
                    if j == seen[s]:
                        continue
                    for p in chosen:
                        _score_step(
                            app, p.name, s, index[s], evs[:j], lo, hi, scored[p.name], baselines[p.name]
                        )
                    app.record(s, evs[seen[s] : j], at=lo)
                    seen[s] = j
                clock.now = hi
                summary = runner.tick(now=hi)
                for t in summary.trained:
                    trainings[t.pipeline].append(t.promoted)
                for f in summary.failed:
                    failed[f.pipeline] += 1
                if progress is not None:
                    progress(k + 1, n_steps)
            results = tuple(
                _summarise(app, p.name, scored[p.name], curve, trainings[p.name], failed[p.name])
                for p in chosen
                if scored[p.name].datasets
            )
        finally:
            app.close()
    return Replay(str(path), origin, origin + n_steps * step, n_steps, total, total - kept, results)


def _score_step(
    app: App,
    pipeline: str,
    subject: str,
    number: int,
    history: Sequence[Event],
    lo: datetime,
    hi: datetime,
    scored: _Scored,
    baselines: Sequence[Any],
) -> None:
    """Predict the samples whose labels become known in [lo, hi) with what serves at ``lo``."""
    featurizer, task = app.component(pipeline, "featurizer"), app.component(pipeline, "model")
    reads = set(app.pipeline(pipeline).featurizer.spec.reads)
    data = featurizer.training_data([e for e in history if e.type in reads], now=hi)
    if data.times is None:
        raise EventError(
            f"featurizer of pipeline '{pipeline}' gives no sample times",
            hint="fill Dataset.times (when each label became known) to evaluate it",
        )
    t_lo, t_hi = lo.timestamp(), hi.timestamp()
    new = np.flatnonzero((data.times > t_lo) & (data.times <= t_hi))
    if not len(new):
        return
    past = data.take(data.known_by(t_lo))
    batch = data.take(new)
    trainer, _ = app._trainer(app.pseudonym(subject), app.pipeline(pipeline))
    prior = np.asarray(task.prior(Rows(("",) * len(batch), batch.x)), np.float64)
    served = prior if trainer is None else np.asarray(trainer.predict(batch.x), np.float64)
    outputs = {SATCHEL: served, FALLBACK: prior}
    for b in baselines:
        b.fit(past)
        outputs[b.name] = np.asarray(b.predict(batch), np.float64)
    scored.datasets.append(batch)
    scored.subjects.append(np.full(len(batch), number, np.int64))
    scored.known.append(np.full(len(batch), len(past), np.int64))
    scored.served_model.append(np.full(len(batch), trainer is not None))
    for name, out in outputs.items():
        scored.predictions.setdefault(name, []).append(out.reshape(len(batch), -1))


def _summarise(
    app: App, pipeline: str, scored: _Scored, curve: Sequence[int], trained: list[bool], failed: int
) -> PipelineReplay:
    task = app.component(pipeline, "model")
    data = _concat(scored.datasets)
    preds = {k: np.concatenate(v) for k, v in scored.predictions.items()}
    subjects, known = np.concatenate(scored.subjects), np.concatenate(scored.known)

    def metrics_of(index: np.ndarray) -> dict[str, dict[str, float]]:
        part = data.take(index)
        return {k: {m: float(v) for m, v in task.metrics(part, p[index]).items()} for k, p in preds.items()}

    everything = metrics_of(np.arange(len(data)))
    within: dict[str, dict[str, float]] = {}
    ids = np.unique(subjects)
    if len(ids) > 1:
        per = [(int(np.count_nonzero(subjects == s)), metrics_of(np.flatnonzero(subjects == s))) for s in ids]
        for name in preds:
            keys = per[0][1][name]
            within[name] = {m: _weighted_mean([(n, d[name][m]) for n, d in per]) for m in keys}
    points = []
    cuts = sorted(set(curve))
    for i, c in enumerate(cuts):
        top = cuts[i + 1] if i + 1 < len(cuts) else None
        index = np.flatnonzero((known >= c) & (known < top if top is not None else True))
        if len(index):
            points.append(CurvePoint(c, top, len(index), metrics_of(index)))
    probability = getattr(task, "probabilities", None)
    calibration = {}
    for name, p in preds.items():
        prob = probability(data, p) if callable(probability) else p
        prob = np.asarray(prob, np.float64)
        if (
            prob.ndim == 2
            and prob.shape[1] == 1
            and data.y.shape[1] >= 1
            and np.all((prob >= 0) & (prob <= 1))
        ):
            calibration[name] = (prob[:, 0], data.y[:, 0].astype(np.float64))
    return PipelineReplay(
        pipeline,
        task_objective(task),
        len(data),
        len(ids),
        everything,
        within,
        tuple(points),
        len(trained),
        sum(trained),
        failed,
        float(np.mean(np.concatenate(scored.served_model))),
        calibration,
    )


def _concat(parts: Sequence[Dataset]) -> Dataset:
    times = [p.times for p in parts]
    return Dataset(
        np.concatenate([p.x for p in parts]),
        np.concatenate([p.y for p in parts]),
        np.concatenate([p.weights for p in parts]),
        parts[0].schema,
        None if any(t is None for t in times) else np.concatenate(times),  # type: ignore[arg-type]
    )


def _weighted_mean(pairs: Sequence[tuple[int, float]]) -> float:
    ok = [(n, v) for n, v in pairs if math.isfinite(v)]
    return float(sum(n * v for n, v in ok) / sum(n for n, _ in ok)) if ok else math.nan


def _plain(m: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float | None]]:
    return {
        k: {mk: (None if not math.isfinite(v) else round(v, 6)) for mk, v in d.items()} for k, d in m.items()
    }
