"""Built-in key providers: where the app's 32-byte master key lives (registered by
:mod:`satchel_plugins.key_providers`).

=================  ============================================================  ===========
provider           key material                                                  rotatable
=================  ============================================================  ===========
``env``            base64 or hex in an environment variable (CI, servers)        no
``keyring``        the OS keyring (service ``satchel``, user = app id)           yes
``passphrase``     random key wrapped by Argon2id(passphrase) in the key dir     yes
``insecure_file``  **plaintext** key file in the key dir (demos only)            yes
=================  ============================================================  ===========

Every provider fails closed with :class:`~satchel.errors.KeyUnavailableError`; none falls back to
another, and only ``insecure_file`` (``KeyProviderSpec.insecure=True``) ever writes a plaintext key.
Factories are called as ``factory(options, app_id=..., key_dir=..., prompt=None)``; see
:mod:`satchel.privacy.key_provider` for the contract and the two-phase rotation.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field

from satchel.errors import KeyUnavailableError
from satchel.privacy._codec import frame
from satchel.privacy.atomic import atomic_write, fsync_dir
from satchel.privacy.key_provider import ProviderDescription

Prompt = Callable[[str], str]

GENERATE_HINT = (
    'generate one with: python -c "import secrets,base64;'
    'print(base64.b64encode(secrets.token_bytes(32)).decode())"'
)


def _new_key() -> bytes:
    return secrets.token_bytes(32)


def _encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str, where: str) -> bytes:
    """A 32-byte key from base64 (standard or URL-safe) or 64 hex chars; the error never shows it."""
    text = text.strip()
    try:
        if re.fullmatch(r"[0-9a-fA-F]{64}", text):
            key = bytes.fromhex(text)
        else:
            key = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raise KeyUnavailableError(f"{where} is not base64 or hex", hint=GENERATE_HINT) from None
    if len(key) != 32:
        raise KeyUnavailableError(f"{where} decodes to {len(key)} bytes, not 32", hint=GENERATE_HINT)
    return key


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_FILENAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


# ------------------------------------------------------------------ env


class EnvKeyOptions(_Options):
    variable: str = Field("SATCHEL_MASTER_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class EnvKeyProvider:
    """The master key from an environment variable (base64 or hex). Rotate by hand with ``vault.rotate``."""

    def __init__(
        self, options: EnvKeyOptions, *, app_id: str, key_dir: Path, prompt: Prompt | None = None
    ) -> None:
        self.options = options

    def load_master_key(self) -> bytes:
        name = self.options.variable
        value = os.environ.get(name)
        if not value:
            raise KeyUnavailableError(
                f"environment variable {name} is not set (key provider 'env')",
                hint=f"set {name} to a base64 32-byte key; {GENERATE_HINT}",
            )
        return decode_key(value, f"environment variable {name}")

    def describe(self) -> ProviderDescription:
        return ProviderDescription(
            "env",
            f"environment variable {self.options.variable}",
            settings={"variable": self.options.variable},
        )


# ------------------------------------------------------------------ keyring


class KeyringOptions(_Options):
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
            return self._put(self._user, _new_key())
        return decode_key(value, f"keyring entry {self.options.service}/{self._user}")

    def stage_master_key(self) -> bytes:
        return self._put(self._staged_user, _new_key())

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
            backend.set_password(self.options.service, user, _encode_key(key))
            stored = backend.get_password(self.options.service, user)
        if stored != _encode_key(key):
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


# ------------------------------------------------------------------ passphrase


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost. The defaults exceed OWASP's minimum (19 MiB, t=2, p=1)."""

    memory_kib: int = 65536
    time_cost: int = 3
    parallelism: int = 1


_LIMITS = Argon2Params(memory_kib=4 * 1024 * 1024, time_cost=50, parallelism=16)


