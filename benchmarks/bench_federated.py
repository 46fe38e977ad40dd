"""Federated shared models (FedAdam with DP) vs the same models trained centrally, at several epsilons;
and the Simulation Engine's speed and memory at 100 / 1,000 / 10,000 simulated learners.

Habit: 1,000 simulated habit learners (``simulate_habit_learners``, 60 days, 3 habits). Each epsilon
runs ``inprocess``: the rounds of the shared-model strategy without Flower's transport, each sampled
learner's update (or, in the standardisation rounds, its clipped feature statistics) computed exactly
as a device does (LiteRT on the device spec, a fresh optimizer, the same clip) and the same
``SharedModelStrategy`` with Flower's DP wrapper adding the noise; two seeds per epsilon. The noise
multiplier for each epsilon is calibrated by the RDP accountant (dp-accounting, Poisson-sampled
Gaussian at q = clients per round / learners, delta 1e-5) over every round, standardisation rounds
included. The central model is trained on all the fleet's samples pooled (same ModelSpec and backend,
one epoch). Both are scored as the cold-start base on 200 *other* simulated learners. Grading: the
rubric network, federated across teachers made of real graded answers (SemEval-2013, SAF) vs trained
on their pooled rows, Pearson on the held-out splits. Speed: a fleet enrolled in an encrypted satchel
app runs a few rounds on Flower's Simulation Engine (Ray, 2 CPUs, SecAgg+ on), every client through
``contribute()``. Ad hoc: ``python -m benchmarks.bench_federated --engine inprocess --eps 8,inf
--seeds 2`` (quality; ``--standardize-rounds 0``: raw features), ``--engine flower`` (quality on the
Simulation Engine), ``--grading --rounds 100 --per-round 20 --clip 0.015 --server-lr 0.02``,
``--scale 100,1000 --rounds 3`` (speed).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TITLE = "Federated learning (Flower, DP-FedAdam)"
DAYS = 60


@dataclass(frozen=True)
class Config:
    """The federated configuration measured (the fleet's ``[pipelines.habits.federated]``)."""

    learners: int = 1000
    rounds: int = 200
    per_round: int = 100
    local_epochs: int = 1
    clip: float = 0.02
    server_lr: float = 0.03
    strategy: str = "fedadam"
    standardize_rounds: int = 1  # rounds per standardisation stage (0: train on raw features)


def _pooled(featurizer: Any, learners: Any, now: Any) -> Any:
    from satchel.model.dataset import Dataset

    parts = [featurizer.training_data(list(learner.events), now=now) for learner in learners]
    parts = [d for d in parts if len(d)]
    return Dataset(
        np.concatenate([d.x for d in parts]),
        np.concatenate([d.y for d in parts]),
        np.concatenate([d.weights for d in parts]),
        parts[0].schema,
    )


def _options(c: Config, eps: float, secure: bool, rounds: int | None = None) -> Any:
    from satchel.federated.fleet import FleetOptions

    return FleetOptions(
        learners=c.learners,
        days=DAYS,
        rounds=rounds or c.rounds,
        clients_per_round=c.per_round,
        local_epochs=c.local_epochs,
        clip_norm=c.clip,
        strategy=c.strategy,
        server_learning_rate=c.server_lr,
        target_epsilon=None if math.isinf(eps) else eps,
        noise_multiplier=0.0 if math.isinf(eps) else None,
        epsilon_cap=math.inf if math.isinf(eps) else eps * 1.01,
        secure_aggregation=secure,
        standardize=c.standardize_rounds > 0,
        standardize_rounds=max(1, c.standardize_rounds),
    )


def inprocess(
    backend: Any, spec: Any, data: list[Any], c: Config, eps: float, *, work: Path, seed: int = 0
) -> tuple[dict[str, np.ndarray], float, Any]:
    """The rounds without Flower's transport, Ray or the devices' stores: each sampled learner's
    update is trained by the pipeline's backend on the spec a device trains (``local_spec``), from a
    fresh optimizer, and clipped by ``client.clip``; the same ``SharedModelStrategy`` (Flower's DP
    wrapper adds the noise) applies the server step. Returns the global model (on raw features), the
    noise multiplier and the standardisation estimated (None without standardisation rounds)."""
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters

    from satchel.federated.accounting import noise_for_epsilon
    from satchel.federated.client import clip, local_spec
    from satchel.federated.flower import SharedModelStrategy
    from satchel.federated.standardize import default_clip, device_statistic, encode, standardize_data
    from satchel.model.backend import Weights
    from satchel.model.spec import initial_params

    names = list(spec.param_shapes)
    n = c.standardize_rounds
    sigma = noise_for_epsilon(eps, c.per_round / c.learners, c.rounds + 2 * n, 1e-5)
    start = initial_params(spec)
    stats_clip = default_clip(spec.input_dim)
    strategy = SharedModelStrategy(
        [start[k] for k in names],
        c.per_round,
        c.learners,
        c.clip,
        sigma,
        "bench",
        c.strategy,
        c.server_lr,
        names=names,
        standardize_rounds=n,
        stats_clip=stats_clip,
    )
    trainer = backend.open(
        backend.compile(local_spec(spec, c.strategy), work / "compiled"), Weights(dict(start))
    )
    rng = np.random.default_rng(seed)
    standardized: dict[int, Any] = {}

    def ok(arrays: list[np.ndarray]) -> Any:
        return (None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters(arrays), 1, {}))

    for r in range(1, c.rounds + 2 * n + 1):
        stage = strategy.stage(r)
        current = dict(zip(names, strategy.current))
        config = strategy.fit_config(r)
        mean = np.asarray(json.loads(config["mean"])) if "mean" in config else None
        results = []
        for i in rng.choice(len(data), c.per_round, replace=False):
            if stage != "train":  # a device's statistics, as contribute_statistics() sends them
                vector, _ = encode(device_statistic(data[i], stage, mean), stats_clip, c.clip)
                results.append(ok(vector))
                continue
            own = data[i]
            if strategy.standardization is not None:
                if i not in standardized:
                    standardized[i] = standardize_data(data[i], strategy.standardization)
                own = standardized[i]
            trainer.set_weights(Weights(dict(current)))  # fresh optimizer, as on a device
            trainer.set_reference(current)  # a spec's L2 pull is toward the round's model, as on a device
            trainer.fit(own, c.local_epochs, seed=r)
            new = trainer.get_weights().params
            delta, _ = clip({k: new[k] - current[k] for k in names}, c.clip)
            results.append(ok([delta[k] for k in names]))
        strategy.aggregate_fit(r, results, [])
    return dict(zip(names, strategy.model())), sigma, strategy.standardization


