"""Flower apps for a pipeline's shared model: a ``ClientApp`` per satchel app and a ``ServerApp``.

Clients send weights deltas clipped by :func:`satchel.federated.client.contribute` with weight 1;
the server averages them (inside SecAgg+ when enabled, so it sees only the sum), Flower's
``DifferentialPrivacyClientSideFixedClipping`` adds Gaussian noise of std ``sigma * clip / k`` to
the average of the ``k`` updates received, and the noisy average moves the global model (FedAvg:
plain step; FedAdam: server Adam on the pseudo-gradients of devices running plain SGD). Noise is added to the averaged delta, before any server
optimizer, so the accountant's mechanism is exactly what runs.

Configuration reaches both apps through the environment (``SATCHEL_FEDERATED_CONFIG``, a JSON
object: ``config`` path of the satchel.toml, ``pipeline``, ``population``, ``out`` for the server's
result) or Flower's ``run_config`` with the same keys.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Context
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.common import FitRes, Parameters, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg, Strategy
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

ENV = "SATCHEL_FEDERATED_CONFIG"
#: FedAdam's server optimizer (beta1, beta2, tau): Adam with bias correction on the noisy mean delta
SERVER_ADAM = (0.9, 0.999, 1e-7)
_APPS: dict[str, Any] = {}
_ENROLLED: dict[tuple[str, int], tuple[Any, ...]] = {}


def settings(context: Context | None = None) -> dict[str, Any]:
    """The run's settings: ``run_config`` keys override the environment's JSON."""
    out: dict[str, Any] = json.loads(os.environ.get(ENV, "{}"))
    if context is not None:
        out.update(
            {
                k: v
                for k, v in dict(context.run_config).items()
                if k in ("config", "pipeline", "population", "out", "run", "now", "secure_aggregation")
            }
        )
    return out


def _app(config: str) -> Any:
    """One satchel App per process and config (a Ray worker serves many learners)."""
    if config not in _APPS:
        import satchel

        now = settings().get("now")
        clock = None
        if now:  # a simulated fleet lives at the end of its simulated history
            from datetime import datetime

            fixed = datetime.fromisoformat(str(now))
            clock = lambda: fixed  # noqa: E731
        _APPS[config] = satchel.open(config, clock=clock)
    return _APPS[config]


def _enrolled(config: str, app: Any, partitions: int) -> tuple[Any, ...]:
    """The app's learners in pseudonym order (virtual node ``i`` is the ``i``-th), listed once per
    process and simulation size: listing them scans every event row of the app."""
    key = (config, partitions)
    if key not in _ENROLLED:
        from satchel.app import Pseudonym

        _ENROLLED.clear()
        _ENROLLED[key] = tuple(Pseudonym(p) for p in sorted(app.subjects()))
    return _ENROLLED[key]


def _param_names(app: Any, pipeline: str) -> list[str]:
    p = app.pipeline(pipeline)
    spec = app.component(p.name, "model").model_spec(app.component(p.name, "featurizer").schema)
    return list(spec.param_shapes)


# ------------------------------------------------------------------ client


class SatchelClient(NumPyClient):
    """A learner's device: every fit goes through :func:`contribute` (gate, budget, clip)."""

    def __init__(self, app: Any, pipeline: str, subject: str, population: int | None) -> None:
        self.app, self.pipeline, self.subject, self.population = app, pipeline, subject, population

    def fit(self, parameters: list[np.ndarray], config: dict[str, Any]) -> tuple[list[np.ndarray], int, dict]:
        from satchel.federated.accounting import plan
        from satchel.federated.client import contribute, contribute_statistics, federated
        from satchel.federated.standardize import Standardization

        names = _param_names(self.app, self.pipeline)
        section = federated(self.app.pipeline(self.pipeline))
        stage = str(config.get("stage", "train"))
        common: dict[str, Any] = {
            "run": str(config.get("run", "run")),
            "round_": int(config.get("round", 0)),
            "plan": plan(section, population=self.population),
        }
        if stage != "train":
            mean = np.asarray(json.loads(str(config["mean"])), np.float64) if "mean" in config else None
            stats = contribute_statistics(self.app, self.subject, self.pipeline, stage, mean=mean, **common)
            return stats.vector, 1, {"bytes": stats.nbytes, "epsilon": stats.epsilon_spent}
        st = config.get("standardization")
        result = contribute(
            self.app,
            self.subject,
            self.pipeline,
            dict(zip(names, parameters)),
            standardization=Standardization.from_json(str(st)) if st else None,
            **common,
        )
        return [result.delta[n] for n in names], 1, {"bytes": result.nbytes, "epsilon": result.epsilon_spent}


