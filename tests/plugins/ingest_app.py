"""A real app on disk (env key, SQLite, AES-GCM) with a learner's consent, for end-to-end imports."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

import satchel
from satchel.app import App
from satchel.testing import isolated_registry

_CONFIG = """
[app]
id = "import-test"
data_dir = "{data}"
key_dir = "{keys}"

[privacy]
key_provider = {{ name = "env", options = {{ variable = "SATCHEL_IMPORT_TEST_KEY" }} }}
age_of_digital_consent = 13

[pipelines.{pipeline}]
model = {{ name = "{model}" }}
purposes = ["{purpose}"]
backend = "onnx"
"""


def consenting_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, model: str, purpose: str, subject: str
) -> App:
    """An app with one pipeline of ``model`` and ``subject``'s consent to ``purpose``; close it after use."""
    monkeypatch.setenv("SATCHEL_IMPORT_TEST_KEY", base64.b64encode(os.urandom(32)).decode())
    config = tmp_path / "satchel.toml"
    config.write_text(
        _CONFIG.format(
            data=(tmp_path / "data").as_posix(),
            keys=(tmp_path / "keys").as_posix(),
            pipeline=model,
            model=model,
            purpose=purpose,
        )
    )
    app = satchel.open(config, registry=isolated_registry())
    app.consent.grant(
        subject,
        purposes=[purpose],
        notice="Your review history stays on this device.",
        policy_version="2026-01",
        actor="self",
        age_band="18+",
        method="in_app_checkbox",
    )
    return app