def measure(
    c: Config,
    epsilons: list[float],
    *,
    work: Path,
    secagg_rounds: int = 0,
    engine: str = "flower",
    seeds: int = 1,
    log: Any = print,
) -> dict[str, Any]:
    """Score the global model at every epsilon against the central model. ``engine = "flower"``
    enrols the fleet once and runs each epsilon on a copy on the Simulation Engine; ``"inprocess"``
    runs :func:`inprocess` (``seeds`` runs per epsilon) on the same learners' samples."""
    import satchel
    from satchel.federated.fleet import build_fleet, write_config
    from satchel.federated.simulate import simulate
    from satchel.model import metrics
    from satchel.model.backend import Weights
    from satchel.model.spec import initial_params
    from satchel_plugins.habit.simulate import simulate_habit_learners

    os.environ.setdefault("SATCHEL_FLEET_KEY", base64.b64encode(os.urandom(32)).decode())
    base = work / "fleet"
    t = time.perf_counter()
    if engine == "flower":
        path, learners = build_fleet(base, _options(c, 8.0, False))
    else:
        path = write_config(base, _options(c, 8.0, False))
        learners = simulate_habit_learners(c.learners, days=DAYS, habits=3, seed=0)
    out: dict[str, Any] = {
        "config": vars(c),
        "engine": engine,
        "setup_s": time.perf_counter() - t,
        "runs": [],
    }
    now = learners[0].day(DAYS)
    held = simulate_habit_learners(200, days=DAYS, habits=3, seed=99)
    with satchel.open(path, clock=lambda: now) as app:
        feat, task = app.component("habits", "featurizer"), app.component("habits", "model")
        spec = task.model_spec(feat.schema)
        backend = app.component("habits", "backend")
        compiled = backend.compile(spec, work / "compiled")
        test = _pooled(feat, held, now)
        scorer = backend.open(compiled, Weights(initial_params(spec)))

        def score(params: Any) -> dict[str, float]:
            scorer.set_weights(Weights(dict(params)))
            p = scorer.predict(test.x)[:, 0]
            return {"auc": metrics.auc(test.y[:, 0], p), "log_loss": metrics.log_loss(test.y[:, 0], p)}

        out["initial"] = score(initial_params(spec))
        pooled = _pooled(feat, learners, now)
        central = backend.open(compiled, Weights(initial_params(spec)))
        t = time.perf_counter()
        central.fit(pooled, 1, seed=0)
        out["central"] = {
            **score(central.get_weights().params),
            "samples": len(pooled),
            "seconds": time.perf_counter() - t,
        }
        log(f"central {out['central']}")
        if engine != "flower":
            data = [feat.training_data(list(learner.events), now=now) for learner in learners]
            for eps in epsilons:
                for seed in range(seeds):
                    t = time.perf_counter()
                    params, sigma, st = inprocess(backend, spec, data, c, eps, work=work, seed=seed)
                    row = {
                        "epsilon_target": "inf" if math.isinf(eps) else eps,
                        "seed": seed,
                        "epsilon": "inf" if math.isinf(eps) else accounting_epsilon(sigma, c),
                        "noise_multiplier": sigma,
                        "noise_std_on_mean": sigma * c.clip / c.per_round,
                        "rounds": c.rounds,
                        "secure_aggregation": False,
                        "federated": score(params),
                        "sim_seconds": time.perf_counter() - t,
                        "standardization": json.loads(st.to_json()) if st is not None else None,
                    }
                    log(json.dumps(row, default=float))
                    out["runs"].append(row)
            return out
        plan_runs = [(e, False, None) for e in epsilons] + (
            [(8.0, True, secagg_rounds)] if secagg_rounds else []
        )
        for eps, secure, rounds in plan_runs:
            copy = work / f"eps-{eps}-{'secagg' if secure else 'plain'}"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(base, copy)
            cfg = write_config(copy, _options(c, eps, secure, rounds))
            t = time.perf_counter()
            result = simulate(
                cfg, "habits", population=c.learners, run=f"bench-{eps}", now=now, secure_aggregation=secure
            )
            wall = time.perf_counter() - t
            rl = list(result.rounds)
            steady = rl[1:] or rl
            row = {
                "epsilon_target": "inf" if math.isinf(eps) else eps,
                "epsilon": result.epsilon if math.isfinite(result.epsilon) else "inf",
                "delta": result.delta,
                "noise_multiplier": result.noise_multiplier,
                "noise_std_on_mean": result.noise_multiplier * result.clip_norm / c.per_round,
                "q": c.per_round / c.learners,
                "rounds": len(rl),
                "secure_aggregation": secure,
                "federated": score(result.params),
                "sim_seconds": wall,
                "received": sum(r.received for r in rl),
                "clients_per_s": sum(r.received for r in steady) / max(1e-9, sum(r.seconds for r in steady)),
                "bytes_per_client_round": max((r.bytes_per_client for r in rl), default=0),
            }
            log(json.dumps(row, default=float))
            out["runs"].append(row)
            shutil.rmtree(copy, ignore_errors=True)
    return out


