"""A fleet of simulated learners in one encrypted satchel app, for ``satchel federate simulate``,
the benchmark and the tests: each learner consents (to the pipeline's purposes and, unless told
otherwise, to contributing), and their simulated events are recorded through the public API."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOTICE = "Simulated learner: habit reminders on this device; optionally improve the shared model."

HABIT_CONFIG = """
[app]
id = "{app_id}"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = {{ name = "env", options = {{ variable = "{key_env}" }} }}

[pipelines.habits]
model = {{ name = "habit", options = {{ min_samples = 10 }} }}
purposes = ["habit_reminders"]
backend = "{backend}"
epochs = 20

[pipelines.habits.federated]
purpose = "model_improvement"
rounds = {rounds}
clients_per_round = {clients_per_round}
population = {population}
local_epochs = {local_epochs}
clip_norm = {clip_norm}
{noise}
epsilon_cap = {epsilon_cap}
secure_aggregation = {secure_aggregation}
strategy = "{strategy}"
server_learning_rate = {server_learning_rate}
standardize = {standardize}
standardize_rounds = {standardize_rounds}
"""


@dataclass(frozen=True)
class FleetOptions:
    learners: int = 100
    days: int = 60
    habits: int = 3
    seed: int = 0
    backend: str = "litert"
    rounds: int = 5
    clients_per_round: int = 10
    local_epochs: int = 1
    clip_norm: float = 0.02
    target_epsilon: float | None = 8.0
    noise_multiplier: float | None = None
    epsilon_cap: float = 10.0
    secure_aggregation: bool = True
    strategy: str = "fedadam"
    server_learning_rate: float = 0.03
    contributors: float = 1.0  # share of learners who consent to model_improvement
    standardize: bool = True
    standardize_rounds: int = 1


def write_config(directory: Path, o: FleetOptions, *, key_env: str = "SATCHEL_FLEET_KEY") -> Path:
    """Write the fleet's satchel.toml under ``directory`` (and set a fresh key in ``key_env``)."""
    directory.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(key_env, base64.b64encode(os.urandom(32)).decode())
    if o.noise_multiplier is not None:
        noise = f"noise_multiplier = {o.noise_multiplier}"
    elif o.target_epsilon is not None:
        noise = f"target_epsilon = {o.target_epsilon}"
    else:
        noise = "noise_multiplier = 0"
    path = directory / "satchel.toml"
    path.write_text(
        HABIT_CONFIG.format(
            app_id="fleet",
            data=(directory / "data").as_posix(),
            keys=(directory / "keys").as_posix(),
            key_env=key_env,
            backend=o.backend,
            rounds=o.rounds,
            clients_per_round=o.clients_per_round,
            population=o.learners,
            local_epochs=o.local_epochs,
            clip_norm=o.clip_norm,
            noise=noise,
            epsilon_cap=o.epsilon_cap,
            secure_aggregation=str(o.secure_aggregation).lower(),
            strategy=o.strategy,
            server_learning_rate=o.server_learning_rate,
            standardize=str(o.standardize).lower(),
            standardize_rounds=o.standardize_rounds,
        )
    )
    return path


def enroll(
    app: Any, learners: Iterable[Any], *, contribute: bool = True, age_band: str = "18+", actor: str = "self"
) -> int:
    """Consent and record each simulated learner's events; returns how many were enrolled."""
    n = 0
    for learner in learners:
        purposes = ["habit_reminders", "model_improvement"] if contribute else ["habit_reminders"]
        app.consent.grant(
            learner.subject,
            purposes=purposes,
            notice=NOTICE,
            policy_version="sim",
            actor=actor,
            age_band=age_band,
            method="simulation",
            at=learner.day(0),
        )
        app.record(learner.subject, list(learner.events), at=learner.day(0))
        n += 1
    return n


def build_fleet(directory: Path, o: FleetOptions) -> tuple[Path, tuple[Any, ...]]:
    """A config and data dir with ``o.learners`` simulated habit learners enrolled."""
    import satchel
    from satchel_plugins.habit.simulate import simulate_habit_learners

    path = write_config(directory, o)
    learners = simulate_habit_learners(o.learners, days=o.days, habits=o.habits, seed=o.seed)
    k = round(o.contributors * len(learners))
    with satchel.open(path) as app:
        enroll(app, learners[:k], contribute=True)
        enroll(app, learners[k:], contribute=False)
    return path, learners
