"""Real apps for the runner tests: env key provider, SQLite, AES-GCM, LiteRT, a fixed device.

The LiteRT artifacts are compiled once per session and copied into each test's data directory
(they are keyed by spec hash, so this is exactly what a second app on the same device would find).
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest
from runner_support import GOOD_DEVICE, KEY_ENV, enrol, write_config

import satchel
from satchel.testing import isolated_registry
from satchel.training.runner import HostDeviceState


@pytest.fixture(scope="session")
def compiled_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("warm")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SATCHEL_WARM_KEY", base64.b64encode(os.urandom(32)).decode())
        config = write_config(root, key_env="SATCHEL_WARM_KEY")
        with satchel.open(config, registry=isolated_registry()) as app:
            enrol(app, "warm")
            app.train("warm", "habits")
    return root / "data" / "compiled"


@pytest.fixture
def master_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv(KEY_ENV, key)
    return key


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return tmp_path / "satchel.toml"


@pytest.fixture
def make_app(tmp_path: Path, master_key: str, compiled_cache: Path):
    """``make_app(scheduler='min_interval = "6h"')``: the app; its device (plugin ``device``, a
    :class:`HostDeviceState`) is charging and idle until a test says otherwise."""
    opened = []

    def make(scheduler: str = 'min_interval = "6h"') -> satchel.App:
        path = write_config(tmp_path, scheduler)
        app = satchel.open(path, registry=isolated_registry({"host_device": HostDeviceState(GOOD_DEVICE)}))
        if not (tmp_path / "data" / "compiled").exists():  # after the open: keys first, then data
            shutil.copytree(compiled_cache, tmp_path / "data" / "compiled")
        opened.append(app)
        return app

    yield make
    for app in opened:
        app.close()
