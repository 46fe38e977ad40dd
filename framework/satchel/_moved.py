"""Old module paths of satchel 0.x that still import, with a :class:`DeprecationWarning`, for one
release. Each old name is the new module itself (``satchel.task is satchel.model.task``)."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Mapping, Sequence
from types import ModuleType

#: old module path -> where it lives now
MOVED = {
    "satchel.hookspecs": "satchel.plugin.hookspecs",
    "satchel.records": "satchel.plugin.records",
    "satchel._no_options": "satchel.plugin._no_options",
    "satchel.registry": "satchel.plugin.registry",
    "satchel.local_plugins": "satchel.plugin.local",
    "satchel.event_schema": "satchel.events.schema",
    "satchel.ingest": "satchel.events.ingest",
    "satchel.model_spec": "satchel.model.spec",
    "satchel.dataset": "satchel.model.dataset",
    "satchel.task": "satchel.model.task",
    "satchel.backend": "satchel.model.backend",
    "satchel.reference": "satchel.model.reference",
    "satchel.metrics": "satchel.model.metrics",
    "satchel.export_contract": "satchel.model.export_contract",
    "satchel.event_store": "satchel.storage.event_store",
    "satchel.checkpoint": "satchel.storage.checkpoint",
    "satchel.sealed_files": "satchel.storage.sealed_files",
    "satchel.consent": "satchel.privacy.consent",
    "satchel.privacy.keyprovider": "satchel.privacy.key_provider",
    "satchel.privacy.audit_log": "satchel.audit.log",
    "satchel.audit_report": "satchel.audit.report",
    "satchel.config": "satchel.app.config",
    "satchel.scheduling": "satchel.training.scheduling",
    "satchel.evaluation.promotion": "satchel.training.promotion",
    "satchel.runner": "satchel.training.runner",
    "satchel.locks": "satchel.training.locks",
    "satchel.cli_evaluate": "satchel.cli.evaluate",
    "satchel.cli_federate": "satchel.cli.federate",
    "satchel.cli_runner": "satchel.cli.runner",
    "satchel_plugins.keys": "satchel_plugins.key_providers",
    "satchel_plugins.checkpoint_store": "satchel_plugins.checkpoints.store",
    "satchel_plugins.conditions": "satchel_plugins.schedulers.conditions",
}

_IMPORT_FRAMES = ("<frozen importlib", __file__)


def warn_moved(old: str, new: str) -> None:
    """Warn, at the caller's line outside the import machinery, that ``old`` is now ``new``."""
    frame = sys._getframe(1)
    level = 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_IMPORT_FRAMES):
        frame = frame.f_back
        level += not frame.f_code.co_filename.startswith("<frozen importlib")  # warn() skips those itself
    warnings.warn(
        f"{old} moved to {new} and the old path goes in the next release; import {new}",
        DeprecationWarning,
        stacklevel=level,
    )


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and loads it as the new module (registered under both names)."""

    def __init__(self, moved: Mapping[str, str]) -> None:
        self.moved = moved

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.moved:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        old = module.__name__
        new = self.moved[old]
        warn_moved(old, new)
        sys.modules[old] = importlib.import_module(new)  # the import system returns this one


def install() -> None:
    """Make the old paths importable (idempotent)."""
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.insert(0, _Alias(MOVED))