# ------------------------------------------------------------------ grading (rubric) fleet

#: answers of one question a teacher's class gives (a question's answers are split into classes)
CLASS_SIZE = 30
#: question-classes per teacher
CLASSES_PER_TEACHER = 3
#: the held-out splits the grading models are scored on (never trained on), as in the rubric base
GRADING_HELD_OUT: tuple[tuple[str, str, str], ...] = (
    ("SemEval test_ua", "semeval", "test_ua"),
    ("SemEval test_uq", "semeval", "test_uq"),
    ("SAF unseen_answers", "saf", "unseen_answers"),
    ("SAF unseen_questions", "saf", "unseen_questions"),
)


@dataclass(frozen=True)
class GradingConfig:
    """The grading shared model measured: real teachers' gradebooks, FedAdam with DP."""

    rounds: int = 100
    per_round: int = 20
    local_epochs: int = 1
    clip: float = 0.015  # about the median norm of the teachers' first updates
    server_lr: float = 0.02
    standardize_rounds: int = 1
    max_teachers: int = 0  # 0: every teacher the real data makes
    held_out: int = 0  # answers scored per held-out split (0: all)


def grading_teachers(seed: int = 0, max_teachers: int = 0) -> list[tuple[Any, ...]]:
    """Teachers made of the real graded answers the rubric base trains on (SemEval-2013 train, SAF
    training; ../shared/data): each question's answers are split into classes of about
    ``CLASS_SIZE`` students, and each teacher gets ``CLASSES_PER_TEACHER`` classes of one corpus, with
    the gold grades as their own (SemEval 0/1, SAF 0..4). Returns (answers, scale_max) per teacher,
    in the order the teacher grades them."""
    from satchel_plugins.rubric.saf import load_saf
    from satchel_plugins.rubric.semeval import load_semeval

    rng = np.random.default_rng(seed)
    teachers: list[tuple[Any, ...]] = []
    for answers, scale in ((load_semeval(splits=("train",)), 1), (load_saf(splits=("training",)), 4)):
        by_question: dict[str, list[Any]] = {}
        for a in answers:
            by_question.setdefault(a.question, []).append(a)
        classes = []
        for q in sorted(by_question):
            group = [by_question[q][i] for i in rng.permutation(len(by_question[q]))]
            n = max(1, round(len(group) / CLASS_SIZE))
            classes += [group[i::n] for i in range(n)]
        order = rng.permutation(len(classes))
        for t in range(0, len(order) - CLASSES_PER_TEACHER + 1, CLASSES_PER_TEACHER):
            mine = [a for i in order[t : t + CLASSES_PER_TEACHER] for a in classes[i]]
            teachers.append((tuple(mine[i] for i in rng.permutation(len(mine))), scale))
    if max_teachers:
        teachers = [teachers[i] for i in sorted(rng.choice(len(teachers), max_teachers, replace=False))]
    return teachers