class PassphraseOptions(_Options):
    passphrase_env: str = Field("SATCHEL_PASSPHRASE", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    memory_kib: int = Field(65536, ge=19456, le=_LIMITS.memory_kib)
    time_cost: int = Field(3, ge=2, le=_LIMITS.time_cost)
    parallelism: int = Field(1, ge=1, le=_LIMITS.parallelism)
    filename: str = Field("master-key.argon2id.json", pattern=_FILENAME)


class PassphraseKeyProvider:
    """A random master key, wrapped (AES-GCM) by a key derived from a passphrase with Argon2id.

    ``<key dir>/<filename>`` holds the Argon2id parameters, the salt and the wrapped key; the
    parameters and salt are the wrap's associated data, so a wrong passphrase and a tampered file
    both fail authentication. The passphrase comes from the environment variable
    ``options.passphrase_env`` when it is set (so a scheduler can unlock without a terminal), else
    from ``prompt``. ``kdf`` overrides the options' cost (tests).
    """

    def __init__(
        self,
        options: PassphraseOptions,
        *,
        app_id: str,
        key_dir: Path,
        prompt: Prompt | None = None,
        kdf: Argon2Params | None = None,
    ) -> None:
        self.options = options
        self._app_id = app_id
        self._path = Path(key_dir) / options.filename
        self._prompt = prompt
        self._kdf = kdf or Argon2Params(options.memory_kib, options.time_cost, options.parallelism)
        self._kek: tuple[bytes, dict[str, Any]] | None = None  # (key, file header) once unlocked

    def load_master_key(self) -> bytes:
        doc = self._read()
        if doc is None:
            key = _new_key()
            self._save(*self._new_kek(self._passphrase(creating=True)), current=key)
            return key
        return self._unwrap(doc, "current")

    def stage_master_key(self) -> bytes:
        doc = self._existing()
        key = _new_key()
        header = _header(doc)
        self._save(self._kek_for(header), header, current=self._unwrap(doc, "current"), staged=key)
        return key

    def staged_master_key(self) -> bytes | None:
        doc = self._existing()
        return self._unwrap(doc, "staged") if "staged" in doc else None

    def commit_master_key(self) -> None:
        doc = self._existing()
        if "staged" not in doc:
            raise KeyUnavailableError(f"no staged master key in {self._path}")
        self._save(self._kek_for(_header(doc)), _header(doc), current=self._unwrap(doc, "staged"))

    def change_passphrase(self, new_passphrase: str) -> None:
        """Re-wrap the master key (and a staged one) under a new passphrase; the master key stays."""
        doc = self._existing()
        keys: dict[str, bytes] = {
            slot: self._unwrap(doc, slot) for slot in ("current", "staged") if slot in doc
        }
        _check_new_passphrase(new_passphrase)
        kek, header = self._new_kek(new_passphrase)
        self._save(kek, header, **keys)

    def describe(self) -> ProviderDescription:
        k = self._kdf
        return ProviderDescription(
            "passphrase",
            f"passphrase (Argon2id m={k.memory_kib} KiB t={k.time_cost} p={k.parallelism}), "
            f"wrapped key in {self._path}",
            settings={
                "file": str(self._path),
                "memory_kib": str(k.memory_kib),
                "time_cost": str(k.time_cost),
                "parallelism": str(k.parallelism),
                "passphrase_env": self.options.passphrase_env,
            },
        )

    # internals

    def _passphrase(self, *, creating: bool = False) -> str:
        """The variable's value when set (schedulers, CI), else the prompt's answer."""
        value = os.environ.get(self.options.passphrase_env, "")
        if not value and self._prompt is not None:
            value = self._prompt(f"Passphrase for satchel app {self._app_id}: ")
        if not value:
            raise KeyUnavailableError(
                f"no passphrase for key file {self._path}: environment variable "
                f"{self.options.passphrase_env} is empty and no prompt was given",
                hint=f"set {self.options.passphrase_env} or pass a prompt callback",
            )
        if creating:
            _check_new_passphrase(value)
        return value

    def _new_kek(self, passphrase: str) -> tuple[bytes, dict[str, Any]]:
        header = {
            "format": 1,
            "kdf": "argon2id",
            "memory_kib": self._kdf.memory_kib,
            "time_cost": self._kdf.time_cost,
            "parallelism": self._kdf.parallelism,
            "salt": _encode_key(secrets.token_bytes(16)),
        }
        return _argon2(passphrase, header), header

    def _kek_for(self, header: dict[str, Any]) -> bytes:
        """The Argon2id key for ``header`` (derived once per header, then cached)."""
        if self._kek is None or self._kek[1] != header:
            self._kek = (_argon2(self._passphrase(), header), header)
        return self._kek[0]

    def _read(self) -> dict[str, Any] | None:
        try:
            raw = self._path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
            header = _header(doc)
            ok = "current" in doc and all(
                isinstance(doc[s], dict) and {"nonce", "wrapped"} <= doc[s].keys()
                for s in ("current", "staged")
                if s in doc
            )
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise KeyUnavailableError(
                f"the key file {self._path} is corrupt", hint="restore the key directory from its backup"
            )
        if not (
            1 <= header["parallelism"] <= _LIMITS.parallelism
            and 1 <= header["time_cost"] <= _LIMITS.time_cost
            and 8 * header["parallelism"] <= header["memory_kib"] <= _LIMITS.memory_kib
        ):
            raise KeyUnavailableError(
                f"the key file {self._path} has out-of-range Argon2id parameters",
                hint="it was tampered with; restore the key directory from its backup",
            )
        return doc

    def _existing(self) -> dict[str, Any]:
        doc = self._read()
        if doc is None:
            raise KeyUnavailableError(f"no key file at {self._path}", hint="load the master key first")
        return doc

    def _unwrap(self, doc: dict[str, Any], slot: str) -> bytes:
        header = _header(doc)
        kek = self._kek_for(header)
        try:
            nonce = base64.b64decode(doc[slot]["nonce"], validate=True)
            wrapped = base64.b64decode(doc[slot]["wrapped"], validate=True)
            return AESGCM(kek).decrypt(nonce, wrapped, _aad(self._app_id, header, slot))
        except (InvalidTag, binascii.Error, ValueError, TypeError):
            self._kek = None
            raise KeyUnavailableError(
                f"wrong passphrase for {self._path}, or the file's parameters were modified",
                hint=f"check the passphrase ({self.options.passphrase_env} or the prompt); if it is right, "
                "restore the key directory from its backup",
            ) from None

    def _save(self, kek: bytes, header: dict[str, Any], **slots: bytes) -> None:
        doc: dict[str, Any] = dict(header)
        for slot, key in slots.items():
            nonce = secrets.token_bytes(12)
            wrapped = AESGCM(kek).encrypt(nonce, key, _aad(self._app_id, header, slot))
            doc[slot] = {"nonce": _encode_key(nonce), "wrapped": _encode_key(wrapped)}
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(self._path, json.dumps(doc, indent=1, sort_keys=True).encode())
        self._kek = (kek, header)


_HEADER_KEYS = ("format", "kdf", "memory_kib", "time_cost", "parallelism", "salt")


def _header(doc: dict[str, Any]) -> dict[str, Any]:
    header = {k: doc[k] for k in _HEADER_KEYS}
    if (
        header["format"] != 1
        or header["kdf"] != "argon2id"
        or not all(isinstance(header[k], int) and not isinstance(header[k], bool) for k in _HEADER_KEYS[2:5])
    ):
        raise ValueError("unsupported key file")
    return header


def _aad(app_id: str, header: dict[str, Any], slot: str) -> bytes:
    return frame(b"satchel/passphrase-key", app_id, slot, *(str(header[k]) for k in _HEADER_KEYS))


def _argon2(passphrase: str, header: dict[str, Any]) -> bytes:
    from argon2.low_level import Type, hash_secret_raw

    return hash_secret_raw(
        passphrase.encode("utf-8"),
        base64.b64decode(header["salt"]),
        time_cost=header["time_cost"],
        memory_cost=header["memory_kib"],
        parallelism=header["parallelism"],
        hash_len=32,
        type=Type.ID,
    )


def _check_new_passphrase(passphrase: str) -> None:
    if len(passphrase) < 8:
        raise KeyUnavailableError(
            "the new passphrase is shorter than 8 characters", hint="choose a longer passphrase"
        )


# ------------------------------------------------------------------ insecure_file


class InsecureFileOptions(_Options):
    filename: str = Field("master-key.INSECURE", pattern=_FILENAME)


class InsecureFileKeyProvider:
    """INSECURE: the master key as plaintext base64 in ``<key dir>/<filename>``. Demos only."""

    def __init__(
        self, options: InsecureFileOptions, *, app_id: str, key_dir: Path, prompt: Prompt | None = None
    ) -> None:
        self._path = Path(key_dir) / options.filename
        self._staged = self._path.with_name(self._path.name + ".staged")

    def load_master_key(self) -> bytes:
        return self._read(self._path) or self._write(self._path, _new_key())

    def stage_master_key(self) -> bytes:
        return self._write(self._staged, _new_key())

    def staged_master_key(self) -> bytes | None:
        return self._read(self._staged)

    def commit_master_key(self) -> None:
        if not self._staged.exists():
            raise KeyUnavailableError(f"no staged master key at {self._staged}")
        os.replace(self._staged, self._path)
        fsync_dir(self._path.parent)

    def describe(self) -> ProviderDescription:
        return ProviderDescription(
            "insecure_file",
            f"INSECURE plaintext key file {self._path} (demos only)",
            insecure=True,
            settings={"file": str(self._path)},
        )

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return decode_key(path.read_text(), f"key file {path}")
        except FileNotFoundError:
            return None

    @staticmethod
    def _write(path: Path, key: bytes) -> bytes:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(path, (_encode_key(key) + "\n").encode())
        return key


__all__ = [
    "GENERATE_HINT",
    "Argon2Params",
    "EnvKeyOptions",
    "EnvKeyProvider",
    "InsecureFileKeyProvider",
    "InsecureFileOptions",
    "KeyringKeyProvider",
    "KeyringOptions",
    "PassphraseKeyProvider",
    "PassphraseOptions",
    "Prompt",
    "decode_key",
]
