"""satchel: on-device personalization for learning apps, with privacy controls.

``import satchel`` stays light: the names below load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from satchel import _moved
from satchel._version import __version__
from satchel.errors import SatchelError

if TYPE_CHECKING:
    from satchel.app import App, Pseudonym, open
    from satchel.events import Event
    from satchel.model.dataset import Dataset, FeatureSchema
    from satchel.model.spec import ModelSpec
    from satchel.plugin.hookspecs import hookimpl

_LAZY = {
    "App": "satchel.app",
    "Pseudonym": "satchel.app",
    "open": "satchel.app",
    "Dataset": "satchel.model.dataset",
    "FeatureSchema": "satchel.model.dataset",
    "Event": "satchel.events",
    "hookimpl": "satchel.plugin.hookspecs",
    "ModelSpec": "satchel.model.spec",
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


_moved.install()


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'satchel' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