def measure_grading(
    g: GradingConfig,
    epsilons: list[float],
    *,
    work: Path,
    seeds: int = 1,
    raw_epsilons: tuple[float, ...] = (),
    log: Any = print,
) -> dict[str, Any]:
    """Federated vs central Pearson of the grading model: each teacher's gradebook featurized on
    their own device (``answer_text``, teacher features seeing only earlier grades), the rubric
    network trained by :func:`inprocess` (FedAdam, DP, LiteRT on the device spec) or centrally on
    the pooled rows (the rubric base's recipe: Adam 0.003, batch 32, 8 epochs, no pull), both from
    the untrained network; scored on the held-out splits graded in order (Pearson of the expected
    grade with the gold credit). ``raw_epsilons``: the same without standardisation rounds. Empty
    when ../shared/data is absent."""
    import dataclasses

    from satchel.model.dataset import Dataset
    from satchel.model.spec import Optimizer, initial_params
    from satchel_plugins.backends.litert import LiteRTBackend
    from satchel_plugins.rubric.features import SCHEMA, AnswerFeaturizer
    from satchel_plugins.rubric.saf import SAF_DIR, load_saf
    from satchel_plugins.rubric.semeval import SEMEVAL_CSV, answer_events, load_semeval
    from satchel_plugins.rubric.task import RubricTask
    from satchel_plugins.rubric.train_base import LEARNING_RATE, graded_in_order, labels

    if not (SEMEVAL_CSV.exists() and SAF_DIR.exists()):
        log("grading: ../shared/data is absent, skipped")
        return {}
    t = time.perf_counter()
    teachers = grading_teachers(0, g.max_teachers)
    featurizer = AnswerFeaturizer()
    data = []
    for answers, scale in teachers:
        events = answer_events(answers, [a.grade for a in answers], scale_max=scale)
        data.append(featurizer.training_data(events, now=max(e.time for e in events)))
    task = RubricTask()
    spec = task.model_spec(SCHEMA)
    held = []
    for name, source, split in GRADING_HELD_OUT:
        answers = load_semeval(splits=(split,)) if source == "semeval" else load_saf(splits=(split,))
        if g.held_out:
            answers = answers[: g.held_out]
        held.append((name, Dataset.of(graded_in_order(answers, seed=0), labels(answers), schema=SCHEMA)))
    backend = LiteRTBackend()
    scorer = backend.open(backend.compile(spec, work / "compiled"))
    out: dict[str, Any] = {
        "config": vars(g),
        "teachers": len(data),
        "answers": sum(len(d) for d in data),
        "setup_s": time.perf_counter() - t,
        "runs": [],
    }
    log(f"grading: {out['teachers']} teachers, {out['answers']} graded answers")

    def score(params: Any) -> dict[str, float]:
        from satchel.model.backend import Weights

        scorer.set_weights(Weights(dict(params)))
        per = {name: task.metrics(d, scorer.predict(d.x))["pearson"] for name, d in held}
        return {**per, "mean": float(np.mean(list(per.values())))}

    out["initial"] = score(initial_params(spec))
    pooled = Dataset(
        np.concatenate([d.x for d in data]),
        np.concatenate([d.y for d in data]),
        np.concatenate([d.weights for d in data]),
        SCHEMA,
    )
    recipe = dataclasses.replace(
        spec, l2_to_reference=0.0, optimizer=Optimizer(learning_rate=LEARNING_RATE), batch_size=32
    )
    from satchel.model.backend import Weights

    central = backend.open(backend.compile(recipe, work / "compiled"), Weights(initial_params(spec)))
    t = time.perf_counter()
    central.fit(pooled, 8, shuffle=True, seed=0)
    out["central"] = {**score(central.get_weights().params), "seconds": time.perf_counter() - t}
    out["shipped_base"] = score(task.base_params(SCHEMA))
    log(f"grading central {out['central']}")
    c = Config(
        len(data), g.rounds, g.per_round, g.local_epochs, g.clip, g.server_lr, "fedadam", g.standardize_rounds
    )
    raw = dataclasses.replace(c, standardize_rounds=0)
    for cfg, eps in [(c, e) for e in epsilons] + [(raw, e) for e in raw_epsilons]:
        for seed in range(seeds):
            t = time.perf_counter()
            params, sigma, st = inprocess(backend, spec, data, cfg, eps, work=work, seed=seed)
            row = {
                "epsilon_target": "inf" if math.isinf(eps) else eps,
                "seed": seed,
                "epsilon": "inf" if math.isinf(eps) else accounting_epsilon(sigma, cfg),
                "noise_multiplier": sigma,
                "standardized": st is not None,
                "federated": score(params),
                "sim_seconds": time.perf_counter() - t,
            }
            log("grading " + json.dumps(row, default=float))
            out["runs"].append(row)
    return out


