"""Throwaway satchel apps for benchmarks: a temp data dir, a temp key dir, a random master key."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Any, Mapping

import satchel

KEY_VARIABLE = "SATCHEL_BENCH_KEY"
NOTICE = "Benchmark: simulated learners only."


def open_app(root: Path, pipelines: Mapping[str, Mapping[str, Any]], *, app_id: str = "bench") -> satchel.App:
    """An app under ``root`` with ``pipelines`` (TOML-shaped mappings); keys from an env variable."""
    os.environ.setdefault(KEY_VARIABLE, base64.b64encode(secrets.token_bytes(32)).decode())
    return satchel.open({
        "app": {"id": app_id, "data_dir": str(root / "data"), "key_dir": str(root / "keys")},
        "privacy": {"key_provider": {"name": "env", "options": {"variable": KEY_VARIABLE}}},
        "pipelines": {name: dict(p) for name, p in pipelines.items()},
    })


def enroll(app: satchel.App, subject: str, purposes: tuple[str, ...]) -> None:
    """An adult learner's own opt-in consent to ``purposes``."""
    app.consent.grant(subject, purposes=list(purposes), notice=NOTICE, policy_version="bench-1", actor="self",
                      age_band="18+", method="benchmark")
