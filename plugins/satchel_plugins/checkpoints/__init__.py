"""``encrypted_checkpoints`` (:mod:`.store`): versioned, sealed checkpoints with rollback protection."""

from __future__ import annotations

from collections.abc import Iterator

from satchel.plugin.hookspecs import hookimpl
from satchel.plugin.records import StoreSpec
from satchel_plugins.checkpoints.store import EncryptedCheckpointStore, StoreOptions


@hookimpl
def satchel_checkpoint_stores() -> Iterator[StoreSpec]:
    yield StoreSpec(
        name="encrypted_checkpoints",
        factory=EncryptedCheckpointStore,
        options=StoreOptions,
        description="sealed, versioned checkpoints; rollback-protected by the key vault",
    )


__all__ = ["EncryptedCheckpointStore", "StoreOptions", "satchel_checkpoint_stores"]