def accounting_epsilon(sigma: float, c: Config) -> float:
    """The RDP accountant's epsilon (delta 1e-5) of ``c.rounds`` rounds at noise ``sigma``."""
    from satchel.federated.accounting import Steps, epsilon

    return epsilon([Steps(sigma, c.per_round / c.learners, c.rounds + 2 * c.standardize_rounds)], 1e-5)


class PeakRss:
    """Peak resident memory of this process and all its descendants (the Ray head and workers),
    sampled every ``interval`` seconds while the block runs."""

    def __init__(self, interval: float = 0.25) -> None:
        import threading

        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a worker may exit between listing and reading
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def scale(
    learners: int, work: Path, *, rounds: int = 3, per_round: int = 100, secure: bool = True, log: Any = print
) -> dict[str, Any]:
    """Enrol ``learners`` simulated learners and run ``rounds`` rounds of ``per_round`` clients on
    the Simulation Engine: enrolment time, clients/s after the first round, peak RSS, bytes sent."""
    from satchel.federated.fleet import build_fleet
    from satchel.federated.simulate import simulate

    os.environ.setdefault("SATCHEL_FLEET_KEY", base64.b64encode(os.urandom(32)).decode())
    # training rounds only (no standardisation stages): the engine's speed with every client training
    c = Config(learners=learners, rounds=rounds, per_round=min(per_round, learners), standardize_rounds=0)
    o = _options(c, 8.0, secure)
    t = time.perf_counter()
    path, fleet = build_fleet(work / f"scale-{learners}", o)
    setup = time.perf_counter() - t
    t = time.perf_counter()
    with PeakRss() as rss:
        result = simulate(
            path,
            "habits",
            population=learners,
            run=f"scale-{learners}",
            now=fleet[0].day(DAYS),
            secure_aggregation=secure,
        )
    wall = time.perf_counter() - t
    rl = list(result.rounds)
    steady = rl[1:] or rl
    row = {
        "learners": learners,
        "per_round": o.clients_per_round,
        "rounds": len(rl),
        "secure_aggregation": secure,
        "enrol_s": setup,
        "sim_seconds": wall,
        "first_round_s": rl[0].seconds if rl else 0.0,
        "clients_per_s": sum(r.received for r in steady) / max(1e-9, sum(r.seconds for r in steady)),
        "peak_rss_bytes": rss.peak,
        "bytes_per_client_round": max((r.bytes_per_client for r in rl), default=0),
    }
    log(json.dumps(row, default=float))
    shutil.rmtree(work / f"scale-{learners}", ignore_errors=True)
    return row


