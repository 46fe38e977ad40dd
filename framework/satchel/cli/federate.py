"""``satchel federate``: run a pipeline's shared model on Flower (simulation or deployment engine)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import click

from satchel.cli import CONFIG_OPTION


@click.group()
def federate() -> None:
    """Federated learning of a pipeline's shared model, with differential privacy (Flower)."""


@federate.command()
@click.option("--pipeline", required=True, help="the pipeline whose [federated] section to run")
@click.option(
    "--learners",
    type=int,
    default=0,
    help="simulate this many habit learners in a new fleet "
    "under --workdir (0: use the config's enrolled learners)",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("satchel-fleet"),
    show_default=True,
    help="where a simulated fleet is written",
)
@click.option("--rounds", type=int, help="rounds of a simulated fleet [default: 200]")
@click.option(
    "--clients-per-round",
    type=int,
    help="clients per round of a simulated fleet [default: 100, at most the learners]",
)
@click.option("--epsilon", type=float, help="target epsilon of a simulated fleet (inf: no DP) [default: 8]")
@click.option(
    "--local-epochs", type=int, default=1, show_default=True, help="local epochs of a simulated fleet"
)
@click.option(
    "--clip-norm", type=float, default=0.02, show_default=True, help="update clip of a simulated fleet"
)
@click.option(
    "--strategy",
    type=click.Choice(["fedadam", "fedavg"]),
    default="fedadam",
    show_default=True,
    help="fedadam: devices run SGD, the server Adam; fedavg: devices run the pipeline's optimizer",
)
@click.option(
    "--server-lr",
    type=float,
    default=0.03,
    show_default=True,
    help="server learning rate of a simulated fleet",
)
@click.option(
    "--standardize/--no-standardize",
    default=True,
    show_default=True,
    help="a simulated fleet's run starts with the DP standardisation rounds (docs/federated.md)",
)
@click.option(
    "--secure-aggregation/--no-secure-aggregation",
    default=None,
    help="override the config's SecAgg+ for this run (DP noise and epsilon are unchanged)",
)
@click.option("--now", help="the devices' clock (ISO time); default: the end of the simulated history")
@click.option(
    "--install/--no-install",
    default=True,
    show_default=True,
    help="seal the global model in the app as the base for personal training",
)
@CONFIG_OPTION
def simulate(
    pipeline: str,
    learners: int,
    workdir: Path,
    rounds: int | None,
    clients_per_round: int | None,
    epsilon: float | None,
    local_epochs: int,
    clip_norm: float,
    strategy: str,
    server_lr: float,
    standardize: bool,
    secure_aggregation: bool | None,
    now: str | None,
    install: bool,
    config_path: Path,
) -> None:
    """Run every round with N simulated learners on Flower's Simulation Engine (Ray, 2 CPUs)."""
    import satchel
    from satchel.federated.simulate import install as install_model
    from satchel.federated.simulate import simulate as run

    at = datetime.fromisoformat(now) if now else None
    if learners:
        from satchel.federated.fleet import FleetOptions, build_fleet

        no_dp = epsilon is not None and math.isinf(epsilon)
        o = FleetOptions(
            learners=learners,
            rounds=rounds or 200,
            clients_per_round=clients_per_round or min(100, learners),
            target_epsilon=None if no_dp else (epsilon or 8.0),
            noise_multiplier=0.0 if no_dp else None,
            epsilon_cap=math.inf if no_dp else max(10.0, (epsilon or 8.0) * 1.01),
            local_epochs=local_epochs,
            clip_norm=clip_norm,
            strategy=strategy,
            server_learning_rate=server_lr,
            standardize=standardize,
        )
        click.echo(f"enrolling {learners} simulated learners under {workdir} …", err=True)
        config_path, fleet = build_fleet(workdir, o)
        at = at or fleet[0].day(o.days)
    with satchel.open(config_path) as app:
        population = len(app.subjects())
    name = f"{pipeline}-{datetime.now().strftime('%Y%m%dT%H%M%S')}"
    result = run(
        config_path, pipeline, population=population, run=name, now=at, secure_aggregation=secure_aggregation
    )
    out = {"run": name, "learners": population, **result.to_json()}
    if install:
        out["installed_version"] = install_model(config_path, pipeline, result, run=name)
    click.echo(json.dumps(out, indent=2))
