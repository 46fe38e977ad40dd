"""Federated habit model vs the same model trained centrally on pooled data, at several epsilons.

Simulated habit learners (``simulate_habit_learners``, 60 days, 3 habits): the fleet's learners
take part in Flower simulation rounds (Ray, 2 CPUs, LiteRT backend, SecAgg+, DP); the central
model is trained on all the fleet's samples pooled, with the same ModelSpec and backend, for the
same number of passes over the data a learner makes in the run. Both are scored as the cold-start
base on 200 *other* simulated learners (AUC, log loss). Run: ``python -m benchmarks.bench_federated
--learners 1000 --eps 8,4,1,inf``; results go to build/bench-federated/*.json.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def _pooled(featurizer, learners, now_of):  # noqa: ANN001, ANN202
    from satchel.dataset import Dataset

    parts = [featurizer.training_data(list(l.events), now=now_of(l)) for l in learners]
    parts = [d for d in parts if len(d)]
    return Dataset(np.concatenate([d.x for d in parts]), np.concatenate([d.y for d in parts]),
                   np.concatenate([d.weights for d in parts]), parts[0].schema)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--learners", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--per-round", type=int, default=50)
    ap.add_argument("--eps", default="8")
    ap.add_argument("--no-secagg", action="store_true")
    ap.add_argument("--strategy", default="fedavg")
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--local-epochs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("build/bench-federated"))
    a = ap.parse_args()
    import satchel
    from satchel import metrics
    from satchel.backend import Weights
    from satchel.federated.fleet import FleetOptions, build_fleet
    from satchel.federated.simulate import simulate
    from satchel.model_spec import initial_params
    from satchel_plugins.habit.simulate import simulate_habit_learners

    a.out.mkdir(parents=True, exist_ok=True)
    days = 60
    held = simulate_habit_learners(200, days=days, habits=3, seed=99)
    for eps_s in a.eps.split(","):
        eps = math.inf if eps_s == "inf" else float(eps_s)
        work = Path("/tmp") / f"satchel-fed-bench-{eps_s}"
        shutil.rmtree(work, ignore_errors=True)
        o = FleetOptions(learners=a.learners, days=days, rounds=a.rounds, clients_per_round=a.per_round,
                         target_epsilon=None if math.isinf(eps) else eps,
                         noise_multiplier=0.0 if math.isinf(eps) else None, epsilon_cap=max(eps, 1.0) * 1.01 + 0.01,
                         secure_aggregation=not a.no_secagg, strategy=a.strategy, clip_norm=a.clip,
                         local_epochs=a.local_epochs)
        t0 = time.perf_counter()
        path, learners = build_fleet(work, o)
        setup = time.perf_counter() - t0
        now = learners[0].day(days)
        app = satchel.open(path, clock=lambda: now)
        feat, task = app.component("habits", "featurizer"), app.component("habits", "model")
        spec = task.model_spec(feat.schema)
        test = _pooled(feat, held, lambda l: now)
        backend = app.component("habits", "backend")
        compiled = backend.compile(spec, work / "compiled")

        def score(params):  # noqa: ANN001, ANN202
            tr = backend.open(compiled, Weights(dict(params)))
            p = tr.predict(test.x)[:, 0]
            return {"auc": metrics.auc(test.y[:, 0], p), "log_loss": metrics.log_loss(test.y[:, 0], p)}

        row = {"epsilon_target": eps_s, "learners": a.learners, "rounds": a.rounds, "per_round": a.per_round,
               "secure_aggregation": not a.no_secagg, "strategy": a.strategy, "setup_s": setup,
               "initial": score(initial_params(spec))}
        # central: pooled data, same spec/backend, as many passes as a participant makes
        central_file = a.out / f"central-{a.learners}.json"
        if central_file.exists():
            row["central"] = json.loads(central_file.read_text())
        else:
            pooled = _pooled(feat, learners, lambda l: now)
            tr = backend.open(compiled, Weights(initial_params(spec)))
            t = time.perf_counter()
            tr.fit(pooled, max(1, a.local_epochs), seed=0)
            row["central"] = {**score(tr.get_weights().params), "samples": len(pooled), "seconds": time.perf_counter() - t}
            central_file.write_text(json.dumps(row["central"]))
        app.close()
        t = time.perf_counter()
        result = simulate(path, "habits", population=a.learners, run=f"bench-{eps_s}", now=now)
        wall = time.perf_counter() - t
        row["federated"] = score(result.params)
        row["epsilon"] = result.epsilon if math.isfinite(result.epsilon) else "inf"
        row["noise_multiplier"] = result.noise_multiplier
        row["rounds_log"] = [vars(r) for r in result.rounds]
        row["sim_seconds"] = wall
        steady = [r.seconds for r in result.rounds[1:]] or [r.seconds for r in result.rounds]
        row["clients_per_s"] = a.per_round / (sum(steady) / len(steady))
        row["bytes_per_client_round"] = max((r.bytes_per_client for r in result.rounds), default=0)
        row["peak_rss_mb_driver"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        row["peak_rss_mb_children"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        name = f"fed-{a.learners}-eps{eps_s}-{a.strategy}{'-nosecagg' if a.no_secagg else ''}.json"
        (a.out / name).write_text(json.dumps(row, indent=1, default=float))
        print(json.dumps({k: v for k, v in row.items() if k != "rounds_log"}, default=float), flush=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