def run(ctx: Any) -> Any:
    import dataclasses

    from benchmarks.report import Section

    c = Config() if not ctx.quick else Config(learners=60, rounds=3, per_round=10)
    before = dataclasses.replace(c, standardize_rounds=0)  # the previous default: raw features
    g = (
        GradingConfig()
        if not ctx.quick
        else GradingConfig(rounds=3, per_round=4, max_teachers=8, held_out=60)
    )
    epsilons = [1.0, 4.0, 8.0, math.inf] if not ctx.quick else [8.0, math.inf]
    sizes = (100, 1000, 10000) if not ctx.quick else (20,)
    with tempfile.TemporaryDirectory(prefix="satchel-bench-fed-") as tmp:
        data = measure(c, epsilons, work=Path(tmp), engine="inprocess", seeds=ctx.size(2, 1))
        old = measure(before, epsilons, work=Path(tmp) / "before", engine="inprocess", seeds=ctx.size(2, 1))
        grading = measure_grading(
            g, epsilons, work=Path(tmp) / "grading", seeds=ctx.size(2, 1), raw_epsilons=(8.0, math.inf)
        )
        speed = [scale(n, Path(tmp), rounds=3, per_round=ctx.size(100, 10)) for n in sizes]
    raw = {"quality": data, "before": old, "grading": grading, "scale": speed}
    (ctx.plot_dir / "federated-raw.json").write_text(
        json.dumps(raw, indent=1, default=float), encoding="utf-8"
    )
    intro = (__doc__ or "").split("\n\n")[1].replace("\n", " ")
    tables = [_quality_table(c, data, before, old)]
    if grading:
        tables.append(_grading_table(g, grading))
    tables.append(_scale_table(speed))
    return Section("federated", TITLE, intro, tuple(tables), (_plot(ctx, data, old),))