def client_fn(context: Context) -> Any:
    s = settings(context)
    app = _app(str(s["config"]))
    node = dict(context.node_config)
    if "subject" in node:
        subject: Any = str(node["subject"])
    else:
        subject = _enrolled(str(s["config"]), app, int(node.get("num-partitions", 0)))[
            int(node["partition-id"])
        ]
    pop = s.get("population")
    return SatchelClient(app, str(s["pipeline"]), subject, int(pop) if pop else None).to_client()


def make_client_app(secure_aggregation: bool = True) -> ClientApp:
    return ClientApp(client_fn=client_fn, mods=[secaggplus_mod] if secure_aggregation else [])


# ------------------------------------------------------------------ server


class _TolerantDp(DifferentialPrivacyClientSideFixedClipping):
    """Flower's DP wrapper, calibrated to the updates actually received (a refused learner sends
    none): noise std ``sigma * clip / k`` for the average of ``k`` clipped updates."""

    def aggregate_fit(
        self, server_round: int, results: list, failures: list
    ) -> tuple[Parameters | None, dict]:
        if not results:
            return None, {}
        self.num_sampled_clients = len(results)
        return super().aggregate_fit(server_round, results, [])


@dataclass
class RoundLog:
    round: int
    received: int
    refused: int
    seconds: float
    bytes_per_client: int
    stage: str = "train"


