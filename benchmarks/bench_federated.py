"""Federated habit model (FedAdam with DP) vs the same model trained centrally, at several epsilons; and
the Simulation Engine's speed and memory at 100 / 1,000 / 10,000 simulated learners.

Quality: 1,000 simulated habit learners (``simulate_habit_learners``, 60 days, 3 habits). Each
epsilon runs ``inprocess``: the rounds of the shared-model strategy without Flower's transport, each
sampled learner's update trained by the pipeline's LiteRT backend exactly as a device does (the
device spec, a fresh optimizer, the same clip) and the same ``SharedModelStrategy`` with Flower's DP
wrapper adding the noise; two seeds per epsilon. The noise multiplier for each epsilon is calibrated
by the RDP accountant (dp-accounting, Poisson-sampled Gaussian at q = clients per round / learners,
delta 1e-5). The central model is trained on all the fleet's samples pooled (same ModelSpec and
backend, one epoch). Both are scored as the cold-start base on 200 *other* simulated learners.
Speed: a fleet enrolled in an encrypted satchel app runs a few rounds on Flower's Simulation Engine
(Ray, 2 CPUs, SecAgg+ on), every client through ``contribute()``. Ad hoc:
``python -m benchmarks.bench_federated --engine inprocess --eps 8,inf --seeds 2`` (quality),
``--engine flower`` (quality on the Simulation Engine), ``--scale 100,1000 --rounds 3`` (speed).
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
    )


def inprocess(
    backend: Any, spec: Any, data: list[Any], c: Config, eps: float, *, work: Path, seed: int = 0
) -> tuple[dict[str, np.ndarray], float]:
    """The rounds without Flower's transport, Ray or the devices' stores: each sampled learner's
    update is trained by the pipeline's backend on the spec a device trains (``local_spec``), from a
    fresh optimizer, and clipped by ``client.clip``; the same ``SharedModelStrategy`` (Flower's DP
    wrapper adds the noise) applies the server step. Returns the global model and the noise multiplier."""
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters

    from satchel.federated.accounting import noise_for_epsilon
    from satchel.federated.client import clip, local_spec
    from satchel.federated.flower import SharedModelStrategy
    from satchel.model.backend import Weights
    from satchel.model.spec import initial_params

    names = list(spec.param_shapes)
    sigma = noise_for_epsilon(eps, c.per_round / c.learners, c.rounds, 1e-5)
    start = initial_params(spec)
    strategy = SharedModelStrategy(
        [start[n] for n in names], c.per_round, c.learners, c.clip, sigma, "bench", c.strategy, c.server_lr
    )
    trainer = backend.open(
        backend.compile(local_spec(spec, c.strategy), work / "compiled"), Weights(dict(start))
    )
    rng = np.random.default_rng(seed)
    for r in range(1, c.rounds + 1):
        current = dict(zip(names, strategy.current))
        results = []
        for i in rng.choice(len(data), c.per_round, replace=False):
            trainer.set_weights(Weights(dict(current)))  # fresh optimizer, as on a device
            trainer.fit(data[i], c.local_epochs, seed=r)
            new = trainer.get_weights().params
            delta, _ = clip({n: new[n] - current[n] for n in names}, c.clip)
            results.append(
                (None, FitRes(Status(Code.OK, ""), ndarrays_to_parameters([delta[n] for n in names]), 1, {}))
            )
        strategy.aggregate_fit(r, results, [])
    return dict(zip(names, strategy.current)), sigma


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
                    params, sigma = inprocess(backend, spec, data, c, eps, work=work, seed=seed)
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


def accounting_epsilon(sigma: float, c: Config) -> float:
    """The RDP accountant's epsilon (delta 1e-5) of ``c.rounds`` rounds at noise ``sigma``."""
    from satchel.federated.accounting import Steps, epsilon

    return epsilon([Steps(sigma, c.per_round / c.learners, c.rounds)], 1e-5)


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
    o = _options(Config(learners=learners, rounds=rounds, per_round=min(per_round, learners)), 8.0, secure)
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
    from benchmarks.report import Section

    c = Config() if not ctx.quick else Config(learners=60, rounds=3, per_round=10)
    before = Config(c.learners, ctx.size(30, 3), c.per_round, 1, 0.5, 2.0, "fedavg")
    epsilons = [1.0, 4.0, 8.0, math.inf]
    sizes = (100, 1000, 10000) if not ctx.quick else (20,)
    with tempfile.TemporaryDirectory(prefix="satchel-bench-fed-") as tmp:
        data = measure(c, epsilons, work=Path(tmp), engine="inprocess", seeds=ctx.size(2, 1))
        old = measure(
            before, [8.0, math.inf], work=Path(tmp) / "before", engine="inprocess", seeds=ctx.size(2, 1)
        )
        speed = [scale(n, Path(tmp), rounds=3, per_round=ctx.size(100, 10)) for n in sizes]
    raw = {"quality": data, "before": old, "scale": speed}
    (ctx.plot_dir / "federated-raw.json").write_text(
        json.dumps(raw, indent=1, default=float), encoding="utf-8"
    )
    intro = (__doc__ or "").split("\n\n")[1].replace("\n", " ")
    return Section(
        "federated",
        TITLE,
        intro,
        (_quality_table(c, data, before, old), _scale_table(speed)),
        (_plot(ctx, data),),
    )