def _by_epsilon(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in data["runs"]:
        out.setdefault(str(r["epsilon_target"]), []).append(r)
    return out


def _mean_range(values: list[float]) -> str:
    return f"{np.mean(values):.4f} [{min(values):.4f}, {max(values):.4f}]"


def _quality_table(c: Config, data: dict[str, Any], before: Config, old: dict[str, Any]) -> Any:
    from benchmarks.report import TableBuilder

    central = data["central"]
    t = TableBuilder(
        f"{c.learners} simulated learners: the federated global model as the cold-start base, vs "
        "central training (scored on 200 other learners; mean of the seeds, range in brackets)",
        (
            "inputs",
            "epsilon (delta 1e-5)",
            "noise multiplier",
            "rounds x clients",
            "AUC",
            "AUC - central",
            "log loss",
        ),
    )

    def add(cfg: Config, d: dict[str, Any], label: str) -> None:
        extra = f" + {2 * cfg.standardize_rounds}" if cfg.standardize_rounds else ""
        for eps, rows in _by_epsilon(d).items():
            auc = [r["federated"]["auc"] for r in rows]
            ll = [r["federated"]["log_loss"] for r in rows]
            t.add(
                label,
                eps,
                round(rows[0]["noise_multiplier"], 3),
                f"{cfg.rounds}{extra} x {cfg.per_round}",
                _mean_range(auc),
                f"{np.mean(auc) - central['auc']:+.4f}",
                f"{np.mean(ll):.4f}",
            )

    add(c, data, "standardised (default)")
    add(before, old, "raw (previous default)")
    t.add(
        "central (pooled, 1 epoch)",
        "-",
        "-",
        "-",
        f"{central['auc']:.4f}",
        "+0.0000",
        f"{central['log_loss']:.4f}",
    )
    t.add(
        "untrained start",
        "-",
        "-",
        "-",
        f"{data['initial']['auc']:.4f}",
        f"{data['initial']['auc'] - central['auc']:+.4f}",
        f"{data['initial']['log_loss']:.4f}",
    )
    t.notes += [
        f"FedAdam: devices run SGD at the pipeline's learning rate for {c.local_epochs} local epoch, clip "
        f"{c.clip}, server Adam (bias-corrected) at {c.server_lr}; q = {c.per_round / c.learners:g}; epsilon "
        "is the RDP accountant's for the whole run, per learner, standardisation rounds included.",
        f"standardised: the run starts with {c.standardize_rounds} DP round(s) estimating the features' means "
        f"and {c.standardize_rounds} their spreads (same clip-and-noise mechanism, the '+ "
        f"{2 * c.standardize_rounds}' rounds), trains on standardised inputs and folds the standardisation into "
        "the first layer: the global model is an ordinary model of the same spec on raw features, scored on raw "
        "features against the same central model.",
    ]
    return t.build()


def _grading_row(
    t: Any, g: GradingConfig, eps: str, rows: list[dict[str, Any]], splits: list[str], central: Any, std: bool
) -> None:
    per = {k: float(np.mean([r["federated"][k] for r in rows])) for k in [*splits, "mean"]}
    rounds = f"{g.rounds} + {2 * g.standardize_rounds}" if std else f"{g.rounds}"
    t.add(
        f"federated, {'standardised' if std else 'raw'}, {rounds} rounds x {g.per_round}",
        eps,
        round(rows[0]["noise_multiplier"], 3),
        *(f"{per[k]:.3f}" for k in splits),
        _mean_range([r["federated"]["mean"] for r in rows]),
        f"{per['mean'] - central['mean']:+.4f}",
    )


def _grading_table(g: GradingConfig, d: dict[str, Any]) -> Any:
    from benchmarks.report import TableBuilder

    splits = [name for name, _, _ in GRADING_HELD_OUT]
    central = d["central"]
    t = TableBuilder(
        f"Grading (rubric) shared model: {d['teachers']} teachers' real gradebooks ({d['answers']} graded "
        "answers), federated vs central: Pearson of the expected grade with the gold credit on the held-out "
        "splits, graded in order (mean of the seeds)",
        ("model", "epsilon (delta 1e-5)", "noise multiplier", *splits, "mean", "mean - central"),
    )
    for std in (True, False):
        for eps, rows in _by_epsilon({"runs": [r for r in d["runs"] if r["standardized"] == std]}).items():
            _grading_row(t, g, eps, rows, splits, central, std)
    for label, row in (
        ("central (pooled, 8 epochs)", central),
        ("shipped base (central, offline)", d["shipped_base"]),
        ("untrained start", d["initial"]),
    ):
        t.add(
            label,
            "-",
            "-",
            *(f"{row[k]:.3f}" for k in splits),
            f"{row['mean']:.4f}",
            f"{row['mean'] - central['mean']:+.4f}",
        )
    t.notes += [
        f"Teachers: the real answers the rubric base trains on (SemEval-2013 2-way train, SAF training; "
        f"../shared/data) split into classes of about {CLASS_SIZE} answers per question, "
        f"{CLASSES_PER_TEACHER} classes per teacher, one corpus each, the gold grades as the teacher's "
        "(SemEval 0/1, SAF 0..4); each gradebook featurized as on the teacher's device (answer_text).",
        f"Federated: FedAdam from the untrained network, q = {g.per_round / d['teachers']:.3g}, clip {g.clip}, "
        f"server learning rate {g.server_lr}, {g.local_epochs} local epoch of SGD with the task's pull toward "
        "the round's model; standardised (the default) or raw inputs. Central: the rubric base's recipe (Adam 0.003, batch 32, 8 "
        "epochs) on the pooled rows. The shipped base was trained on the same answers seen in two grading "
        "orders and blind.",
    ]
    return t.build()


def _scale_table(rows: list[dict[str, Any]]) -> Any:
    from benchmarks.report import TableBuilder

    t = TableBuilder(
        "Flower Simulation Engine on 2 CPUs: speed and memory by fleet size (SecAgg+ on, "
        "every client through contribute())",
        (
            "learners",
            "clients per round",
            "rounds",
            "enrolment (s)",
            "first round (s)",
            "clients/s after the first round",
            "peak RSS (MB)",
            "bytes/client/round",
        ),
    )
    for r in rows:
        t.add(
            r["learners"],
            r["per_round"],
            r["rounds"],
            round(r["enrol_s"]),
            round(r["first_round_s"], 1),
            round(r["clients_per_s"], 1),
            round(r["peak_rss_bytes"] / 2**20),
            r["bytes_per_client_round"],
        )
    t.notes.append(
        "Peak RSS sums this process and all its descendants (Ray's head, raylet and workers), sampled "
        "every 0.25 s while the simulation runs; it includes the enrolling process's simulated fleet."
    )
    return t.build()


def _plot(ctx: Any, data: dict[str, Any], old: dict[str, Any]) -> Path:
    from benchmarks.report import pyplot, save_plot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (d, label) in enumerate(((data, "standardised (default)"), (old, "raw features"))):
        groups = _by_epsilon(d)
        finite = sorted((float(e), rows) for e, rows in groups.items() if e != "inf")
        means = [float(np.mean([r["federated"]["auc"] for r in rows])) for _, rows in finite]
        lo = [m - min(r["federated"]["auc"] for r in rows) for m, (_, rows) in zip(means, finite)]
        hi = [max(r["federated"]["auc"] for r in rows) - m for m, (_, rows) in zip(means, finite)]
        ax.errorbar(
            [e for e, _ in finite], means, yerr=[lo, hi], fmt="o-", capsize=3, color=f"C{i}", label=label
        )
        if "inf" in groups:
            ax.axhline(
                np.mean([r["federated"]["auc"] for r in groups["inf"]]),
                color=f"C{i}",
                ls=":",
                label=f"{label}, no DP",
            )
    ax.axhline(data["central"]["auc"], color="k", ls="--", label="central (pooled)")
    ax.axhline(data["central"]["auc"] - 0.01, color="k", ls=":", lw=0.8, label="central - 0.01")
    ax.axhline(data["initial"]["auc"], color="grey", lw=0.8, label="untrained")
    ax.set(
        xscale="log",
        xlabel="epsilon (delta = 1e-5)",
        ylabel="AUC on 200 held-out learners",
        title=f"Privacy-utility, {data['config']['learners']} learners",
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    return save_plot(fig, ctx, "federated")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--learners", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=Config.rounds)
    ap.add_argument("--per-round", type=int, default=Config.per_round)
    ap.add_argument("--local-epochs", type=int, default=Config.local_epochs)
    ap.add_argument("--clip", type=float, default=Config.clip)
    ap.add_argument("--server-lr", type=float, default=Config.server_lr)
    ap.add_argument("--strategy", default=Config.strategy)
    ap.add_argument("--standardize-rounds", type=int, default=Config.standardize_rounds)
    ap.add_argument("--eps", default="8")
    ap.add_argument("--secagg-rounds", type=int, default=0)
    ap.add_argument("--engine", choices=("flower", "inprocess"), default="flower")
    ap.add_argument("--seeds", type=int, default=1, help="in-process runs per epsilon")
    ap.add_argument("--scale", default="", help="only the scale rows: comma-separated learner counts")
    ap.add_argument("--grading", action="store_true", help="only the grading fleet (in-process)")
    ap.add_argument("--max-teachers", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("build/bench-federated/result.json"))
    a = ap.parse_args()
    c = Config(
        a.learners,
        a.rounds,
        a.per_round,
        a.local_epochs,
        a.clip,
        a.server_lr,
        a.strategy,
        a.standardize_rounds,
    )
    eps = [math.inf if e == "inf" else float(e) for e in a.eps.split(",")]
    with tempfile.TemporaryDirectory(prefix="satchel-bench-fed-") as tmp:
        if a.grading:
            g = GradingConfig(
                a.rounds,
                a.per_round,
                a.local_epochs,
                a.clip,
                a.server_lr,
                a.standardize_rounds,
                a.max_teachers,
            )
            data = measure_grading(g, eps, work=Path(tmp), seeds=a.seeds)
        elif a.scale:
            data: Any = [
                scale(int(n), Path(tmp), rounds=a.rounds, per_round=a.per_round) for n in a.scale.split(",")
            ]
        else:
            data = measure(
                c, eps, work=Path(tmp), secagg_rounds=a.secagg_rounds, engine=a.engine, seeds=a.seeds
            )
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(data, indent=1, default=float))


if __name__ == "__main__":
    main()