@dataclass
class SharedModelStrategy(Strategy):
    """Global model = previous + server step on the DP-noised mean delta.

    With ``standardize_rounds = n > 0`` the first ``n`` rounds estimate the features' means and the
    next ``n`` their spreads (:mod:`satchel.federated.standardize`, same clip-and-noise mechanism,
    vectors clipped to ``stats_clip``); the model then trains on standardised inputs (``current``
    is in standardised coordinates) and :meth:`model` folds the standardisation back in."""

    initial: list[np.ndarray]
    clients_per_round: int
    min_available: int
    clip_norm: float
    noise_multiplier: float
    run: str
    kind: str = "fedavg"
    lr: float = 1.0
    rounds: list[RoundLog] = field(default_factory=list)
    names: list[str] | None = None
    standardize_rounds: int = 0
    stats_clip: float = 1.0
    #: the initial model is on raw features (an installed shared model): unfold it once standardised
    initial_is_raw: bool = False

    def __post_init__(self) -> None:
        super().__init__()
        self.current = [np.asarray(a, np.float32) for a in self.initial]
        inner = FedAvg(
            fraction_fit=1e-9,
            min_fit_clients=self.clients_per_round,
            min_available_clients=self.min_available,
            fraction_evaluate=0.0,
            min_evaluate_clients=0,
            on_fit_config_fn=self.fit_config,
            accept_failures=True,
        )
        self.dp = _TolerantDp(inner, self.noise_multiplier, self.clip_norm, self.clients_per_round)
        self._m = [np.zeros_like(a) for a in self.current]
        self._v = [np.zeros_like(a) for a in self.current]
        self._steps = 0
        self._started = 0.0
        self._stats: dict[str, list[np.ndarray]] = {"mean": [], "spread": []}
        self._stats_noise: list[float] = []
        self.standardization: Any = None  # a Standardization once both stages are done

    def stage(self, server_round: int) -> str:
        """``mean`` / ``spread`` for the standardisation rounds, then ``train``."""
        n = self.standardize_rounds
        if server_round <= n:
            return "mean"
        if server_round <= 2 * n:
            return "spread"
        return "train"

    def fit_config(self, server_round: int) -> dict[str, Any]:
        """What every sampled device is told: the round, the run, the stage and (once known) the
        standardisation estimate it applies (as JSON: Flower's config values are scalars)."""
        out: dict[str, Any] = {"round": server_round, "run": self.run, "stage": self.stage(server_round)}
        if out["stage"] == "spread":
            out["mean"] = json.dumps(np.mean(self._stats["mean"], axis=0).tolist())
        elif self.standardization is not None:
            out["standardization"] = self.standardization.to_json()
        return out

    def model(self) -> list[np.ndarray]:
        """The global model on raw features (the standardisation folded into the first layer)."""
        if self.standardization is None:
            return list(self.current)
        from satchel.federated.standardize import fold

        names = self._names()
        folded = fold(dict(zip(names, self.current)), self.standardization)
        return [folded[n] for n in names]

    def _names(self) -> list[str]:
        if self.names is not None:
            return list(self.names)
        out = []
        for i in range(len(self.current) // 2):
            out += [f"dense_{i}_kernel", f"dense_{i}_bias"]
        return out

    def _statistics(self, stage: str, noisy: list[np.ndarray], received: int) -> None:
        from satchel.federated.standardize import decode, estimate, unfold

        self._stats[stage].append(decode(noisy, self.stats_clip, self.clip_norm))
        self._stats_noise.append(self.noise_multiplier * self.stats_clip / max(1, received))
        if stage == "spread" and len(self._stats["spread"]) == self.standardize_rounds:
            self.standardization = estimate(
                self._stats["mean"], self._stats["spread"], noise_std=float(np.mean(self._stats_noise))
            )
            if self.initial_is_raw:
                names = self._names()
                raw = unfold(dict(zip(names, self.current)), self.standardization)
                self.current = [raw[n] for n in names]

    def initialize_parameters(self, client_manager: Any) -> Parameters:
        return ndarrays_to_parameters(self.current)

    def configure_fit(self, server_round: int, parameters: Parameters, client_manager: Any) -> list:
        self.current = [np.asarray(a, np.float32) for a in parameters_to_ndarrays(parameters)]
        self._started = time.perf_counter()
        return self.dp.configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(
        self, server_round: int, results: list[tuple[Any, FitRes]], failures: list
    ) -> tuple[Parameters | None, dict]:
        sizes = [int(r.metrics.get("bytes", 0)) for _, r in results]
        stage = self.stage(server_round)
        noisy, _ = self.dp.aggregate_fit(server_round, results, failures)
        self.rounds.append(
            RoundLog(
                server_round,
                len(results),
                len(failures),
                time.perf_counter() - self._started,
                max(sizes, default=0),
                stage,
            )
        )
        if stage != "train":
            if noisy is None:  # nobody sent statistics: the run cannot standardise
                raise RuntimeError(f"no learner sent the '{stage}' statistics of round {server_round}")
            self._statistics(stage, parameters_to_ndarrays(noisy), len(results))
            return ndarrays_to_parameters(self.current), {"received": len(results)}
        if noisy is None:
            return ndarrays_to_parameters(self.current), {}
        update = [np.asarray(a, np.float32) for a in parameters_to_ndarrays(noisy)]
        if self.kind == "fedadam":
            b1, b2, tau = SERVER_ADAM
            self._steps += 1
            self._m = [b1 * m + (1 - b1) * u for m, u in zip(self._m, update)]
            self._v = [b2 * v + (1 - b2) * u * u for v, u in zip(self._v, update)]
            lr = self.lr * math.sqrt(1 - b2**self._steps) / (1 - b1**self._steps)  # bias-corrected
            step: list[np.ndarray] = [lr * m / (np.sqrt(v) + tau) for m, v in zip(self._m, self._v)]
        else:
            step = [self.lr * u for u in update]
        self.current = [(c + s).astype(np.float32) for c, s in zip(self.current, step)]
        return ndarrays_to_parameters(self.current), {"received": len(results)}

    def configure_evaluate(self, server_round: int, parameters: Parameters, client_manager: Any) -> list:
        return []

    def aggregate_evaluate(self, server_round: int, results: list, failures: list) -> tuple[None, dict]:
        return None, {}

    def evaluate(self, server_round: int, parameters: Parameters) -> None:
        return None


@dataclass(frozen=True)
class ServerResult:
    """What a run produced: the global model, the DP guarantee, and per-round numbers."""

    params: dict[str, np.ndarray]
    epsilon: float
    delta: float
    noise_multiplier: float
    clip_norm: float
    rounds: tuple[RoundLog, ...]
    secure_aggregation: bool
    standardization: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon if math.isfinite(self.epsilon) else "inf",
            "delta": self.delta,
            "noise_multiplier": self.noise_multiplier,
            "clip_norm": self.clip_norm,
            "secure_aggregation": self.secure_aggregation,
            "rounds": [vars(r) for r in self.rounds],
            "standardization": json.loads(self.standardization.to_json()) if self.standardization else None,
        }


