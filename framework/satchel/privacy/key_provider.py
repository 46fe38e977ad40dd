"""The key-provider contract, and opening / rotating a vault through a provider.

A key provider is registered with ``satchel_key_providers`` as a
:class:`~satchel.plugin.records.KeyProviderSpec`; its factory is called as
``factory(options, app_id=..., key_dir=..., prompt=None)`` where ``prompt(question) -> str`` is an
optional interactive callback (used by the passphrase provider). The component implements
:class:`KeyProvider`; providers that can create keys also implement :class:`RotatableKeyProvider`.

Rotation is two-phase so a crash never locks the app out: the provider first *stages* a new key
next to the current one, the vault re-wraps under it, then the provider *commits* (the staged key
becomes current). :func:`open_vault` finishes an interrupted rotation: if the current key was
already retired by the vault, it opens with the staged key and commits it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from satchel.errors import KeyUnavailableError
from satchel.privacy.vault import Rotation, Vault, vault_exists


@dataclass(frozen=True)
class ProviderDescription:
    """What the audit report says about a key provider (never key material)."""

    provider: str
    summary: str
    insecure: bool = False
    settings: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class KeyProvider(Protocol):
    """Supplies the app's 32-byte master key. Fails closed with :class:`KeyUnavailableError`."""

    def load_master_key(self) -> bytes: ...

    def describe(self) -> ProviderDescription: ...


@runtime_checkable
class RotatableKeyProvider(KeyProvider, Protocol):
    """A provider that can create a new master key (two-phase: stage, then commit)."""

    def stage_master_key(self) -> bytes:
        """Generate a new key, persist it as *staged* (the current key stays), and return it."""
        ...

    def staged_master_key(self) -> bytes | None:
        """The staged key, if a rotation was started and not committed."""
        ...

    def commit_master_key(self) -> None:
        """Make the staged key current and forget the old one."""
        ...


def open_vault(
    provider: KeyProvider,
    key_dir: str | os.PathLike[str],
    *,
    app_id: str,
    data_dir: str | os.PathLike[str],
    create: bool = False,
    new_keys: bool = False,
) -> Vault:
    """Open the vault with the provider's key, completing an interrupted rotation if needed.

    With ``create``, a missing (or empty) key directory is initialised only while ``data_dir`` holds
    no data, or when ``new_keys`` says to start over: otherwise a lost or deleted key directory would
    silently turn the existing data into unreadable leftovers beside a fresh vault.
    """
    if create and not new_keys and not vault_exists(key_dir):
        held = sorted(p.name for p in Path(data_dir).glob("*")) if Path(data_dir).is_dir() else []
        if held:
            raise KeyUnavailableError(
                f"no key vault in {Path(key_dir)}, but the data directory {Path(data_dir)} already holds data "
                f"({', '.join(held[:4])}{', ...' if len(held) > 4 else ''})",
                hint="restore the key directory from the backup taken with this data directory; or, to "
                "abandon that data, open with new keys (satchel.open(..., new_keys=True), `satchel "
                "--new-keys ...`) or move the data directory away",
            )
    try:
        key = provider.load_master_key()
        return Vault.open(key_dir, key, app_id=app_id, data_dir=data_dir, create=create)
    except KeyUnavailableError as error:
        first = error
        staged = provider.staged_master_key() if isinstance(provider, RotatableKeyProvider) else None
        if staged is None:
            raise
    try:
        vault = Vault.open(key_dir, staged, app_id=app_id, data_dir=data_dir)
    except KeyUnavailableError:
        raise first from None
    assert isinstance(provider, RotatableKeyProvider)  # only a rotatable provider has a staged key
    provider.commit_master_key()
    return vault


def rotate_master_key(vault: Vault, provider: KeyProvider) -> Rotation:
    """Rotate the master key: stage a new key, re-wrap the vault under it, commit."""
    if not isinstance(provider, RotatableKeyProvider):
        raise KeyUnavailableError(
            f"{provider.describe().summary} cannot create master keys",
            hint="generate a new key yourself and call vault.rotate(new_key), then update the provider",
        )
    rotation = vault.rotate(provider.stage_master_key())
    provider.commit_master_key()
    return rotation
