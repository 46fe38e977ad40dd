"""Throwaway satchel apps for benchmarks: a temp data dir, a temp key dir, a random master key."""

from __future__ import annotations

import base64
import os
import secrets
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import satchel
from benchmarks.report import Context
from satchel.events import Event
from satchel.model.backend import CompiledModel, OpenTrainer, Trainer, Weights
from satchel.model.spec import ModelSpec

KEY_VARIABLE = "SATCHEL_BENCH_KEY"
NOTICE = "Benchmark: simulated learners only."


def master_key_variable() -> str:
    """The environment variable holding this process's throwaway master key (set on first call)."""
    os.environ.setdefault(KEY_VARIABLE, base64.b64encode(secrets.token_bytes(32)).decode())
    return KEY_VARIABLE


def open_app(root: Path, pipelines: Mapping[str, Mapping[str, Any]], *, app_id: str = "bench") -> satchel.App:
    """An app under ``root`` with ``pipelines`` (TOML-shaped mappings); keys from an env variable."""
    master_key_variable()
    return satchel.open(
        {
            "app": {"id": app_id, "data_dir": str(root / "data"), "key_dir": str(root / "keys")},
            "privacy": {"key_provider": {"name": "env", "options": {"variable": KEY_VARIABLE}}},
            "pipelines": {name: dict(p) for name, p in pipelines.items()},
        }
    )


def enroll(app: satchel.App, subject: str, purposes: tuple[str, ...]) -> None:
    """An adult learner's own opt-in consent to ``purposes``."""
    app.consent.grant(
        subject,
        purposes=list(purposes),
        notice=NOTICE,
        policy_version="bench-1",
        actor="self",
        age_band="18+",
        method="benchmark",
    )


class PlaintextStore:
    """The peer of the event store: one JSON row per event, same journal settings, no encryption."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS events (subject TEXT, id TEXT, type TEXT, json TEXT, "
            "PRIMARY KEY (subject, id)) WITHOUT ROWID"
        )

    def add(self, batches: Mapping[str, Sequence[Event]]) -> None:
        """Store events of several subjects in one transaction."""
        self.conn.execute("BEGIN IMMEDIATE")
        for subject, events in batches.items():
            self.conn.executemany(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?)",
                [(subject, e.id, e.type, e.model_dump_json()) for e in events],
            )
        self.conn.execute("COMMIT")

    def read(self, subject: str) -> list[Event]:
        rows = self.conn.execute("SELECT json FROM events WHERE subject = ?", (subject,)).fetchall()
        return sorted((Event.model_validate_json(r[0]) for r in rows), key=lambda e: (e.time, e.id))

    def clear(self) -> None:
        self.conn.execute("DELETE FROM events")


def litert_trainers(ctx: Context) -> tuple[OpenTrainer, str]:
    """(trainer opener on satchel's LiteRT backend, compiling each spec once into the run's cache;
    a sentence naming the backend for a section's intro)."""
    from satchel_plugins.backends.litert import LiteRTBackend

    backend = LiteRTBackend()
    compiled: dict[str, CompiledModel] = {}

    def open_trainer(spec: ModelSpec, params: Mapping[str, np.ndarray] | None = None) -> Trainer:
        if spec.hash not in compiled:
            compiled[spec.hash] = backend.compile(spec, ctx.cache_dir)
        return backend.open(compiled[spec.hash], None if params is None else Weights(dict(params)))

    sentence = (
        f"Every model is trained through satchel's LiteRT training backend ({backend.version}), the "
        "path an app takes; the ONNX Runtime backend computes the same gradients "
        "(`tests/backends/test_gradients.py`), and the quality tests run on both."
    )
    return open_trainer, sentence
