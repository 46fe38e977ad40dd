"""The :class:`App` class, assembled from its parts, and :func:`open`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from satchel.app._recording import EventRecording
from satchel.app._rights import LearnerRights
from satchel.app._training import ModelTraining
from satchel.app.config import AppConfig, load_config
from satchel.audit.report import AuditReport, build_report
from satchel.plugin.registry import Registry


class App(LearnerRights, ModelTraining, EventRecording):
    """One configured app on one device. Create it with :func:`satchel.open`; close it when done."""

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<satchel.App {self.app_id!r} pipelines={list(self.pipelines)}>"

    # ------------------------------------------------------------------ audit

    def verify_audit_log(self) -> Any:
        """Check the audit log's chain, keys and anchor (see ``satchel audit verify``)."""
        return self.audit_log.verify()

    def audit_report(self) -> AuditReport:
        """The privacy audit: per pipeline categories, purposes, consent coverage, protection, findings."""
        return build_report(self)


def open(
    source: str | Path | Mapping[str, Any] | AppConfig,
    *,
    registry: Registry | None = None,
    prompt: Callable[[str], str] | None = None,
    clock: Callable[[], datetime] | None = None,
    new_keys: bool = False,
) -> App:
    """Open an app from a config file path, TOML text, a mapping, or a loaded :class:`AppConfig`.

    ``clock`` replaces the wall clock (an aware ``datetime`` per call), e.g. to replay history.
    ``new_keys`` allows creating a new key vault beside a data directory that already holds data
    (a missing key directory is otherwise refused: the data would silently become unreadable)."""
    registry = registry or Registry()
    config = source if isinstance(source, AppConfig) else load_config(source, registry)
    return App(config, registry, prompt=prompt, clock=clock, new_keys=new_keys)
