"""Registers ``encrypted_checkpoints`` (:mod:`satchel_plugins.checkpoint_store`): versioned, sealed
checkpoints with rollback protection.

This is the ``checkpoints`` entry point, imported whenever satchel loads its plugins (even for
``satchel --help``), so the store — numpy, the key vault, cryptography — loads only when the hook
runs. ``EncryptedCheckpointStore`` and ``StoreOptions`` are importable from here too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Iterator

from satchel.hookspecs import hookimpl

if TYPE_CHECKING:
    from satchel.records import StoreSpec
    from satchel_plugins.checkpoint_store import EncryptedCheckpointStore, StoreOptions

_EXPORTS = ("EncryptedCheckpointStore", "StoreOptions")


@hookimpl
def satchel_checkpoint_stores() -> Iterator[StoreSpec]:
    from satchel.records import StoreSpec
    from satchel_plugins.checkpoint_store import EncryptedCheckpointStore, StoreOptions

    yield StoreSpec(name="encrypted_checkpoints", factory=EncryptedCheckpointStore, options=StoreOptions,
                    description="sealed, versioned checkpoints; rollback-protected by the key vault")


def __getattr__(name: str) -> Any:
    """The store's public names, imported on first use (PEP 562)."""
    if name in _EXPORTS:
        return getattr(importlib.import_module("satchel_plugins.checkpoint_store"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EncryptedCheckpointStore", "StoreOptions", "satchel_checkpoint_stores"]
