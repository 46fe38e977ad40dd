"""Registers ``encrypted_checkpoints`` (:mod:`satchel_plugins.checkpoint_store`): versioned, sealed
checkpoints with rollback protection.

This is the ``checkpoints`` entry point, imported whenever satchel loads its plugins (even for
``satchel --help``), so the store — numpy, the key vault, cryptography — loads only when the hook
runs. ``EncryptedCheckpointStore`` and ``StoreOptions`` are importable from here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from satchel.hookspecs import hookimpl
from satchel_plugins._lazy import lazy_exports

if TYPE_CHECKING:
    from satchel.records import StoreSpec
    from satchel_plugins.checkpoint_store import EncryptedCheckpointStore, StoreOptions

_EXPORTS = dict.fromkeys(("EncryptedCheckpointStore", "StoreOptions"), "satchel_plugins.checkpoint_store")


@hookimpl
def satchel_checkpoint_stores() -> Iterator[StoreSpec]:
    from satchel.records import StoreSpec
    from satchel_plugins.checkpoint_store import EncryptedCheckpointStore, StoreOptions

    yield StoreSpec(
        name="encrypted_checkpoints",
        factory=EncryptedCheckpointStore,
        options=StoreOptions,
        description="sealed, versioned checkpoints; rollback-protected by the key vault",
    )


__getattr__ = lazy_exports(globals(), _EXPORTS)


__all__ = ["EncryptedCheckpointStore", "StoreOptions", "satchel_checkpoint_stores"]