def run_server(grid: Any, context: Context, s: dict[str, Any]) -> ServerResult:
    """Run the configured rounds on ``grid``; returns (and, with ``out``, writes) the result."""
    from satchel.federated.accounting import plan
    from satchel.federated.client import federated
    from satchel.federated.standardize import default_clip
    from satchel.federated.store import load_shared
    from satchel.model.spec import initial_params

    app = _app(str(s["config"]))
    pipeline = str(s["pipeline"])
    p = app.pipeline(pipeline)
    section = federated(p)
    pop = int(s["population"]) if s.get("population") else None
    pl = plan(section, population=pop)
    spec = app.component(p.name, "model").model_spec(app.component(p.name, "featurizer").schema)
    names = list(spec.param_shapes)
    shared = load_shared(app, pipeline, spec.hash)
    start = shared[0] if shared is not None else initial_params(spec)
    strategy = SharedModelStrategy(
        [start[n] for n in names],
        section.clients_per_round,
        pop or section.clients_per_round,
        pl.clip_norm,
        pl.noise_multiplier,
        str(s.get("run", f"{pipeline}-{int(time.time())}")),
        section.strategy,
        section.server_learning_rate,
        names=names,
        standardize_rounds=pl.standardize_rounds,
        stats_clip=pl.stats_clip or default_clip(spec.input_dim),
        initial_is_raw=shared is not None,
    )
    legacy = LegacyContext(
        context, config=ServerConfig(num_rounds=pl.rounds + 2 * pl.standardize_rounds), strategy=strategy
    )
    # a run may turn SecAgg+ off (the client app must match: simulate() builds both); DP is unchanged
    secure = s.get("secure_aggregation", section.secure_aggregation)
    secure = secure.strip().lower() in ("1", "true", "yes") if isinstance(secure, str) else bool(secure)
    if secure:
        # each learner's key is shared with ~7 neighbours (all of them in small rounds)
        fit = SecAggPlusWorkflow(
            num_shares=min(1.0, 7 / section.clients_per_round),
            reconstruction_threshold=0.6,
            clipping_range=pl.clip_norm,
            max_weight=1.0,
        )
        workflow = DefaultWorkflow(fit_workflow=fit)
    else:
        workflow = DefaultWorkflow()
    workflow(grid, legacy)
    result = ServerResult(
        dict(zip(names, strategy.model())),
        pl.epsilon,
        pl.delta,
        pl.noise_multiplier,
        pl.clip_norm,
        tuple(strategy.rounds),
        secure,
        strategy.standardization,
    )
    if s.get("out"):
        out = Path(str(s["out"]))
        out.mkdir(parents=True, exist_ok=True)
        np.savez(out / "global.npz", **result.params)  # type: ignore[arg-type]  # numpy stubs: **arrays could name allow_pickle
        (out / "result.json").write_text(json.dumps({"spec_hash": spec.hash, **result.to_json()}, indent=2))
    return result


def make_server_app(sink: list[ServerResult] | None = None) -> ServerApp:
    server = ServerApp()

    @server.main()
    def main(grid: Any, context: Context) -> None:
        result = run_server(grid, context, settings(context))
        if sink is not None:
            sink.append(result)

    return server


#: the Flower app layout's components (``flwr run``): ``satchel.federated.flower:client_app`` / ``server_app``
client_app = make_client_app(json.loads(os.environ.get(ENV, "{}")).get("secure_aggregation", True))
server_app = make_server_app()
