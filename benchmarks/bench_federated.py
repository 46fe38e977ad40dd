"""Federated habit model (Flower simulation, DP-FedAvg) vs the same model trained centrally, at several epsilons.

Simulated habit learners (``simulate_habit_learners``, 60 days, 3 habits) are enrolled once in an
encrypted satchel app; each epsilon runs on a copy of that fleet, on Flower's Simulation Engine (Ray,
2 CPUs, LiteRT backend), every client going through ``contribute()`` (consent gate, sealed budget,
clipping) and the server adding Gaussian noise to the mean of the clipped deltas. The noise
multiplier for each epsilon is calibrated by the RDP accountant (dp-accounting, Poisson-sampled
Gaussian at q = clients per round / learners, delta 1e-5). The central model is trained on all the
fleet's samples pooled (same ModelSpec, backend, one epoch). Both are scored as the cold-start
base on 200 *other* simulated learners (AUC, log loss). The epsilon grid runs without SecAgg+
(it changes who can see an update, not the model: the DP noise is the same); one SecAgg+ run
measures its cost. Ad hoc: ``python -m benchmarks.bench_federated --learners 1000 --eps 8,inf``.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

TITLE = "Federated learning (Flower, DP-FedAvg)"
NOTE = ('Why federated stays ~0.08 AUC under central at every epsilon, no DP included: not established. In an'
        ' in-process replica of the strategy, FedAvg stalls at AUC 0.73-0.77 with more rounds (to 200), all '
        'learners per round, FedAdam, a decaying server step, IID shards, and local SGD instead of Adam; the '
        'central model needs over 3,000 sequential Adam steps to pass 0.80. DP noise is not the bottleneck: '
        'see docs/federated.md.')
DAYS = 60


@dataclass(frozen=True)
class Config:
    """The federated configuration measured (the fleet's ``[pipelines.habits.federated]``)."""

    learners: int = 1000
    rounds: int = 30
    per_round: int = 100
    local_epochs: int = 1
    clip: float = 0.5
    server_lr: float = 2.0
    strategy: str = "fedavg"


def _pooled(featurizer: Any, learners: Any, now: Any) -> Any:
    from satchel.dataset import Dataset

    parts = [featurizer.training_data(list(l.events), now=now) for l in learners]
    parts = [d for d in parts if len(d)]
    return Dataset(np.concatenate([d.x for d in parts]), np.concatenate([d.y for d in parts]),
                   np.concatenate([d.weights for d in parts]), parts[0].schema)


def _options(c: Config, eps: float, secure: bool, rounds: int | None = None) -> Any:
    from satchel.federated.fleet import FleetOptions

    return FleetOptions(learners=c.learners, days=DAYS, rounds=rounds or c.rounds, clients_per_round=c.per_round,
                        local_epochs=c.local_epochs, clip_norm=c.clip, strategy=c.strategy,
                        server_learning_rate=c.server_lr, target_epsilon=None if math.isinf(eps) else eps,
                        noise_multiplier=0.0 if math.isinf(eps) else None,
                        epsilon_cap=math.inf if math.isinf(eps) else eps * 1.01, secure_aggregation=secure)


def measure(c: Config, epsilons: list[float], *, work: Path, secagg_rounds: int = 0,
            log: Any = print) -> dict[str, Any]:
    """Build the fleet once, run every epsilon on a copy, score against the central model."""
    import satchel
    from satchel import metrics
    from satchel.backend import Weights
    from satchel.federated.fleet import build_fleet, write_config
    from satchel.federated.simulate import simulate
    from satchel.model_spec import initial_params
    from satchel_plugins.habit.simulate import simulate_habit_learners

    os.environ.setdefault("SATCHEL_FLEET_KEY", base64.b64encode(os.urandom(32)).decode())
    base = work / "fleet"
    t = time.perf_counter()
    path, learners = build_fleet(base, _options(c, 8.0, False))
    out: dict[str, Any] = {"config": vars(c), "setup_s": time.perf_counter() - t, "runs": []}
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
        out["central"] = {**score(central.get_weights().params), "samples": len(pooled),
                          "seconds": time.perf_counter() - t}
        log(f"central {out['central']}")
        plan_runs = [(e, False, None) for e in epsilons] + ([(8.0, True, secagg_rounds)] if secagg_rounds else [])
        for eps, secure, rounds in plan_runs:
            copy = work / f"eps-{eps}-{'secagg' if secure else 'plain'}"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(base, copy)
            cfg = write_config(copy, _options(c, eps, secure, rounds))
            t = time.perf_counter()
            result = simulate(cfg, "habits", population=c.learners, run=f"bench-{eps}", now=now,
                              secure_aggregation=secure)
            wall = time.perf_counter() - t
            rl = list(result.rounds)
            steady = rl[1:] or rl
            row = {"epsilon_target": "inf" if math.isinf(eps) else eps,
                   "epsilon": result.epsilon if math.isfinite(result.epsilon) else "inf",
                   "delta": result.delta, "noise_multiplier": result.noise_multiplier,
                   "noise_std_on_mean": result.noise_multiplier * result.clip_norm / c.per_round,
                   "q": c.per_round / c.learners, "rounds": len(rl), "secure_aggregation": secure,
                   "federated": score(result.params), "sim_seconds": wall,
                   "received": sum(r.received for r in rl),
                   "clients_per_s": sum(r.received for r in steady) / max(1e-9, sum(r.seconds for r in steady)),
                   "bytes_per_client_round": max((r.bytes_per_client for r in rl), default=0)}
            log(json.dumps(row, default=float))
            out["runs"].append(row)
            shutil.rmtree(copy, ignore_errors=True)
    return out


def run(ctx: Any) -> Any:
    from benchmarks.report import Section, TableBuilder

    c = Config() if not ctx.quick else Config(learners=60, rounds=3, per_round=10)
    epsilons = [1.0, 4.0, 8.0, math.inf]
    with tempfile.TemporaryDirectory(prefix="satchel-bench-fed-") as tmp:
        data = measure(c, epsilons, work=Path(tmp), secagg_rounds=ctx.size(3, 2))
    (ctx.plot_dir / "federated-raw.json").write_text(json.dumps(data, indent=1, default=float), encoding="utf-8")
    central = data["central"]
    t = TableBuilder(f"{c.learners} simulated learners: the federated global model as the cold-start base, vs "
                     "central training (scored on 200 other learners)",
                     ("epsilon (delta 1e-5)", "noise multiplier", "noise std on the mean", "rounds x clients",
                      "SecAgg+", "AUC", "AUC - central", "log loss", "clients/s", "bytes/client/round"))
    for r in data["runs"]:
        f = r["federated"]
        t.add(r["epsilon"] if r["epsilon"] == "inf" else round(float(r["epsilon"]), 2), round(r["noise_multiplier"], 3),
              round(r["noise_std_on_mean"], 5), f"{r['rounds']} x {c.per_round}", "on" if r["secure_aggregation"] else "off",
              round(f["auc"], 4), f"{f['auc'] - central['auc']:+.4f}", round(f["log_loss"], 4),
              round(r["clients_per_s"], 2), r["bytes_per_client_round"])
    t.add("central (pooled, 1 epoch)", "-", "-", "-", "-", round(central["auc"], 4), "+0.0000",
          round(central["log_loss"], 4), "-", "-")
    t.add("untrained start", "-", "-", "-", "-", round(data["initial"]["auc"], 4),
          f"{data['initial']['auc'] - central['auc']:+.4f}", round(data["initial"]["log_loss"], 4), "-", "-")
    t.notes += [
        f"Configuration: FedAvg, {c.per_round} of {c.learners} learners per round (q = {c.per_round / c.learners:g}), "
        f"{c.local_epochs} local epoch, clip norm {c.clip}, server learning rate {c.server_lr}; the habit MLP "
        "(12-16-8-1, Adam 0.01 on the device, fresh optimizer each round). Epsilon is the RDP accountant's for "
        "the whole run, per learner (Poisson-subsampled Gaussian; Flower samples a fixed number uniformly).",
        f"Fleet enrolment took {data['setup_s']:.0f} s; central training on {central['samples']:,} samples took "
        f"{central['seconds']:.1f} s.",
        "The SecAgg+ row runs fewer rounds: it measures speed, not quality.",
        NOTE,
    ]
    intro = (__doc__ or "").split("\n\n")[1].replace("\n", " ")
    return Section("federated", TITLE, intro, (t.build(),), (_plot(ctx, data),))


def _plot(ctx: Any, data: dict[str, Any]) -> Path:
    from benchmarks.report import pyplot, save_plot

    plt = pyplot()
    runs = [r for r in data["runs"] if not r["secure_aggregation"]]
    finite = [r for r in runs if r["epsilon"] != "inf"]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([float(r["epsilon"]) for r in finite], [r["federated"]["auc"] for r in finite], "o-",
            label="federated (DP-FedAvg)")
    for r in runs:
        if r["epsilon"] == "inf":
            ax.axhline(r["federated"]["auc"], color="C0", ls=":", label="federated, no DP")
    ax.axhline(data["central"]["auc"], color="k", ls="--", label="central (pooled)")
    ax.axhline(data["central"]["auc"] - 0.01, color="k", ls=":", lw=0.8, label="central - 0.01")
    ax.axhline(data["initial"]["auc"], color="grey", lw=0.8, label="untrained")
    ax.set(xlabel="epsilon (delta = 1e-5)", ylabel="AUC on 200 held-out learners",
           title=f"Privacy-utility, {data['config']['learners']} learners")
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
    ap.add_argument("--out", type=Path, default=Path("build/bench-federated/result.json"))
    a = ap.parse_args()
    c = Config(a.learners, a.rounds, a.per_round, a.local_epochs, a.clip, a.server_lr, a.strategy)
    eps = [math.inf if e == "inf" else float(e) for e in a.eps.split(",")]
    with tempfile.TemporaryDirectory(prefix="satchel-bench-fed-") as tmp:
        data = measure(c, eps, work=Path(tmp), secagg_rounds=a.secagg_rounds)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(data, indent=1, default=float))


if __name__ == "__main__":
    main()
