"""The ``keyring`` key provider: the master key in the OS keyring, created on first use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import Field

from satchel.errors import KeyUnavailableError
from satchel.privacy.key_provider import ProviderDescription
from satchel_plugins.key_providers.key_material import (
    Prompt,
    ProviderOptions,
    decode_key,
    encode_key,
    new_key,
)


class KeyringOptions(ProviderOptions):
    service: str = Field("satchel", min_length=1)


class KeyringKeyProvider:
    """The master key in the OS keyring (service ``options.service``, username = app id).

    A key is generated on first use. No usable backend (none installed, the ``fail`` or ``null``
    backend, or a file-based ``keyrings.alt`` backend) raises :class:`KeyUnavailableError`: this
    provider never falls back to a file.
    """

    def __init__(
        self, options: KeyringOptions, *, app_id: str, key_dir: Path, prompt: Prompt | None = None
    ) -> None:
        self.options = options
        self._user = app_id
        self._staged_user = f"{app_id}#staged"

    def load_master_key(self) -> bytes:
        value = self._get(self._user)
        if value is None:
            return self._put(self._user, new_key())
        return decode_key(value, f"keyring entry {self.options.service}/{self._user}")

    def stage_master_key(self) -> bytes:
        return self._put(self._staged_user, new_key())

    def staged_master_key(self) -> bytes | None:
        value = self._get(self._staged_user)
        where = f"keyring entry {self.options.service}/{self._staged_user}"
        return None if value is None else decode_key(value, where)

    def commit_master_key(self) -> None:
        staged = self.staged_master_key()
        if staged is None:
            raise KeyUnavailableError(f"no staged master key in keyring service {self.options.service!r}")
        self._put(self._user, staged)
        with _keyring_errors():
            self._backend().delete_password(self.options.service, self._staged_user)

    def describe(self) -> ProviderDescription:
        try:
            backend = _backend_name(self._backend())
        except KeyUnavailableError as error:
            backend = f"unavailable: {error.message}"
        return ProviderDescription(
            "keyring",
            f"OS keyring ({backend}), service {self.options.service!r}, user {self._user!r}",
            settings={"backend": backend, "service": self.options.service, "username": self._user},
        )

    def _get(self, user: str) -> str | None:
        with _keyring_errors():
            return self._backend().get_password(self.options.service, user)

    def _put(self, user: str, key: bytes) -> bytes:
        backend = self._backend()
        with _keyring_errors():
            backend.set_password(self.options.service, user, encode_key(key))
            stored = backend.get_password(self.options.service, user)
        if stored != encode_key(key):
            raise KeyUnavailableError(
                f"the keyring backend {_backend_name(backend)} did not keep the master key",
                hint="configure a persistent OS keyring, or use the 'passphrase' or 'env' key provider",
            )
        return key

    def _backend(self) -> Any:
        import keyring
        from keyring.backends import fail, null

        with _keyring_errors():
            backend = keyring.get_keyring()
        file_based = type(backend).__module__.startswith("keyrings.alt")
        if isinstance(backend, (fail.Keyring, null.Keyring)) or file_based:
            raise KeyUnavailableError(
                f"no usable OS keyring (backend {_backend_name(backend)})",
                hint="install or unlock an OS keyring (Keychain, Windows Credential Locker, Secret Service), "
                "or configure the 'passphrase' or 'env' key provider",
            )
        return backend


def _backend_name(backend: object) -> str:
    return f"{type(backend).__module__}.{type(backend).__qualname__}"


@contextmanager
def _keyring_errors() -> Iterator[None]:
    """Turn keyring's exceptions (locked, no backend, ...) into KeyUnavailableError."""
    from keyring.errors import KeyringError

    try:
        yield
    except KeyringError as error:
        raise KeyUnavailableError(
            f"the OS keyring failed: {type(error).__name__}: {error}",
            hint="unlock or configure the OS keyring, or use the 'passphrase' or 'env' key provider",
        ) from error
