"""Real apps on disk: env key provider, SQLite, AES-GCM, the built-in plugins."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

import satchel
from satchel.testing import isolated_registry

CONFIG = """
[app]
id = "habits-test"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = {{ name = "env", options = {{ variable = "SATCHEL_TEST_KEY" }} }}
age_of_digital_consent = 13
retention_days = 60
{privacy_extra}

[pipelines.habits]
model = {{ name = "habit", options = {{ min_samples = 10 }} }}
purposes = ["habit_reminders"]
backend = "{backend}"
epochs = 5
"""


@pytest.fixture
def master_key(monkeypatch):
    key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("SATCHEL_TEST_KEY", key)
    return key


@pytest.fixture
def make_app(tmp_path, master_key):
    opened = []

    def make(
        backend: str = "litert",
        extra: str = "",
        data: Path | None = None,
        keys: Path | None = None,
        privacy_extra: str = "",
        clock=None,
    ):
        text = (
            CONFIG.format(
                data=(data or tmp_path / "data").as_posix(),
                keys=(keys or tmp_path / "keys").as_posix(),
                backend=backend,
                privacy_extra=privacy_extra,
            )
            + extra
        )
        path = tmp_path / "satchel.toml"
        path.write_text(text)
        app = satchel.open(path, registry=isolated_registry(), clock=clock)
        opened.append(app)
        return app

    yield make
    for app in opened:
        try:
            app.close()
        except Exception:
            pass
