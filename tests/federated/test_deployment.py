"""Flower's deployment engine on loopback: a real SuperLink, two SuperNodes (each its own satchel
app with one learner), the ServerApp started by ``flwr run``; rounds complete under SecAgg+ and DP,
and each device's audit log records its contribution."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import satchel
from satchel.federated.fleet import FleetOptions, enroll, write_config
from satchel_plugins.habit.simulate import simulate_habit_learners

pytest.importorskip("flwr")
pytestmark = pytest.mark.slow

APP_TOML = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "satchel-federated"
version = "1.0.0"
license = "Apache-2.0"
dependencies = []

[tool.flwr.app]
publisher = "satchel"

[tool.flwr.app.components]
serverapp = "satchel.federated.flower:server_app"
clientapp = "satchel.federated.flower:client_app"
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"the SuperLink did not listen on {port}")


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
    )


def test_superlink_and_two_supernodes_complete_rounds(tmp_path):
    if shutil.which("flower-superlink") is None:
        pytest.skip("flwr is not installed")
    key = base64.b64encode(os.urandom(32)).decode()
    os.environ["SATCHEL_FLEET_KEY"] = key
    learners = simulate_habit_learners(2, days=40, seed=3)
    now = learners[0].day(40).isoformat()
    options = FleetOptions(
        learners=2, days=40, rounds=2, clients_per_round=2, target_epsilon=8.0, epsilon_cap=20.0
    )
    paths = {name: write_config(tmp_path / name, options) for name in ("dev0", "dev1", "server")}
    for i in range(2):
        with satchel.open(paths[f"dev{i}"]) as app:
            enroll(app, [learners[i]])
    port, out = _port(), tmp_path / "out"
    base_env = {**os.environ, "SATCHEL_FLEET_KEY": key}
    procs: list[subprocess.Popen] = []
    try:
        env = {
            **base_env,
            "SATCHEL_FEDERATED_CONFIG": json.dumps(
                {
                    "config": str(paths["server"]),
                    "pipeline": "habits",
                    "population": 2,
                    "run": "deploy",
                    "now": now,
                    "out": str(out),
                }
            ),
        }
        procs.append(
            _start(
                [
                    "flower-superlink",
                    "--insecure",
                    "--port",
                    str(port),
                    "--database",
                    str(tmp_path / "state.db"),
                ],
                env,
                tmp_path / "superlink.log",
            )
        )
        _wait_for(port)
        for i in range(2):
            env = {
                **base_env,
                "SATCHEL_FEDERATED_CONFIG": json.dumps(
                    {"config": str(paths[f"dev{i}"]), "pipeline": "habits", "population": 2, "now": now}
                ),
            }
            procs.append(
                _start(
                    [
                        "flower-supernode",
                        "--insecure",
                        "--superlink",
                        f"127.0.0.1:{port}",
                        "--port",
                        str(_port()),
                        "--node-config",
                        f'subject="{learners[i].subject}"',
                    ],
                    env,
                    tmp_path / f"supernode{i}.log",
                )
            )
        (tmp_path / "app").mkdir()
        (tmp_path / "app" / "pyproject.toml").write_text(APP_TOML)
        (tmp_path / "home").mkdir()
        (tmp_path / "home" / "config.toml").write_text(
            f'[superlink]\ndefault = "local"\n\n[superlink.local]\naddress = "127.0.0.1:{port}"\ninsecure = true\n'
        )
        run = subprocess.run(
            ["flwr", "run", ".", "local", "--stream"],
            cwd=tmp_path / "app",
            env={**base_env, "FLWR_HOME": str(tmp_path / "home")},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert (out / "result.json").exists(), run.stdout[-3000:] + run.stderr[-2000:]
        result = json.loads((out / "result.json").read_text())
        # the standardisation stages (the default) run as rounds too, under SecAgg+, within epsilon
        assert [(r["stage"], r["received"]) for r in result["rounds"]] == [
            ("mean", 2),
            ("spread", 2),
            ("train", 2),
            ("train", 2),
        ]
        assert result["secure_aggregation"] is True and 7.9 < result["epsilon"] <= 8.0
        assert len(result["standardization"]["scale"]) == 12
        for i in range(2):
            with satchel.open(paths[f"dev{i}"]) as app:
                rows = [
                    json.loads(line)
                    for line in (app.config.data_dir / "audit.jsonl").read_text().splitlines()
                ]
            sent = [r for r in rows if r["action"] == "federated.contributed"]
            assert [r["fields"]["round"] for r in sent] == [1, 2, 3, 4]
            assert [r["fields"].get("stage") for r in sent] == ["mean", "spread", None, None]
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        time.sleep(0.5)
