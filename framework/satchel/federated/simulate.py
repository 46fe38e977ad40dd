"""Run a shared model's rounds on Flower's Simulation Engine (Ray), sized for a small machine."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from satchel.errors import ConfigError


def simulate(
    config: Path,
    pipeline: str,
    *,
    population: int,
    run: str,
    now: datetime | None = None,
    secure_aggregation: bool | None = None,
    num_cpus: int = 2,
    out: Path | None = None,
) -> Any:
    """Run every round with ``population`` virtual SuperNodes (learner ``i`` = the app's ``i``-th
    pseudonym); returns the :class:`~satchel.federated.flower.ServerResult`."""
    import satchel

    with satchel.open(config) as app:
        section = app.pipeline(pipeline).federated
        if section is None:
            raise ConfigError([(f"pipelines.{pipeline}.federated", "this pipeline declares no shared model")])
        secure = section.secure_aggregation if secure_aggregation is None else secure_aggregation
    os.environ["SATCHEL_FEDERATED_CONFIG"] = json.dumps(
        {
            "config": str(config),
            "pipeline": pipeline,
            "population": population,
            "run": run,
            "now": now.isoformat() if now else "",
            "out": str(out) if out else "",
            "secure_aggregation": secure,
        }
    )
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    from flwr.simulation import run_simulation

    from satchel.federated import flower

    sink: list[Any] = []
    run_simulation(
        flower.make_server_app(sink),
        flower.make_client_app(secure),
        num_supernodes=population,
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {
                "num_cpus": num_cpus,
                "include_dashboard": False,
                "logging_level": "error",
                "log_to_driver": False,
            },
        },
    )
    if not sink:
        raise RuntimeError("the simulation ended without a result from the ServerApp")
    return sink[0]


def install(config: Path, pipeline: str, result: Any, *, run: str) -> int:
    """Seal ``result``'s global model in the app as the pipeline's base for personal training."""
    import math

    import satchel
    from satchel.federated.store import save_shared

    with satchel.open(config) as app:
        p = app.pipeline(pipeline)
        spec = app.component(p.name, "model").model_spec(app.component(p.name, "featurizer").schema)
        eps = result.epsilon if math.isfinite(result.epsilon) else -1.0
        return save_shared(
            app,
            pipeline,
            result.params,
            spec_hash=spec.hash,
            meta={
                "run": run,
                "epsilon": round(eps, 4),
                "delta": result.delta,
                "noise_multiplier": round(result.noise_multiplier, 6),
                "clip_norm": result.clip_norm,
                "rounds": sum(r.stage == "train" for r in result.rounds),
                "secure_aggregation": result.secure_aggregation,
                "participants": sum(r.received for r in result.rounds if r.stage == "train"),
                "standardized": result.standardization is not None,
            },
        )
