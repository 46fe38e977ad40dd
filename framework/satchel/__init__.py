"""satchel: on-device personalization for learning apps, with privacy controls.

``import satchel`` stays light: the names below load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from satchel._version import __version__
from satchel.errors import SatchelError

if TYPE_CHECKING:
    from satchel.app import App, Pseudonym, open
    from satchel.dataset import Dataset, FeatureSchema
    from satchel.events import Event
    from satchel.hookspecs import hookimpl
    from satchel.model_spec import ModelSpec

_LAZY = {
    "App": "satchel.app",
    "Pseudonym": "satchel.app",
    "open": "satchel.app",
    "Dataset": "satchel.dataset",
    "FeatureSchema": "satchel.dataset",
    "Event": "satchel.events",
    "hookimpl": "satchel.hookspecs",
    "ModelSpec": "satchel.model_spec",
}

__all__ = [
    "App",
    "Dataset",
    "Event",
    "FeatureSchema",
    "ModelSpec",
    "Pseudonym",
    "SatchelError",
    "__version__",
    "hookimpl",
    "open",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'satchel' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