def _by_epsilon(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in data["runs"]:
        out.setdefault(str(r["epsilon_target"]), []).append(r)
    return out


def _quality_table(c: Config, data: dict[str, Any], before: Config, old: dict[str, Any]) -> Any:
    from benchmarks.report import TableBuilder

    central = data["central"]
    t = TableBuilder(
        f"{c.learners} simulated learners: the federated global model as the cold-start base, vs "
        "central training (scored on 200 other learners; mean of the seeds, range in brackets)",
        (
            "strategy",
            "epsilon (delta 1e-5)",
            "noise multiplier",
            "rounds x clients",
            "AUC",
            "AUC - central",
            "log loss",
        ),
    )

    def add(cfg: Config, d: dict[str, Any]) -> None:
        for eps, rows in _by_epsilon(d).items():
            auc = [r["federated"]["auc"] for r in rows]
            ll = [r["federated"]["log_loss"] for r in rows]
            t.add(
                cfg.strategy,
                eps,
                round(rows[0]["noise_multiplier"], 3),
                f"{cfg.rounds} x {cfg.per_round}",
                f"{np.mean(auc):.4f} [{min(auc):.4f}, {max(auc):.4f}]",
                f"{np.mean(auc) - central['auc']:+.4f}",
                f"{np.mean(ll):.4f}",
            )

    add(c, data)
    add(before, old)
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
        f"fedadam: devices run SGD at the pipeline's learning rate for {c.local_epochs} local epoch, clip "
        f"{c.clip}, server Adam (bias-corrected) at {c.server_lr}. fedavg (the previous default): devices run the "
        f"pipeline's Adam from a fresh state, clip {before.clip}, plain server step {before.server_lr}. "
        f"q = {c.per_round / c.learners:g}; epsilon is the RDP accountant's for the whole run, per learner.",
        "The fedavg rows do not improve with more rounds: a fresh Adam's first steps are nearly sign-sized, and "
        "the average of the learners' signs is not the average of their gradients (see docs/federated.md).",
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


def _plot(ctx: Any, data: dict[str, Any]) -> Path:
    from benchmarks.report import pyplot, save_plot

    plt = pyplot()
    groups = _by_epsilon(data)
    finite = sorted((float(e), rows) for e, rows in groups.items() if e != "inf")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(
        [e for e, _ in finite],
        [np.mean([r["federated"]["auc"] for r in rows]) for _, rows in finite],
        yerr=[
            [
                np.mean([r["federated"]["auc"] for r in rows]) - min(r["federated"]["auc"] for r in rows)
                for _, rows in finite
            ],
            [
                max(r["federated"]["auc"] for r in rows) - np.mean([r["federated"]["auc"] for r in rows])
                for _, rows in finite
            ],
        ],
        fmt="o-",
        capsize=3,
        label="federated (DP-FedAdam)",
    )
    if "inf" in groups:
        ax.axhline(
            np.mean([r["federated"]["auc"] for r in groups["inf"]]),
            color="C0",
            ls=":",
            label="federated, no DP",
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
    ax.legend(fontsize=8)
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
    ap.add_argument("--eps", default="8")
    ap.add_argument("--secagg-rounds", type=int, default=0)
    ap.add_argument("--engine", choices=("flower", "inprocess"), default="flower")
    ap.add_argument("--seeds", type=int, default=1, help="in-process runs per epsilon")
    ap.add_argument("--scale", default="", help="only the scale rows: comma-separated learner counts")
    ap.add_argument("--out", type=Path, default=Path("build/bench-federated/result.json"))
    a = ap.parse_args()
    c = Config(a.learners, a.rounds, a.per_round, a.local_epochs, a.clip, a.server_lr, a.strategy)
    eps = [math.inf if e == "inf" else float(e) for e in a.eps.split(",")]
    with tempfile.TemporaryDirectory(prefix="satchel-bench-fed-") as tmp:
        if a.scale:
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
